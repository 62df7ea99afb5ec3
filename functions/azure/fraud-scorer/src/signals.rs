//! The rules: what an order and the history of its customer and card say about its risk, each as
//! one number the model weighs. A rule whose input the order does not carry (no payment details,
//! no account age, no categories, no earlier order to compare with) gives no number: the model
//! counts it as 0 and the reasons say which input was absent.
use chrono::{DateTime, Duration, Utc};
use domain::events::OrderConfirmed;
use domain::values::{Money, OrderId};
use serde::{Deserialize, Serialize};

/// Every signal the rules compute, by the name the model file weighs it under.
pub const NAMES: [&str; 7] = [
    "amount_vs_history",
    "customer_velocity",
    "card_velocity",
    "billing_shipping_mismatch",
    "bin_country_mismatch",
    "new_account",
    "high_risk_categories",
];

/// The rules' parameters, from the model file (they change with the model, so live beside it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    /// Orders confirmed within this many minutes before an order count towards its velocity.
    pub velocity_window_minutes: i64,
    /// Velocity counts above this weigh as this.
    pub velocity_cap: u32,
    /// `ln(total / mean of earlier totals)` above this weighs as this.
    pub amount_ratio_cap: f64,
    /// An account younger than this many days is new; the signal falls linearly to 0 at this age.
    pub new_account_days: i64,
    /// How many of its latest orders a customer's or a card's history keeps.
    pub history_orders: usize,
    pub high_risk_categories: Vec<String>,
}

/// One earlier order, as a customer's or a card's history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastOrder {
    pub order_id: OrderId,
    /// Kept as milliseconds since the epoch: a history of 50 orders is read and written for
    /// every order scored, and formatting and parsing 100 RFC 3339 times each time was most of
    /// the scoring's CPU.
    #[serde(rename = "confirmed_at_ms", with = "chrono::serde::ts_milliseconds")]
    pub confirmed_at: DateTime<Utc>,
    pub total: Money,
}

impl PastOrder {
    pub fn of(order: &OrderConfirmed) -> Self {
        PastOrder { order_id: order.order_id.clone(), confirmed_at: order.confirmed_at, total: order.total }
    }
}

/// What the rules read besides the order: the orders its customer and its card were used for.
/// Either may already hold the order itself (an earlier attempt recorded it before it failed);
/// the rules never count an order against itself.
pub struct History<'a> {
    pub customer: &'a [PastOrder],
    /// None when the order carries no card fingerprint.
    pub card: Option<&'a [PastOrder]>,
}

/// One rule's result: `value` None means its input was absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: &'static str,
    pub value: Option<f64>,
    /// What the rule saw, for the reasons: "3 orders in 60 min", or which input was absent.
    pub detail: String,
}

impl Signal {
    fn seen(name: &'static str, value: f64, detail: String) -> Self {
        Signal { name, value: Some(value), detail }
    }
    fn absent(name: &'static str, input: &str) -> Self {
        Signal { name, value: None, detail: format!("{input} absent") }
    }
}

/// Every rule on one order, in the order of [`NAMES`].
pub fn signals(order: &OrderConfirmed, history: &History<'_>, rules: &RuleParams) -> Vec<Signal> {
    let payment = order.payment.as_ref();
    vec![
        amount_vs_history(order, history.customer, rules),
        velocity("customer_velocity", "customer", order, Some(history.customer), rules),
        velocity("card_velocity", "card fingerprint", order, history.card, rules),
        match payment {
            Some(p) => {
                flag("billing_shipping_mismatch", &p.billing_country, &order.ship_to_country, "billing", "shipping")
            }
            None => Signal::absent("billing_shipping_mismatch", "payment.billing_country"),
        },
        match payment {
            Some(p) => flag("bin_country_mismatch", &p.card_bin_country, &p.billing_country, "card BIN", "billing"),
            None => Signal::absent("bin_country_mismatch", "payment.card_bin_country"),
        },
        new_account(order, rules),
        high_risk_categories(order, rules),
    ]
}

