//! Throughput of merch-normalizer and projection-updater along their real path: each request goes
//! through the function's axum router (tower `oneshot`, no socket) with production's logging on
//! (JSON at info, current span, written to a sink). Units are what the platforms deliver:
//! 500 Pub/Sub pushes (one message per request), and one custom-handler invocation of 500 records
//! (host.json `maxBatchSize`) against a fresh store, so every run applies all its changes.
//! Each is set next to typed serde decoding of the very same bytes, in alternating rounds of the
//! same run, and reported as a ratio: these machines are shared and noisy, absolute rates are not
//! comparable from one run to the next, a ratio to a baseline measured alongside is.
//! Run: `cargo bench -p local --bench throughput`.
#[path = "support/side_by_side.rs"]
mod side_by_side;

use async_trait::async_trait;
use axum::Router;
use base64::Engine;
use chrono::{TimeZone, Utc};
use domain::CloudEvent;
use domain::events::PriceChanged;
use domain::ports::{Delivery, OutboundMessage, PortError, Publisher};
use inmemory::{InMemoryDocuments, Record};
use local::oneshot::post;
use merch_normalizer::{Config, Normalizer};
use platform_azure::InvocationResponse;
use platform_azure::kafka_trigger::KafkaEventData;
use platform_gcp::PushGuard;
use projection_updater::Updater;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serve::EnvFilter;
use side_by_side::{ROUNDS, compare, median, selected};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One measured unit for each function: 500 pushes, or one invocation of 500 records.
const RECORDS: usize = 500;

/// Counts what it is given: the bench measures the function, not a broker.
#[derive(Default)]
struct CountingPublisher(AtomicU64);

#[async_trait]
impl Publisher for CountingPublisher {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        // A dead letter would still answer 204: make sure the happy path is what is measured.
        assert_ne!(msg.topic, domain::events::topics::MERCH_DLQ, "a bench record was dead-lettered");
        black_box(&msg);
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Delivery::Kafka { partition: 0, offset: n as i64 })
    }
}

// The wire formats, typed, for the baseline: what a hand-written decoder of the same bytes reads.
// Fields are only looked at through black_box.
#[allow(dead_code)]
#[derive(Deserialize)]
struct Envelope {
    message: Message,
    subscription: String,
}
#[allow(dead_code)]
#[derive(Deserialize)]
struct Message {
    data: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "messageId")]
    message_id: String,
    #[serde(rename = "publishTime")]
    publish_time: String,
}
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErpRecord {
    record_type: String,
    erp_system: String,
    sequence: u64,
    sku: String,
    region: String,
    price: String,
    currency: String,
    valid_from: String,
}
#[allow(dead_code)]
#[derive(Deserialize)]
struct Invocation {
    #[serde(rename = "Data")]
    data: InvData,
    #[serde(rename = "Metadata")]
    metadata: IgnoredAny,
}
#[derive(Deserialize)]
struct InvData {
    events: Vec<String>,
}

/// Pub/Sub push bodies of JSON ERP records (the decimal-string price feed), one per message.
fn push_bodies() -> Vec<Vec<u8>> {
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
    (0..RECORDS)
        .map(|i| {
            let record = serde_json::json!({"recordType": "PRICE", "erpSystem": "sap-eu", "sequence": 200_000 + i,
                "sku": format!("tsh-{:04}-blk-m", i % 700), "region": "EU", "price": format!("{}.{:02}", 5 + i % 90, i % 100),
                "currency": "EUR", "validFrom": "2026-11-20T09:15:02Z"});
            let attrs = BTreeMap::from([("format".to_string(), "erp-json".to_string())]);
            let id = (1_000_000 + i).to_string();
            local::pubsub_push::push_body(record.to_string().as_bytes(), attrs, &id, at, "projects/p/subscriptions/s")
        })
        .collect()
}

/// One custom-handler request carrying canonical changes over ~170 skus (several per sku, in
/// version order), as the Functions host sends it. Each region's changes come from the ERP
/// system that owns it in the checked-in slot table, so none is dead-lettered.
fn invocation_body() -> Vec<u8> {
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let slots = [("EU", "EUR", "sap-eu"), ("UK", "GBP", "sap-eu"), ("US", "USD", "as400-us")];
            let (region, currency, erp) = slots[i % 3];
            let sku = format!("TSH-{:04}-BLK-M", i % 170);
            // Serialised as the producer does (merch-normalizer's CloudEvent, `type` before `data`),
            // not through `json!`, whose map would sort the keys.
            let data: PriceChanged = serde_json::from_value(serde_json::json!({"sku": sku, "region": region,
                "price": {"amount_minor": 500 + i as i64, "currency": currency}, "version": 200_000 + i,
                "erp_system": erp, "effective_at": "2026-11-20T09:15:02Z"}))
            .expect("price change");
            let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 15, 2).single().expect("time");
            let ce = CloudEvent::new(format!("erp-{erp}-{}", 200_000 + i), "/gcp/merch-normalizer", at, data);
            let (topic, partition, offset) = ("merch.price-changed".to_string(), (i % 3) as i32, i as i64);
            let (payload, timestamp_ms) = (ce.to_json(), 1_795_165_200_000);
            Record { topic, partition, offset, key: sku, payload, headers: vec![], timestamp_ms }
        })
        .collect();
    serde_json::to_vec(&local::functions_host::kafka_trigger_request("price-changed", "events", &records, None, 1))
        .expect("request")
}

