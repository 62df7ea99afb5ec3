//! On Cloud Run, image-analytics refuses to start without `DATABASE_URL`, naming it, rather than
//! connect to a local default that does not exist there; and with one whose server certificate it
//! would not check.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

/// Cloud Run, with the push settings it requires.
const CLOUD_RUN: [(&str, &str); 3] = [
    ("K_SERVICE", "image-analytics"),
    ("PUSH_AUDIENCE", "https://image-analytics.run.app/"),
    ("PUSH_SERVICE_ACCOUNT", "push@p.iam.gserviceaccount.com"),
];

#[test]
fn on_cloud_run_it_needs_its_database() {
    let binary = env!("CARGO_BIN_EXE_image-analytics");
    let (code, stderr) = exits::exit_of(binary, &CLOUD_RUN);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_URL not set (required when deployed)"), "{stderr}");
}

#[test]
fn on_cloud_run_it_refuses_a_database_whose_certificate_it_would_not_check() {
    let binary = env!("CARGO_BIN_EXE_image-analytics");
    let cloud = CLOUD_RUN;
    for url in ["postgres://app:secret@10.0.0.3/estate", "postgres://app:secret@10.0.0.3/estate?sslmode=require"] {
        let env = [cloud[0], cloud[1], cloud[2], ("DATABASE_URL", url)];
        let (code, stderr) = exits::exit_of(binary, &env);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("DATABASE_URL") && stderr.contains("sslmode=verify-ca"), "{stderr}");
        assert!(!stderr.contains("secret"), "the URL's password is never printed: {stderr}");
    }
}
