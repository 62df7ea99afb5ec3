//! The local runner's overhead per invocation: a one-record MSK batch to a no-op Lambda
//! (`src/bin/noop-lambda.rs`) through the runner's Runtime API, the binary as its own process,
//! against the same handler called in-process through `lambda_runtime`'s service. Both in one run,
//! alternating, so the machine's noise falls on both alike; reported: each side's median and p99
//! and the median of the paired differences (the overhead). Goal: at most 1 ms.
//! Run: `cargo bench -p local --bench runtime_overhead`.
use lambda_runtime::{Context, LambdaEvent, service_fn};
use local::runtime::api::Outcome;
use local::runtime::process::{FunctionConfig, FunctionProcess};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

mod paired;

const PAIRS: usize = 2000;
const WARM_UP: usize = 200;

/// A recorded MSK batch cut to its first record.
fn one_record_batch() -> Vec<u8> {
    let text = include_str!("../../events/aws/msk/cart-cleaner-product-deleted.json");
    let mut event: Value = serde_json::from_str(text).expect("an MSK event");
    let records = event["records"].as_object_mut().expect("records by partition");
    let (partition, first) = records.iter().next().map(|(k, v)| (k.clone(), v[0].clone())).expect("a record");
    records.clear();
    records.insert(partition, json!([first]));
    serde_json::to_vec(&event).expect("JSON")
}

async fn in_process(event: &[u8]) -> Vec<u8> {
    let handler = service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, lambda_runtime::Error>(json!({"batchItemFailures": []}))
    });
    let payload: Value = serde_json::from_slice(event).expect("JSON");
    let out = handler.oneshot(LambdaEvent::new(payload, Context::default())).await.expect("an answer");
    serde_json::to_vec(&out).expect("JSON")
}

#[tokio::main]
async fn main() {
    let event = one_record_batch();
    let config = FunctionConfig {
        name: "noop-lambda".into(),
        binary: env!("CARGO_BIN_EXE_noop-lambda").into(),
        timeout: Duration::from_secs(10),
        memory_mb: 128,
        region: "eu-west-1".into(),
        env: Vec::new(),
        log: None,
    };
    let function = FunctionProcess::start(config).await.expect("the no-op Lambda started");
    for _ in 0..WARM_UP {
        assert!(matches!(function.invoke(event.clone()).await, Outcome::Response(_)));
        std::hint::black_box(in_process(&event).await);
    }
    let direct = async |_| {
        std::hint::black_box(in_process(&event).await);
    };
    let through = async |_| {
        let out = function.invoke(event.clone()).await;
        assert!(matches!(out, Outcome::Response(_)), "{out:?}");
    };
    let paired = paired::run(PAIRS, direct, through).await;
    function.stop().await;
    paired.print(
        "one-record MSK batch",
        "handler in-process (lambda_runtime service)",
        "through the runner's Runtime API (own process)",
    );
}
