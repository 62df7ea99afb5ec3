//! Throughput of fraud-scorer and order-updater along their real path, next to typed serde
//! decoding of the same bytes in the same run (a ratio: these machines are shared and noisy):
//! - fraud-scorer: one custom-handler invocation of 500 `order.confirmed` records (host.json's
//!   `maxBatchSize`) through its axum router, against a fresh in-memory state store;
//! - order-updater: 100-record MSK batches (the event source mapping's default batch size),
//!   parsed as the runtime parses them and called through `lambda_runtime`'s service with a
//!   `LambdaEvent`, against a fresh in-memory orders table.
//!
//! Logging is production's (JSON at info, current span) into a sink. Also reported: fraud-scorer's
//! scoring time per order (median and p99), from the state store read to the stored verdict.
//! Run: `cargo bench -p local --bench checkout`.
#[path = "support/side_by_side.rs"]
mod side_by_side;

use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{DateTime, Duration as Minutes, Utc};
use domain::CloudEvent;
use domain::events::{OrderConfirmed, OrderLine, PaymentDetails};
use domain::values::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use inmemory::{InMemoryCarts, InMemoryDocuments, Record};
use lambda_runtime::{Context, LambdaEvent, service_fn};
use local::oneshot::post;
use platform_aws::msk::KafkaBatchResponse;
use platform_azure::kafka_trigger::KafkaEventData;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serve::EnvFilter;
use side_by_side::{ROUNDS, compare, selected};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};

/// `n` orders of 60 customers paying with 40 cards, 1 to 4 lines each, a minute apart.
fn orders(n: usize) -> Vec<CloudEvent<OrderConfirmed>> {
    let eur = Currency::parse("EUR").expect("EUR");
    let start: DateTime<Utc> = "2026-11-23T09:00:00Z".parse().expect("time");
    (0..n)
        .map(|i| {
            let at = start + Minutes::minutes(i as i64);
            let lines: Vec<OrderLine> = (0..1 + i % 4)
                .map(|l| OrderLine {
                    sku: Sku::parse(&format!("SKU-{:03}", (i * 7 + l) % 300)).expect("sku"),
                    quantity: Quantity::new(1 + (l % 2) as i64).expect("qty"),
                    unit_price: Money::new(1_000 + 37 * ((i + l) % 90) as i64, eur),
                    category: Some(["apparel", "home", "gift-cards"][l % 3].into()),
                })
                .collect();
            let total = lines.iter().map(|l| l.unit_price.amount_minor * i64::from(l.quantity.get())).sum();
            let data = OrderConfirmed {
                order_id: OrderId::parse(&format!("BENCH-{i:05}")).expect("id"),
                customer_id: CustomerId::parse(&format!("C-{}", i % 60)).expect("id"),
                lines,
                total: Money::new(total, eur),
                ship_to_country: "DE".into(),
                confirmed_at: at,
                payment: Some(PaymentDetails {
                    token: format!("tok_visa_{i}"),
                    card_fingerprint: format!("fp-{}", i % 40),
                    card_bin_country: "DE".into(),
                    billing_country: if i % 9 == 0 { "AT" } else { "DE" }.into(),
                }),
                customer_since: Some(at - Minutes::days(30 + (i % 700) as i64)),
            };
            CloudEvent::new(format!("order-BENCH-{i:05}-confirmed"), "/storefront/checkout", at, data)
        })
        .collect()
}

fn records(events: &[CloudEvent<OrderConfirmed>]) -> Vec<Record> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Record {
            topic: "order.confirmed".into(),
            partition: (i % 3) as i32,
            offset: i as i64,
            key: e.key(),
            payload: e.to_json(),
            headers: vec![("ce_id".into(), e.id.clone())],
            timestamp_ms: 1_795_400_000_000 + i as i64,
        })
        .collect()
}

// The wire formats, typed, for the baselines.
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
    orders: Vec<String>,
}

fn main() {
    tracing::subscriber::set_global_default(serve::json_subscriber(EnvFilter::new("info"), std::io::sink))
        .expect("the only subscriber");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    println!(
        "Checkout functions along their real path, JSON logs at info into a sink; medians of {ROUNDS} alternating rounds"
    );

    let events = orders(500);
    if selected("fraud-scorer") {
        fraud_scorer_bench(&rt, &events);
    }
    if selected("order-updater") {
        order_updater_bench(&rt, &events);
    }
}

