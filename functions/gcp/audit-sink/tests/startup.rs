//! The binary as Cloud Run starts it: without its push-token settings it must refuse to start,
//! naming what is missing.
use std::process::Command;

#[test]
fn on_cloud_run_it_refuses_to_start_without_its_push_service_account() {
    let out = Command::new(env!("CARGO_BIN_EXE_audit-sink"))
        .env_clear()
        .env("K_SERVICE", "audit-sink")
        .env("PUSH_AUDIENCE", "https://audit-sink.a.run.app/")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PUSH_SERVICE_ACCOUNT not set"), "{stderr}");
}
