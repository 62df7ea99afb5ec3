//! On Cloud Run, fulfillment refuses to start without its push-token settings or its project,
//! naming what is missing.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn on_cloud_run_it_needs_its_token_settings_and_its_project() {
    let binary = env!("CARGO_BIN_EXE_fulfillment");
    let (code, stderr) = exits::exit_of(binary, &[("K_SERVICE", "fulfillment")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PUSH_AUDIENCE"), "{stderr}");
    let token =
        [("PUSH_AUDIENCE", "https://fulfillment.run.app/"), ("PUSH_SERVICE_ACCOUNT", "push@p.iam.gserviceaccount.com")];
    let (code, stderr) = exits::exit_of(binary, &[("K_SERVICE", "fulfillment"), token[0], token[1]]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("GOOGLE_CLOUD_PROJECT not set (required when deployed)"), "{stderr}");
}
