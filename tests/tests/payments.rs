//! payment-processor on the test gateway: each documented token gives its outcome, every payment
//! id is charged at most once whatever is redelivered or times out, and a payment whose outcome
//! cannot be learned is dead-lettered with the order left waiting.
use chrono::{DateTime, Utc};
use domain::cloudevent::{CloudEvent, decode};
use domain::events::{DeadLetter, PaymentFailed, PaymentRequested, PaymentSucceeded, topics};
use domain::ports::{Charge, ChargeOutcome, Documents, OutboundMessage, PaymentGateway, Publisher};
use domain::values::{Currency, Money, OrderId};
use local::estate::Estate;
use local::lambda_host::msk_event;
use payment_processor::attempt::{Asked, PaymentRecord, PaymentState, RECORD_ID};
use std::collections::BTreeMap;

fn request(order: &str, token: Option<&str>) -> CloudEvent<PaymentRequested> {
    let data = PaymentRequested {
        order_id: OrderId::parse(order).expect("id"),
        payment_id: format!("pay-{order}"),
        amount: Money::new(4_200, Currency::parse("EUR").expect("EUR")),
        payment_token: token.map(str::to_string),
    };
    let at: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().expect("time");
    CloudEvent::new(format!("payment-requested-{order}"), "/aws/order-updater", at, data)
}

async fn publish(estate: &Estate, r: &CloudEvent<PaymentRequested>) {
    estate_tests::checkout::order_asking(&estate.orders, &r.data).await;
    let msg = OutboundMessage::new(topics::PAYMENT_REQUESTED, r.key(), r.to_json());
    estate.bus.publish(msg).await.expect("published");
}

/// Outcomes on the bus by payment id: ("succeeded" | "failed: <reason>"), failing on two bodies.
fn outcomes(estate: &Estate) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in estate.bus.records(topics::PAYMENT_SUCCEEDED).into_iter().chain(estate.bus.records(topics::PAYMENT_FAILED))
    {
        let (id, text) = match decode::<PaymentSucceeded>(&r.payload) {
            Ok(e) => (e.data.payment_id, "succeeded".to_string()),
            Err(_) => {
                let e = decode::<PaymentFailed>(&r.payload).expect("a payment outcome");
                (e.data.payment_id, format!("failed: {}", e.data.reason))
            }
        };
        assert_eq!(bodies.entry(id.clone()).or_insert_with(|| r.payload.clone()), &r.payload, "{id}: two bodies");
        out.insert(id, text);
    }
    out
}

fn dead_letters(estate: &Estate) -> Vec<(String, String)> {
    estate
        .bus
        .records(topics::CHECKOUT_DLQ)
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).expect("dead letter").data)
        .map(|d| (d.origin, d.reason_code))
        .collect()
}

#[tokio::test]
async fn documented_tokens_give_their_outcomes_and_each_payment_is_charged_once() {
    let mut estate = Estate::new();
    let cases = [
        ("P-1", Some("tok_visa")),
        ("P-2", Some("tok_decline")),
        ("P-3", Some("tok_insufficient_funds")),
        ("P-4", Some("tok_no_such_token")),
        ("P-5", Some("tok_timeout")),
        ("P-6", None),
    ];
    for (order, token) in cases {
        publish(&estate, &request(order, token)).await;
    }
    estate.run_payment_processor(10).await.expect("payment-processor");
    let expected: BTreeMap<String, String> = [
        ("pay-P-1", "succeeded"),
        ("pay-P-2", "failed: card_declined"),
        ("pay-P-3", "failed: insufficient_funds"),
        ("pay-P-4", "failed: invalid_token"),
        ("pay-P-5", "succeeded"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(outcomes(&estate), expected);
    assert!(estate.stats["payment-processor"].retries >= 1, "tok_timeout's first attempt failed the record");
    for (order, _) in &cases[..5] {
        assert_eq!(estate.gateway.charges_for(&format!("pay-{order}")), 1, "{order}: charged once");
    }
    assert_eq!(estate.gateway.charges_for("pay-P-6"), 0);
    let dead = dead_letters(&estate);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1, "missing_payment_token");

    // Every request delivered again (a consumer group reset): no charge, the same outcome bytes.
    let before = outcomes(&estate);
    let records = estate.bus.records(topics::PAYMENT_REQUESTED);
    let invocation = estate.lambda_invocation();
    let (response, _) = estate.payment_processor.handle(msk_event(&records), &invocation).await.expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(outcomes(&estate), before);
    assert!((1..=5).all(|i| estate.gateway.charges_for(&format!("pay-P-{i}")) == 1));
}

#[tokio::test]
async fn a_charge_whose_attempt_died_is_found_by_lookup_not_made_again() {
    let estate = Estate::new();
    let r = request("P-7", Some("tok_visa"));
    // An attempt took the payment, charged, and died (a Lambda timeout) before keeping the
    // outcome: the record says charging, its lease has run out, the gateway has the charge.
    let held = PaymentRecord {
        id: RECORD_ID.into(),
        pk: "pay-P-7".into(),
        asked: Asked::of(&r, "tok_visa"),
        attempts: 1,
        state: PaymentState::Charging { lease_until: "2026-11-21T10:01:00Z".parse().expect("time") },
    };
    let body = domain::ports::document(&held).expect("json");
    estate.payments.create("pay-P-7", &held.id, body).await.expect("record");
    let charge = Charge { payment_id: "pay-P-7".into(), token: "tok_visa".into(), amount: r.data.amount };
    assert!(matches!(estate.gateway.charge(&charge).await, Ok(ChargeOutcome::Succeeded { .. })));
    publish(&estate, &r).await;
    let (response, out) = estate
        .payment_processor
        .handle(msk_event(&estate.bus.records(topics::PAYMENT_REQUESTED)), &estate.lambda_invocation())
        .await
        .expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        format!("{:?}", out.done),
        r#"[Published { outcome: Succeeded { reference: "ch_pay-P-7" }, charged: false }]"#
    );
    assert_eq!(estate.gateway.charges_for("pay-P-7"), 1);
    let stored = estate.payments.read("pay-P-7", RECORD_ID).await.expect("read").expect("record");
    let stored = stored.body.to_value();
    assert_eq!((stored["state"].as_str(), stored["attempts"].as_u64()), (Some("finished"), Some(2)));
}

