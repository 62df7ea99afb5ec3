//! Deployed without its sender (`NOTIFY_FROM`) or `KAFKA_BOOTSTRAP_SERVERS`, the function refuses
//! to start, naming what is missing: it would send from a local default, or its dead letters
//! would have nowhere to go.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn deployed_without_its_sender_or_kafka_it_refuses_to_start() {
    let binary = env!("CARGO_BIN_EXE_notifier");
    let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "notifier");
    let (code, stderr) = exits::exit_of(binary, &[lambda]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("NOTIFY_FROM not set (required when deployed)"), "{stderr}");
    let (code, stderr) = exits::exit_of(binary, &[lambda, ("NOTIFY_FROM", "orders@shop.example.com")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS not set (required when deployed)"), "{stderr}");
}
