//! A batch is scored as its orders would be one at a time, with one read and one write per
//! history instead of per order, whatever failed before.
use super::*;
use crate::testing::order;
use async_trait::async_trait;
use domain::ports::{Etag, JsonText, StoredDocument};
use inmemory::InMemoryDocuments;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Counts each operation by kind and document family (`read customer`, `create verdict`, …);
/// storing verdicts fails while `verdicts_fail` is set, and for the orders in `failing`.
#[derive(Default)]
struct Counting {
    inner: InMemoryDocuments,
    ops: Mutex<HashMap<String, usize>>,
    verdicts_fail: AtomicBool,
    failing: Mutex<Vec<String>>,
}

impl Counting {
    fn count(&self, op: &str, id: &str) {
        let family = id.split(':').next().unwrap_or(id);
        *self.ops.lock().expect("lock").entry(format!("{op} {family}")).or_default() += 1;
    }
    fn take(&self) -> Vec<(String, usize)> {
        let mut ops: Vec<(String, usize)> = self.ops.lock().expect("lock").drain().collect();
        ops.sort();
        ops
    }
}

#[async_trait]
impl Documents for Counting {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        self.count("read", id);
        self.inner.read(pk, id).await
    }
    async fn create(&self, pk: &str, id: &str, body: JsonText) -> Result<Etag, PortError> {
        self.count("create", pk);
        let failing = self.failing.lock().expect("lock").iter().any(|o| pk == format!("verdict:{o}"));
        if pk.starts_with("verdict:") && (failing || self.verdicts_fail.load(Ordering::SeqCst)) {
            return Err(PortError::Unavailable("verdict store down".into()));
        }
        self.inner.create(pk, id, body).await
    }
    async fn replace(&self, pk: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError> {
        self.count("replace", id);
        self.inner.replace(pk, id, body, if_match).await
    }
}

/// 12 orders a minute apart of 3 customers on 2 cards, the last of them 4 times the others' total.
fn orders() -> Vec<(OrderConfirmed, DateTime<Utc>)> {
    let start: DateTime<Utc> = "2026-11-20T10:00:00Z".parse().expect("time");
    (0..12)
        .map(|i| {
            let at = start + chrono::Duration::minutes(i);
            let mut o = order(&format!("B-{i}"), &format!("C-{}", i % 3), &at.to_rfc3339());
            o.payment.as_mut().expect("payment").card_fingerprint = format!("fp-{}", i % 2);
            if i == 11 {
                o.total.amount_minor *= 4;
            }
            (o, at)
        })
        .collect()
}

fn batch(orders: &[(OrderConfirmed, DateTime<Utc>)]) -> Vec<Order<'_>> {
    orders.iter().map(|(o, t)| (o, *t)).collect()
}

async fn one_at_a_time(orders: &[(OrderConfirmed, DateTime<Utc>)]) -> Vec<CloudEvent<FraudScored>> {
    let (docs, model) = (InMemoryDocuments::default(), Model::select(None).expect("model"));
    let mut out = Vec::new();
    for (o, t) in orders {
        out.push(score_order(&docs, &model, o, *t).await.expect("scored").verdict.event);
    }
    out
}

#[tokio::test]
async fn a_batch_scores_as_one_order_at_a_time_with_one_read_and_write_per_history() {
    let orders = orders();
    let docs = Counting::default();
    let scored = score_batch(&docs, &Model::select(None).expect("model"), &batch(&orders)).await.expect("scored");
    let events: Vec<_> = scored.iter().map(|s| s.verdict.event.clone()).collect();
    assert_eq!(events, one_at_a_time(&orders).await);
    assert!(scored.iter().all(|s| !s.redelivery));
    let reasons = &events[11].data.reasons;
    assert!(reasons.iter().any(|r| r.starts_with("customer_velocity: 3 other orders")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("card_velocity: 5 other orders")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("amount_vs_history: 4.0x")), "{reasons:?}");
    let per_batch = [("create card", 2), ("create customer", 3), ("create verdict", 12), ("read card", 2)];
    let expected: Vec<(String, usize)> = per_batch
        .into_iter()
        .chain([("read customer", 3), ("read verdict", 12)])
        .map(|(op, n)| (op.to_string(), n))
        .collect();
    assert_eq!(docs.take(), expected, "5 histories: each read once and written once");
}

#[tokio::test]
async fn a_batch_retried_after_its_histories_were_written_gives_the_same_verdicts() {
    let orders = orders();
    let model = Model::select(None).expect("model");
    let docs = Counting::default();
    docs.verdicts_fail.store(true, Ordering::SeqCst);
    let failed = score_batch(&docs, &model, &batch(&orders)).await.expect_err("verdicts not stored");
    assert_eq!((failed.order_id.as_str(), failed.error.is_transient()), ("B-0", true));
    docs.verdicts_fail.store(false, Ordering::SeqCst);
    // The redelivery comes in a different cut: the second half first, then all of it.
    let second_half = score_batch(&docs, &model, &batch(&orders[6..])).await.expect("scored");
    let all = score_batch(&docs, &model, &batch(&orders)).await.expect("scored");
    let reference = one_at_a_time(&orders).await;
    assert_eq!(
        second_half.iter().map(|s| &s.verdict.event).collect::<Vec<_>>(),
        reference[6..].iter().collect::<Vec<_>>()
    );
    assert_eq!(all.iter().map(|s| s.verdict.event.clone()).collect::<Vec<_>>(), reference);
    assert_eq!(all.iter().filter(|s| s.redelivery).count(), 6, "the second half re-emitted");
}

