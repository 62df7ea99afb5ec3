//! Events for the unit tests: order `<id>` of customer C-1, two lines, paid by token `tok_visa`.
use domain::events::{
    FraudDecision, FraudScored, OrderConfirmed, OrderLine, PaymentDetails, PaymentFailed, PaymentSucceeded,
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
