//! The order state machine, as plain functions over the order's record: no I/O here.
//!
//! ```text
//!   (event before order.confirmed) → pending ─┐
//!   order.confirmed ─────────────────────────→ confirmed
//!   confirmed ─ fraud approve → payment_requested (publish payment.requested)
//!             ─ fraud review  → held ─ a later fraud.scored (manual): approve → payment_requested,
//!             │                                                       reject → rejected
//!             ─ fraud reject  → rejected
//!   payment_requested ─ payment.succeeded → paid (publish order.paid, empty the bought skus from the cart)
//!                     ─ payment.failed    → payment_failed
//! ```
//! rejected, paid and payment_failed are terminal. An event that cannot apply yet (a decision or
//! a payment result before the order) waits in the record and applies once it can. The first
//! decision wins: a decision after it is a logged no-op, except one that releases a hold.
//!
//! Every event is recorded by its CloudEvent id, and the effects of a change wait in the record
//! (`pending`, an outbox) until they have run: the record is written first, the effects run, then
//! the record is written again without them. A redelivery changes nothing; if an earlier run of
//! effects failed part-way, whichever event of the order comes next (the redelivery itself, as
//! Lambda retries the failed record) runs what is still pending. Effects are idempotent
//! (deterministic event ids, removal of what may be gone), and once run they are not run again,
//! so a cart line the customer puts back after the order was paid stays.
//!
//! The payment request is also kept whole once made (`payment_request`): when no outcome comes,
//! order-sweeper republishes exactly those bytes, so payment-processor finds the payment id it
//! knows and asks the gateway before it charges.
use chrono::{DateTime, Utc};
use domain::cloudevent::{CloudEvent, DomainEvent};
use domain::events::{
    FraudDecision, FraudScored, OrderConfirmed, OrderPaid, PaymentFailed, PaymentRequested, PaymentSucceeded,
};
use domain::values::{CustomerId, OrderId, Sku};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const SOURCE: &str = "/aws/order-updater";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Pending,
    Confirmed,
    Held,
    Rejected,
    PaymentRequested,
    Paid,
    PaymentFailed,
}

impl OrderState {
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderState::Rejected | OrderState::Paid | OrderState::PaymentFailed)
    }
}

/// What order-updater consumes, by topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "event", rename_all = "snake_case")]
pub enum Input {
    Confirmed(OrderConfirmed),
    Scored(FraudScored),
    Succeeded(PaymentSucceeded),
    Failed(PaymentFailed),
}

impl Input {
    pub fn order_id(&self) -> &OrderId {
        match self {
            Input::Confirmed(e) => &e.order_id,
            Input::Scored(e) => &e.order_id,
            Input::Succeeded(e) => &e.order_id,
            Input::Failed(e) => &e.order_id,
        }
    }
}

/// One thing to do after the record is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// A CloudEvent to publish, ready: topic, key, its id and its JSON as text.
    Publish { topic: String, key: String, id: String, payload: String },
    /// Take these skus out of the customer's cart.
    EmptyCart { customer_id: CustomerId, skus: Vec<Sku> },
}

/// An event that arrived before it could apply, kept with its id and time (the record keeps
/// them in time order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub event_id: String,
    pub time: DateTime<Utc>,
    pub input: Input,
}

impl Waiting {
    /// What waiting events are kept in order by: event time, then id.
    fn order(&self) -> (DateTime<Utc>, &str) {
        (self.time, &self.event_id)
    }
}

/// A published event kept whole, with its CloudEvent id, key and time: republished byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptEvent {
    pub topic: String,
    pub key: String,
    pub id: String,
    pub time: DateTime<Utc>,
    pub payload: String,
}

impl KeptEvent {
    /// Publishing it again, as an effect.
    pub fn effect(&self) -> Effect {
        let KeptEvent { topic, key, id, payload, .. } = self.clone();
        Effect::Publish { topic, key, id, payload }
    }
}