/// Earlier orders of the same history: confirmed before this one, never this one, each once.
fn earlier<'a>(order: &'a OrderConfirmed, past: &'a [PastOrder]) -> impl Iterator<Item = &'a PastOrder> {
    past.iter().filter(move |p| p.order_id != order.order_id && p.confirmed_at <= order.confirmed_at)
}

/// How far above the customer's usual total this one is: `ln(total / mean)`, 0 when not above.
fn amount_vs_history(order: &OrderConfirmed, past: &[PastOrder], rules: &RuleParams) -> Signal {
    const NAME: &str = "amount_vs_history";
    let same_currency: Vec<i64> = earlier(order, past)
        .filter(|p| p.total.currency == order.total.currency)
        .map(|p| p.total.amount_minor)
        .collect();
    if same_currency.is_empty() {
        return Signal::absent(NAME, &format!("earlier {} order", order.total.currency));
    }
    let mean = same_currency.iter().map(|&a| a as f64).sum::<f64>() / same_currency.len() as f64;
    let total = order.total.amount_minor as f64;
    let ratio = if mean > 0.0 { total / mean } else { 1.0 };
    let x = if ratio > 1.0 { ratio.ln().min(rules.amount_ratio_cap) } else { 0.0 };
    Signal::seen(NAME, x, format!("{ratio:.1}x the mean of {} earlier orders", same_currency.len()))
}

/// Distinct orders confirmed in the window before this one, by their `confirmed_at` (not by when
/// they arrived, so events that arrive out of order count the same).
fn velocity(
    name: &'static str,
    what: &str,
    order: &OrderConfirmed,
    past: Option<&[PastOrder]>,
    rules: &RuleParams,
) -> Signal {
    let Some(past) = past else { return Signal::absent(name, "payment.card_fingerprint") };
    let since = order.confirmed_at - Duration::minutes(rules.velocity_window_minutes);
    let mut ids: Vec<&OrderId> =
        earlier(order, past).filter(|p| p.confirmed_at >= since).map(|p| &p.order_id).collect();
    ids.sort();
    ids.dedup();
    let n = ids.len() as u32;
    let detail = format!("{n} other orders on this {what} in {} min", rules.velocity_window_minutes);
    Signal::seen(name, f64::from(n.min(rules.velocity_cap)), detail)
}

fn flag(name: &'static str, a: &str, b: &str, a_name: &str, b_name: &str) -> Signal {
    if a.eq_ignore_ascii_case(b) {
        Signal::seen(name, 0.0, format!("{a_name} and {b_name} country {a}"))
    } else {
        Signal::seen(name, 1.0, format!("{a_name} country {a}, {b_name} country {b}"))
    }
}

/// 1 for an account opened at the order, falling linearly to 0 at `new_account_days`.
fn new_account(order: &OrderConfirmed, rules: &RuleParams) -> Signal {
    const NAME: &str = "new_account";
    let Some(since) = order.customer_since else { return Signal::absent(NAME, "customer_since") };
    let days = (order.confirmed_at - since).num_days().max(0);
    let x = (1.0 - days as f64 / rules.new_account_days.max(1) as f64).max(0.0);
    Signal::seen(NAME, x, format!("account {days} days old"))
}

