//! Events for the unit tests: order `<id>` of customer C-1, two lines, paid by token `tok_visa`.
use crate::machine::{Input, OrderRecord, Outcome, apply};
use domain::events::{
    FraudDecision, FraudScored, OrderConfirmed, OrderLine, PaymentDetails, PaymentFailed, PaymentRequested,
    PaymentSucceeded,
};
use domain::values::{Currency, CustomerId, Money, OrderId, Quantity, Sku};

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").expect("EUR"))
}

fn id(order: &str) -> OrderId {
    OrderId::parse(order).expect("order id")
}

pub fn confirmed(order: &str) -> OrderConfirmed {
    let line = |sku: &str, minor| OrderLine {
        sku: Sku::parse(sku).expect("sku"),
        quantity: Quantity::new(1).expect("quantity"),
        unit_price: eur(minor),
        category: None,
    };
    OrderConfirmed {
        order_id: id(order),
        customer_id: CustomerId::parse("C-1").expect("customer"),
        lines: vec![line("TSH-001", 3_000), line("MUG-002", 2_000)],
        total: eur(5_000),
        ship_to_country: "DE".into(),
        confirmed_at: "2026-11-20T10:00:00Z".parse().expect("time"),
        payment: Some(PaymentDetails {
            token: "tok_visa".into(),
            card_fingerprint: "fp-1".into(),
            card_bin_country: "DE".into(),
            billing_country: "DE".into(),
        }),
        customer_since: None,
    }
}

pub fn scored(order: &str, decision: FraudDecision) -> FraudScored {
    FraudScored { order_id: id(order), score: 40, decision, reasons: vec![], model_version: "v1".into() }
}

pub fn succeeded(order: &str) -> PaymentSucceeded {
    PaymentSucceeded {
        order_id: id(order),
        payment_id: format!("pay-{order}"),
        amount: eur(5_000),
        gateway_reference: "gw-1".into(),
    }
}

pub fn failed(order: &str) -> PaymentFailed {
    PaymentFailed {
        order_id: id(order),
        payment_id: format!("pay-{order}"),
        amount: eur(5_000),
        reason: "declined".into(),
    }
}

/// The order's record as order-updater leaves it once it asked for the payment `r` asks: the
/// order totals `r`'s amount and is paid by `r`'s token (or by none). `r`'s payment id must be
/// the order's (`pay-<order id>`) for payment-processor to accept it.
pub fn awaiting_payment(r: &PaymentRequested) -> OrderRecord {
    let order = r.order_id.as_str();
    let mut confirmed = confirmed(order);
    confirmed.total = r.amount;
    match (&r.payment_token, confirmed.payment.as_mut()) {
        (Some(token), Some(details)) => details.token = token.clone(),
        _ => confirmed.payment = None,
    }
    let at = "2026-11-20T10:00:00Z".parse().expect("time");
    let mut record = None;
    for (id, input) in [("c", Input::Confirmed(confirmed)), ("f", Input::Scored(scored(order, FraudDecision::Approve)))]
    {
        let Outcome::Changed { record: r, .. } = apply(record.take(), &format!("{id}-{order}"), at, &input) else {
            panic!("order {order} did not change on {id}")
        };
        record = Some(*r);
    }
    record.expect("a record")
}
