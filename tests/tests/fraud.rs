//! fraud-scorer behind the Functions host, played by the estate: orders on `order.confirmed`,
//! the state store failing on the way. Every order gets one verdict, published as the same bytes
//! however often it is delivered or retried, and nothing is lost when retries run out.
use chrono::{DateTime, Utc};
use domain::cloudevent::{CloudEvent, decode};
use domain::events::{FraudScored, OrderConfirmed, OrderLine, PaymentDetails, topics};
use domain::ports::{OutboundMessage, Publisher};
use domain::values::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use local::estate::Estate;
use local::functions_host::kafka_trigger_request;
use std::collections::BTreeMap;

fn order(i: usize) -> CloudEvent<OrderConfirmed> {
    let eur = Currency::parse("EUR").expect("EUR");
    let at: DateTime<Utc> =
        "2026-11-20T10:00:00Z".parse::<DateTime<Utc>>().expect("time") + chrono::Duration::minutes(i as i64);
    let data = OrderConfirmed {
        order_id: OrderId::parse(&format!("F-{i}")).expect("id"),
        // Three customers, two cards: histories are shared across orders of one batch.
        customer_id: CustomerId::parse(&format!("C-{}", i % 3)).expect("id"),
        lines: vec![OrderLine {
            sku: Sku::parse("TSH-001").expect("sku"),
            quantity: Quantity::new(1).expect("qty"),
            unit_price: Money::new(2_000 + 500 * i as i64, eur),
            category: Some(if i.is_multiple_of(4) { "gift-cards" } else { "apparel" }.into()),
        }],
        total: Money::new(2_000 + 500 * i as i64, eur),
        ship_to_country: "DE".into(),
        confirmed_at: at,
        payment: Some(PaymentDetails {
            token: format!("tok_{i}"),
            card_fingerprint: format!("fp-{}", i % 2),
            card_bin_country: if i.is_multiple_of(5) { "US" } else { "DE" }.into(),
            billing_country: "DE".into(),
        }),
        customer_since: Some("2025-01-01T00:00:00Z".parse().expect("time")),
    };
    CloudEvent::new(format!("order-F-{i}-confirmed"), "/storefront/checkout", at, data)
}

async fn publish_orders(estate: &Estate, n: usize) {
    for i in 0..n {
        let o = order(i);
        let msg = OutboundMessage::new(topics::ORDER_CONFIRMED, o.key(), o.to_json());
        estate.bus.publish(msg).await.expect("published");
    }
}

/// Every published verdict, by order id; fails if one order was published with two different bodies.
fn verdicts(estate: &Estate) -> BTreeMap<String, (Vec<u8>, usize)> {
    let mut out: BTreeMap<String, (Vec<u8>, usize)> = BTreeMap::new();
    for r in estate.bus.records(topics::FRAUD_SCORED) {
        let event: CloudEvent<FraudScored> = decode(&r.payload).expect("a fraud.scored event");
        let entry = out.entry(event.data.order_id.to_string()).or_insert_with(|| (r.payload.clone(), 0));
        assert_eq!(entry.0, r.payload, "order {} published with two bodies", event.data.order_id);
        entry.1 += 1;
    }
    out
}

#[tokio::test]
async fn orders_are_scored_once_through_store_outages_and_redelivery() {
    let mut reference = Estate::new();
    publish_orders(&reference, 12).await;
    reference.run_fraud_scorer(5).await.expect("fraud-scorer");
    let expected = verdicts(&reference);
    assert_eq!(expected.len(), 12);
    assert!(expected.values().all(|(_, n)| *n == 1));

    let mut estate = Estate::new();
    publish_orders(&estate, 12).await;
    // An invocation scored the first three orders, then failed before the host published its
    // outputs; and the store fails twice more on the host's next attempts. The retries re-emit
    // the stored verdicts of those three instead of scoring them again.
    let records = estate.bus.records(topics::ORDER_CONFIRMED);
    let request = kafka_trigger_request("order-confirmed", "orders", &records[..3], None, 0);
    let (_, _, crashed) = scorer(&estate).handle(&request).await;
    assert_eq!(crashed.scored, 3);
    estate.fraud_docs.outage.fail_next(2);
    estate.run_fraud_scorer(5).await.expect("fraud-scorer");
    assert!(estate.stats["fraud-scorer"].retries >= 1, "the outage made the host retry");
    let published = verdicts(&estate);
    assert_eq!(
        published.iter().map(|(k, (body, _))| (k.clone(), body.clone())).collect::<Vec<_>>(),
        expected.iter().map(|(k, (body, _))| (k.clone(), body.clone())).collect::<Vec<_>>(),
        "the same verdicts, byte for byte, as a run without failures"
    );
    assert_eq!(
        published.values().map(|(_, n)| n).sum::<usize>(),
        12,
        "outputs of a failed invocation are not published"
    );

    // The whole topic delivered again (a consumer group reset): every verdict is re-emitted as is.
    let records = estate.bus.records(topics::ORDER_CONFIRMED);
    let (status, resp, report) =
        scorer(&estate).handle(&kafka_trigger_request("order-confirmed", "orders", &records, None, 9)).await;
    assert_eq!((status.as_u16(), report.redelivered, report.scored), (200, 12, 0));
    let again: Vec<String> = resp.outputs["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|s| s["Value"].as_str().unwrap_or("").to_string())
        .collect();
    let first: Vec<String> = records
        .iter()
        .map(|r| {
            let id = decode::<OrderConfirmed>(&r.payload).expect("order").data.order_id.to_string();
            String::from_utf8(expected[&id].0.clone()).expect("utf-8")
        })
        .collect();
    assert_eq!(again, first);
}

fn scorer(estate: &Estate) -> fraud_scorer::Scorer {
    fraud_scorer::Scorer::new(std::sync::Arc::new(estate.fraud_docs.clone()), fraud_scorer::Config::default())
}

#[tokio::test]
async fn on_the_last_retry_unscored_orders_are_dead_lettered_not_lost() {
    let estate = Estate::new();
    publish_orders(&estate, 3).await;
    let records = estate.bus.records(topics::ORDER_CONFIRMED);
    estate.fraud_docs.outage.fail_next(1_000);
    let s = scorer(&estate);
    let (status, resp, report) =
        s.handle(&kafka_trigger_request("order-confirmed", "orders", &records, Some((1, 5)), 1)).await;
    assert_eq!((status.as_u16(), report.retry.as_deref()), (500, Some("F-0")), "an early retry fails the invocation");
    assert!(resp.outputs.get("scores").is_none());
    let (status, resp, report) =
        s.handle(&kafka_trigger_request("order-confirmed", "orders", &records, Some((5, 5)), 2)).await;
    assert_eq!((status.as_u16(), report.dead_lettered), (200, 3), "the last one keeps every order");
    let reasons: Vec<String> = resp.outputs["deadLetters"]
        .as_array()
        .expect("dead letters")
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(d["Value"].as_str().unwrap_or("")).expect("json")["data"]["reason_code"].to_string())
        .collect();
    assert_eq!(reasons, ["\"retries_exhausted\""; 3]);
}