/// order-sweeper's looks at an order since its last change: how many, and when the last was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swept {
    pub times: u32,
    pub at: DateTime<Utc>,
}

/// The order's record, stored whole (DynamoDB item `pk = <order id>, id = "order"`, laid out
/// by `layout.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order_id: OrderId,
    pub state: OrderState,
    pub order: Option<OrderConfirmed>,
    /// The decision in force.
    pub fraud: Option<FraudScored>,
    pub payment_id: Option<String>,
    pub waiting: Vec<Waiting>,
    /// Every event seen, by CloudEvent id.
    pub seen: BTreeSet<String>,
    /// Effects of changes that have not run yet (all of them, in order).
    #[serde(default)]
    pub pending: Vec<Effect>,
    /// The payment request as published (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_request: Option<KeptEvent>,
    /// When order-updater last changed the record, by its clock (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// order-sweeper's looks since that change; a change starts the count again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swept: Option<Swept>,
    /// Why the payment failed, in the gateway's plain words (never card data), for the
    /// customer's e-mail (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_failure: Option<String>,
}

impl OrderRecord {
    fn new(order_id: OrderId) -> Self {
        OrderRecord {
            order_id,
            state: OrderState::Pending,
            order: None,
            fraud: None,
            payment_id: None,
            waiting: Vec::new(),
            seen: BTreeSet::new(),
            pending: Vec::new(),
            payment_request: None,
            changed_at: None,
            swept: None,
            payment_failure: None,
        }
    }

    /// Open: not in a terminal state, or effects still to run. Only an open order is in the
    /// sweeper's index.
    pub fn is_open(&self) -> bool {
        !self.state.is_terminal() || !self.pending.is_empty()
    }

    /// When the sweeper is next to look, once `SWEEP_AFTER_SECONDS` have passed: the last look,
    /// else the last change.
    pub fn sweep_at(&self) -> Option<DateTime<Utc>> {
        self.swept.map(|s| s.at).or(self.changed_at)
    }

