//! Deployed without `KAFKA_BOOTSTRAP_SERVERS`, the function refuses to start, naming it: its
//! dead letters would have nowhere to go.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn deployed_without_kafka_bootstrap_servers_it_refuses_to_start() {
    let binary = env!("CARGO_BIN_EXE_{{name}}");
    let (code, stderr) = exits::exit_of(binary, &[("AWS_LAMBDA_FUNCTION_NAME", "{{name}}")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS not set (required when deployed)"), "{stderr}");
}