/// The share of the order's value in high-risk categories, over the lines that name one.
fn high_risk_categories(order: &OrderConfirmed, rules: &RuleParams) -> Signal {
    const NAME: &str = "high_risk_categories";
    let (mut risky, mut known) = (0f64, 0f64);
    for line in &order.lines {
        let Some(category) = &line.category else { continue };
        let value = line.unit_price.amount_minor as f64 * f64::from(line.quantity.get());
        known += value;
        if rules.high_risk_categories.iter().any(|c| c.eq_ignore_ascii_case(category)) {
            risky += value;
        }
    }
    if order.lines.iter().all(|l| l.category.is_none()) {
        return Signal::absent(NAME, "lines[].category");
    }
    let share = if known > 0.0 { risky / known } else { 0.0 };
    Signal::seen(NAME, share, format!("{:.0}% of the order's value in high-risk categories", share * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{order, rules};

    fn past(id: &str, at: &str, minor: i64) -> PastOrder {
        let mut o = order(id, "C-1", at);
        o.total.amount_minor = minor;
        PastOrder::of(&o)
    }

    fn value(signals: &[Signal], name: &str) -> Option<f64> {
        signals.iter().find(|s| s.name == name).and_then(|s| s.value)
    }

    #[test]
    fn an_order_without_the_optional_inputs_gets_no_number_for_their_rules() {
        let mut o = order("A-1", "C-1", "2026-11-20T10:00:00Z");
        o.payment = None;
        o.customer_since = None;
        o.lines.iter_mut().for_each(|l| l.category = None);
        let s = signals(&o, &History { customer: &[], card: None }, &rules());
        let absent: Vec<(&str, &str)> =
            s.iter().filter(|s| s.value.is_none()).map(|s| (s.name, s.detail.as_str())).collect();
        assert_eq!(
            absent,
            [
                ("amount_vs_history", "earlier EUR order absent"),
                ("card_velocity", "payment.card_fingerprint absent"),
                ("billing_shipping_mismatch", "payment.billing_country absent"),
                ("bin_country_mismatch", "payment.card_bin_country absent"),
                ("new_account", "customer_since absent"),
                ("high_risk_categories", "lines[].category absent"),
            ]
        );
        assert_eq!(value(&s, "customer_velocity"), Some(0.0), "no earlier order is a count of 0, not an absence");
    }

    #[test]
    fn velocity_counts_distinct_earlier_orders_by_confirmation_time_never_the_order_itself() {
        let o = order("A-9", "C-1", "2026-11-20T10:00:00Z");
        let history = [
            past("A-9", "2026-11-20T10:00:00Z", 100), // itself, recorded by an earlier attempt
            past("A-1", "2026-11-20T09:10:00Z", 100), // in the window
            past("A-1", "2026-11-20T09:10:00Z", 100), // the same order twice counts once
            past("A-2", "2026-11-20T09:59:59Z", 100), // in the window
            past("A-3", "2026-11-20T08:59:59Z", 100), // before the window
            past("A-4", "2026-11-20T10:00:01Z", 100), // confirmed after this order (arrived first)
        ];
        let s = signals(&o, &History { customer: &history, card: Some(&history[1..2]) }, &rules());
        assert_eq!(value(&s, "customer_velocity"), Some(2.0));
        assert_eq!(value(&s, "card_velocity"), Some(1.0));
    }

    #[test]
    fn amount_is_weighed_against_the_earlier_mean_in_the_same_currency() {
        let mut o = order("A-9", "C-1", "2026-11-20T10:00:00Z");
        o.total.amount_minor = 40_000;
        let history = [past("A-1", "2026-11-01T10:00:00Z", 5_000), past("A-2", "2026-11-02T10:00:00Z", 15_000)];
        let s = signals(&o, &History { customer: &history, card: None }, &rules());
        let x = value(&s, "amount_vs_history").expect("two earlier orders");
        assert!((x - 4f64.ln()).abs() < 1e-9, "40000 is 4x the mean of 10000: {x}");
        o.total.amount_minor = 9_000;
        let s = signals(&o, &History { customer: &history, card: None }, &rules());
        assert_eq!(value(&s, "amount_vs_history"), Some(0.0), "below the mean is no risk");
    }

    #[test]
    fn countries_account_age_and_categories() {
        let mut o = order("A-1", "C-1", "2026-11-20T10:00:00Z");
        let p = o.payment.as_mut().expect("payment");
        (p.billing_country, p.card_bin_country) = ("DE".into(), "NG".into());
        o.ship_to_country = "FR".into();
        o.customer_since = Some("2026-11-17T10:00:00Z".parse().expect("time"));
        o.lines[0].category = Some("Gift-Cards".into());
        let s = signals(&o, &History { customer: &[], card: Some(&[]) }, &rules());
        assert_eq!(value(&s, "billing_shipping_mismatch"), Some(1.0));
        assert_eq!(value(&s, "bin_country_mismatch"), Some(1.0));
        assert_eq!(value(&s, "new_account"), Some(0.9), "3 days of 30");
        assert_eq!(value(&s, "high_risk_categories"), Some(0.5), "half the value, categories compared without case");
    }
}
