//! The idempotency record of one payment id (DynamoDB item `pk = <payment id>, id = "payment"`),
//! written before the gateway is called and finished after, so a payment is charged at most once
//! however often its request is delivered:
//!
//! - `charging`: an attempt holds the record until `lease_until`. An attempt that fails releases
//!   it; one that dies (a Lambda timeout) keeps it until the lease runs out. The next attempt
//!   takes the record over under its version, then asks the gateway what it did with the payment
//!   id (`lookup`) before it charges: a charge that happened (a timeout after charging) is found,
//!   not made again.
//! - `succeeded` / `declined`: the gateway's outcome, from which the event is published (again,
//!   on a redelivery; its id is fixed by the payment id).
//! - `gave_up`: `max_attempts` attempts could not learn the outcome: dead-lettered, and the order
//!   stays `payment_requested` for a person to resolve with the gateway.
use chrono::{DateTime, Duration, Utc};
use domain::ports::ChargeOutcome;
use serde::{Deserialize, Serialize};

pub const RECORD_ID: &str = "payment";

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
    pub order_id: String,
    pub attempts: u32,
    #[serde(flatten)]
    pub state: PaymentState,
}

/// What an attempt does with the record as it finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Write this record (under the version read), then ask the gateway: `lookup` first when an
    /// earlier attempt may have charged.
    Take { record: PaymentRecord, lookup_first: bool },
    /// Another attempt holds the record: retry later.
    Busy { until: DateTime<Utc> },
    /// The outcome is known: publish it.
    Publish(ChargeOutcome),
    /// Attempts are spent without an outcome: write this record and dead-letter the request.
    GiveUp(PaymentRecord),
    /// Given up before: dead-letter again (the same dead letter).
    GaveUp(String),
}

/// The rule, as a plain function of the stored record and the clock.
pub fn next(
    stored: Option<&PaymentRecord>,
    payment_id: &str,
    order_id: &str,
    now: DateTime<Utc>,
    lease: Duration,
    max_attempts: u32,
) -> Next {
    let charging = |attempts| PaymentRecord {
        id: RECORD_ID.into(),
        pk: payment_id.into(),
        order_id: order_id.into(),
        attempts,
        state: PaymentState::Charging { lease_until: now + lease },
    };
    let Some(stored) = stored else { return Next::Take { record: charging(1), lookup_first: false } };
    match &stored.state {
        PaymentState::Finished { outcome } => Next::Publish(outcome.clone()),
        PaymentState::GaveUp { reason } => Next::GaveUp(reason.clone()),
        PaymentState::Charging { lease_until } if *lease_until > now => Next::Busy { until: *lease_until },
        PaymentState::Charging { .. } if stored.attempts >= max_attempts => {
            let reason =
                format!("{} attempts could not learn the outcome of {payment_id} from the gateway", stored.attempts);
            Next::GiveUp(PaymentRecord { state: PaymentState::GaveUp { reason }, ..stored.clone() })
        }
        PaymentState::Charging { .. } => Next::Take { record: charging(stored.attempts + 1), lookup_first: true },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + i64::from(s), 0).expect("time")
    }

    #[test]
    fn the_first_attempt_charges_a_later_one_looks_up_first_and_a_held_lease_waits() {
        let lease = Duration::seconds(60);
        let Next::Take { record, lookup_first: false } = next(None, "pay-A", "A", at(0), lease, 3) else {
            panic!("a new payment is charged at once")
        };
        assert_eq!((record.attempts, &record.state), (1, &PaymentState::Charging { lease_until: at(60) }));
        assert_eq!(next(Some(&record), "pay-A", "A", at(10), lease, 3), Next::Busy { until: at(60) });
        let Next::Take { record, lookup_first: true } = next(Some(&record), "pay-A", "A", at(61), lease, 3) else {
            panic!("an expired lease is taken over, asking the gateway first")
        };
        assert_eq!(record.attempts, 2);
        let done = PaymentRecord {
            state: PaymentState::Finished { outcome: ChargeOutcome::Declined { reason: "x".into() } },
            ..record.clone()
        };
        assert!(matches!(
            next(Some(&done), "pay-A", "A", at(0), lease, 3),
            Next::Publish(ChargeOutcome::Declined { .. })
        ));
        let spent = PaymentRecord { attempts: 3, state: PaymentState::Charging { lease_until: at(0) }, ..record };
        let Next::GiveUp(gave_up) = next(Some(&spent), "pay-A", "A", at(1), lease, 3) else { panic!("attempts spent") };
        assert!(
            matches!(next(Some(&gave_up), "pay-A", "A", at(2), lease, 3), Next::GaveUp(r) if r.starts_with("3 attempts"))
        );
    }

    #[test]
    fn the_record_reads_back_as_it_was_written() {
        let record = PaymentRecord {
            id: RECORD_ID.into(),
            pk: "pay-A".into(),
            order_id: "A".into(),
            attempts: 1,
            state: PaymentState::Finished { outcome: ChargeOutcome::Succeeded { reference: "ch_1".into() } },
        };
        let json = serde_json::to_value(&record).expect("json");
        assert_eq!(json["state"], "finished");
        assert_eq!(json["outcome"]["outcome"], "succeeded");
        assert_eq!(serde_json::from_value::<PaymentRecord>(json).expect("reads back"), record);
    }
}
