use super::*;
use domain::events::{FraudDecision, topics};
use inmemory::{Bus, InMemoryCarts, InMemoryDocuments};
use orders::machine::{Input, OrderState, Outcome, apply};
use orders::testing::{confirmed, scored};

const T0: &str = "2026-11-21T12:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

struct World {
    docs: InMemoryDocuments,
    bus: Bus,
    sweeper: Sweeper,
}

fn world(rules: Rules) -> World {
    let (docs, bus) = (InMemoryDocuments::default(), Bus::new(3));
    let store = OrderStore {
        orders: Arc::new(docs.clone()),
        carts: Arc::new(InMemoryCarts::default()),
        bus: Arc::new(bus.clone()),
    };
    World { sweeper: Sweeper { store, index: Arc::new(docs.clone()), rules }, docs, bus }
}

impl World {
    /// The order as order-updater leaves it after these events, changed at `T0`: with its
    /// effects run (`ran`) or left pending, as when the mapping gave up on the record.
    async fn order(&self, order: &str, decision: Option<FraudDecision>, ran: bool) -> OrderRecord {
        let mut record = None;
        let mut events = vec![("c", Input::Confirmed(confirmed(order)))];
        events.extend(decision.map(|d| ("f", Input::Scored(scored(order, d)))));
        for (id, input) in events {
            let Outcome::Changed { record: r, .. } = apply(record.take(), &format!("{id}-{order}"), at(T0), &input)
            else {
                panic!("changed")
            };
            record = Some(*r);
        }
        let mut record = record.expect("record");
        record.changed(at(T0));
        if ran {
            self.sweeper.store.run(&record.pending).await.expect("effects");
            record.pending.clear();
        }
        self.sweeper.store.write(&record, None).await.expect("write").expect("created");
        record
    }

    async fn stored(&self, order: &str) -> OrderRecord {
        self.sweeper.store.read(order).await.expect("read").0.expect("stored")
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.bus.records(topics::PAYMENT_REQUESTED).into_iter().map(|r| r.payload).collect()
    }
}

fn scheduled(time: &str) -> CloudWatchEvent {
    serde_json::from_value(serde_json::json!({
        "version": "0", "id": format!("sched-{time}"), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time, "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/order-sweeper"], "detail": {}
    }))
    .expect("a scheduled event")
}

#[tokio::test]
async fn effects_a_mapping_gave_up_on_run_and_an_order_not_yet_due_is_left_alone() {
    let w = world(Rules::default());
    w.order("A-1", Some(FraudDecision::Approve), false).await;
    assert!(w.requests().is_empty(), "the payment request was never published");

    let early = w.sweeper.handle(scheduled("2026-11-21T12:10:00Z"), &Invocation::one_minute()).await.expect("swept");
    assert_eq!((early.due, early.effects_rerun), (0, 0), "not waited 15 minutes yet");

    let report = w.sweeper.handle(scheduled("2026-11-21T12:20:00Z"), &Invocation::one_minute()).await.expect("swept");
    assert_eq!((report.due, report.effects_rerun, report.failed), (1, 1, 0), "{report:?}");
    assert_eq!(w.requests().len(), 1, "the request, published at last");
    let record = w.stored("A-1").await;
    assert!(record.pending.is_empty());
    assert_eq!((record.state, record.swept.map(|s| s.times)), (OrderState::PaymentRequested, Some(1)));
}

#[tokio::test]
async fn a_request_without_an_outcome_is_republished_byte_for_byte_then_reported() {
    let w = world(Rules { max_republish: 2, ..Rules::default() });
    let record = w.order("A-1", Some(FraudDecision::Approve), true).await;
    let first = w.requests();
    assert_eq!(first.len(), 1);
    assert_eq!(record.payment_request.as_ref().map(|r| r.payload.as_bytes()), Some(first[0].as_slice()));

    for (n, time) in ["2026-11-21T12:15:00Z", "2026-11-21T12:30:00Z"].into_iter().enumerate() {
        let report = w.sweeper.handle(scheduled(time), &Invocation::one_minute()).await.expect("swept");
        assert_eq!(report.requests_republished, 1, "{report:?}");
        assert_eq!(w.requests().len(), n + 2);
    }
    assert!(w.requests().iter().all(|r| r == &first[0]), "the same bytes each time");
    let records = w.bus.records(topics::PAYMENT_REQUESTED);
    assert_eq!(records[1].key, "A-1");
    assert!(records[1].headers.contains(&("ce_id".into(), "payment-requested-A-1".into())));
    for outcome in [topics::PAYMENT_SUCCEEDED, topics::PAYMENT_FAILED] {
        assert!(w.bus.records(outcome).is_empty(), "the sweeper never publishes an outcome");
    }

    // A look 15 minutes after the last one: republished twice, so reported.
    let report = w.sweeper.handle(scheduled("2026-11-21T12:45:00Z"), &Invocation::one_minute()).await.expect("swept");
    assert_eq!(report.reported, [Reported { order_id: "A-1".into(), reason_code: "payment_outcome_unknown" }]);
    assert_eq!(w.requests().len(), 3, "not published again");
}

