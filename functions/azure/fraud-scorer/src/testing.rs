//! Orders and rule parameters for the unit tests: an ordinary order of an established customer,
//! which each test bends into the case it needs.
use crate::signals::RuleParams;
use domain::events::{OrderConfirmed, OrderLine, PaymentDetails};
use domain::values::{Currency, CustomerId, Money, OrderId, Quantity, Sku};

pub fn rules() -> RuleParams {
    RuleParams {
        velocity_window_minutes: 60,
        velocity_cap: 10,
        amount_ratio_cap: 4.0,
        new_account_days: 30,
        history_orders: 50,
        high_risk_categories: vec!["gift-cards".into()],
    }
}

/// Two lines of equal value in an ordinary category, paid by card `fp-1` from Germany, shipped
/// to Germany, by a customer of two years.
pub fn order(id: &str, customer: &str, confirmed_at: &str) -> OrderConfirmed {
    let eur = Currency::parse("EUR").expect("EUR");
    let line = |sku: &str| OrderLine {
        sku: Sku::parse(sku).expect("sku"),
        quantity: Quantity::new(1).expect("quantity"),
        unit_price: Money::new(2_500, eur),
        category: Some("apparel".into()),
    };
    OrderConfirmed {
        order_id: OrderId::parse(id).expect("order id"),
        customer_id: CustomerId::parse(customer).expect("customer id"),
        lines: vec![line("TSH-001"), line("TSH-002")],
        total: Money::new(5_000, eur),
        ship_to_country: "DE".into(),
        confirmed_at: confirmed_at.parse().expect("time"),
        payment: Some(PaymentDetails {
            token: "tok_visa".into(),
            card_fingerprint: "fp-1".into(),
            card_bin_country: "DE".into(),
            billing_country: "DE".into(),
        }),
        customer_since: Some("2024-11-01T00:00:00Z".parse().expect("time")),
    }
}
