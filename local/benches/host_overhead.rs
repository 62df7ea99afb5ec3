//! The local Functions host's overhead per invocation: a one-record Kafka batch to a no-op
//! custom handler (`local::functions_host::noop`, served by `src/bin/noop-handler.rs` as its own
//! process on `FUNCTIONS_CUSTOMHANDLER_PORT`) through the host's invocation
//! (`up::functions_host::invoke_handler`: the request built, POSTed, the answer read), against
//! the same handler's router called in-process (`oneshot`, no socket) with the same request.
//! Both in one run, alternating, so the machine's noise falls on both alike; reported: each
//! side's median and p99 and the median of the paired differences (the overhead). Reading the
//! record from Kafka is outside both. Goal: at most 1 ms.
//! Run: `cargo bench -p local --bench host_overhead`.
use axum::body::Body;
use axum::http::Request;
use domain::ports::BusRecord;
use local::functions_host::{kafka_trigger_request, noop};
use local::up::functions_host::invoke_handler;
use local::up::http_process::{HttpProcess, HttpProcessConfig, free_port};
use platform_azure::{InvocationRequest, InvocationResponse};
use std::time::Duration;
use tower::ServiceExt;

mod paired;

const PAIRS: usize = 2000;
const WARM_UP: usize = 200;

/// One record of a recorded batch, as the host reads it from Kafka.
fn one_record() -> Vec<BusRecord> {
    let payload = r#"{"specversion":"1.0","id":"erp-sap-eu-184467","source":"/gcp/merch-normalizer","type":"com.shop.merch.price-changed.v1","time":"2026-11-20T09:15:02Z","datacontenttype":"application/json","data":{"sku":"TSH-001-BLK-M","region":"EU","amount_minor":1999,"currency":"EUR","version":184467,"erp_system":"sap-eu","valid_from":"2026-11-20T09:15:02Z"}}"#;
    vec![BusRecord {
        topic: "merch.price-changed".into(),
        partition: 0,
        offset: 42,
        key: "TSH-001-BLK-M".into(),
        payload: payload.as_bytes().to_vec(),
        headers: vec![("ce_id".into(), "bench-1".into())],
        timestamp_ms: 1_763_630_102_000,
    }]
}

fn request(records: &[BusRecord], n: u64) -> InvocationRequest {
    kafka_trigger_request(noop::FUNCTION, "events", records, None, n)
}

async fn in_process(app: &axum::Router, records: &[BusRecord], n: u64) -> InvocationResponse {
    let body = serde_json::to_vec(&request(records, n)).expect("JSON");
    let req = Request::post(format!("/{}", noop::FUNCTION)).header("content-type", "application/json");
    let answer = app.clone().oneshot(req.body(Body::from(body)).expect("a request")).await.expect("an answer");
    assert!(answer.status().is_success());
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX).await.expect("the body");
    serde_json::from_slice(&bytes).expect("an invocation response")
}

#[tokio::main]
async fn main() {
    let records = one_record();
    let app = noop::app();
    let port = free_port().expect("a port");
    let handler = HttpProcess::start(HttpProcessConfig {
        name: "noop-handler".into(),
        binary: env!("CARGO_BIN_EXE_noop-handler").into(),
        env: vec![("FUNCTIONS_CUSTOMHANDLER_PORT".into(), port.to_string())],
        port,
        log: None,
    })
    .await
    .expect("the no-op handler started");
    let client = reqwest::Client::new();
    let through = |n: u64| {
        let (client, url, records) = (&client, &handler.url, &records);
        async move {
            let out = invoke_handler(client, url, noop::FUNCTION, &request(records, n), Duration::from_secs(10)).await;
            out.expect("the handler answered")
        }
    };
    for n in 0..WARM_UP as u64 {
        std::hint::black_box(through(n).await);
        std::hint::black_box(in_process(&app, &records, n).await);
    }
    let direct = async |i: usize| {
        std::hint::black_box(in_process(&app, &records, i as u64).await);
    };
    let hosted = async |i: usize| {
        std::hint::black_box(through(i as u64).await);
    };
    let paired = paired::run(PAIRS, direct, hosted).await;
    handler.stop().await;
    paired.print(
        "one-record Kafka batch",
        "handler in-process (its router, oneshot)",
        "through the local Functions host (own process, HTTP)",
    );
}
