//! One payment id, one payload: payment-processor binds a payment id to what its first request
//! asked (order, amount, currency, token fingerprint). A later request that asks otherwise is
//! dead-lettered `payment_mismatch`, never charged, and publishes nothing; a later request that
//! asks the same gets the stored outcome, byte for byte, whatever its own event says.
use chrono::{DateTime, Utc};
use domain::cloudevent::{CloudEvent, decode};
use domain::events::{DeadLetter, PaymentRequested, PaymentSucceeded, topics};
use domain::ports::{Documents, OutboundMessage, Publisher};
use domain::values::{Currency, Money, OrderId};
use local::estate::Estate;
use local::lambda_host::msk_event;

fn request(event_id: &str, at: &str, amount_minor: i64, currency: &str, token: &str) -> CloudEvent<PaymentRequested> {
    let data = PaymentRequested {
        order_id: OrderId::parse("M-1").expect("id"),
        payment_id: "pay-M-1".into(),
        amount: Money::new(amount_minor, Currency::parse(currency).expect("currency")),
        payment_token: Some(token.into()),
    };
    let at: DateTime<Utc> = at.parse().expect("time");
    CloudEvent::new(event_id, "/aws/order-updater", at, data)
}

/// Delivers one request alone, as its own batch.
async fn deliver(estate: &Estate, r: &CloudEvent<PaymentRequested>) -> (usize, usize) {
    estate_tests::checkout::order_asking(&estate.orders, &r.data).await; // the first request's order stays
    let msg = OutboundMessage::new(topics::PAYMENT_REQUESTED, r.key(), r.to_json());
    estate.bus.publish(msg).await.expect("published");
    let last = estate.bus.records(topics::PAYMENT_REQUESTED).pop().expect("the request");
    let invocation = estate.lambda_invocation();
    let (response, out) =
        estate.payment_processor.handle(msk_event(&[last]), &invocation).await.expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    (out.done.len(), out.dead_lettered)
}

fn dead_letters(estate: &Estate) -> Vec<(String, String)> {
    let records = estate.bus.records(topics::CHECKOUT_DLQ);
    let letters = records.iter().map(|r| decode::<DeadLetter>(&r.payload).expect("dead letter").data);
    letters.map(|d| (d.reason_code, d.reason)).collect()
}

#[tokio::test]
async fn a_request_that_asks_another_amount_currency_or_token_is_refused_and_charges_nothing() {
    let estate = Estate::new();
    let first = request("payment-requested-M-1", "2026-11-21T10:00:00Z", 4_200, "EUR", "tok_visa");
    assert_eq!(deliver(&estate, &first).await, (1, 0));
    assert_eq!(estate.gateway.charges_for("pay-M-1"), 1);
    let announced = estate.bus.records(topics::PAYMENT_SUCCEEDED);
    assert_eq!(announced.len(), 1);

    let cases = [
        (request("payment-requested-M-1", "2026-11-21T10:00:00Z", 5_000, "EUR", "tok_visa"), "amount"),
        (request("payment-requested-M-1", "2026-11-21T10:00:00Z", 4_200, "USD", "tok_visa"), "currency"),
        (request("payment-requested-M-1", "2026-11-21T10:00:00Z", 4_200, "EUR", "tok_mc"), "token"),
    ];
    for (asked_otherwise, differs) in &cases {
        assert_eq!(deliver(&estate, asked_otherwise).await, (0, 1), "{differs}: dead-lettered");
    }
    assert_eq!(estate.gateway.charges_for("pay-M-1"), 1, "no charge for a mismatch");
    assert_eq!(estate.bus.records(topics::PAYMENT_SUCCEEDED), announced, "nothing published for a mismatch");
    assert!(estate.bus.records(topics::PAYMENT_FAILED).is_empty());
    let letters = dead_letters(&estate);
    assert_eq!(letters.len(), cases.len());
    for ((code, reason), (_, differs)) in letters.iter().zip(&cases) {
        assert_eq!(code, "payment_mismatch");
        assert_eq!(
            reason,
            &format!(
                "payment pay-M-1 was asked for 42.00 EUR (order M-1) and is bound to it; this request differs in {differs}"
            )
        );
        assert!(!reason.contains("tok_"), "a dead letter's reason never names a token: {reason}");
    }
    let stored = estate.payments.read("pay-M-1", "payment").await.expect("read").expect("record").body.to_value();
    assert_eq!(stored["amount"]["amount_minor"], 4_200, "the record keeps what was asked first");
}

#[tokio::test]
async fn the_outcome_is_announced_from_the_record_so_one_event_id_carries_one_payload() {
    let estate = Estate::new();
    let first = request("payment-requested-M-1", "2026-11-21T10:00:00Z", 4_200, "EUR", "tok_visa");
    deliver(&estate, &first).await;
    // The same payment asked again by another event, at another time: the outcome it gets is
    // the stored one, the same bytes under the same id.
    let again = request("payment-requested-M-1-again", "2026-11-21T11:30:00Z", 4_200, "EUR", "tok_visa");
    assert_eq!(deliver(&estate, &again).await, (1, 0));
    let announced = estate.bus.records(topics::PAYMENT_SUCCEEDED);
    assert_eq!(announced.len(), 2);
    assert_eq!(announced[0].payload, announced[1].payload, "one event id, one payload");
    let event = decode::<PaymentSucceeded>(&announced[1].payload).expect("payment.succeeded");
    assert_eq!((event.id.as_str(), event.time), ("payment-succeeded-pay-M-1", first.time));
    assert_eq!(event.data.amount, first.data.amount);
    assert_eq!(estate.gateway.charges_for("pay-M-1"), 1);
}
