//! The checkout flow so far, on the embedded estate: orders on `order.confirmed`, fraud-scorer
//! behind the Functions host, order-updater and payment-processor behind Lambda's event source
//! mappings, the test gateway. Checked: every approved order is asked to pay once and charged
//! once, a paid order is announced once and leaves its skus' cart lines, and outages of the
//! stores, the gateway or the bus on the way change none of it.
use chrono::{DateTime, Duration, Utc};
use domain::cloudevent::{CloudEvent, decode};
use domain::events::{
    FraudDecision, FraudScored, OrderConfirmed, OrderLine, OrderPaid, PaymentDetails, PaymentRequested,
};
use domain::ports::{Carts, OutboundMessage, Publisher};
use domain::values::{Currency, CustomerId, Money, OrderId, Quantity, Sku};
use local::estate::Estate;
use orders::machine::OrderState;
use std::collections::BTreeMap;

fn sku(s: &str) -> Sku {
    Sku::parse(s).expect("sku")
}

/// Order `K-<i>` of customer `C-<i>`: one shirt, paid from Germany by a customer of two years;
/// every third comes from an account opened two hours before (the scorer holds it for review).
fn order(i: usize) -> CloudEvent<OrderConfirmed> {
    let eur = Currency::parse("EUR").expect("EUR");
    let at: DateTime<Utc> =
        "2026-11-21T09:00:00Z".parse::<DateTime<Utc>>().expect("time") + Duration::minutes(i as i64);
    let risky = i % 3 == 2;
    let data = OrderConfirmed {
        order_id: OrderId::parse(&format!("K-{i}")).expect("id"),
        customer_id: CustomerId::parse(&format!("C-{i}")).expect("id"),
        lines: vec![OrderLine {
            sku: sku("TSH-001"),
            quantity: Quantity::new(1).expect("qty"),
            unit_price: Money::new(2_500, eur),
            category: None,
        }],
        total: Money::new(2_500, eur),
        ship_to_country: "DE".into(),
        confirmed_at: at,
        payment: Some(PaymentDetails {
            token: format!("tok_visa_{i}"),
            card_fingerprint: format!("fp-{i}"),
            card_bin_country: "DE".into(),
            billing_country: "DE".into(),
        }),
        customer_since: Some(if risky { at - Duration::hours(2) } else { at - Duration::days(700) }),
    };
    CloudEvent::new(format!("order-K-{i}-confirmed"), "/storefront/checkout", at, data)
}

async fn publish<T: domain::cloudevent::DomainEvent>(estate: &Estate, event: &CloudEvent<T>) {
    let msg = OutboundMessage::new(T::TOPIC, event.key(), event.to_json()).with_header("ce_id", &event.id);
    estate.bus.publish(msg).await.expect("published");
}

/// Every event on a topic by id, failing if one id was published with two bodies.
fn by_id<T: domain::cloudevent::DomainEvent>(estate: &Estate) -> BTreeMap<String, CloudEvent<T>> {
    let mut out: BTreeMap<String, (Vec<u8>, CloudEvent<T>)> = BTreeMap::new();
    for r in estate.bus.records(T::TOPIC) {
        let event: CloudEvent<T> = decode(&r.payload).expect("decodes");
        let (body, _) = out.entry(event.id.clone()).or_insert_with(|| (r.payload.clone(), event.clone()));
        assert_eq!(body, &r.payload, "{} published with two bodies", event.id);
    }
    out.into_iter().map(|(k, (_, e))| (k, e)).collect()
}

fn states(estate: &Estate) -> BTreeMap<String, OrderState> {
    estate
        .orders
        .all()
        .into_iter()
        .map(|d| {
            (d["pk"].as_str().unwrap_or("").to_string(), serde_json::from_value(d["state"].clone()).expect("state"))
        })
        .collect()
}

