//! fulfillment through its router, as Pub/Sub pushes to it: a paid order is booked and dispatched
//! under ids and times fixed by the order, so a redelivered push publishes the very same events;
//! a publish that fails is answered 503 so Pub/Sub redelivers; a paid order that fails its checks
//! is dead-lettered and never booked.
use axum::Router;
use chrono::{TimeZone, Utc};
use domain::cloudevent::decode;
use domain::dead_letter::DeadLetterPolicy;
use domain::events::{DeadLetter, LedgerEntry, topics};
use fulfillment::Fulfillment;
use inmemory::{Bus, InMemoryPubSub};
use local::oneshot::post;
use local::pubsub_push::push_body;
use platform_gcp::PushGuard;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn paid(order: &str, edit: &dyn Fn(&mut Value)) -> Vec<u8> {
    let mut e = json!({"specversion": "1.0", "id": format!("order-{order}-paid"), "source": "/aws/order-updater",
        "type": "com.shop.order.paid.v1", "time": "2026-11-21T10:05:00Z", "datacontenttype": "application/json",
        "data": {"order_id": order, "customer_id": "C-1", "ship_to_country": "DE", "payment_id": format!("pay-{order}"),
                 "total": {"amount_minor": 5000, "currency": "EUR"},
                 "lines": [{"sku": "TSH-001", "quantity": 2, "unit_price": {"amount_minor": 2500, "currency": "EUR"}}]}});
    edit(&mut e);
    serde_json::to_vec(&e).expect("json")
}

/// fulfillment publishing to the Pub/Sub twin over `bus` (it refuses what Pub/Sub refuses).
fn app(bus: &Bus) -> Router {
    let dead_letters = DeadLetterPolicy::new(fulfillment::NAME, topics::CHECKOUT_DLQ);
    let pubsub = Arc::new(InMemoryPubSub::new(bus.clone()));
    fulfillment::app(Arc::new(Fulfillment { pubsub, dead_letters }), &PushGuard::local())
}

/// Pushes `data` as Pub/Sub would, under `message_id`; the status answered.
async fn push(app: &Router, data: &[u8], message_id: &str) -> u16 {
    let at = Utc.with_ymd_and_hms(2026, 11, 21, 10, 5, 1).single().expect("time");
    let body = push_body(data, BTreeMap::new(), message_id, at, "projects/p/subscriptions/mirror-order-paid");
    let headers = [("content-type".to_string(), "application/json".to_string())];
    post(app, "/", &headers, body).await.0.as_u16()
}

#[tokio::test]
async fn a_redelivered_push_publishes_the_same_events_byte_for_byte() {
    let bus = Bus::new(3);
    let app = app(&bus);
    assert_eq!(push(&app, &paid("O-1", &|_| {}), "m-1").await, 204);
    // Redelivered by Pub/Sub (same message), then mirrored again by a retried bridge (a new one).
    assert_eq!(push(&app, &paid("O-1", &|_| {}), "m-1").await, 204);
    assert_eq!(push(&app, &paid("O-1", &|_| {}), "m-2").await, 204);
    for topic in [topics::ACCOUNTING_ENTRIES, topics::WAREHOUSE_DISPATCH] {
        let records = bus.records(topic);
        assert_eq!(records.len(), 3, "{topic}");
        assert!(records.iter().all(|r| r.payload == records[0].payload && r.key == "O-1"), "{topic}");
    }
    let entry = decode::<LedgerEntry>(&bus.records(topics::ACCOUNTING_ENTRIES)[0].payload).expect("ledger entry");
    assert_eq!((entry.id.as_str(), entry.data.amount.amount_minor), ("ledger-entry-O-1", 5000));
    assert_eq!(entry.time, Utc.with_ymd_and_hms(2026, 11, 21, 10, 5, 0).single().expect("the order's time"));
}

#[tokio::test]
async fn a_failed_publish_is_not_acknowledged_and_the_redelivery_books_it() {
    let bus = Bus::new(3);
    let app = app(&bus);
    // The ledger entry goes out, the dispatch request does not.
    bus.outage.fail_after(1, 1);
    assert_eq!(push(&app, &paid("O-2", &|_| {}), "m-1").await, 503);
    assert_eq!(bus.records(topics::WAREHOUSE_DISPATCH).len(), 0);
    assert_eq!(push(&app, &paid("O-2", &|_| {}), "m-1").await, 204);
    let entries = bus.records(topics::ACCOUNTING_ENTRIES);
    // Published twice under one id, which is what the ledger dedupes on.
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].payload, entries[1].payload);
    assert_eq!(bus.records(topics::WAREHOUSE_DISPATCH).len(), 1);
}

#[tokio::test]
async fn a_paid_order_that_fails_its_checks_is_dead_lettered_and_never_booked() {
    let bus = Bus::new(3);
    let app = app(&bus);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid_order", paid("O-3", &|e| e["data"]["total"]["amount_minor"] = (-5000).into())),
        ("invalid_order", paid("O-4", &|e| e["data"]["lines"] = json!([]))),
        ("invalid_order", paid("O-5", &|e| e["data"]["lines"][0]["unit_price"]["currency"] = "USD".into())),
        ("wrong_schema", paid("O-6", &|e| e["data"]["total"]["amount_minor"] = 50.5.into())),
        ("unexpected_type", paid("O-7", &|e| e["type"] = "com.shop.order.confirmed.v1".into())),
        ("malformed_json", paid("O-8", &|_| {})[..50].to_vec()),
    ];
    for (i, (_, data)) in cases.iter().enumerate() {
        assert_eq!(push(&app, data, &format!("bad-{i}")).await, 204, "case {i} is acknowledged");
    }
    assert_eq!(bus.records(topics::ACCOUNTING_ENTRIES).len(), 0);
    assert_eq!(bus.records(topics::WAREHOUSE_DISPATCH).len(), 0);
    // Each dead letter is placed by its message id (`pubsub:bad-<case>`), on whichever partition.
    let mut codes: Vec<(String, String)> = bus
        .records(topics::CHECKOUT_DLQ)
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).expect("dead letter").data)
        .map(|d| (d.origin, d.reason_code))
        .collect();
    codes.sort();
    let expected: Vec<(String, String)> =
        cases.iter().enumerate().map(|(i, (c, _))| (format!("pubsub:bad-{i}"), c.to_string())).collect();
    assert_eq!(codes, expected);
}
