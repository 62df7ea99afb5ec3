//! Throughput of merch-normalizer and projection-updater on a 10,000-record native batch, each
//! next to plain serde_json decoding of the very same bytes, in the same run (a ratio, because
//! these machines are shared and noisy). Run: `cargo bench -p local --bench throughput`.
use async_trait::async_trait;
use axum::http::HeaderMap;
use chrono::{TimeZone, Utc};
use domain::ports::{Delivery, OutboundMessage, PortError, Publisher};
use inmemory::{InMemoryDocuments, Record};
use merch_normalizer::{Config, Normalizer};
use platform_azure::InvocationRequest;
use projection_updater::Updater;
use serde_json::Value;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const RECORDS: usize = 10_000;
const ROUNDS: usize = 7;

/// Counts what it is given: the bench measures the function, not a broker.
#[derive(Default)]
struct CountingPublisher(AtomicU64);

#[async_trait]
impl Publisher for CountingPublisher {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        black_box(&msg);
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Delivery { partition: 0, offset: n as i64 })
    }
}

/// 10,000 Pub/Sub push bodies of JSON ERP records (the decimal-string price feed).
fn push_bodies() -> Vec<Vec<u8>> {
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
    (0..RECORDS)
        .map(|i| {
            let record = serde_json::json!({"recordType": "PRICE", "erpSystem": "sap-eu", "sequence": 200_000 + i,
                "sku": format!("tsh-{:04}-blk-m", i % 700), "region": "EU", "price": format!("{}.{:02}", 5 + i % 90, i % 100),
                "currency": "EUR", "validFrom": "2026-11-20T09:15:02Z"});
            local::pubsub_push::push_body(record.to_string().as_bytes(), BTreeMap::from([("format".into(), "erp-json".into())]), &format!("{}", 1_000_000 + i), at, "projects/p/subscriptions/s")
        })
        .collect()
}

/// One custom-handler request carrying 10,000 canonical changes, as the Functions host sends it.
fn invocation_body() -> Vec<u8> {
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let (region, currency) = [("EU", "EUR"), ("UK", "GBP"), ("US", "USD")][i % 3];
            let ce = serde_json::json!({"specversion": "1.0", "id": format!("erp-sap-eu-{}", 200_000 + i), "source": "/gcp/merch-normalizer",
                "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:15:02Z", "subject": format!("TSH-{:04}-BLK-M", i % 700),
                "datacontenttype": "application/json",
                "data": {"sku": format!("TSH-{:04}-BLK-M", i % 700), "region": region,
                         "price": {"amount_minor": 500 + i as i64, "currency": currency},
                         "version": 200_000 + i, "erp_system": "sap-eu", "effective_at": "2026-11-20T09:15:02Z"}});
            Record { topic: "merch.price-changed".into(), partition: (i % 3) as i32, offset: i as i64, key: format!("TSH-{:04}-BLK-M", i % 700),
                     payload: ce.to_string().into_bytes(), headers: vec![], timestamp_ms: 1_795_165_200_000 }
        })
        .collect();
    serde_json::to_vec(&local::functions_host::kafka_trigger_request("price-changed", &records, None, 1))
        .expect("request")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `function` and `baseline` alternately, ROUNDS times each, and reports medians.
fn compare(name: &str, what: &str, mut function: impl FnMut(), mut baseline: impl FnMut()) -> f64 {
    function();
    baseline();
    let (mut f, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        function();
        f.push(t.elapsed());
        let t = Instant::now();
        baseline();
        b.push(t.elapsed());
    }
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64();
    let (fr, br) = (rate(median(f)), rate(median(b)));
    let ratio = fr / br;
    println!(
        "{name:<19} {RECORDS} records ({what}): {fr:>10.0} rec/s | serde_json decode of the same bytes: {br:>10.0} rec/s | ratio {ratio:.2} (target >= 0.50: {})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    );
    ratio
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    let bodies = push_bodies();
    let publisher = Arc::new(CountingPublisher::default());
    let normalizer = Normalizer::new(publisher.clone(), Config::default());
    let headers = HeaderMap::new();
    compare(
        "merch-normalizer",
        "Pub/Sub push envelopes",
        || {
            rt.block_on(async {
                for body in &bodies {
                    let msg = platform_gcp::push::from_http(&headers, body).expect("envelope");
                    black_box(normalizer.handle(&msg).await.expect("published"));
                }
            })
        },
        || {
            use base64::Engine;
            for body in &bodies {
                let env: Value = serde_json::from_slice(body).expect("json");
                let data = base64::engine::general_purpose::STANDARD
                    .decode(env["message"]["data"].as_str().unwrap_or_default())
                    .expect("b64");
                black_box(serde_json::from_slice::<Value>(&data).expect("record"));
            }
        },
    );

    let body = invocation_body();
    compare(
        "projection-updater",
        "one custom-handler invocation",
        || {
            rt.block_on(async {
                let updater = Updater::new(Arc::new(InMemoryDocuments::default()));
                let req: InvocationRequest = serde_json::from_slice(&body).expect("request");
                let (status, resp, report) = updater.handle(&req).await;
                assert!(status.is_success() && report.applied > 0);
                black_box(serde_json::to_vec(&resp).expect("response"));
            })
        },
        || {
            let req: Value = serde_json::from_slice(&body).expect("json");
            for entry in req["Data"]["events"].as_array().expect("events") {
                let event: Value = serde_json::from_str(entry.as_str().unwrap_or_default()).expect("entry");
                black_box(serde_json::from_str::<Value>(event["Value"].as_str().unwrap_or_default()).expect("value"));
            }
        },
    );
}