/// Runs the flow for `n` orders; `disturb` is called between the steps to inject failures.
async fn flow(n: usize, disturb: impl Fn(&Estate, &str)) -> Estate {
    let mut estate = Estate::new();
    for i in 0..n {
        let customer = CustomerId::parse(&format!("C-{i}")).expect("id");
        estate.carts.put(&customer, &sku("TSH-001"), 1).await.expect("cart");
        estate.carts.put(&customer, &sku("MUG-220"), 2).await.expect("cart");
        publish(&estate, &order(i)).await;
    }
    estate.run_fraud_scorer(4).await.expect("fraud-scorer");
    disturb(&estate, "decisions");
    estate.run_order_updater(4).await.expect("order-updater: decisions");
    disturb(&estate, "charges");
    estate.run_payment_processor(4).await.expect("payment-processor");
    disturb(&estate, "payments");
    estate.run_order_updater(4).await.expect("order-updater: payments");
    estate
}

#[tokio::test]
async fn approved_orders_are_charged_once_paid_announced_once_and_leave_the_cart() {
    let estate = flow(6, |_, _| {}).await;
    let decisions = by_id::<FraudScored>(&estate);
    let held: Vec<&str> = decisions
        .values()
        .filter(|e| e.data.decision != FraudDecision::Approve)
        .map(|e| e.data.order_id.as_str())
        .collect();
    assert_eq!(held, ["K-2", "K-5"], "the brand-new accounts");
    let expected: BTreeMap<String, OrderState> =
        (0..6).map(|i| (format!("K-{i}"), if i % 3 == 2 { OrderState::Held } else { OrderState::Paid })).collect();
    assert_eq!(states(&estate), expected);
    let requests = by_id::<PaymentRequested>(&estate);
    assert_eq!(requests.len(), 4);
    assert!(
        requests
            .values()
            .all(|r| r.data.payment_token.as_deref()
                == Some(&format!("tok_visa_{}", &r.data.order_id.as_str()[2..])[..]))
    );
    let ledger = estate.gateway.ledger();
    assert_eq!(ledger.keys().map(String::as_str).collect::<Vec<_>>(), ["pay-K-0", "pay-K-1", "pay-K-3", "pay-K-4"]);
    assert!(ledger.values().all(|(charges, _)| *charges == 1), "each approved order charged once: {ledger:?}");
    assert_eq!(by_id::<OrderPaid>(&estate).len(), 4);
    for i in 0..6 {
        let cart = estate.carts.cart(&CustomerId::parse(&format!("C-{i}")).expect("id")).await.expect("cart");
        let skus: Vec<&str> = cart.iter().map(|(s, _)| s.as_str()).collect();
        let expected: &[&str] = if i % 3 == 2 { &["MUG-220", "TSH-001"] } else { &["MUG-220"] };
        assert_eq!(skus, expected, "C-{i}: only what was bought and paid leaves the cart");
    }
}

#[tokio::test]
async fn store_and_bus_outages_change_nothing_but_the_number_of_attempts() {
    let calm = flow(6, |_, _| {}).await;
    let stormy = flow(6, |estate, step| {
        // The orders table fails mid-batch, the gateway and the payments table have a bad
        // moment, and the next batch's effects meet a bus that is down.
        match step {
            "charges" => {
                estate.gateway.outage.fail_next(1);
                estate.payments.outage.fail_next(2);
            }
            _ => estate.orders.outage.fail_next(if step == "decisions" { 3 } else { 1 }),
        }
        estate.bus.outage.fail_next(1);
    })
    .await;
    assert!(stormy.stats["order-updater"].retries >= 2, "{:?}", stormy.stats["order-updater"]);
    assert_eq!(states(&stormy), states(&calm));
    let ids = |e: &Estate| {
        (
            by_id::<PaymentRequested>(e).into_keys().collect::<Vec<_>>(),
            by_id::<OrderPaid>(e).into_keys().collect::<Vec<_>>(),
        )
    };
    assert_eq!(ids(&stormy), ids(&calm), "the same events, each published with one body");
    assert_eq!(stormy.carts.all(), calm.carts.all());
    assert!(stormy.stats["payment-processor"].retries >= 1, "{:?}", stormy.stats["payment-processor"]);
    let charges = |e: &Estate| e.gateway.ledger().into_iter().map(|(id, (n, _))| (id, n)).collect::<Vec<_>>();
    assert_eq!(charges(&calm).len(), 4);
    assert_eq!(charges(&stormy), charges(&calm), "each payment charged once, outages or not");
}
