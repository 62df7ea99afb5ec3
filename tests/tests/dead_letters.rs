//! Dead letters that are bounded and unique: a huge bad message still yields a publishable dead
//! letter (a prefix, the original size, its SHA-256 and where it came from); every bad entry of
//! one invocation gets its own id, so the create-only audit log keeps each; and a trigger
//! binding the handler cannot read at all is kept whole instead of failing the invocation.
use chrono::{TimeZone, Utc};
use domain::dead_letter::DEFAULT_MAX_PAYLOAD_BYTES;
use domain::events::topics;
use estate_tests::Logs;
use local::estate::Estate;
use local::oneshot::post;
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn dead_letters(estate: &Estate) -> Vec<Value> {
    estate.bus.records(topics::MERCH_DLQ).iter().filter_map(|r| serde_json::from_slice(&r.payload).ok()).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An invocation of price-changed whose `Data.events` is `binding`, with no trigger metadata
/// arrays (so unreadable entries can only be told apart by their index).
fn invocation(binding: Value, guid: &str) -> InvocationRequest {
    let mut req = InvocationRequest::default();
    req.data.insert("events".into(), binding);
    req.set_metadata(
        "sys",
        &json!({"MethodName": "price-changed", "UtcNow": "2026-11-20T09:17:01Z", "RandGuid": guid}),
    );
    req
}

async fn invoke(estate: &mut Estate, req: &InvocationRequest) -> (u16, InvocationResponse) {
    let app = estate.app(projection_updater::NAME).cloned().expect("app");
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let (status, body) = post(&app, "/price-changed", &headers, serde_json::to_vec(req).expect("json")).await;
    let resp: InvocationResponse = serde_json::from_slice(&body).expect("custom handler response");
    if status.is_success() {
        let outputs = estate.azure_outputs("projection-updater", "price-changed");
        estate.publish_outputs("projection-updater", &resp, &outputs).await.expect("output bindings published");
    }
    (status.as_u16(), resp)
}

#[tokio::test]
async fn a_9_mb_message_is_acknowledged_and_dead_lettered_with_a_bounded_prefix() {
    let mut estate = Estate::new();
    let data: Vec<u8> = (0..9 * 1024 * 1024).map(|i| b"0123456789abcdef"[i % 16]).collect();
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
    let status = estate.push_erp(&data, BTreeMap::new(), "huge-1", at).await;
    assert_eq!(status, 204, "through the real router: not 413, not 503");
    let dlq = dead_letters(&estate);
    assert_eq!(dlq.len(), 1);
    let d = &dlq[0]["data"];
    assert_eq!((d["reason_code"].as_str(), d["origin"].as_str()), (Some("oversize"), Some("pubsub:huge-1")));
    assert_eq!(d["payload"].as_str().map(str::len), Some(DEFAULT_MAX_PAYLOAD_BYTES));
    assert_eq!(d["original_bytes"], json!(data.len()));
    assert_eq!(d["original_sha256"], json!(sha256_hex(&data)));
    assert_eq!(d["truncated"], json!(true));
    assert_eq!(estate.stats[merch_normalizer::NAME].redeliveries, 0, "acknowledged on the first push");
}

#[tokio::test]
async fn three_bad_entries_of_one_invocation_are_three_dead_letters_and_three_audit_objects() {
    let mut estate = Estate::new();
    let entries = json!(["{\"Offset\":", "[1,2]", "{\"Topic\":\"merch.price-changed\"}"]);
    let (status, resp) = invoke(&mut estate, &invocation(entries.clone(), "guid-7")).await;
    assert_eq!(status, 200);
    assert_eq!(resp.outputs["deadLetters"].as_array().map(Vec::len), Some(3));
    let ids = |estate: &Estate| {
        let mut ids: Vec<String> =
            dead_letters(estate).iter().map(|d| d["id"].as_str().unwrap_or("").to_string()).collect();
        ids.sort();
        ids
    };
    let first = ids(&estate);
    assert_eq!(first.len(), 3);
    for (i, id) in first.iter().enumerate() {
        assert!(id.starts_with(&format!("dlq-projection-updater-entry-{i}:")), "{id}");
    }
    estate.run_mirror(100).await.expect("bridge");
    let audited =
        |estate: &Estate| estate.objects.all().iter().filter(|o| o.key.starts_with("audit/topic=merch.dlq/")).count();
    assert_eq!(audited(&estate), 3, "each bad entry is its own audit object");
    // The host redelivers the same batch under a new invocation id: the same dead letters.
    invoke(&mut estate, &invocation(entries, "guid-8")).await;
    let again = ids(&estate);
    assert_eq!(again.len(), 6);
    assert!(again.iter().all(|id| first.contains(id)), "{again:?}");
    estate.run_mirror(100).await.expect("bridge");
    assert_eq!(audited(&estate), 3, "a redelivery adds no audit object");
}

#[tokio::test]
async fn a_binding_of_no_known_shape_is_dead_lettered_whole_and_the_invocation_handled() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut estate = Estate::new();
    let req = invocation(json!({"Offset": 7}), "guid-9");
    let (status, resp) = invoke(&mut estate, &req).await;
    assert_eq!(status, 200, "no retry can fix it: handled, so the host moves on");
    let dlq = dead_letters(&estate);
    assert_eq!(dlq.len(), 1);
    let d = &dlq[0]["data"];
    assert_eq!(d["reason_code"], "unreadable_binding");
    assert!(d["origin"].as_str().is_some_and(|o| o.starts_with("data:")), "named by its content: {d}");
    assert_eq!(d["payload"], json!({"events": {"Offset": 7}}).to_string(), "the raw Data is kept");
    assert!(resp.logs.iter().any(|l| l.contains("invalid invocation")), "{:?}", resp.logs);
    let line = logs.text().lines().find(|l| l.contains("trigger binding unreadable")).map(str::to_string);
    let line = line.expect("an error log line");
    assert!(line.contains("\"level\":\"ERROR\"") && line.contains("guid-9"), "names the invocation: {line}");
}

#[tokio::test]
async fn a_body_that_is_no_invocation_at_all_is_dead_lettered_and_answered_handled() {
    let mut estate = Estate::new();
    let app = estate.app(projection_updater::NAME).cloned().expect("app");
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let (status, body) = post(&app, "/price-changed", &headers, b"<html>502 Bad Gateway</html>".to_vec()).await;
    assert_eq!(status, 200, "no retry can fix it");
    let resp: InvocationResponse = serde_json::from_slice(&body).expect("custom handler response");
    estate
        .publish_outputs("projection-updater", &resp, &estate.azure_outputs("projection-updater", "price-changed"))
        .await
        .expect("published");
    let dlq = dead_letters(&estate);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0]["data"]["reason_code"], "unreadable_invocation");
    assert_eq!(dlq[0]["data"]["payload"], "<html>502 Bad Gateway</html>");
    assert!(dlq[0]["data"]["origin"].as_str().is_some_and(|o| o.starts_with("request:")));
}