/// Every push through the router, as Pub/Sub sends them: one request each, acknowledged with 204.
/// (`post` takes the body by value; copying a few hundred bytes is noise next to a request.)
async fn push_all(router: &Router, bodies: &[Vec<u8>], headers: &[(String, String)]) {
    for body in bodies {
        let (status, resp) = post(router, "/", headers, body.clone()).await;
        assert_eq!(status.as_u16(), 204, "{}", String::from_utf8_lossy(&resp));
        black_box(resp);
    }
}

/// One invocation against a fresh store, so every run applies all its changes; the store comes
/// back with the response. Building the two-route router is part of the run: microseconds next
/// to 500 records.
async fn invoke(body: &[u8], headers: &[(String, String)]) -> (Vec<u8>, Arc<InMemoryDocuments>) {
    let store = Arc::new(InMemoryDocuments::default());
    let router = projection_updater::app(Arc::new(Updater::new(store.clone())), usize::MAX);
    let (status, resp) = post(&router, "/price-changed", headers, body.to_vec()).await;
    assert_eq!(status.as_u16(), 200, "{}", String::from_utf8_lossy(&resp));
    (resp, store)
}

/// The median of ROUNDS runs of `f` (after a warm-up), as records per second.
fn rate(records: usize, mut f: impl FnMut()) -> f64 {
    f();
    let runs: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    records as f64 / median(runs).as_secs_f64()
}

/// What a push costs before any function code, measured in the same run to read the
/// merch-normalizer ratio against: the router alone (the same layers, a handler that only takes
/// the bytes), and one invocation span with one JSON log line.
fn floors(rt: &tokio::runtime::Runtime, bodies: &[Vec<u8>], headers: &[(String, String)]) {
    let handler = |b: axum::body::Bytes| async move {
        black_box(b);
        axum::http::StatusCode::NO_CONTENT
    };
    let bare = PushGuard::local().apply(Router::new().route("/", axum::routing::post(handler)));
    let router = rate(bodies.len(), || rt.block_on(push_all(&bare, bodies, headers)));
    let logging = rate(bodies.len(), || {
        for i in 0..bodies.len() {
            let span = tracing::info_span!("invocation", function = "bench", event_id = %i, form = "wrapped");
            span.in_scope(
                || tracing::info!(event_id = %i, topic = "merch.price-changed", sku = "TSH-0001-BLK-M", "published"),
            );
        }
    });
    println!(
        "{:<20} reference floors: the router alone {router:.0} rec/s; one span + one JSON log line {logging:.0} rec/s",
        ""
    );
}

fn main() {
    // Production's subscriber (JSON, current span, info), minus the terminal: formatting is paid.
    tracing::subscriber::set_global_default(serve::json_subscriber(EnvFilter::new("info"), std::io::sink))
        .expect("the only subscriber");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let json = vec![("content-type".to_string(), "application/json".to_string())];
    println!(
        "Throughput along the real path (axum router via tower oneshot, JSON logs at info into a sink) \
         next to typed serde decoding of the same bytes; medians of {ROUNDS} alternating rounds"
    );

    if selected("merch-normalizer") {
        merch_normalizer_bench(&rt, &json);
    }
    if selected("projection-updater") {
        projection_updater_bench(&rt, &json);
    }
}

/// 500 Pushes, one request each; then the floors a push pays before any function code.
fn merch_normalizer_bench(rt: &tokio::runtime::Runtime, json: &[(String, String)]) {
    let bodies = push_bodies();
    let normalizer = Normalizer::new(Arc::new(CountingPublisher::default()), Config::default());
    let router = merch_normalizer::app(Arc::new(normalizer), &PushGuard::local());
    compare(
        "merch-normalizer",
        "pushes through the router",
        RECORDS,
        || rt.block_on(push_all(&router, &bodies, json)),
        || {
            for body in &bodies {
                let env: Envelope = serde_json::from_slice(body).expect("envelope");
                let data = base64::engine::general_purpose::STANDARD.decode(&env.message.data).expect("base64");
                black_box(serde_json::from_slice::<ErpRecord>(&data).expect("record"));
                black_box(env);
            }
        },
    );
    floors(rt, &bodies, json);
}

/// One custom-handler invocation of 500 Kafka records, host.json's `maxBatchSize`.
fn projection_updater_bench(rt: &tokio::runtime::Runtime, json: &[(String, String)]) {
    let body = invocation_body();
    // Once, outside the timing: the run measured is the one where every change is applied.
    let resp: InvocationResponse = serde_json::from_slice(&rt.block_on(invoke(&body, json)).0).expect("response");
    let all_applied = format!("{RECORDS} records: {RECORDS} applied, 0 stale, 0 dead-lettered");
    assert!(resp.outputs.is_empty() && resp.logs.iter().any(|l| l.starts_with(&all_applied)), "{:?}", resp.logs);
    compare(
        "projection-updater",
        "records in one invocation through the router",
        RECORDS,
        || rt.block_on(invoke(&body, json)),
        || {
            let inv: Invocation = serde_json::from_slice(&body).expect("invocation");
            for entry in &inv.data.events {
                let ev: KafkaEventData = serde_json::from_str(entry).expect("entry");
                black_box(serde_json::from_str::<CloudEvent<PriceChanged>>(&ev.value).expect("event"));
            }
            black_box(inv);
        },
    );
}
