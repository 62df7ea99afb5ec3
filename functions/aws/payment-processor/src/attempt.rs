//! The idempotency record of one payment id (DynamoDB item `pk = <payment id>, id = "payment"`),
//! written before the gateway is called and finished after, so a payment is charged at most once
//! however often its request is delivered.
//!
//! The record binds the payment id for good to what its first request asked (`Asked`: the order,
//! the amount and currency, a SHA-256 fingerprint of the token, never the token, and the
//! request's time). A later request that asks anything else is `payment_mismatch`: never charged,
//! nothing published. The outcome is announced from the record, so one event id always carries
//! the same bytes.
//!
//! - `charging`: an attempt holds the record until `lease_until`. An attempt that knows it sent
//!   nothing (the gateway was not reached) releases it; one whose charge may have reached the
//!   gateway (a timeout), or that dies, keeps it until the lease runs out, so the gateway has the
//!   lease's length to show the charge in `lookup`. The next attempt takes the record over under
//!   its version, then asks the gateway what it did with the payment id (`lookup`) before it
//!   charges: a charge that happened is found, not made again.
//! - `succeeded` / `declined`: the gateway's outcome, from which the event is published (again,
//!   on a redelivery; its id is fixed by the payment id).
//! - `gave_up`: `max_attempts` attempts and a last `lookup` could not learn the outcome:
//!   dead-lettered, and the order stays `payment_requested` for a person to resolve with the
//!   gateway.
use chrono::{DateTime, Duration, Utc};
use domain::cloudevent::CloudEvent;
use domain::events::PaymentRequested;
use domain::ports::ChargeOutcome;
use domain::values::{Money, OrderId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const RECORD_ID: &str = "payment";

/// What a payment id was asked to charge, from its first request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    pub order_id: OrderId,
    pub amount: Money,
    /// SHA-256 of the gateway token, hex: tells another token apart without keeping this one.
    pub token_sha256: String,
    /// The request's event time, which the outcome event carries.
    pub requested_at: DateTime<Utc>,
}

impl Asked {
    pub fn of(request: &CloudEvent<PaymentRequested>, token: &str) -> Self {
        let r = &request.data;
        Asked {
            order_id: r.order_id.clone(),
            amount: r.amount,
            token_sha256: token_fingerprint(token),
            requested_at: request.time,
        }
    }

    /// What another request asks differently (empty when it asks the same; its time may differ).
    pub fn differences(&self, other: &Asked) -> Vec<&'static str> {
        [
            ("order", self.order_id != other.order_id),
            ("amount", self.amount.amount_minor != other.amount.amount_minor),
            ("currency", self.amount.currency != other.amount.currency),
            ("token", self.token_sha256 != other.token_sha256),
        ]
        .into_iter()
        .filter_map(|(what, differs)| differs.then_some(what))
        .collect()
    }
}

