//! The default payment gateway: deterministic, in memory, with documented test tokens, as card
//! gateways' sandboxes have. Unlike a real gateway it does not deduplicate by payment id: every
//! `charge` call is a charge, so a test can count them and prove the processor never charges a
//! payment id twice on its own account.
//!
//! | token | outcome |
//! |---|---|
//! | `tok_visa`, `tok_mc`, `tok_mastercard`, `tok_amex`, or one of them + `_…` (`tok_visa_4242`) | succeeds |
//! | `tok_decline` | declined, `card_declined` |
//! | `tok_insufficient_funds` | declined, `insufficient_funds` |
//! | `tok_timeout` | charges, then times out on the first call for a payment id (`ChargeError::Unknown`); later calls succeed |
//! | anything else | declined, `invalid_token` (as a real gateway answers a token it does not know) |
//!
//! An injected outage (`outage`) fails a call before it is sent: `ChargeError::NotSent`.
use crate::Outage;
use async_trait::async_trait;
use domain::ports::{Charge, ChargeError, ChargeOutcome, PaymentGateway, PortError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

const SUCCEEDING: [&str; 4] = ["tok_visa", "tok_mc", "tok_mastercard", "tok_amex"];

#[derive(Default)]
struct Ledger {
    /// Every charge made, in order: (payment id, amount in minor units, outcome).
    charges: Vec<(String, i64, ChargeOutcome)>,
    timed_out: BTreeSet<String>,
}

#[derive(Clone, Default)]
pub struct TestGateway {
    ledger: Arc<Mutex<Ledger>>,
    pub outage: Arc<Outage>,
}

impl TestGateway {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times this payment id was charged.
    pub fn charges_for(&self, payment_id: &str) -> usize {
        self.lock().charges.iter().filter(|(id, _, _)| id == payment_id).count()
    }

    /// Every charge made, by payment id: how many times, and the last outcome.
    pub fn ledger(&self) -> BTreeMap<String, (usize, ChargeOutcome)> {
        let mut out: BTreeMap<String, (usize, ChargeOutcome)> = BTreeMap::new();
        for (id, _, outcome) in &self.lock().charges {
            let entry = out.entry(id.clone()).or_insert((0, outcome.clone()));
            *entry = (entry.0 + 1, outcome.clone());
        }
        out
    }
}

fn outcome_of(charge: &Charge) -> ChargeOutcome {
    let token = charge.token.as_str();
    let declined = |reason: &str| ChargeOutcome::Declined { reason: reason.into() };
    match token {
        "tok_decline" => declined("card_declined"),
        "tok_insufficient_funds" => declined("insufficient_funds"),
        "tok_timeout" => ChargeOutcome::Succeeded { reference: format!("ch_{}", charge.payment_id) },
        t if SUCCEEDING.iter().any(|s| t == *s || t.strip_prefix(s).is_some_and(|rest| rest.starts_with('_'))) => {
            ChargeOutcome::Succeeded { reference: format!("ch_{}", charge.payment_id) }
        }
        _ => declined("invalid_token"),
    }
}

#[async_trait]
impl PaymentGateway for TestGateway {
    async fn charge(&self, charge: &Charge) -> Result<ChargeOutcome, ChargeError> {
        self.outage.check("gateway charge").map_err(|e| ChargeError::NotSent(e.to_string()))?;
        let outcome = outcome_of(charge);
        let mut ledger = self.lock();
        ledger.charges.push((charge.payment_id.clone(), charge.amount.amount_minor, outcome.clone()));
        if charge.token == "tok_timeout" && ledger.timed_out.insert(charge.payment_id.clone()) {
            return Err(ChargeError::Unknown(format!("gateway timed out charging {}", charge.payment_id)));
        }
        Ok(outcome)
    }

    async fn lookup(&self, payment_id: &str) -> Result<Option<ChargeOutcome>, PortError> {
        self.outage.check("gateway lookup")?;
        Ok(self.lock().charges.iter().rev().find(|(id, _, _)| id == payment_id).map(|(_, _, o)| o.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::values::{Currency, Money};

    fn charge(id: &str, token: &str) -> Charge {
        Charge {
            payment_id: id.into(),
            token: token.into(),
            amount: Money::new(100, Currency::parse("EUR").expect("EUR")),
        }
    }

    #[tokio::test]
    async fn tokens_behave_as_documented() {
        let g = TestGateway::default();
        let ok = |id: &str| Ok(ChargeOutcome::Succeeded { reference: format!("ch_{id}") });
        let no = |r: &str| Ok(ChargeOutcome::Declined { reason: r.into() });
        assert_eq!(g.charge(&charge("p1", "tok_visa_4242")).await, ok("p1"));
        assert_eq!(g.charge(&charge("p2", "tok_decline")).await, no("card_declined"));
        assert_eq!(g.charge(&charge("p3", "tok_insufficient_funds")).await, no("insufficient_funds"));
        assert_eq!(g.charge(&charge("p4", "tok_visabogus")).await, no("invalid_token"));
        assert_eq!(g.charge(&charge("p5", "4242424242424242")).await, no("invalid_token"));
        assert!(matches!(g.charge(&charge("p6", "tok_timeout")).await, Err(ChargeError::Unknown(_))), "times out");
        let charged = ChargeOutcome::Succeeded { reference: "ch_p6".into() };
        assert_eq!(g.lookup("p6").await, Ok(Some(charged)), "but it charged");
        assert_eq!(g.charge(&charge("p6", "tok_timeout")).await, ok("p6"));
        assert_eq!((g.charges_for("p6"), g.charges_for("p1"), g.lookup("p9").await), (2, 1, Ok(None)));
        g.outage.fail_next(1);
        assert!(matches!(g.charge(&charge("p7", "tok_visa")).await, Err(ChargeError::NotSent(_))), "never sent");
        assert_eq!((g.charges_for("p7"), g.lookup("p7").await), (0, Ok(None)));
    }
}