/// One invocation of 500 orders through the router; then the scoring time per order.
fn fraud_scorer_bench(rt: &tokio::runtime::Runtime, events: &[CloudEvent<OrderConfirmed>]) {
    let request = local::functions_host::kafka_trigger_request("order-confirmed", "orders", &records(events), None, 1);
    let body = serde_json::to_vec(&request).expect("request");
    let json = vec![("content-type".to_string(), "application/json".to_string())];
    let invoke = || {
        let state = Arc::new(InMemoryDocuments::default());
        let scorer = fraud_scorer::Scorer::new(state.clone(), fraud_scorer::Config::default());
        let router = fraud_scorer::app(Arc::new(scorer), usize::MAX);
        let (status, resp) = rt.block_on(post(&router, "/order-confirmed", &json, body.clone()));
        assert_eq!(status.as_u16(), 200);
        (resp, state)
    };
    compare("fraud-scorer", "orders in one invocation through the router", events.len(), invoke, || {
        let inv: Invocation = serde_json::from_slice(&body).expect("invocation");
        for entry in &inv.data.orders {
            let ev: KafkaEventData = serde_json::from_str(entry).expect("entry");
            black_box(serde_json::from_str::<CloudEvent<OrderConfirmed>>(&ev.value).expect("order"));
        }
    });

    // fraud-scorer's scoring time per order, over histories that grow as the orders arrive.
    let docs = InMemoryDocuments::default();
    let model = fraud_scorer::model::Model::select(None).expect("model");
    let mut times: Vec<Duration> = events
        .iter()
        .map(|e| {
            let t = Instant::now();
            black_box(rt.block_on(fraud_scorer::scorer::score_order(&docs, &model, &e.data, e.time)).expect("scored"));
            t.elapsed()
        })
        .collect();
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!("{:<18} scoring time per order: median {:?}, p99 {:?}", "fraud-scorer", pct(0.5), pct(0.99));
}

/// 100-record MSK batches through lambda_runtime's service.
fn order_updater_bench(rt: &tokio::runtime::Runtime, events: &[CloudEvent<OrderConfirmed>]) {
    let batch = serde_json::to_vec(&local::lambda_host::msk_event(&records(&events[..100]))).expect("event");
    let run_batch = || {
        let orders = Arc::new(InMemoryDocuments::default());
        let updater = Arc::new(order_updater::OrderUpdater {
            clock: Arc::new(chrono::Utc::now),
            store: orders::store::OrderStore {
                orders: orders.clone(),
                carts: Arc::new(InMemoryCarts::default()),
                bus: Arc::new(inmemory::Bus::new(3)),
            },
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(order_updater::NAME, "checkout.dlq"),
        });
        let mut service = service_fn(move |event: LambdaEvent<KafkaEvent>| {
            let updater = updater.clone();
            async move {
                updater
                    .handle(event.payload, &platform_aws::invocation::Invocation::one_minute())
                    .await
                    .map(|(response, _)| response)
            }
        });
        let response: KafkaBatchResponse = rt.block_on(async {
            // As the runtime does: the invocation's bytes parsed into the trigger's type.
            let event: KafkaEvent = serde_json::from_slice(&batch).expect("MSK event");
            let ready = service.ready().await.expect("ready");
            ready.call(LambdaEvent::new(event, Context::default())).await.expect("handled")
        });
        assert!(response.batch_item_failures.is_empty());
        orders
    };
    compare("order-updater", "records per MSK batch through lambda_runtime's service", 100, run_batch, || {
        let event: KafkaEvent = serde_json::from_slice(&batch).expect("MSK event");
        for records in event.records.values() {
            for r in records {
                use base64::Engine;
                let value =
                    base64::engine::general_purpose::STANDARD.decode(r.value.as_deref().unwrap_or("")).expect("b64");
                black_box(serde_json::from_slice::<CloudEvent<OrderConfirmed>>(&value).expect("order"));
            }
        }
    });
}