/// The token's fingerprint as the record keeps it.
pub fn token_fingerprint(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PaymentState {
    Charging { lease_until: DateTime<Utc> },
    Finished { outcome: ChargeOutcome },
    GaveUp { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub id: String,
    pub pk: String,
    #[serde(flatten)]
    pub asked: Asked,
    pub attempts: u32,
    #[serde(flatten)]
    pub state: PaymentState,
}

impl PaymentRecord {
    pub fn with(&self, state: PaymentState) -> Self {
        PaymentRecord { state, ..self.clone() }
    }

    /// Why the payment is given up: its attempts are spent, and a last lookup did not help (`why`).
    pub fn gave_up_reason(&self, why: &str) -> String {
        format!("{} attempts could not learn the outcome of {} from the gateway: {why}", self.attempts, self.pk)
    }
}

/// What an attempt does with the record as it finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Write this record (under the version read), then ask the gateway: `lookup` first when an
    /// earlier attempt may have charged.
    Take { record: PaymentRecord, lookup_first: bool },
    /// Another attempt holds the record: retry later.
    Busy { until: DateTime<Utc> },
    /// The outcome is known: publish it, from this (the stored) record.
    Publish(PaymentRecord, ChargeOutcome),
    /// Attempts are spent without an outcome: one last `lookup`, then finish or give up.
    LastLookup(PaymentRecord),
    /// Given up before: dead-letter again (the same dead letter).
    GaveUp(String),
    /// The payment id was asked something else before: dead-letter, never charge.
    Mismatch(String),
}

/// The rule, as a plain function of the stored record, the request and the clock.
pub fn next(
    stored: Option<&PaymentRecord>,
    payment_id: &str,
    asked: &Asked,
    now: DateTime<Utc>,
    lease: Duration,
    max_attempts: u32,
) -> Next {
    let charging = |attempts, asked: &Asked| PaymentRecord {
        id: RECORD_ID.into(),
        pk: payment_id.into(),
        asked: asked.clone(),
        attempts,
        state: PaymentState::Charging { lease_until: now + lease },
    };
    let Some(stored) = stored else { return Next::Take { record: charging(1, asked), lookup_first: false } };
    let differences = stored.asked.differences(asked);
    if !differences.is_empty() {
        let first = &stored.asked;
        return Next::Mismatch(format!(
            "payment {payment_id} was asked for {} (order {}) and is bound to it; this request differs in {}",
            first.amount,
            first.order_id,
            differences.join(", ")
        ));
    }
    match &stored.state {
        PaymentState::Finished { outcome } => Next::Publish(stored.clone(), outcome.clone()),
        PaymentState::GaveUp { reason } => Next::GaveUp(reason.clone()),
        PaymentState::Charging { lease_until } if *lease_until > now => Next::Busy { until: *lease_until },
        PaymentState::Charging { .. } if stored.attempts >= max_attempts => Next::LastLookup(stored.clone()),
        PaymentState::Charging { .. } => {
            Next::Take { record: charging(stored.attempts + 1, &stored.asked), lookup_first: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::values::Currency;

    fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + i64::from(s), 0).expect("time")
    }

    fn asked(amount_minor: i64, currency: &str, token: &str) -> Asked {
        Asked {
            order_id: OrderId::parse("A").expect("id"),
            amount: Money::new(amount_minor, Currency::parse(currency).expect("currency")),
            token_sha256: token_fingerprint(token),
            requested_at: at(0),
        }
    }

    #[test]
    fn the_first_attempt_charges_a_later_one_looks_up_first_and_a_held_lease_waits() {
        let (lease, a) = (Duration::seconds(60), asked(4_200, "EUR", "tok_visa"));
        let Next::Take { record, lookup_first: false } = next(None, "pay-A", &a, at(0), lease, 3) else {
            panic!("a new payment is charged at once")
        };
        assert_eq!((record.attempts, &record.state), (1, &PaymentState::Charging { lease_until: at(60) }));
        assert_eq!(next(Some(&record), "pay-A", &a, at(10), lease, 3), Next::Busy { until: at(60) });
        let Next::Take { record, lookup_first: true } = next(Some(&record), "pay-A", &a, at(61), lease, 3) else {
            panic!("an expired lease is taken over, asking the gateway first")
        };
        assert_eq!(record.attempts, 2);
        let declined = ChargeOutcome::Declined { reason: "x".into() };
        let done = record.with(PaymentState::Finished { outcome: declined.clone() });
        assert_eq!(next(Some(&done), "pay-A", &a, at(0), lease, 3), Next::Publish(done.clone(), declined));
        let spent = PaymentRecord { attempts: 3, state: PaymentState::Charging { lease_until: at(0) }, ..record };
        assert_eq!(next(Some(&spent), "pay-A", &a, at(1), lease, 3), Next::LastLookup(spent.clone()));
        let gave_up = spent.with(PaymentState::GaveUp { reason: spent.gave_up_reason("nothing found") });
        assert!(
            matches!(next(Some(&gave_up), "pay-A", &a, at(2), lease, 3), Next::GaveUp(r) if r.starts_with("3 attempts"))
        );
    }

    #[test]
    fn a_payment_id_is_bound_to_what_its_first_request_asked_whatever_its_state() {
        let (lease, first) = (Duration::seconds(60), asked(4_200, "EUR", "tok_visa"));
        let Next::Take { record: charging, .. } = next(None, "pay-A", &first, at(0), lease, 3) else { panic!("taken") };
        let finished =
            charging.with(PaymentState::Finished { outcome: ChargeOutcome::Succeeded { reference: "r".into() } });
        let gave_up = charging.with(PaymentState::GaveUp { reason: charging.gave_up_reason("nothing found") });
        let later = Asked { requested_at: at(500), ..first.clone() };
        assert!(
            matches!(next(Some(&finished), "pay-A", &later, at(1), lease, 3), Next::Publish(r, _) if r.asked == first)
        );
        let cases = [
            (asked(5_000, "EUR", "tok_visa"), "amount"),
            (asked(4_200, "USD", "tok_visa"), "currency"),
            (asked(4_200, "EUR", "tok_mc"), "token"),
            (Asked { order_id: OrderId::parse("B").expect("id"), ..first.clone() }, "order"),
            (asked(1, "GBP", "tok_amex"), "amount, currency, token"),
        ];
        for (other, differs) in cases {
            for stored in [&charging, &finished, &gave_up] {
                let Next::Mismatch(reason) = next(Some(stored), "pay-A", &other, at(1), lease, 3) else {
                    panic!("{differs}: a mismatch whatever the record's state ({:?})", stored.state)
                };
                assert!(reason.ends_with(&format!("differs in {differs}")), "{reason}");
                assert!(reason.starts_with("payment pay-A was asked for 42.00 EUR (order A)"), "{reason}");
            }
        }
    }

    #[test]
    fn the_record_keeps_what_was_asked_but_never_the_token() {
        let record = PaymentRecord {
            id: RECORD_ID.into(),
            pk: "pay-A".into(),
            asked: asked(4_200, "EUR", "tok_visa"),
            attempts: 1,
            state: PaymentState::Finished { outcome: ChargeOutcome::Succeeded { reference: "ch_1".into() } },
        };
        let json = serde_json::to_value(&record).expect("json");
        assert_eq!(json["state"], "finished");
        assert_eq!(json["outcome"]["outcome"], "succeeded");
        assert_eq!((json["order_id"].as_str(), json["amount"]["amount_minor"].as_i64()), (Some("A"), Some(4_200)));
        assert_eq!(json["amount"]["currency"], "EUR");
        // `printf %s tok_visa | sha256sum`
        assert_eq!(json["token_sha256"], "3482b66ca68e66a855cdf9c302fde3a286b99d0e279740cd5ed08ee15b449817");
        assert!(!json.to_string().contains("tok_visa"));
        assert_eq!(serde_json::from_value::<PaymentRecord>(json).expect("reads back"), record);
    }
}
