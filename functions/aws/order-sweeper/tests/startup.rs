//! The function as Lambda starts it: deployed (`AWS_LAMBDA_FUNCTION_NAME` set) without
//! `KAFKA_BOOTSTRAP_SERVERS`, it stops before the runtime loop, naming the variable, instead of
//! publishing to a local default that does not exist there.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn deployed_without_kafka_bootstrap_servers_it_refuses_to_start() {
    let binary = env!("CARGO_BIN_EXE_order-sweeper");
    let (code, stderr) = exits::exit_of(binary, &[("AWS_LAMBDA_FUNCTION_NAME", "order-sweeper")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS not set (required when deployed)"), "{stderr}");
}
