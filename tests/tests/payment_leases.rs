//! payment-processor against a gateway that is slow to tell: a charge whose answer was lost (a
//! timeout after sending) shows in `lookup` only a while later. The lease a timed-out attempt
//! keeps is what stops a redelivery, or an attempt running at the same time, from finding
//! nothing and charging again: one charge, one outcome. A failure known to come before sending
//! lets the next attempt in at once; spent attempts end with one last lookup; and an invocation
//! that could outlive its lease is refused before it touches a payment.
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::cloudevent::{CloudEvent, decode};
use domain::events::{DeadLetter, PaymentRequested, topics};
use domain::ports::{
    Charge, ChargeError, ChargeOutcome, Documents, OutboundMessage, PaymentGateway, PortError, Publisher,
};
use domain::values::{Currency, Money, OrderId};
use inmemory::{Bus, InMemoryDocuments, TestGateway};
use local::estate::SteppingClock;
use local::lambda_host::msk_event;
use payment_processor::{Done, InvocationError, PaymentProcessor, Rules};
use platform_aws::invocation::Invocation;
use platform_aws::msk::KafkaBatchResponse;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const LEASE: Duration = Duration::seconds(120);
/// How long the gateway takes to show a charge whose answer it lost: less than the lease.
const SHOWS_AFTER: Duration = Duration::seconds(90);

/// The test gateway, except that the first charge of each payment id times out after it is
/// made (`ChargeError::Unknown`) and `lookup` finds that charge only `SHOWS_AFTER` later.
struct SlowToTell {
    gateway: TestGateway,
    clock: SteppingClock,
    shows_from: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

#[async_trait]
impl PaymentGateway for SlowToTell {
    async fn charge(&self, charge: &Charge) -> Result<ChargeOutcome, ChargeError> {
        let outcome = self.gateway.charge(charge).await?;
        let mut shows_from = self.shows_from.lock().expect("lock");
        if shows_from.contains_key(&charge.payment_id) {
            return Ok(outcome);
        }
        shows_from.insert(charge.payment_id.clone(), self.clock.now() + SHOWS_AFTER);
        Err(ChargeError::Unknown(format!("timed out charging {}", charge.payment_id)))
    }

    async fn lookup(&self, payment_id: &str) -> Result<Option<ChargeOutcome>, PortError> {
        let shows_from = self.shows_from.lock().expect("lock").get(payment_id).copied();
        match shows_from {
            Some(at) if self.clock.now() < at => Ok(None),
            _ => self.gateway.lookup(payment_id).await,
        }
    }
}

struct World {
    processor: Arc<PaymentProcessor>,
    clock: SteppingClock,
    bus: Bus,
    gateway: TestGateway,
    payments: InMemoryDocuments,
    orders: InMemoryDocuments,
}

fn world(slow: bool, max_attempts: u32) -> World {
    let (clock, bus, gateway, payments, orders) = (
        SteppingClock::default(),
        Bus::new(3),
        TestGateway::default(),
        InMemoryDocuments::default(),
        InMemoryDocuments::default(),
    );
    let port: Arc<dyn PaymentGateway> = if slow {
        Arc::new(SlowToTell { gateway: gateway.clone(), clock: clock.clone(), shows_from: Mutex::default() })
    } else {
        Arc::new(gateway.clone())
    };
    let processor = Arc::new(PaymentProcessor {
        clock: clock.as_fn(),
        payments: Arc::new(payments.clone()),
        orders: Arc::new(orders.clone()),
        gateway: port,
        bus: Arc::new(bus.clone()),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(payment_processor::NAME, topics::CHECKOUT_DLQ),
        rules: Rules { max_attempts, lease: LEASE },
    });
    World { processor, clock, bus, gateway, payments, orders }
}

impl World {
    async fn request(&self, order: &str) {
        let data = PaymentRequested {
            order_id: OrderId::parse(order).expect("id"),
            payment_id: format!("pay-{order}"),
            amount: Money::new(4_200, Currency::parse("EUR").expect("EUR")),
            payment_token: Some("tok_visa".into()),
        };
        // The order that asked for it, as order-updater wrote it.
        orders::store::write_record(&self.orders, &orders::testing::awaiting_payment(&data), None)
            .await
            .expect("order");
        let at: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().expect("time");
        let r = CloudEvent::new(format!("payment-requested-{order}"), "/aws/order-updater", at, data);
        let msg = OutboundMessage::new(topics::PAYMENT_REQUESTED, r.key(), r.to_json());
        self.bus.publish(msg).await.expect("published");
    }

    /// One invocation of every request there is, with a timeout well within the lease.
    async fn deliver(&self) -> (KafkaBatchResponse, Vec<Done>) {
        let invocation = Invocation::lasting(self.clock.now(), Duration::seconds(60));
        let event = msk_event(&self.bus.records(topics::PAYMENT_REQUESTED));
        let (response, out) = self.processor.handle(event, &invocation).await.expect("a Kafka batch");
        (response, out.done)
    }

