//! The binary as Cloud Run starts it: without its push-token settings it must refuse to start,
//! naming what is missing.
#[path = "../../../../tests/support/exits.rs"]
mod exits;

#[test]
fn on_cloud_run_it_refuses_to_start_without_its_push_service_account() {
    let env = [("K_SERVICE", "audit-sink"), ("PUSH_AUDIENCE", "https://audit-sink.a.run.app/")];
    let (code, stderr) = exits::exit_of(env!("CARGO_BIN_EXE_audit-sink"), &env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PUSH_SERVICE_ACCOUNT not set"), "{stderr}");
}