#[tokio::test]
async fn what_it_cannot_settle_is_reported_once_per_run_and_a_redelivered_event_does_nothing() {
    let w = world(Rules::default());
    w.order("A-1", Some(FraudDecision::Review), true).await;
    w.order("A-2", None, true).await;
    w.order("A-3", Some(FraudDecision::Reject), true).await; // terminal: not in the index
    let event = || scheduled("2026-11-21T13:00:00Z");
    let report = w.sweeper.handle(event(), &Invocation::one_minute()).await.expect("swept");
    let codes: Vec<(&str, &str)> = report.reported.iter().map(|r| (r.order_id.as_str(), r.reason_code)).collect();
    assert_eq!(codes, [("A-1", "awaiting_review"), ("A-2", "no_fraud_decision")]);
    assert_eq!(report.due, 2);
    let again = w.sweeper.handle(event(), &Invocation::one_minute()).await.expect("swept");
    assert_eq!(again, SweepReport::default(), "the looks are noted: nothing is due again");
    let later = w.sweeper.handle(scheduled("2026-11-21T13:15:00Z"), &Invocation::one_minute()).await.expect("swept");
    assert_eq!(later.reported.len(), 2, "still unsettled a sweep later: reported again");
}

#[tokio::test]
async fn a_run_takes_at_most_its_bound_oldest_first() {
    let w = world(Rules { max_orders: 2, ..Rules::default() });
    for i in 0..5 {
        w.order(&format!("A-{i}"), Some(FraudDecision::Review), true).await;
    }
    let report = w.sweeper.handle(scheduled("2026-11-21T13:00:00Z"), &Invocation::one_minute()).await.expect("swept");
    assert_eq!((report.due, report.left_for_next_run, report.reported.len()), (2, 3, 2));
    let next = w.sweeper.handle(scheduled("2026-11-21T13:01:00Z"), &Invocation::one_minute()).await.expect("swept");
    let swept: Vec<&str> = report.reported.iter().chain(&next.reported).map(|r| r.order_id.as_str()).collect();
    assert_eq!(swept.len(), 4);
    assert_eq!(swept.iter().collect::<std::collections::BTreeSet<_>>().len(), 4, "the next run takes others");
}

#[tokio::test]
async fn an_event_that_is_not_a_schedule_is_refused() {
    let w = world(Rules::default());
    let mut event = scheduled("2026-11-21T13:00:00Z");
    event.detail_type = Some("EC2 Instance State-change Notification".into());
    let err = w.sweeper.handle(event, &Invocation::one_minute()).await.expect_err("refused");
    assert!(err.to_string().contains("is not a scheduled event"), "{err}");
    assert!(w.docs.all().is_empty());
}

#[tokio::test]
async fn no_order_is_started_with_too_little_of_the_invocation_left() {
    let w = world(Rules::default());
    w.order("A-1", Some(FraudDecision::Approve), false).await;
    w.order("A-2", Some(FraudDecision::Approve), false).await;
    let ending = Invocation::starting_now(ORDER_BUDGET - Duration::seconds(1));
    let report = w.sweeper.handle(scheduled("2026-11-21T12:20:00Z"), &ending).await.expect("swept");
    assert_eq!((report.due, report.left_for_next_run, report.effects_rerun), (0, 2, 0), "{report:?}");
    assert!(w.requests().is_empty(), "nothing run");
    assert_eq!(w.stored("A-1").await.swept, None, "not even noted");

    let report = w.sweeper.handle(scheduled("2026-11-21T12:25:00Z"), &Invocation::one_minute()).await.expect("swept");
    assert_eq!((report.due, report.left_for_next_run, report.effects_rerun), (2, 0, 2), "the next run takes them");
}
