//! Scores a batch of orders: each order's verdict if it has one already (a redelivery), else the
//! rules over its customer's and card's histories, weighed by the model, recorded, and kept as its
//! verdict. The orders of a batch are scored in turn, each seeing the ones before it, as if
//! scored one at a time; the histories are read and written once per batch (`state::Histories`).
use crate::model::Model;
use crate::signals::{History, PastOrder, signals};
use crate::state::{Histories, HistoryKey, Kept, Published, in_flight, keep_first_verdict, read_verdict};
use chrono::{DateTime, Utc};
use domain::cloudevent::CloudEvent;
use domain::events::{FraudScored, OrderConfirmed};
use domain::ports::{Documents, PortError};
use domain::values::OrderId;
use std::collections::{HashMap, HashSet};

pub const SOURCE: &str = "/azure/fraud-scorer";
/// Lost etag races on a batch's histories beyond this many are reported as transient.
pub const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The order's verdict as stored: what is published, the same bytes on every redelivery.
    pub verdict: Published,
    /// True when the verdict was already stored (by an earlier delivery, or a concurrent one).
    pub redelivery: bool,
}

/// A batch that could not be scored: the store's error, and the first order left without a
/// stored verdict (the batch's orders before it have theirs).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchError {
    pub order_id: OrderId,
    pub error: PortError,
}

/// One order to score, and its event's time: the order record's own (its Kafka timestamp), so
/// two instances scoring the same record race to store the same event.
pub type Order<'a> = (&'a OrderConfirmed, DateTime<Utc>);

pub async fn score_order(
    docs: &dyn Documents,
    model: &Model,
    order: &OrderConfirmed,
    time: DateTime<Utc>,
) -> Result<Scored, PortError> {
    let mut scored = score_batch(docs, model, &[(order, time)]).await.map_err(|e| e.error)?;
    Ok(scored.remove(0))
}

