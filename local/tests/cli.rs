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
    assert!(stderr.contains("unknown function \"no-such-function\"; known: merch-normalizer, audit-sink"), "{stderr}");

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

/// A small photo of one's own: a smooth gradient, 800 × 600.
fn own_photo(path: &std::path::Path) -> Vec<u8> {
    let (width, height) = (800u16, 600u16);
    let pixels: Vec<u8> = (0..u32::from(height))
        .flat_map(|y| (0..u32::from(width)).flat_map(move |x| [(x / 4) as u8, (y / 3) as u8, 128]))
        .collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    std::fs::write(path, &jpeg).expect("write the photo");
    jpeg
}

#[test]
fn invoke_image_resizer_processes_a_users_own_photo_and_writes_the_variants_out() {
    let dir = std::env::temp_dir().join(format!("local-invoke-object-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let photo = dir.join("my photo.jpg");
    let jpeg = own_photo(&photo);
    let (out_dir, fixture) = (dir.join("out"), "events/aws/s3/image-resizer-upload.json");
    let key = "uploads/TSH-001-BLK-M/front (1).jpg";
    let object = format!("{key}={}", photo.display());
    let out =
        local(&["invoke", "image-resizer", fixture, "--object", &object, "--out", out_dir.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let events = doc["response"]["outcomes"][0]["processed"].as_array().expect("processed").clone();
    let sizes: Vec<_> = events.iter().map(|e| (e["width"].as_u64(), e["height"].as_u64())).collect();
    assert_eq!(
        sizes,
        [(Some(800), Some(600)), (Some(640), Some(480)), (Some(160), Some(120))],
        "our photo, not the fixture's"
    );
    let upload = &doc["effects"]["uploads"].as_array().expect("uploads").iter().find(|u| u["key"] == key).expect("put");
    assert_eq!(
        (upload["size"].as_u64(), upload["etag"].as_str()),
        (Some(jpeg.len() as u64), Some(inmemory::etag_of(&jpeg).as_str()))
    );
    let mut written = Vec::new();
    for e in &events {
        let object_key = e["object_key"].as_str().expect("key");
        assert!(object_key.contains(&inmemory::etag_of(&jpeg)[..12]), "named by our photo's etag: {object_key}");
        let bytes = std::fs::read(out_dir.join("acme-product-media").join(object_key)).expect("written out");
        assert_eq!(Some(domain::dead_letter::sha256_hex(&bytes).as_str()), e["sha256"].as_str(), "{object_key}");
        written.push(object_key.to_string());
    }
    let files = |d: &std::path::Path| -> usize {
        fn count(d: &std::path::Path) -> usize {
            std::fs::read_dir(d).map_or(0, |entries| {
                entries.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum()
            })
        }
        count(d)
    };
    assert_eq!(files(&out_dir), 3, "the variants and nothing else (not the upload): {written:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr).matches("wrote ").count(), 3);

    // Without --object, the photo beside the fixture is still the one processed (EXIF-rotated).
    let beside = local(&["invoke", "image-resizer", fixture]);
    let doc: serde_json::Value = serde_json::from_slice(&beside.stdout).expect("one JSON document");
    assert_eq!(doc["response"]["outcomes"][0]["processed"][0]["height"], 1600);

    // A key no record names, or a function that takes no S3 notification: exit 2, nothing run.
    let object = format!("uploads/TSH-001-BLK-M/front.jpg={}", photo.display());
    let unknown = local(&["invoke", "image-resizer", fixture, "--object", &object]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("no ObjectCreated record of the event names the key \"uploads/TSH-001-BLK-M/front.jpg\""),
        "{stderr}"
    );
    assert!(stderr.contains(key), "it lists the keys it has: {stderr}");
    assert!(unknown.stdout.is_empty());
    let other =
        local(&["invoke", "merch-normalizer", "events/gcp/pubsub-push/erp-price-json.json", "--object", &object]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("only image-resizer takes one"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The demos are not tuned to their seeds: each flow holds on a seed no test chose (this run's
/// clock), printed so a failure can be run again with `--seed`.
#[test]
fn every_flow_holds_on_an_unseen_seed() {
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos() % 1_000_000_007;
    let seed = seed.to_string();
    for args in [
        vec!["demo", "--flows", "merch", "--records", "400", "--batch", "100"],
        vec!["demo", "--flows", "checkout", "--orders", "200"],
        vec!["demo", "--flows", "images", "--photos", "20"],
    ] {
        let args: Vec<&str> = args.into_iter().chain(["--seed", &seed]).collect();
        let out = local(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "`local {}` failed:\n{stdout}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("[ok]") && !stdout.contains("FAILED"), "`local {}`:\n{stdout}", args.join(" "));
    }
}

#[test]
fn invoke_summarises_in_one_shape_and_fails_on_dead_letters_when_asked() {
    let requests = "events/aws/msk/payment-processor-requested.json";
    let out = local(&["invoke", "payment-processor", requests]);
    assert!(out.status.success(), "dead letters are an outcome, not an error: exit 0");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let want = serde_json::json!({"records": 5, "done": 0, "failed": 0, "retried": 0,
        "dead_lettered": {"missing_payment_token": 1, "unknown_order": 4}});
    assert_eq!(doc["summary"], want, "on an empty estate no order asked for these payments");

    let out = local(&["invoke", "payment-processor", requests, "--fail-on-dead-letter"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_order"));
    let clean = local(&[
        "invoke",
        "order-updater",
        "events/aws/msk/order-updater-payment-failed.json",
        "--fail-on-dead-letter",
    ]);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&clean.stdout).expect("one JSON document");
    assert_eq!(doc["summary"]["dead_lettered"], serde_json::json!({}));
}

#[test]
fn local_says_its_version_and_every_argument_has_help() {
    let out = local(&["--version"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), concat!("local ", env!("CARGO_PKG_VERSION")));
    for command in ["", "demo", "invoke", "fixtures", "new", "replay", "schemas"] {
        let args: Vec<&str> = [command, "--help"].into_iter().filter(|a| !a.is_empty()).collect();
        let help = String::from_utf8_lossy(&local(&args).stdout).into_owned();
        // clap prints an argument's help two spaces or more after its name: none, none given.
        let bare: Vec<&str> = help
            .lines()
            .map(str::trim)
            .filter(|l| (l.starts_with('-') || l.starts_with('<')) && !l.contains("  "))
            .collect();
        assert!(bare.is_empty(), "{command}: arguments without help: {bare:?}\n{help}");
    }
}

#[test]
fn fixtures_lists_what_each_function_takes_and_a_wrong_fixture_is_refused_with_the_ones_that_fit() {
    let out = local(&["fixtures", "order-updater"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(listed.starts_with("order-updater (aws, functions/aws/order-updater): an MSK event"), "{listed}");
    assert!(listed.contains("  events/aws/msk/order-updater-confirmed.json"), "{listed}");
    assert!(!listed.contains("payment-processor-requested"), "{listed}");
    let all = String::from_utf8_lossy(&local(&["fixtures"]).stdout).into_owned();
    let functions = local::registry::FUNCTIONS.len();
    assert_eq!(all.lines().filter(|l| !l.starts_with("  ")).count(), functions, "every function:\n{all}");
    assert_eq!(local(&["fixtures", "nope"]).status.code(), Some(2));

    let out = local(&["invoke", "order-updater", "events/aws/s3/image-resizer-upload.json"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("order-updater takes an MSK event"), "{said}");
    assert!(said.contains("fixtures that fit: events/aws/msk/order-updater-confirmed.json"), "{said}");
}

/// Fixtures chain on one state: order-updater's confirmed orders, then its fraud decisions on
/// them (which ask for payment), then payment-processor charging what they asked.
#[test]
fn invocations_chain_through_a_saved_state() {
    let dir = std::env::temp_dir().join(format!("local-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (first, second, third) = (dir.join("1.json"), dir.join("2.json"), dir.join("3.json"));
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    let run = |args: &[&str]| -> serde_json::Value {
        let out = local(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON document")
    };
    let messages_on = |doc: &serde_json::Value, topic: &str| {
        doc["effects"]["messages"].as_array().expect("messages").iter().filter(|m| m["topic"] == topic).count()
    };
    let scored = "events/aws/msk/order-updater-fraud-scored.json";

    run(&["invoke", "order-updater", "events/aws/msk/order-updater-confirmed.json", "--save-state", &path(&first)]);
    let alone = run(&["invoke", "order-updater", scored]);
    assert_eq!(messages_on(&alone, "payment.requested"), 0, "without the orders the decisions wait");
    let chained = run(&["invoke", "order-updater", scored, "--state", &path(&first), "--save-state", &path(&second)]);
    assert!(messages_on(&chained, "payment.requested") >= 1, "approved orders ask for payment");

    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&second).expect("saved")).expect("json");
    let states: Vec<&str> =
        saved["orders"].as_array().expect("orders").iter().filter_map(|o| o["document"]["state"].as_str()).collect();
    assert!(states.contains(&"payment_requested"), "{states:?}");

    let requests = "events/aws/msk/payment-processor-requested.json";
    let paid =
        run(&["invoke", "payment-processor", requests, "--state", &path(&second), "--save-state", &path(&third)]);
    assert!(messages_on(&paid, "payment.succeeded") >= 1, "{}", paid["summary"]);
    let unknown = paid["summary"]["dead_lettered"]["unknown_order"].as_u64().unwrap_or(0);
    assert!(unknown < 4, "A200100's order is in the state: {}", paid["summary"]);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&third).expect("saved")).expect("json");
    assert!(!saved["payments"].as_array().expect("payments").is_empty());

    std::fs::write(dir.join("bad.json"), r#"{"ordres": []}"#).expect("written");
    let out = local(&["invoke", "order-updater", scored, "--state", &path(&dir.join("bad.json"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `ordres`"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A state seeds the carts: cart-cleaner takes the deleted product out of every cart that holds
/// it (from empty stores it could only report `removed: 0`), and the saved carts no longer hold it.
#[test]
fn a_state_seeds_the_carts_cart_cleaner_empties() {
    let dir = std::env::temp_dir().join(format!("local-carts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (seed, after) = (dir.join("carts.json"), dir.join("after.json"));
    let carts = serde_json::json!({"carts": [
        {"customer": "C-1", "sku": "MUG-220-WHT", "quantity": 2},
        {"customer": "C-2", "sku": "MUG-220-WHT", "quantity": 1},
        {"customer": "C-2", "sku": "TSH-001-BLK-M", "quantity": 1}
    ]});
    std::fs::write(&seed, carts.to_string()).expect("written");
    let (seed, after_path) = (seed.to_str().expect("utf-8"), after.to_str().expect("utf-8"));
    let fixture = "events/aws/msk/cart-cleaner-product-deleted.json";
    let out = local(&["invoke", "cart-cleaner", fixture, "--state", seed, "--save-state", after_path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let left: serde_json::Value = serde_json::from_slice(&std::fs::read(&after).expect("saved")).expect("json");
    assert_eq!(left["carts"], serde_json::json!([{"customer": "C-2", "sku": "TSH-001-BLK-M", "quantity": 1}]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Azure apps' stores chain too: a batch delivered again on the state it left is stale for
/// projection-updater (nothing applied) and re-emitted, not scored anew, by fraud-scorer.
#[test]
fn a_redelivery_on_the_saved_state_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("local-azure-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    for (function, fixture, first, again) in [
        (
            "projection-updater",
            "events/azure/kafka-trigger/price-changed-batch.json",
            r#"{"applied":1,"conflicts":0,"dead_lettered":1,"message":"batch done","records":4,"retry":0,"stale":2}"#,
            r#"{"applied":0,"conflicts":0,"dead_lettered":1,"message":"batch done","records":4,"retry":0,"stale":3}"#,
        ),
        (
            "fraud-scorer",
            "events/azure/kafka-trigger/order-confirmed-batch.json",
            r#"{"dead_lettered":1,"message":"batch done","records":6,"redelivered":1,"retry":false,"scored":4}"#,
            r#"{"dead_lettered":1,"message":"batch done","records":6,"redelivered":5,"retry":false,"scored":0}"#,
        ),
    ] {
        let state = dir.join(format!("{function}.json"));
        let state = state.to_str().expect("utf-8");
        let logs = |args: &[&str]| {
            let out = local(args);
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
            (doc["response"]["body"]["Logs"][0].as_str().unwrap_or_default().to_string(), doc["effects"].clone())
        };
        let (said, effects) = logs(&["invoke", function, fixture, "--save-state", state]);
        assert_eq!(said, first);
        let (said, again_effects) = logs(&["invoke", function, fixture, "--state", state]);
        assert_eq!(said, again, "{function}");
        for store in ["documents", "fraud_state"] {
            assert_eq!(again_effects[store], effects[store], "{function}: {store} unchanged");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