    /// `n` invocations at the same time, as overlapping pollers would send: how many failed.
    async fn deliver_at_once(self: &Arc<Self>, n: usize) -> usize {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let world = self.clone();
                tokio::spawn(async move { world.deliver().await.0 })
            })
            .collect();
        let mut failed = 0;
        for h in handles {
            failed += usize::from(!h.await.expect("ran").batch_item_failures.is_empty());
        }
        failed
    }

    /// Every outcome event published, as (id, bytes).
    fn outcomes(&self) -> Vec<(String, Vec<u8>)> {
        let records =
            self.bus.records(topics::PAYMENT_SUCCEEDED).into_iter().chain(self.bus.records(topics::PAYMENT_FAILED));
        records.map(|r| (r.headers[0].1.clone(), r.payload)).collect()
    }

    fn dead_letter_codes(&self) -> Vec<String> {
        let records = self.bus.records(topics::CHECKOUT_DLQ);
        records.iter().map(|r| decode::<DeadLetter>(&r.payload).expect("dead letter").data.reason_code).collect()
    }

    async fn stored(&self, payment_id: &str) -> serde_json::Value {
        self.payments.read(payment_id, "payment").await.expect("read").expect("record").body.to_value()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_timed_out_charge_that_shows_late_is_charged_once_across_redeliveries_and_concurrent_attempts() {
    let world = Arc::new(world(true, 5));
    world.request("L-1").await;
    let (first, _) = world.deliver().await;
    assert_eq!(first.batch_item_failures.len(), 1, "the charge timed out");
    assert_eq!(world.gateway.charges_for("pay-L-1"), 1);

    // Redelivered at once, alone and three at a time: the gateway does not show the charge yet,
    // and the payment is held until its lease runs out, so nobody charges it again.
    let (again, _) = world.deliver().await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(world.deliver_at_once(3).await, 3);
    world.clock.wait(Duration::seconds(60));
    assert_eq!(world.deliver_at_once(3).await, 3, "still within the lease");
    assert_eq!(world.gateway.charges_for("pay-L-1"), 1);
    assert!(world.outcomes().is_empty());

    // The lease runs out after the gateway shows the charge: the attempt that takes the payment
    // over finds it; the others wait or publish what it kept.
    world.clock.wait(Duration::seconds(60));
    world.deliver_at_once(3).await;
    for _ in 0..5 {
        if world.deliver().await.0.batch_item_failures.is_empty() {
            break;
        }
    }
    assert_eq!(world.gateway.charges_for("pay-L-1"), 1, "one charge");
    let outcomes = world.outcomes();
    assert!(!outcomes.is_empty() && outcomes.iter().all(|o| o == &outcomes[0]), "one outcome, the same bytes");
    assert_eq!(outcomes[0].0, "payment-succeeded-pay-L-1");
    let stored = world.stored("pay-L-1").await;
    assert_eq!((stored["state"].as_str(), stored["attempts"].as_u64()), (Some("finished"), Some(2)));
    assert!(world.dead_letter_codes().is_empty());
}

#[tokio::test]
async fn a_charge_that_never_left_lets_the_next_attempt_in_at_once() {
    let world = world(false, 5);
    world.request("L-2").await;
    world.gateway.outage.fail_next(1);
    let (first, _) = world.deliver().await;
    assert_eq!(first.batch_item_failures.len(), 1, "the gateway was not reached");
    assert_eq!(world.gateway.charges_for("pay-L-2"), 0);
    let (second, done) = world.deliver().await;
    assert!(second.batch_item_failures.is_empty(), "no lease to wait out: {second:?}");
    assert!(matches!(done[..], [Done::Published { charged: true, .. }]), "{done:?}");
    assert_eq!(world.gateway.charges_for("pay-L-2"), 1);
}

#[tokio::test]
async fn spent_attempts_end_with_one_last_lookup_that_finds_a_late_charge() {
    let world = world(true, 1);
    world.request("L-3").await;
    assert_eq!(world.deliver().await.0.batch_item_failures.len(), 1, "the only attempt timed out");
    world.clock.wait(LEASE);
    let (response, done) = world.deliver().await;
    assert!(response.batch_item_failures.is_empty());
    assert!(matches!(done[..], [Done::Published { charged: false, .. }]), "found, not charged: {done:?}");
    assert!(world.dead_letter_codes().is_empty(), "not retries_exhausted: the last lookup found the charge");
    assert_eq!(world.gateway.charges_for("pay-L-3"), 1);
    assert_eq!(world.stored("pay-L-3").await["state"], "finished");
}

#[tokio::test]
async fn spent_attempts_whose_last_lookup_finds_nothing_are_dead_lettered() {
    let world = world(false, 1);
    world.request("L-4").await;
    // Not sent, released; the attempt is spent all the same, and the gateway never charged.
    world.gateway.outage.fail_next(1);
    assert_eq!(world.deliver().await.0.batch_item_failures.len(), 1);
    let (response, done) = world.deliver().await;
    assert!(response.batch_item_failures.is_empty() && done.is_empty());
    assert_eq!(world.dead_letter_codes(), ["retries_exhausted"]);
    let stored = world.stored("pay-L-4").await;
    assert_eq!(stored["state"], "gave_up");
    assert!(stored["reason"].as_str().is_some_and(|r| r.ends_with("a last lookup found no charge")), "{stored}");
    assert_eq!(world.gateway.charges_for("pay-L-4"), 0);
}

#[tokio::test]
async fn an_invocation_that_could_outlive_its_lease_fails_whole_and_touches_nothing() {
    let world = world(false, 5);
    world.request("L-5").await;
    let event = || msk_event(&world.bus.records(topics::PAYMENT_REQUESTED));
    let too_long = Invocation::lasting(world.clock.now(), LEASE + Duration::seconds(30));
    let refused = world.processor.handle(event(), &too_long).await.expect_err("refused");
    assert!(matches!(refused, InvocationError::OutlivesLease { lease_seconds: 120, .. }), "{refused:?}");
    assert!(refused.to_string().contains("more than the 120 s lease on a payment"), "{refused}");
    assert_eq!((world.gateway.charges_for("pay-L-5"), world.payments.all().len(), world.outcomes().len()), (0, 0, 0));
    // One that ends within the lease goes ahead.
    let within = Invocation::lasting(world.clock.now(), LEASE);
    let (response, _) = world.processor.handle(event(), &within).await.expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(world.gateway.charges_for("pay-L-5"), 1);
}