    /// Marks a change made at `now`: the sweeper's count starts again.
    pub fn changed(&mut self, now: DateTime<Utc>) {
        self.changed_at = Some(now);
        self.swept = None;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Write the record, then run its pending effects (the new ones among them).
    Changed { record: Box<OrderRecord>, note: String },
    /// Seen before: nothing to write.
    Redelivery,
    /// Nothing to write or do (an event on a terminal order, a decision after the first).
    Ignored { note: String },
    /// An event that can never apply: the reason code and why (it is dead-lettered).
    Refused { code: &'static str, reason: String },
}

/// One step: what the input does to the record as it stands.
enum Step {
    Applied(Vec<Effect>, String),
    Wait,
    Ignore(String),
    Refuse(&'static str, String),
}

/// The payment id of an order: the gateway's idempotency key, one per order.
pub fn payment_id(order: &OrderId) -> String {
    format!("pay-{order}")
}

fn kept<T: DomainEvent>(id: String, time: DateTime<Utc>, data: T) -> KeptEvent {
    let event = CloudEvent::new(id, SOURCE, time, data);
    let payload = String::from_utf8(event.to_json()).unwrap_or_default();
    KeptEvent { topic: T::TOPIC.to_string(), key: event.key(), id: event.id, time, payload }
}

fn publish<T: DomainEvent>(id: String, time: DateTime<Utc>, data: T) -> Effect {
    kept(id, time, data).effect()
}

/// Applies one event (CloudEvent id and time) to the order's record, which is None for an order
/// not seen yet.
pub fn apply(record: Option<OrderRecord>, event_id: &str, time: DateTime<Utc>, input: &Input) -> Outcome {
    let mut record = record.unwrap_or_else(|| OrderRecord::new(input.order_id().clone()));
    if record.seen.contains(event_id) {
        return Outcome::Redelivery;
    }
    // A record written before waiting events were kept in time order has them as they came.
    record.waiting.sort_by(|a, b| a.order().cmp(&b.order()));
    let (mut effects, note) = match step(&mut record, time, input) {
        Step::Ignore(note) => return Outcome::Ignored { note },
        Step::Refuse(code, reason) => return Outcome::Refused { code, reason },
        Step::Wait => {
            let note = format!("{} waits in state {:?}", kind(input), record.state);
            // Kept in event-time order (then id), whatever order they arrived in: they are
            // replayed in that order, and the record is the same for any order of delivery.
            let at = record.waiting.partition_point(|w| w.order() <= (time, event_id));
            record.waiting.insert(at, Waiting { event_id: event_id.to_string(), time, input: input.clone() });
            (Vec::new(), note)
        }
        Step::Applied(effects, note) => (effects, note),
    };
    // What waited may apply now; what applies is attributed to the event that released it.
    loop {
        let mut progressed = false;
        for w in std::mem::take(&mut record.waiting) {
            match step(&mut record, w.time, &w.input) {
                Step::Applied(more, _) => {
                    effects.extend(more);
                    progressed = true;
                }
                Step::Wait => record.waiting.push(w),
                Step::Ignore(_) => {}
                // Only a payment that came before its order can be refused here, long after its
                // record was acknowledged: said loudly, and the order keeps waiting for a person.
                Step::Refuse(code, reason) => {
                    tracing::error!(event_id = %w.event_id, reason_code = code, %reason, "a waiting event refused");
                }
            }
        }
        if !progressed {
            break;
        }
    }
    record.seen.insert(event_id.to_string());
    record.pending.extend(effects);
    Outcome::Changed { record: Box::new(record), note }
}

fn kind(input: &Input) -> &'static str {
    match input {
        Input::Confirmed(_) => "order.confirmed",
        Input::Scored(_) => "fraud.scored",
        Input::Succeeded(_) => "payment.succeeded",
        Input::Failed(_) => "payment.failed",
    }
}

fn step(record: &mut OrderRecord, time: DateTime<Utc>, input: &Input) -> Step {
    use OrderState::*;
    let state = record.state;
    if state.is_terminal() {
        return Step::Ignore(format!("{} on a {state:?} order", kind(input)));
    }
    if let Input::Succeeded(p) = input
        && let Some(reason) = wrong_amount(record, p)
    {
        return Step::Refuse("amount_mismatch", reason);
    }
    match (state, input) {
        (Pending, Input::Confirmed(order)) => {
            record.order = Some(order.clone());
            record.state = Confirmed;
            Step::Applied(Vec::new(), "confirmed".into())
        }
        (_, Input::Confirmed(_)) => Step::Ignore(format!("order.confirmed again in state {state:?}")),
        (Pending, _) => Step::Wait,
        (Confirmed | Held, Input::Scored(f)) => decide(record, time, f),
        (_, Input::Scored(_)) => Step::Ignore(format!("a later decision in state {state:?}: the first wins")),
        (Confirmed | Held, Input::Succeeded(_) | Input::Failed(_)) => Step::Wait,
        (PaymentRequested, Input::Succeeded(p)) if record.payment_id.as_deref() == Some(p.payment_id.as_str()) => {
            paid(record, time, p)
        }
        (PaymentRequested, Input::Failed(p)) if record.payment_id.as_deref() == Some(p.payment_id.as_str()) => {
            record.state = PaymentFailed;
            record.payment_failure = Some(p.reason.clone());
            Step::Applied(Vec::new(), format!("payment failed: {}", p.reason))
        }
        (_, Input::Succeeded(p)) => Step::Ignore(format!("payment {} is not this order's", p.payment_id)),
        (_, Input::Failed(p)) => Step::Ignore(format!("payment {} is not this order's", p.payment_id)),
    }
}

/// Why a success for this order's payment cannot make it paid: it charged another amount than
/// the order's total (a producer's bug, or worse). None if the order is not known yet (the
/// success waits, and is checked when it is replayed) or the payment is not this order's.
/// Whether a payment request is the one the order made: the order exists and asks this payment
/// id, its total and its card. payment-processor checks a request for a payment it has no
/// record of yet (a known one is bound to what its first request asked), so a request that
/// does not come from its order (a replay edited by hand, a bug upstream) charges nothing.
pub fn check_request(record: Option<&OrderRecord>, r: &PaymentRequested) -> Result<(), (&'static str, String)> {
    let Some(record) = record else {
        return Err((
            "unknown_order",
            format!("payment {} is for order {}, which has no record", r.payment_id, r.order_id),
        ));
    };
    let order = record.order.as_ref();
    let mismatch = if record.payment_id.as_deref() != Some(r.payment_id.as_str()) {
        Some(match &record.payment_id {
            Some(asked) => format!("the order asks payment {asked}"),
            None => "the order asks no payment".to_string(),
        })
    } else if order.is_none_or(|o| o.total != r.amount) {
        Some(format!(
            "the order totals {}, the request asks {}",
            order.map_or("nothing".into(), |o| o.total.to_string()),
            r.amount
        ))
    } else if order.and_then(|o| o.payment.as_ref()).map(|p| &p.token) != r.payment_token.as_ref() {
        Some("the request's card token is not the order's".to_string())
    } else {
        None
    };
    match mismatch {
        Some(why) => Err(("order_mismatch", format!("payment {} for order {}: {why}", r.payment_id, r.order_id))),
        None => Ok(()),
    }
}

fn wrong_amount(record: &OrderRecord, p: &PaymentSucceeded) -> Option<String> {
    let order = record.order.as_ref()?;
    let ours = p.payment_id == payment_id(&order.order_id);
    (ours && p.amount != order.total).then(|| {
        format!(
            "payment {} succeeded for {}, but order {} totals {}",
            p.payment_id, p.amount, order.order_id, order.total
        )
    })
}

fn decide(record: &mut OrderRecord, time: DateTime<Utc>, f: &FraudScored) -> Step {
    let held = record.state == OrderState::Held;
    match f.decision {
        FraudDecision::Review if held => return Step::Ignore("still under review".into()),
        FraudDecision::Review => record.state = OrderState::Held,
        FraudDecision::Reject => record.state = OrderState::Rejected,
        FraudDecision::Approve => record.state = OrderState::PaymentRequested,
    }
    record.fraud = Some(f.clone());
    let note = format!("fraud {:?} (score {}){}", f.decision, f.score, if held { ", releasing the hold" } else { "" });
    let Some(order) = &record.order else { return Step::Applied(Vec::new(), note) };
    if record.state != OrderState::PaymentRequested {
        return Step::Applied(Vec::new(), note);
    }
    let payment_id = payment_id(&order.order_id);
    record.payment_id = Some(payment_id.clone());
    let request = PaymentRequested {
        order_id: order.order_id.clone(),
        payment_id,
        amount: order.total,
        payment_token: order.payment.as_ref().map(|p| p.token.clone()),
    };
    let request = kept(format!("payment-requested-{}", order.order_id), time, request);
    let effect = request.effect();
    record.payment_request = Some(request);
    Step::Applied(vec![effect], note)
}

fn paid(record: &mut OrderRecord, time: DateTime<Utc>, p: &PaymentSucceeded) -> Step {
    record.state = OrderState::Paid;
    let Some(order) = &record.order else { return Step::Applied(Vec::new(), "paid".into()) };
    let event = OrderPaid {
        order_id: order.order_id.clone(),
        customer_id: order.customer_id.clone(),
        lines: order.lines.clone(),
        total: order.total,
        ship_to_country: order.ship_to_country.clone(),
        payment_id: p.payment_id.clone(),
    };
    let skus = order.lines.iter().map(|l| l.sku.clone()).collect();
    let effects = vec![
        publish(format!("order-paid-{}", order.order_id), time, event),
        Effect::EmptyCart { customer_id: order.customer_id.clone(), skus },
    ];
    Step::Applied(effects, format!("paid by {}", p.payment_id))
}

#[cfg(test)]
mod tests;
