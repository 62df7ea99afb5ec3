//! Deployed (in Lambda) without `GOOGLE_CLOUD_PROJECT`, the bridge refuses to start, naming it,
//! instead of publishing to a project that is not there.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn deployed_without_a_project_it_refuses_to_start() {
    let binary = env!("CARGO_BIN_EXE_kafka-pubsub-bridge");
    let (code, stderr) = exits::exit_of(binary, &[("AWS_LAMBDA_FUNCTION_NAME", "kafka-pubsub-bridge")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("GOOGLE_CLOUD_PROJECT not set (required when deployed)"), "{stderr}");
}
