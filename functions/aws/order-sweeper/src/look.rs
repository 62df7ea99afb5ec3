//! What the sweeper does with one open order it finds due, as a plain function of its record.
use orders::machine::{OrderRecord, OrderState};

/// What to do with an order that has waited longer than `SWEEP_AFTER_SECONDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// Terminal with nothing pending (the index, eventually consistent, was behind): nothing to do.
    Settled,
    /// Effects of a change were never run (the event source mapping gave up on the record that
    /// carried them): run them now.
    RerunEffects,
    /// No payment outcome came: publish the kept request again, byte for byte, so
    /// payment-processor learns the outcome (asking the gateway before it charges again).
    Republish,
    /// Nothing the sweeper can do settles it: said with a reason code, for a person.
    Report { code: &'static str, reason: String },
}

/// The rule. `max_republish`: how many looks may republish one request before the order is
/// reported instead (payment-processor gave up on it, or the gateway never answers).
pub fn look(record: &OrderRecord, max_republish: u32) -> Look {
    if !record.is_open() {
        return Look::Settled;
    }
    if !record.pending.is_empty() {
        return Look::RerunEffects;
    }
    let report = |code, reason: String| Look::Report { code, reason };
    let looks = record.swept.map_or(0, |s| s.times);
    match record.state {
        OrderState::PaymentRequested => {
            let token = record.order.as_ref().and_then(|o| o.payment.as_ref());
            match &record.payment_request {
                _ if token.is_none() => {
                    report("missing_payment_token", "the order has no payment token to charge".into())
                }
                None => report(
                    "payment_request_not_kept",
                    "no outcome, and the request was made before requests were kept: ask the gateway".into(),
                ),
                Some(_) if looks >= max_republish => report(
                    "payment_outcome_unknown",
                    format!("no outcome after the request was republished {looks} times: ask the gateway"),
                ),
                Some(_) => Look::Republish,
            }
        }
        OrderState::Held => report("awaiting_review", "held for a manual fraud decision".into()),
        OrderState::Confirmed => report("no_fraud_decision", "confirmed, but no fraud decision came".into()),
        OrderState::Pending => {
            report("order_not_confirmed", "events wait for an order.confirmed that never came".into())
        }
        OrderState::Rejected | OrderState::Paid | OrderState::PaymentFailed => Look::Settled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::events::FraudDecision;
    use orders::machine::{Input, Outcome, Swept, apply};
    use orders::testing::{confirmed, scored, succeeded};

    fn record(events: Vec<Input>) -> OrderRecord {
        let mut record = None;
        for (i, input) in events.iter().enumerate() {
            let time = "2026-11-21T12:00:00Z".parse().expect("time");
            if let Outcome::Changed { record: r, .. } = apply(record.take(), &format!("e{i}"), time, input) {
                record = Some(OrderRecord { pending: Vec::new(), ..*r });
            }
        }
        record.expect("a record")
    }

    fn code(look: Look) -> &'static str {
        match look {
            Look::Report { code, .. } => code,
            Look::Settled => "settled",
            Look::RerunEffects => "rerun",
            Look::Republish => "republish",
        }
    }

    #[test]
    fn each_open_state_gets_its_look() {
        let order = || Input::Confirmed(confirmed("A-1"));
        let decided = |d| Input::Scored(scored("A-1", d));
        let requested = record(vec![order(), decided(FraudDecision::Approve)]);
        assert_eq!(code(look(&requested, 3)), "republish");
        let mut pending = requested.clone();
        pending.pending = requested.payment_request.iter().map(|r| r.effect()).collect();
        assert_eq!(code(look(&pending, 3)), "rerun", "pending effects first");
        let looked = OrderRecord { swept: Some(Swept { times: 3, at: chrono::Utc::now() }), ..requested.clone() };
        assert_eq!(code(look(&looked, 3)), "payment_outcome_unknown");
        let old = OrderRecord { payment_request: None, ..requested.clone() };
        assert_eq!(code(look(&old, 3)), "payment_request_not_kept");
        let mut no_token = requested.clone();
        no_token.order.as_mut().expect("order").payment = None;
        assert_eq!(code(look(&no_token, 3)), "missing_payment_token");
        assert_eq!(code(look(&record(vec![order(), decided(FraudDecision::Review)]), 3)), "awaiting_review");
        assert_eq!(code(look(&record(vec![order()]), 3)), "no_fraud_decision");
        assert_eq!(code(look(&record(vec![decided(FraudDecision::Approve)]), 3)), "order_not_confirmed");
        let paid = record(vec![order(), decided(FraudDecision::Approve), Input::Succeeded(succeeded("A-1"))]);
        assert_eq!(code(look(&paid, 3)), "settled");
    }
}