/// Scores `orders`, returning one `Scored` each, in their order.
pub async fn score_batch(docs: &dyn Documents, model: &Model, orders: &[Order<'_>]) -> Result<Vec<Scored>, BatchError> {
    score_before(docs, model, orders, &[]).await
}

/// Scores `orders`, the part of a batch that comes before the orders `after`, which are left
/// out of the histories as if not recorded yet (the handler's last retry scores a batch one
/// order at a time this way).
pub async fn score_before(
    docs: &dyn Documents,
    model: &Model,
    orders: &[Order<'_>],
    after: &[Order<'_>],
) -> Result<Vec<Scored>, BatchError> {
    let fail = |i: usize| move |error: PortError| BatchError { order_id: orders[i].0.order_id.clone(), error };
    let mut scored: Vec<Option<Scored>> = vec![None; orders.len()];
    // Each order once: a second delivery in the same batch re-emits the first's verdict.
    let mut first_of: HashMap<&OrderId, usize> = HashMap::new();
    let mut unique = Vec::new();
    for (i, (order, _)) in orders.iter().enumerate() {
        first_of.entry(&order.order_id).or_insert_with(|| {
            unique.push(i);
            i
        });
    }
    // Reads and writes of verdicts are each an order's own: several in flight at once, their
    // results taken in batch order, so an error names the first order it left without one.
    let reads = unique.iter().copied().map(|i| read_verdict(docs, &orders[i].0.order_id));
    let mut fresh = Vec::new();
    for (&i, found) in unique.iter().zip(in_flight(reads).await) {
        match found.map_err(fail(fresh.first().copied().unwrap_or(i)))? {
            Some(verdict) => scored[i] = Some(Scored { verdict, redelivery: true }),
            None => fresh.push(i),
        }
    }
    if let Some(&first) = fresh.first() {
        let verdicts = record_and_score(docs, model, orders, &unique, &fresh, after).await.map_err(fail(first))?;
        let mut ours = Vec::with_capacity(fresh.len());
        for (&i, event) in fresh.iter().zip(verdicts) {
            ours.push(Published::new(event).map_err(fail(i))?);
        }
        let keeps = ours.into_iter().map(|ours| keep(docs, ours));
        for (&i, kept) in fresh.iter().zip(in_flight(keeps).await) {
            scored[i] = Some(kept.map_err(fail(i))?);
        }
    }
    for i in 0..orders.len() {
        if scored[i].is_none() {
            let first = scored[first_of[&orders[i].0.order_id]].clone();
            scored[i] = first.map(|s| Scored { redelivery: true, ..s });
        }
    }
    Ok(scored.into_iter().map(|s| s.expect("every order scored or re-emitted")).collect())
}

/// Stores our verdict unless one is there, and says whether the one stored is another's.
async fn keep(docs: &dyn Documents, ours: Published) -> Result<Scored, PortError> {
    Ok(match keep_first_verdict(docs, ours).await? {
        Kept::Ours(verdict) => Scored { verdict, redelivery: false },
        Kept::Theirs(verdict) => Scored { verdict, redelivery: true },
    })
}

/// Goes through the batch's orders (`unique`) in turn against their histories: each `fresh`
/// one is scored and recorded, each other one (its verdict stored already) put back as stored.
/// Returns the fresh orders' verdicts, not yet stored. Reads again and starts over when another
/// writer got in first.
async fn record_and_score(
    docs: &dyn Documents,
    model: &Model,
    orders: &[Order<'_>],
    unique: &[usize],
    fresh: &[usize],
    after: &[Order<'_>],
) -> Result<Vec<CloudEvent<FraudScored>>, PortError> {
    // A card's key is a hash of its fingerprint: worked out once per card of the batch.
    let mut cards: HashMap<String, HistoryKey> = HashMap::new();
    let mut keys_of = |order: &OrderConfirmed| {
        let card = order.payment.as_ref().map(|p| match cards.get(&p.card_fingerprint) {
            Some(key) => key.clone(),
            None => cards.entry(p.card_fingerprint.clone()).or_insert(HistoryKey::card(&p.card_fingerprint)).clone(),
        });
        (HistoryKey::customer(&order.customer_id), card)
    };
    let keys: Vec<(HistoryKey, Option<HistoryKey>)> = unique.iter().map(|&i| keys_of(orders[i].0)).collect();
    let after_keys: Vec<(HistoryKey, Option<HistoryKey>)> = after.iter().map(|(o, _)| keys_of(o)).collect();
    let is_fresh: HashSet<usize> = fresh.iter().copied().collect();
    let batch: HashSet<&OrderId> =
        unique.iter().map(|&i| &orders[i].0.order_id).chain(after.iter().map(|(o, _)| &o.order_id)).collect();
    // Only the fresh orders' histories change; the others' are not read.
    let mut read_keys: Vec<&HistoryKey> = Vec::with_capacity(2 * fresh.len());
    for (&i, (customer, card)) in unique.iter().zip(&keys) {
        if is_fresh.contains(&i) {
            read_keys.push(customer);
            read_keys.extend(card);
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        let mut histories = Histories::read(docs, &read_keys, &batch, model.rules.history_orders).await?;
        let mut verdicts = Vec::with_capacity(fresh.len());
        for (&i, (customer, card)) in unique.iter().zip(&keys) {
            let (order, time) = orders[i];
            if !is_fresh.contains(&i) {
                histories.restore(customer, &order.order_id);
                if let Some(card) = card {
                    histories.restore(card, &order.order_id);
                }
                continue;
            }
            let history = History { customer: histories.get(customer), card: card.as_ref().map(|k| histories.get(k)) };
            let verdict = model.score(&signals(order, &history, &model.rules));
            let me = PastOrder::of(order);
            histories.add(customer, &me);
            if let Some(card) = card {
                histories.add(card, &me);
            }
            let data = FraudScored {
                order_id: order.order_id.clone(),
                score: verdict.score,
                decision: verdict.decision,
                reasons: verdict.reasons,
                model_version: model.version.clone(),
            };
            verdicts.push(CloudEvent::new(format!("fraud-scored-{}", order.order_id), SOURCE, time, data));
        }
        // The orders after these were seen by none of them; they go back as they were stored.
        for ((order, _), (customer, card)) in after.iter().zip(&after_keys) {
            histories.restore(customer, &order.order_id);
            if let Some(card) = card {
                histories.restore(card, &order.order_id);
            }
        }
        // Someone recorded another order of one of these customers or cards since we read:
        // score again with it.
        if histories.write(docs).await? {
            return Ok(verdicts);
        }
    }
    Err(PortError::Unavailable(format!("{MAX_ATTEMPTS} history conflicts in a row")))
}

#[cfg(test)]
mod batch_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::read_history;
    use crate::testing::order;
    use domain::events::FraudDecision;
    use inmemory::InMemoryDocuments;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    /// Records one order in one history, as another instance's batch would.
    async fn record(docs: &dyn Documents, key: &HistoryKey, order: &PastOrder) {
        let mut histories = Histories::read(docs, &[key], &HashSet::new(), 50).await.expect("read");
        histories.add(key, order);
        assert!(histories.write(docs).await.expect("write"));
    }

    #[tokio::test]
    async fn a_redelivered_order_gets_its_first_verdict_back_byte_for_byte() {
        let docs = InMemoryDocuments::default();
        let model = Model::select(None).expect("model");
        let first = order("A-1", "C-1", "2026-11-20T10:00:00Z");
        let scored = score_order(&docs, &model, &first, at("2026-11-20T10:00:01Z")).await.expect("scored");
        assert!(!scored.redelivery);
        // Two more orders of the same customer and card arrive, then A-1 is delivered again.
        for id in ["A-2", "A-3"] {
            score_order(&docs, &model, &order(id, "C-1", "2026-11-20T09:50:00Z"), at("2026-11-20T10:00:02Z"))
                .await
                .expect("scored");
        }
        let again = score_order(&docs, &model, &first, at("2026-11-20T11:00:00Z")).await.expect("redelivery");
        assert!(again.redelivery);
        assert_eq!(again.verdict.json.get(), scored.verdict.json.get(), "the same bytes published again");
        assert_eq!(scored.verdict.event.data.reasons.iter().filter(|r| r.starts_with("customer_velocity")).count(), 0);
    }

    #[tokio::test]
    async fn an_order_recorded_by_a_failed_attempt_is_not_counted_against_itself() {
        let docs = InMemoryDocuments::default();
        let model = Model::select(None).expect("model");
        let o = order("A-1", "C-1", "2026-11-20T10:00:00Z");
        // The first attempt recorded both histories, then storing the verdict failed.
        for key in [HistoryKey::customer(&o.customer_id), HistoryKey::card("fp-1")] {
            record(&docs, &key, &PastOrder::of(&o)).await;
        }
        let retried = score_order(&docs, &model, &o, at("2026-11-20T10:00:01Z")).await.expect("scored");
        let fresh = score_order(&InMemoryDocuments::default(), &model, &o, at("2026-11-20T10:00:01Z")).await;
        assert_eq!(retried.verdict.event, fresh.expect("scored").verdict.event);
    }

    #[tokio::test]
    async fn a_burst_on_one_card_across_customers_is_held_for_review() {
        let docs = InMemoryDocuments::default();
        let model = Model::select(None).expect("model");
        let mut last = None;
        for (i, customer) in ["C-1", "C-2", "C-3", "C-4"].iter().enumerate() {
            let o = order(&format!("B-{i}"), customer, &format!("2026-11-20T10:0{i}:00Z"));
            last = Some(score_order(&docs, &model, &o, at("2026-11-20T10:10:00Z")).await.expect("scored"));
        }
        let last = last.expect("scored").verdict.event.data;
        assert!(last.reasons.iter().any(|r| r.starts_with("card_velocity: 3 other orders")), "{:?}", last.reasons);
        assert_ne!(last.decision, FraudDecision::Approve, "score {}", last.score);
    }

    /// Another instance records order A-0 for the same customer between our read and our write.
    struct RacingDocs {
        inner: InMemoryDocuments,
        raced: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl Documents for RacingDocs {
        async fn read(&self, pk: &str, id: &str) -> Result<Option<domain::ports::StoredDocument>, PortError> {
            self.inner.read(pk, id).await
        }
        async fn create(
            &self,
            pk: &str,
            id: &str,
            body: domain::ports::JsonText,
        ) -> Result<domain::ports::Etag, PortError> {
            if pk.starts_with("customer:") && !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let other = PastOrder::of(&order("A-0", "C-1", "2026-11-20T09:59:00Z"));
                let key = HistoryKey::customer(&other_customer());
                record(&self.inner, &key, &other).await;
            }
            self.inner.create(pk, id, body).await
        }
        async fn replace(
            &self,
            pk: &str,
            id: &str,
            body: domain::ports::JsonText,
            if_match: &domain::ports::Etag,
        ) -> Result<domain::ports::Etag, PortError> {
            self.inner.replace(pk, id, body, if_match).await
        }
    }

    fn other_customer() -> domain::values::CustomerId {
        domain::values::CustomerId::parse("C-1").expect("id")
    }

    #[tokio::test]
    async fn a_concurrent_writer_makes_the_scorer_score_again_with_its_order() {
        let docs = RacingDocs { inner: InMemoryDocuments::default(), raced: Default::default() };
        let model = Model::select(None).expect("model");
        let scored =
            score_order(&docs, &model, &order("A-1", "C-1", "2026-11-20T10:00:00Z"), at("2026-11-20T10:00:00Z"))
                .await
                .expect("scored");
        assert!(docs.raced.load(std::sync::atomic::Ordering::SeqCst));
        let reasons = &scored.verdict.event.data.reasons;
        assert!(reasons.iter().any(|r| r.starts_with("customer_velocity: 1 other orders")), "{reasons:?}");
        let history = read_history(&docs.inner, &HistoryKey::customer(&other_customer())).await.expect("read");
        let ids: Vec<&str> = history.orders.iter().map(|p| p.order_id.as_str()).collect();
        assert_eq!(ids, ["A-1", "A-0"], "both orders recorded, latest first");
    }

    #[tokio::test]
    async fn an_unavailable_store_is_a_transient_error() {
        let docs = InMemoryDocuments::default();
        docs.outage.fail_next(1);
        let o = order("A-2", "C-1", "2026-11-20T10:05:00Z");
        let err = score_order(&docs, &Model::select(None).expect("model"), &o, at("2026-11-20T10:05:00Z")).await;
        assert!(err.is_err_and(|e| e.is_transient()));
    }
}
