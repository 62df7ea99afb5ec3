//! Scores one order: its verdict if it has one already (a redelivery), else the rules over its
//! customer's and card's histories, weighed by the model, recorded, and kept as its verdict.
use crate::model::Model;
use crate::signals::{History, PastOrder, signals};
use crate::state::{HistoryKey, keep_first_verdict, read_history, read_verdict, record};
use chrono::{DateTime, Utc};
use domain::cloudevent::CloudEvent;
use domain::events::{FraudScored, OrderConfirmed};
use domain::ports::{Documents, PortError};

pub const SOURCE: &str = "/azure/fraud-scorer";
/// Lost etag races on an order's histories beyond this many are reported as transient.
pub const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The order's verdict as stored: what is published, the same bytes on every redelivery.
    pub event: CloudEvent<FraudScored>,
    /// True when the verdict was already stored (by an earlier delivery, or a concurrent one).
    pub redelivery: bool,
}

/// `time` is the event's time: the order record's own (its Kafka timestamp), so two instances
/// scoring the same record race to store the same event.
pub async fn score_order(
    docs: &dyn Documents,
    model: &Model,
    order: &OrderConfirmed,
    time: DateTime<Utc>,
) -> Result<Scored, PortError> {
    if let Some(event) = read_verdict(docs, &order.order_id).await? {
        return Ok(Scored { event, redelivery: true });
    }
    let me = PastOrder::of(order);
    let keep = model.rules.history_orders;
    let customer_key = HistoryKey::customer(&order.customer_id);
    let card_key = order.payment.as_ref().map(|p| HistoryKey::card(&p.card_fingerprint));
    for _ in 0..MAX_ATTEMPTS {
        let customer = read_history(docs, &customer_key).await?;
        let card = match &card_key {
            Some(key) => Some(read_history(docs, key).await?),
            None => None,
        };
        let history = History { customer: &customer.orders, card: card.as_ref().map(|c| c.orders.as_slice()) };
        let verdict = model.score(&signals(order, &history, &model.rules));
        // Someone recorded another order of this customer or card since we read: score again
        // with it. This order, once recorded, stays recorded and is never counted against itself.
        if !record(docs, &customer_key, &customer, &me, keep).await? {
            continue;
        }
        if let (Some(key), Some(card)) = (&card_key, &card)
            && !record(docs, key, card, &me, keep).await?
        {
            continue;
        }
        let data = FraudScored {
            order_id: order.order_id.clone(),
            score: verdict.score,
            decision: verdict.decision,
            reasons: verdict.reasons,
            model_version: model.version.clone(),
        };
        let event = CloudEvent::new(format!("fraud-scored-{}", order.order_id), SOURCE, time, data);
        let stored = keep_first_verdict(docs, event.clone()).await?;
        let redelivery = stored != event;
        return Ok(Scored { event: stored, redelivery });
    }
    Err(PortError::Unavailable(format!("order {}: {MAX_ATTEMPTS} history conflicts in a row", order.order_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::order;
    use domain::events::FraudDecision;
    use inmemory::InMemoryDocuments;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
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
        assert_eq!(again.event.to_json(), scored.event.to_json());
        assert_eq!(scored.event.data.reasons.iter().filter(|r| r.starts_with("customer_velocity")).count(), 0);
    }

    #[tokio::test]
    async fn an_order_recorded_by_a_failed_attempt_is_not_counted_against_itself() {
        let docs = InMemoryDocuments::default();
        let model = Model::select(None).expect("model");
        let o = order("A-1", "C-1", "2026-11-20T10:00:00Z");
        // The first attempt recorded both histories, then storing the verdict failed.
        for key in [HistoryKey::customer(&o.customer_id), HistoryKey::card("fp-1")] {
            let stored = read_history(&docs, &key).await.expect("read");
            assert!(record(&docs, &key, &stored, &PastOrder::of(&o), 50).await.expect("record"));
        }
        let retried = score_order(&docs, &model, &o, at("2026-11-20T10:00:01Z")).await.expect("scored");
        let fresh = score_order(&InMemoryDocuments::default(), &model, &o, at("2026-11-20T10:00:01Z")).await;
        assert_eq!(retried.event, fresh.expect("scored").event);
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
        let last = last.expect("scored").event.data;
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
        async fn create(&self, pk: &str, body: serde_json::Value) -> Result<domain::ports::Etag, PortError> {
            if pk.starts_with("customer:") && !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let other = PastOrder::of(&order("A-0", "C-1", "2026-11-20T09:59:00Z"));
                let key = HistoryKey::customer(&other_customer());
                assert!(record(&self.inner, &key, &Default::default(), &other, 50).await.expect("their write"));
            }
            self.inner.create(pk, body).await
        }
        async fn replace(
            &self,
            pk: &str,
            id: &str,
            body: serde_json::Value,
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
        let reasons = &scored.event.data.reasons;
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
