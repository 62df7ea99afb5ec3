//! Bodies as large as the platforms send, through the real routers: axum's 2 MB default would
//! answer 413 before any function code ran, and the platform would redeliver forever.
use chrono::{TimeZone, Utc};
use inmemory::Record;
use local::estate::Estate;
use local::functions_host::kafka_trigger_request;
use local::oneshot::post;
use local::pubsub_push::push_body;
use serde_json::json;
use std::collections::BTreeMap;

#[tokio::test]
async fn audit_sink_records_a_9_mb_push_whole() {
    let estate = Estate::new();
    let data = vec![b'a'; 9 * 1024 * 1024];
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
    let attrs = BTreeMap::from([("kafka_topic".to_string(), "merch.dlq".to_string())]);
    let body = push_body(&data, attrs, "big-1", at, "projects/p/subscriptions/mirror-merch-dlq");
    assert!(body.len() > 12 * 1024 * 1024, "base64 in a JSON envelope: {} bytes", body.len());
    let app = estate.app(audit_sink::NAME).cloned().expect("app");
    let (status, _) = post(&app, "/", &[("content-type".into(), "application/json".into())], body).await;
    assert_eq!(status, 204);
    let objects = estate.objects.all();
    assert_eq!(objects.len(), 1);
    assert!(objects[0].size > data.len() as u64, "the whole message is in the audit line");
}

/// A canonical price change padded to about 20 KB with a CloudEvents extension attribute.
fn padded_change(i: usize) -> Vec<u8> {
    json!({"specversion": "1.0", "id": format!("erp-sap-eu-{}", 1000 + i), "source": "/gcp/merch-normalizer",
           "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:00:00Z", "datacontenttype": "application/json",
           "comment": "\"quoted\" ".repeat(2000),
           "data": {"sku": format!("SKU-{i}"), "region": "EU", "price": {"amount_minor": 1000 + i, "currency": "EUR"},
                    "version": 1000 + i, "erp_system": "sap-eu", "effective_at": "2026-11-20T09:00:00Z"}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn projection_updater_applies_a_500_record_batch_of_20_kb_records() {
    let estate = Estate::new();
    let records: Vec<Record> = (0..500)
        .map(|i| Record {
            topic: "merch.price-changed".into(),
            partition: (i % 3) as i32,
            offset: i as i64,
            key: format!("SKU-{i}"),
            payload: padded_change(i),
            headers: vec![],
            timestamp_ms: 1_795_165_200_000,
        })
        .collect();
    assert!(records.iter().all(|r| (20_000..24_000).contains(&r.payload.len())));
    let body =
        serde_json::to_vec(&kafka_trigger_request("price-changed", "events", &records, None, 1)).expect("request");
    assert!(body.len() > 10_000_000, "escaped twice: {} bytes", body.len());
    let app = estate.app(projection_updater::NAME).cloned().expect("app");
    let (status, resp) =
        post(&app, "/price-changed", &[("content-type".into(), "application/json".into())], body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp[..resp.len().min(300)]));
    assert_eq!(estate.docs.all().len(), 500, "every record applied");
}
