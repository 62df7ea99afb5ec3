//! On Cloud Run, the service refuses to start without its push-token settings or its project,
//! naming what is missing.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

const CLOUD_RUN: (&str, &str) = ("K_SERVICE", "{{name}}");
const AUDIENCE: (&str, &str) = ("PUSH_AUDIENCE", "https://{{name}}-7x2kq3wz5a-ew.a.run.app/");
const ACCOUNT: (&str, &str) = ("PUSH_SERVICE_ACCOUNT", "pubsub-push@acme-merch-prod.iam.gserviceaccount.com");

#[test]
fn on_cloud_run_it_needs_its_token_settings_and_its_project() {
    let binary = env!("CARGO_BIN_EXE_{{name}}");
    let (code, stderr) = exits::exit_of(binary, &[CLOUD_RUN]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PUSH_AUDIENCE"), "{stderr}");
    let (code, stderr) = exits::exit_of(binary, &[CLOUD_RUN, AUDIENCE, ACCOUNT]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("GOOGLE_CLOUD_PROJECT not set (required when deployed)"), "{stderr}");
}