#[tokio::test]
async fn a_held_payment_waits_and_an_outcome_that_cannot_be_learned_is_dead_lettered() {
    let mut estate = Estate::new();
    publish(&estate, &request("P-8", Some("tok_visa"))).await;
    // The gateway is down for longer than the processor's attempts last.
    estate.gateway.outage.fail_next(1_000);
    let err = estate.run_payment_processor(10).await;
    assert!(err.is_ok(), "after its attempts the processor dead-letters, so the mapping moves on: {err:?}");
    let dead = dead_letters(&estate);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].0.starts_with("kafka:payment.requested/") && dead[0].1 == "retries_exhausted", "{dead:?}");
    assert!(outcomes(&estate).is_empty(), "no outcome: the order stays payment_requested");
    let stored = estate.payments.read("pay-P-8", RECORD_ID).await.expect("read").expect("record");
    assert_eq!(stored.body.to_value()["state"], "gave_up");
    assert_eq!(estate.gateway.charges_for("pay-P-8"), 0);
}

/// The same from the order's side: confirmed and approved, its payment requested, the gateway
/// down past every attempt. The request is dead-lettered and the order stays payment_requested
/// (neither paid nor failed), where an operator finds it.
#[tokio::test]
async fn an_order_whose_payment_cannot_be_learned_stays_payment_requested() {
    let mut estate = Estate::new();
    let (order, approved) = (estate_tests::checkout::order_confirmed("P-9"), estate_tests::checkout::approved("P-9"));
    for (topic, event) in [(topics::ORDER_CONFIRMED, order), (topics::FRAUD_SCORED, approved)] {
        let msg = OutboundMessage::new(topic, "P-9", serde_json::to_vec(&event).expect("json"));
        estate.bus.publish(msg).await.expect("published");
    }
    let state = |estate: &Estate| {
        let orders = estate.orders.clone();
        async move { orders.read("P-9", "order").await.expect("read").expect("the order").body.to_value()["state"].clone() }
    };
    estate.run_order_updater(10).await.expect("order-updater");
    assert_eq!(state(&estate).await, "payment_requested");
    estate.gateway.outage.fail_next(1_000);
    estate.run_payment_processor(10).await.expect("the processor dead-letters and moves on");
    estate.run_order_updater(10).await.expect("order-updater");
    assert_eq!(dead_letters(&estate).iter().map(|d| d.1.as_str()).collect::<Vec<_>>(), ["retries_exhausted"]);
    assert!(outcomes(&estate).is_empty());
    assert_eq!(state(&estate).await, "payment_requested");
    assert_eq!(estate.gateway.charges_for("pay-P-9"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn every_request_delivered_three_times_at_once_is_charged_once() {
    let estate = Estate::new();
    let tokens = ["tok_visa", "tok_mc_1", "tok_timeout", "tok_decline", "tok_amex"];
    for (i, token) in tokens.iter().enumerate() {
        publish(&estate, &request(&format!("Q-{i}"), Some(token))).await;
    }
    let records = estate.bus.records(topics::PAYMENT_REQUESTED);
    // Three invocations of the same batch at the same time, as overlapping pollers would send.
    let deliveries: Vec<_> = (0..3)
        .map(|_| {
            let (processor, event) = (estate.payment_processor.clone(), msk_event(&records));
            let invocation = estate.lambda_invocation();
            tokio::spawn(async move { processor.handle(event, &invocation).await.expect("a Kafka batch") })
        })
        .collect();
    for d in deliveries {
        d.await.expect("delivery ran");
    }
    // Lambda retries what failed (a held lease, the timeout) until every request is done; the
    // timed-out charge's lease runs out meanwhile.
    for _ in 0..10 {
        estate.clock.wait(local::estate::LAMBDA_RETRY_PAUSE);
        let invocation = estate.lambda_invocation();
        let (response, _) =
            estate.payment_processor.handle(msk_event(&records), &invocation).await.expect("a Kafka batch");
        if response.batch_item_failures.is_empty() {
            break;
        }
    }
    for i in 0..tokens.len() {
        assert_eq!(estate.gateway.charges_for(&format!("pay-Q-{i}")), 1, "pay-Q-{i}");
    }
    assert_eq!(outcomes(&estate).len(), tokens.len(), "every payment has its outcome");
}
