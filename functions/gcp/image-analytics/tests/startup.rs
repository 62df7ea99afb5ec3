//! On Cloud Run, image-analytics refuses to start without `DATABASE_URL`, naming it, rather than
//! connect to a local default that does not exist there.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn on_cloud_run_it_needs_its_database() {
    let binary = env!("CARGO_BIN_EXE_image-analytics");
    let env = [
        ("K_SERVICE", "image-analytics"),
        ("PUSH_AUDIENCE", "https://image-analytics.run.app/"),
        ("PUSH_SERVICE_ACCOUNT", "push@p.iam.gserviceaccount.com"),
    ];
    let (code, stderr) = exits::exit_of(binary, &env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_URL not set (required when deployed)"), "{stderr}");
}
