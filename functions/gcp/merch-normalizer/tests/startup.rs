//! The binary as Cloud Run starts it: without its push-token settings it must refuse to start,
//! naming what is missing, before it connects to anything.
use std::process::Command;

fn start(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_merch-normalizer"))
        .env_clear()
        .envs(env.iter().copied())
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .output()
        .expect("the binary runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn on_cloud_run_it_refuses_to_start_without_audience_or_service_account() {
    let (code, stderr) = start(&[("K_SERVICE", "merch-normalizer")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT not set"), "{stderr}");
    let (code, stderr) = start(&[("K_SERVICE", "merch-normalizer"), ("PUSH_AUDIENCE", "https://svc.a.run.app/")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("PUSH_SERVICE_ACCOUNT not set"), "{stderr}");
}

#[test]
fn a_bad_slot_owner_table_stops_start_up() {
    let (code, stderr) = start(&[("SLOT_OWNERS", "{\"prices\":{}}")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("SLOT_OWNERS"), "{stderr}");
}
