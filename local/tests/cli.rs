//! The `local` binary as a user runs it.
use std::process::{Command, Output};

fn local(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_local"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("local runs")
}

#[test]
fn demo_holds_its_invariants_and_prints_a_summary() {
    let out = local(&["demo", "--records", "800", "--batch", "150", "--seed", "11"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("[ok]").count(), 6, "{stdout}");
    assert!(!stdout.contains("FAILED"));
    for function in ["merch-normalizer", "projection-updater", "audit-sink", "sample projections:"] {
        assert!(stdout.contains(function), "summary lacks {function}:\n{stdout}");
    }
}

#[test]
fn invoke_prints_the_native_response_and_effects() {
    let out = local(&["invoke", "projection-updater", "events/azure/kafka-trigger/price-changed-batch.json"]);
    assert!(out.status.success(), "a function that dead-letters a record still ran: exit 0");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["response"]["status"], 200);
    assert_eq!(doc["effects"]["messages"][0]["topic"], "merch.dlq");
    assert_eq!(doc["effects"]["documents"][0]["id"], "TSH-001-BLK-M");
}

#[test]
fn invoke_refuses_a_file_that_is_not_that_functions_envelope() {
    let out = local(&["invoke", "merch-normalizer", "events/aws/s3/object-created-put.json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a valid merch-normalizer envelope"), "{stderr}");
    assert!(out.stdout.is_empty());
    let missing = local(&["invoke", "merch-normalizer", "events/nope.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}
