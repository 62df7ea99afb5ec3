//! At-least-once delivery: every fixture delivered twice, in shuffled order, ends in the same
//! state as each delivered once in order.
use aws_lambda_events::event::dynamodb;
use aws_lambda_events::event::kafka::KafkaEvent;
use estate_tests::{all_fixtures, fixture, function_for};
use local::estate::Estate;
use local::invoke::as_http;
use local::oneshot::post;
use local::registry::Host;
use local::scenario::Rng;
use platform_aws::invocation::Invocation;
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const LAMBDA_RETRIES: usize = 5;

async fn deliver(estate: &mut Estate, path: &str) {
    let function = function_for(path).unwrap_or_else(|| panic!("{path} has no function"));
    let raw = fixture(path);
    let lambda_event =
        |what: &str| -> Value { serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{path}: {what}: {e}")) };
    // Each function as its platform delivers to it, by its registry entry. A Lambda batch with
    // failed records is invoked again, as the event source mapping retries it (after its pause),
    // until it goes through.
    match local::registry::function(function).expect("a function of the registry").host {
        // A scheduled run, not a delivery: what it notes depends on when it runs (by design), so
        // it is no part of a final state that must not depend on delivery order (tests/sweeper.rs).
        Host::Schedule { .. } => {}
        Host::S3 { run } => {
            let event = serde_json::from_value(lambda_event("an S3 notification")).expect("an S3 event");
            local::invoke::seed_uploads(estate, &event, &estate_tests::repo_root().join("events/aws/s3/objects")).await;
            run(estate, event, Invocation::one_minute()).await.expect("handled");
        }
        Host::Msk { run, .. } => {
            let event: KafkaEvent = serde_json::from_value(lambda_event("an MSK event")).expect("a Kafka event");
            for _ in 0..LAMBDA_RETRIES {
                let answer = run(estate, event.clone(), estate.lambda_invocation()).await.expect("a Kafka batch");
                if answer.response.batch_item_failures.is_empty() {
                    return;
                }
                estate.clock.wait(local::estate::LAMBDA_RETRY_PAUSE);
            }
            panic!("{path}: records still failing after {LAMBDA_RETRIES} invocations");
        }
        Host::DynamoDbStream { run, .. } => {
            let event: dynamodb::Event =
                serde_json::from_value(lambda_event("a Streams event")).expect("a Streams event");
            for _ in 0..LAMBDA_RETRIES {
                let answer = run(estate, event.clone(), estate.lambda_invocation()).await.expect("a Streams batch");
                if answer.response.batch_item_failures.is_empty() {
                    return;
                }
                estate.clock.wait(local::estate::LAMBDA_RETRY_PAUSE);
            }
            panic!("{path}: records still failing after {LAMBDA_RETRIES} invocations");
        }
        Host::Functions { .. } => {
            let app = estate.app(function).cloned().unwrap_or_else(|| panic!("no app {function}"));
            let req: InvocationRequest = serde_json::from_slice(&raw).expect("fixture is a custom handler request");
            let folder = req.sys().map(|s| s.method_name).unwrap_or_default();
            let (status, body) =
                post(&app, &format!("/{folder}"), &[("content-type".into(), "application/json".into())], raw).await;
            assert!(status.is_success(), "{path}: {status}");
            let resp: InvocationResponse = serde_json::from_slice(&body).expect("custom handler response");
            let outputs = estate.azure_outputs(function, &folder);
            estate.publish_outputs(function, &resp, &outputs).await.expect("outputs published");
        }
        Host::Push { .. } => {
            let app = estate.app(function).cloned().unwrap_or_else(|| panic!("no app {function}"));
            let (headers, body) = as_http(&serde_json::from_slice(&raw).expect("json"), &raw);
            let (status, _) = post(&app, "/", &headers, body).await;
            assert!(status.is_success(), "{path}: {status}");
        }
    }
}

/// The state a consumer can observe, with delivery artefacts (offsets, etags, duplicates) removed.
async fn final_state(order: &[String]) -> Value {
    let mut estate = Estate::new();
    for path in order {
        deliver(&mut estate, path).await;
    }
    estate.run_projection_updater(100).await.expect("projection-updater");
    estate.run_fraud_scorer(100).await.expect("fraud-scorer");
    estate.run_mirror(100).await.expect("audit bridge");
    let topics: Vec<Value> = estate
        .bus
        .topics()
        .iter()
        .map(|t| {
            let ids: BTreeSet<String> = estate
                .bus
                .records(t)
                .iter()
                .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
                .map(|v| v["id"].as_str().unwrap_or("?").to_string())
                .collect();
            json!({"topic": t, "event_ids": ids})
        })
        .collect();
    let objects: Vec<String> = estate.objects.all().into_iter().map(|o| o.key).collect();
    let uploads: Vec<(String, String)> = estate.uploads.all().into_iter().map(|(_, o)| (o.key, o.etag)).collect();
    let charges: Vec<String> = estate.gateway.ledger().iter().map(|(id, (n, _))| format!("{id}: {n}")).collect();
    json!({"documents": estate.docs.all(), "fraud_state": estate.fraud_docs.all(), "orders": without_clock(estate.orders.all()),
           "topics": topics, "objects": objects, "uploads": uploads, "charges": charges, "image_totals": format!("{:?}", estate.image_totals.all())})
}

fn triggering_fixtures() -> Vec<String> {
    all_fixtures().into_iter().filter(|p| function_for(p).is_some()).collect()
}

#[tokio::test]
async fn twice_and_shuffled_gives_the_same_final_state() {
    let once = triggering_fixtures();
    let reference = final_state(&once).await;
    assert!(reference["documents"].as_array().is_some_and(|d| !d.is_empty()), "the fixtures must project something");
    for seed in 1..=5 {
        let mut twice: Vec<String> = once.iter().chain(once.iter()).cloned().collect();
        let mut rng = Rng::new(seed);
        for i in (1..twice.len()).rev() {
            twice.swap(i, rng.below(i as u64 + 1) as usize);
        }
        // One order is not possible: payment.requested is published only after order-updater
        // wrote the order that asks for it, so payment-processor's deliveries (shuffled among
        // themselves) come after the orders' (payment-processor refuses a request whose order
        // does not exist).
        twice.sort_by_key(|p| p.contains("payment-processor-"));
        assert_eq!(final_state(&twice).await, reference, "seed {seed}: order {twice:?}");
    }
}

#[tokio::test]
async fn redelivered_audit_push_writes_one_object() {
    let path = "gcp/pubsub-push/audit-price-changed.json";
    let state = final_state(&[path.to_string(), path.to_string(), path.to_string()]).await;
    assert_eq!(state["objects"], json!(["audit/topic=merch.price-changed/dt=2026-11-20/erp-sap-eu-184467.ndjson"]));
}

#[tokio::test]
async fn a_push_is_acknowledged_only_after_its_effect() {
    let estate = Estate::new();
    let cases = [
        (merch_normalizer::NAME, "gcp/pubsub-push/erp-price-json.json"),
        (merch_normalizer::NAME, "gcp/pubsub-push/erp-unknown-currency.json"),
        (audit_sink::NAME, "gcp/pubsub-push/audit-price-changed.json"),
    ];
    for (function, path) in cases {
        let app = estate.app(function).cloned().expect("app");
        let raw = fixture(path);
        let (headers, body) = as_http(&serde_json::from_slice(&raw).expect("json"), &raw);
        let effects = || {
            (estate.bus.topics().iter().map(|t| estate.bus.records(t).len()).sum::<usize>(), estate.objects.all().len())
        };
        let before = effects();
        estate.bus.outage.fail_next(1);
        estate.objects.outage.fail_next(1);
        let (status, _) = post(&app, "/", &headers, body.clone()).await;
        assert_eq!(status.as_u16(), 503, "{path}: not acknowledged while the store is down");
        assert_eq!(effects(), before, "{path}: nothing written by the failed attempt");
        estate.bus.outage.fail_next(0);
        estate.objects.outage.fail_next(0);
        let (status, _) = post(&app, "/", &headers, body).await;
        assert_eq!(status.as_u16(), 204, "{path}: the redelivery is acknowledged");
        assert_ne!(effects(), before, "{path}: and its effect is there");
    }
}

/// Orders without the times order-updater's clock stamped: when a change happened depends on the
/// delivery order (the local clock steps per change), what the change was does not.
fn without_clock(mut orders: Vec<Value>) -> Vec<Value> {
    for order in &mut orders {
        for member in ["changed_at", "sweep_at"] {
            order.as_object_mut().map(|o| o.remove(member));
        }
        order["record"].as_object_mut().map(|r| r.remove("changed_at"));
    }
    orders
}
