//! order-sweeper on the embedded estate, behind event source mappings with a retry limit: an
//! order whose pending effect a mapping committed past, and a payment request payment-processor's
//! mapping committed past, would wait for ever; the sweeper settles both, each payment charged
//! once, and never publishes a payment outcome itself.
use chrono::Duration;
use domain::events::topics;
use domain::ports::{OutboundMessage, Publisher};
use estate_tests::checkout::{approved, order_confirmed};
use local::estate::{Estate, LAMBDA_MAX_RETRIES};
use orders::machine::OrderState;
use serde_json::Value;

async fn publish(estate: &Estate, topic: &str, key: &str, event: Value) {
    let msg = OutboundMessage::new(topic, key, serde_json::to_vec(&event).expect("json"));
    estate.bus.publish(msg).await.expect("published");
}

/// An estate whose mappings commit past a record once their retries are spent, with order
/// `id` confirmed and approved on the bus.
async fn approved_order(id: &str) -> Estate {
    let mut estate = Estate::new();
    estate.commit_past_exhausted = true;
    publish(&estate, topics::ORDER_CONFIRMED, id, order_confirmed(id)).await;
    publish(&estate, topics::FRAUD_SCORED, id, approved(id)).await;
    estate
}

/// The order's state and how many effects wait in its record.
fn order(estate: &Estate, id: &str) -> (OrderState, usize) {
    let doc = estate.orders.all().into_iter().find(|d| d["pk"] == id).expect("the order");
    let state = serde_json::from_value(doc["state"].clone()).expect("state");
    (state, doc["record"]["pending"].as_array().map_or(0, Vec::len))
}

/// Every mapping drains what is on the bus; nothing more happens to a stuck order.
async fn settle_mappings(estate: &mut Estate) {
    estate.run_order_updater(10).await.expect("order-updater");
    estate.run_payment_processor(10).await.expect("payment-processor");
    estate.run_order_updater(10).await.expect("order-updater");
}

async fn sweep(estate: &mut Estate) -> order_sweeper::SweepReport {
    let after = estate.order_sweeper.rules.after;
    let at = estate.latest_order_change().expect("orders") + after + Duration::seconds(1);
    estate.run_order_sweeper(at).await.expect("a scheduled run")
}

#[tokio::test]
async fn an_order_whose_payment_request_a_mapping_committed_past_is_paid_after_a_sweep() {
    let mut estate = approved_order("A-1").await;
    // The bus is down for longer than order-updater's retries: the approval is committed past
    // with its payment request still pending in the record.
    estate.run_order_updater_in(&[topics::ORDER_CONFIRMED], 10).await.expect("order-updater");
    estate.bus.outage.fail_next(LAMBDA_MAX_RETRIES + 1);
    settle_mappings(&mut estate).await;
    assert_eq!(estate.stats["order-updater"].skipped, 1);
    assert_eq!(order(&estate, "A-1"), (OrderState::PaymentRequested, 1), "stuck: nothing on the bus for it");
    assert!(estate.bus.records(topics::PAYMENT_REQUESTED).is_empty());

    let report = sweep(&mut estate).await;
    assert_eq!((report.due, report.effects_rerun, report.failed), (1, 1, 0), "{report:?}");
    assert_eq!(order(&estate, "A-1"), (OrderState::Paid, 0));
    assert_eq!(estate.gateway.ledger().get("pay-A-1").map(|(n, _)| *n), Some(1), "charged once");
    let again = sweep(&mut estate).await;
    assert_eq!(again.due, 0, "a paid order with nothing pending is out of the index");
}

#[tokio::test]
async fn a_payment_request_the_processor_never_read_is_republished_byte_for_byte_and_charged_once() {
    let mut estate = approved_order("A-2").await;
    estate.run_order_updater(10).await.expect("order-updater");
    assert_eq!(estate.bus.records(topics::PAYMENT_REQUESTED).len(), 1);
    // Its idempotency table is down for longer than payment-processor's retries.
    estate.payments.outage.fail_next(LAMBDA_MAX_RETRIES + 1);
    settle_mappings(&mut estate).await;
    assert_eq!(estate.stats["payment-processor"].skipped, 1);
    assert_eq!(order(&estate, "A-2"), (OrderState::PaymentRequested, 0), "stuck: its request was committed past");

    let report = sweep(&mut estate).await;
    assert_eq!(report.requests_republished, 1, "{report:?}");
    let requests = estate.bus.records(topics::PAYMENT_REQUESTED);
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].payload, requests[1].payload, "the request as first published");
    assert_eq!(order(&estate, "A-2"), (OrderState::Paid, 0));
    assert_eq!(estate.gateway.ledger().get("pay-A-2").map(|(n, _)| *n), Some(1), "charged once");
    let outcomes = estate.bus.records(topics::PAYMENT_SUCCEEDED);
    assert_eq!(outcomes.len(), 1, "published once");
    let outcome: Value = serde_json::from_slice(&outcomes[0].payload).expect("json");
    assert_eq!(outcome["source"], payment_processor::SOURCE, "the outcome is payment-processor's");
}
