//! Deployed without `KAFKA_BOOTSTRAP_SERVERS`, or with an image format it cannot write, the
//! function refuses to start, naming the variable.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn deployed_without_kafka_bootstrap_servers_it_refuses_to_start() {
    let binary = env!("CARGO_BIN_EXE_image-resizer");
    let (code, stderr) = exits::exit_of(binary, &[("AWS_LAMBDA_FUNCTION_NAME", "image-resizer")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS not set (required when deployed)"), "{stderr}");
    let (code, stderr) = exits::exit_of(binary, &[("IMAGE_FORMATS", "jpeg,heic")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("IMAGE_FORMATS: unknown format \"heic\""), "{stderr}");
}
