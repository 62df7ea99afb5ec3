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
    let out = local(&["demo", "--flows", "merch", "--records", "800", "--batch", "150", "--seed", "11"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("[ok]").count(), 7, "{stdout}");
    assert!(stdout.contains("changes for slots their ERP system does not own are dead-lettered"), "{stdout}");
    assert!(!stdout.contains("FAILED"));
    for function in ["merch-normalizer", "projection-updater", "audit-sink", "sample projections:"] {
        assert!(stdout.contains(function), "summary lacks {function}:\n{stdout}");
    }
}

/// Runs a demo, which must succeed with each of `invariants` reported holding and none failed;
/// its summary comes back.
fn demo_holding(args: &[&str], invariants: &[&str]) -> String {
    let out = local(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for invariant in invariants {
        assert!(stdout.contains(&format!("[ok] {invariant}")), "{invariant}:\n{stdout}");
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
    stdout
}

#[test]
fn the_checkout_demo_holds_its_invariants() {
    let stdout = demo_holding(
        &["demo", "--flows", "checkout", "--orders", "300", "--seed", "5"],
        &[
            "every order's state matches its events",
            "no payment charged twice",
            "no deleted product in any cart",
            "the ledger total per currency equals the paid orders'",
            "decisions that came before their orders waited for them",
        ],
    );
    assert!(!stdout.contains("merch-normalizer"), "only the flow asked for runs");
    let out = local(&["demo", "--flows", "shipping"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown flow \"shipping\"; known: merch, checkout, images"));
}

#[test]
fn the_images_demo_holds_its_invariants() {
    let stdout = demo_holding(
        &["demo", "--flows", "images", "--photos", "30", "--seed", "3"],
        &[
            "every good upload has its three variants under its current etag",
            "no variant of a replaced, removed or bad upload",
            "every bad upload is dead-lettered with its reason",
            "one event per variant, each naming its object's bytes",
            "image-analytics counted each event once",
        ],
    );
    assert!(stdout.contains("Lambda retries"), "the bucket's bad moments were retried:\n{stdout}");
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

#[test]
fn invoke_applies_a_batch_whose_binding_is_one_json_string_as_the_array_form() {
    let run = |fixture: &str| {
        let out = local(&["invoke", "projection-updater", fixture]);
        assert!(out.status.success(), "{fixture}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON document")
    };
    let string_form = run("events/azure/kafka-trigger/price-changed-string.json");
    let array_form = run("events/azure/kafka-trigger/price-changed-batch.json");
    assert_eq!(string_form["response"]["status"], 200);
    assert_eq!(string_form["effects"]["documents"][0]["prices"]["EU"]["version"], 184480);
    assert_eq!(string_form["effects"], array_form["effects"], "the same records, the same effects");
}

#[test]
fn invoke_refuses_what_it_cannot_run_and_lists_what_it_can() {
    let out = local(&["invoke", "no-such-function", "events/gcp/pubsub-push/erp-price-json.json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("known: merch-normalizer, projection-updater, audit-sink"), "{stderr}");

    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/azure/kafka-trigger/price-changed-batch.json"
    ))
    .expect("fixture");
    let renamed = fixture.replace("\"MethodName\": \"price-changed\"", "\"MethodName\": \"price-changd\"");
    assert_ne!(renamed, fixture);
    let path = std::env::temp_dir().join(format!("unknown-method-{}.json", std::process::id()));
    std::fs::write(&path, renamed).expect("write");
    let out = local(&["invoke", "projection-updater", path.to_str().expect("path")]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(2), "an unknown MethodName is not a silent success");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no function folder \"price-changd\"") && stderr.contains("price-changed, inventory-changed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