#[tokio::test]
async fn an_order_twice_in_one_batch_is_scored_once_and_re_emitted() {
    let orders = orders();
    let twice = [orders[0].clone(), orders[1].clone(), orders[0].clone()];
    let docs = Counting::default();
    let scored = score_batch(&docs, &Model::select(None).expect("model"), &batch(&twice)).await.expect("scored");
    assert_eq!(scored[2].verdict.event, scored[0].verdict.event);
    assert_eq!(scored.iter().map(|s| s.redelivery).collect::<Vec<_>>(), [false, false, true]);
    let verdicts = docs.take().into_iter().filter(|(op, _)| op.ends_with("verdict")).collect::<Vec<_>>();
    assert_eq!(verdicts, [("create verdict".to_string(), 2), ("read verdict".to_string(), 2)]);
}

/// Holds every operation across one yield, as a round trip would, and keeps the most that were
/// in flight at once.
#[derive(Default)]
struct RoundTrips {
    inner: InMemoryDocuments,
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl RoundTrips {
    async fn trip(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
        tokio::task::yield_now().await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Documents for RoundTrips {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        self.trip().await;
        self.inner.read(pk, id).await
    }
    async fn create(&self, pk: &str, id: &str, body: JsonText) -> Result<Etag, PortError> {
        self.trip().await;
        self.inner.create(pk, id, body).await
    }
    async fn replace(&self, pk: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError> {
        self.trip().await;
        self.inner.replace(pk, id, body, if_match).await
    }
}

#[tokio::test]
async fn a_batch_keeps_several_round_trips_in_flight_and_scores_the_same() {
    let orders: Vec<_> = (0..4)
        .flat_map(|_| orders())
        .enumerate()
        .map(|(i, (mut o, t))| {
            o.order_id = OrderId::parse(&format!("R-{i:02}")).expect("id");
            (o, t + chrono::Duration::hours(i as i64 / 12))
        })
        .collect();
    let docs = RoundTrips::default();
    let scored = score_batch(&docs, &Model::select(None).expect("model"), &batch(&orders)).await.expect("scored");
    let events: Vec<_> = scored.into_iter().map(|s| s.verdict.event).collect();
    assert_eq!(events, one_at_a_time(&orders).await);
    let most = docs.most.load(Ordering::SeqCst);
    assert!((2..=crate::state::IN_FLIGHT).contains(&most), "{most} in flight at most");
}

/// The same 12 orders confirmed in the reverse of their batch order (a batch mixes partitions):
/// every later order of the batch was confirmed before the earlier ones, so an order that saw
/// one after it would count it.
fn reversed() -> Vec<(OrderConfirmed, DateTime<Utc>)> {
    let mut orders = orders();
    let times: Vec<_> = orders.iter().rev().map(|(o, t)| (o.confirmed_at, *t)).collect();
    for ((o, t), (confirmed, at)) in orders.iter_mut().zip(times) {
        (o.confirmed_at, *t) = (confirmed, at);
    }
    orders
}

#[tokio::test]
async fn a_retry_after_some_verdicts_were_stored_gives_the_same_verdicts() {
    let orders = reversed();
    let model = Model::select(None).expect("model");
    let reference = one_at_a_time(&orders).await;
    let velocity = |e: &CloudEvent<FraudScored>| e.data.reasons.iter().any(|r| r.contains("_velocity"));
    assert!(!reference.iter().any(velocity), "one at a time, each order sees only later-confirmed ones");
    let docs = Counting::default();
    *docs.failing.lock().expect("lock") = vec!["B-0".into(), "B-5".into()];
    let failed = score_batch(&docs, &model, &batch(&orders)).await.expect_err("two verdicts not stored");
    assert_eq!(failed.order_id.as_str(), "B-0", "the first order left without a verdict");
    docs.failing.lock().expect("lock").clear();
    let retried = score_batch(&docs, &model, &batch(&orders)).await.expect("scored");
    assert_eq!(retried.iter().map(|s| s.verdict.event.clone()).collect::<Vec<_>>(), reference);
    let redelivered: Vec<bool> = retried.iter().map(|s| s.redelivery).collect();
    assert_eq!(redelivered.iter().filter(|r| !**r).count(), 2, "only B-0 and B-5 scored again: {redelivered:?}");
}

#[tokio::test]
async fn one_order_at_a_time_after_the_batch_sees_only_the_orders_before_it_and_loses_none() {
    let orders = reversed();
    let model = Model::select(None).expect("model");
    let reference = one_at_a_time(&orders).await;
    let docs = Counting::default();
    // An attempt recorded every history and stored B-7's verdict only, then the store failed.
    *docs.failing.lock().expect("lock") =
        orders.iter().map(|(o, _)| o.order_id.to_string()).filter(|o| o != "B-7").collect();
    score_batch(&docs, &model, &batch(&orders)).await.expect_err("verdicts not stored");
    docs.failing.lock().expect("lock").clear();
    // The handler's last retry: one order at a time, each before the rest of its batch.
    let all = batch(&orders);
    let mut one_by_one = Vec::new();
    for i in 0..all.len() {
        let scored = score_before(&docs, &model, &all[i..=i], &all[i + 1..]).await.expect("scored");
        one_by_one.push(scored[0].verdict.event.clone());
    }
    assert_eq!(one_by_one, reference);
    for customer in ["C-0", "C-1", "C-2"] {
        let key = HistoryKey::customer(&domain::values::CustomerId::parse(customer).expect("id"));
        let kept = crate::state::read_history(&docs, &key).await.expect("read").orders.len();
        assert_eq!(kept, 4, "{customer}: every order of the customer still recorded");
    }
}
