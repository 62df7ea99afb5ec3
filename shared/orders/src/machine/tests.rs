use super::*;
use crate::testing::{confirmed, failed, scored, succeeded};
use domain::events::topics;

fn at(min: u32) -> DateTime<Utc> {
    format!("2026-11-20T10:{min:02}:00Z").parse().expect("time")
}

/// Applies events in order, each as the record stands, and returns the record and every outcome.
fn run(events: &[(&str, Input)]) -> (Option<OrderRecord>, Vec<Outcome>) {
    let mut record = None;
    let mut outcomes = Vec::new();
    for (i, (id, input)) in events.iter().enumerate() {
        let outcome = apply(record.clone(), id, at(i as u32), input);
        if let Outcome::Changed { record: r, .. } = &outcome {
            // As the function does once the effects have run.
            record = Some(OrderRecord { pending: Vec::new(), ..r.as_ref().clone() });
        }
        outcomes.push(outcome);
    }
    (record, outcomes)
}

/// The events a change left pending, as (topic, JSON).
fn published(outcome: &Outcome) -> Vec<(String, serde_json::Value)> {
    let Outcome::Changed { record, .. } = outcome else { return Vec::new() };
    record
        .pending
        .iter()
        .filter_map(|e| match e {
            Effect::Publish { topic, payload, .. } => {
                Some((topic.clone(), serde_json::from_str(payload).expect("json")))
            }
            Effect::EmptyCart { .. } => None,
        })
        .collect()
}

#[test]
fn an_approved_order_requests_payment_once_paid_announces_it_and_empties_the_cart() {
    let (record, outcomes) = run(&[
        ("c1", Input::Confirmed(confirmed("A-1"))),
        ("f1", Input::Scored(scored("A-1", FraudDecision::Approve))),
        ("p1", Input::Succeeded(succeeded("A-1"))),
    ]);
    let record = record.expect("record");
    assert_eq!(record.state, OrderState::Paid);
    let request = published(&outcomes[1]);
    assert_eq!(request.len(), 1);
    assert_eq!(request[0].0, topics::PAYMENT_REQUESTED);
    assert_eq!(request[0].1["id"], "payment-requested-A-1");
    assert_eq!(request[0].1["data"]["payment_id"], "pay-A-1");
    assert_eq!(request[0].1["data"]["payment_token"], "tok_visa");
    assert_eq!(request[0].1["data"]["amount"]["amount_minor"], 5_000);
    let paid = published(&outcomes[2]);
    assert_eq!((paid[0].0.as_str(), &paid[0].1["data"]["payment_id"]), (topics::ORDER_PAID, &"pay-A-1".into()));
    let Outcome::Changed { record, .. } = &outcomes[2] else { panic!("changed") };
    let skus: Vec<String> = record
        .pending
        .iter()
        .filter_map(|e| match e {
            Effect::EmptyCart { customer_id, skus } if customer_id.as_str() == "C-1" => {
                Some(skus.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(skus, ["TSH-001", "MUG-002"]);
}

#[test]
fn a_decision_before_the_order_waits_and_applies_when_the_order_arrives() {
    let (record, outcomes) = run(&[
        ("f1", Input::Scored(scored("A-1", FraudDecision::Approve))),
        ("c1", Input::Confirmed(confirmed("A-1"))),
    ]);
    assert!(
        matches!(&outcomes[0], Outcome::Changed { record, .. } if record.state == OrderState::Pending && record.pending.is_empty())
    );
    assert_eq!(record.as_ref().map(|r| (r.state, r.waiting.len())), Some((OrderState::PaymentRequested, 0)));
    assert_eq!(published(&outcomes[1]).len(), 1, "the payment request is the confirmation's effect");
}

/// Two decisions that both arrive before their order wait in the order they were made (their
/// event times), not the order they came in: an approval at 10:01 and a reject at 10:02 give a
/// payment request (the first decision wins) whichever was delivered first, and the same record.
#[test]
fn decisions_waiting_for_their_order_apply_in_the_order_they_were_made() {
    let approve = (at(1), Input::Scored(scored("A-1", FraudDecision::Approve)));
    let reject = (at(2), Input::Scored(scored("A-1", FraudDecision::Reject)));
    let records: Vec<OrderRecord> = [[("f1", &approve), ("f2", &reject)], [("f2", &reject), ("f1", &approve)]]
        .into_iter()
        .map(|arrivals| {
            let mut record = None;
            for (id, (time, input)) in arrivals {
                if let Outcome::Changed { record: r, .. } = apply(record.clone(), id, *time, input) {
                    record = Some(*r);
                }
            }
            let waiting: Vec<&str> = record.iter().flat_map(|r| &r.waiting).map(|w| w.event_id.as_str()).collect();
            assert_eq!(waiting, ["f1", "f2"], "kept in event-time order");
            match apply(record, "c1", at(3), &Input::Confirmed(confirmed("A-1"))) {
                Outcome::Changed { record, .. } => *record,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(records[0].state, OrderState::PaymentRequested, "the approval came first");
    assert_eq!(records[0], records[1]);

    // A record stored while waiting events were kept as they came is put in order when read.
    let mut stored = records[0].clone();
    (stored.state, stored.fraud, stored.payment_id, stored.order) = (OrderState::Pending, None, None, None);
    stored.seen.clear();
    stored.pending.clear();
    stored.waiting = [("f2", &reject), ("f1", &approve)]
        .map(|(id, (time, input))| Waiting { event_id: id.into(), time: *time, input: input.clone() })
        .to_vec();
    match apply(Some(stored), "c1", at(3), &Input::Confirmed(confirmed("A-1"))) {
        Outcome::Changed { record, .. } => assert_eq!(record.state, OrderState::PaymentRequested),
        other => panic!("{other:?}"),
    }
}

/// A success for the order's payment but another amount than the order's total never makes it
/// paid: refused (dead-lettered by the function) when the order is known, and the order keeps
/// waiting for its payment; the right amount then pays it.
#[test]
fn a_success_for_another_amount_than_the_orders_is_refused() {
    let eur = domain::values::Currency::parse("EUR").expect("EUR");
    let short = |order: &str| PaymentSucceeded { amount: domain::values::Money::new(4_999, eur), ..succeeded(order) };
    let (record, outcomes) = run(&[
        ("c1", Input::Confirmed(confirmed("A-1"))),
        ("p0", Input::Succeeded(short("A-1"))),
        ("f1", Input::Scored(scored("A-1", FraudDecision::Approve))),
        ("p1", Input::Succeeded(short("A-1"))),
        ("p2", Input::Succeeded(succeeded("A-1"))),
    ]);
    for refused in [&outcomes[1], &outcomes[3]] {
        assert!(
            matches!(refused, Outcome::Refused { code: "amount_mismatch", reason } if reason.contains("for 49.99 EUR, but order A-1 totals 50.00 EUR")),
            "{refused:?}"
        );
    }
    assert!(matches!(&outcomes[2], Outcome::Changed { record, .. } if record.waiting.is_empty()), "nothing waits");
    assert_eq!(record.map(|r| r.state), Some(OrderState::Paid));

    // Before its order, a success cannot be checked: it waits, and is dropped when it is replayed.
    let (record, _) = run(&[
        ("p0", Input::Succeeded(short("A-2"))),
        ("c1", Input::Confirmed(confirmed("A-2"))),
        ("f1", Input::Scored(scored("A-2", FraudDecision::Approve))),
    ]);
    let record = record.expect("record");
    assert_eq!((record.state, record.waiting.len()), (OrderState::PaymentRequested, 0));
}

#[test]
fn a_payment_result_before_the_decision_waits_for_the_request() {
    let (record, _) = run(&[
        ("p1", Input::Succeeded(succeeded("A-1"))),
        ("c1", Input::Confirmed(confirmed("A-1"))),
        ("f1", Input::Scored(scored("A-1", FraudDecision::Review))),
        ("f2", Input::Scored(scored("A-1", FraudDecision::Approve))),
    ]);
    assert_eq!(record.map(|r| r.state), Some(OrderState::Paid));
}

#[test]
fn review_holds_until_a_manual_decision_and_otherwise_the_first_decision_wins() {
    let (record, outcomes) = run(&[
        ("c1", Input::Confirmed(confirmed("A-1"))),
        ("f1", Input::Scored(scored("A-1", FraudDecision::Review))),
        ("f2", Input::Scored(scored("A-1", FraudDecision::Review))),
        ("f3", Input::Scored(scored("A-1", FraudDecision::Reject))),
        ("f4", Input::Scored(scored("A-1", FraudDecision::Approve))),
    ]);
    assert!(matches!(&outcomes[1], Outcome::Changed { record, .. } if record.state == OrderState::Held));
    assert!(matches!(&outcomes[2], Outcome::Ignored { note } if note == "still under review"));
    assert_eq!(record.map(|r| r.state), Some(OrderState::Rejected), "the manual reject released the hold");
    assert!(matches!(&outcomes[4], Outcome::Ignored { note } if note.contains("on a Rejected order")));

    let (record, outcomes) = run(&[
        ("c1", Input::Confirmed(confirmed("A-1"))),
        ("f1", Input::Scored(scored("A-1", FraudDecision::Approve))),
        ("f2", Input::Scored(scored("A-1", FraudDecision::Reject))),
    ]);
    assert_eq!(record.map(|r| r.state), Some(OrderState::PaymentRequested));
    assert!(matches!(&outcomes[2], Outcome::Ignored { note } if note.contains("the first wins")));
}

#[test]
fn a_redelivery_changes_nothing_and_effects_stay_pending_until_they_have_run() {
    let (record, _) = run(&[("c1", Input::Confirmed(confirmed("A-1")))]);
    let Outcome::Changed { record: approved, .. } =
        apply(record, "f1", at(1), &Input::Scored(scored("A-1", FraudDecision::Approve)))
    else {
        panic!("approved")
    };
    assert_eq!(approved.pending.len(), 1, "the payment request waits in the record until it has run");
    let again =
        apply(Some(approved.as_ref().clone()), "f1", at(30), &Input::Scored(scored("A-1", FraudDecision::Approve)));
    assert_eq!(again, Outcome::Redelivery);
    // Had its run failed, the next change of the order carries it along with its own effects.
    let Outcome::Changed { record: paid, .. } =
        apply(Some(*approved), "p1", at(31), &Input::Succeeded(succeeded("A-1")))
    else {
        panic!("paid")
    };
    let kinds: Vec<&str> = paid
        .pending
        .iter()
        .map(|e| match e {
            Effect::Publish { topic, .. } => topic.as_str(),
            Effect::EmptyCart { .. } => "cart",
        })
        .collect();
    assert_eq!(kinds, [topics::PAYMENT_REQUESTED, topics::ORDER_PAID, "cart"]);
}

#[test]
fn failures_and_foreign_payments() {
    let (record, outcomes) = run(&[
        ("c1", Input::Confirmed(confirmed("A-1"))),
        ("f1", Input::Scored(scored("A-1", FraudDecision::Approve))),
        ("x1", Input::Failed(PaymentFailed { payment_id: "pay-OTHER".into(), ..failed("A-1") })),
        ("p1", Input::Failed(failed("A-1"))),
        ("p2", Input::Succeeded(succeeded("A-1"))),
    ]);
    assert!(matches!(&outcomes[2], Outcome::Ignored { note } if note == "payment pay-OTHER is not this order's"));
    assert_eq!(record.map(|r| r.state), Some(OrderState::PaymentFailed));
    assert!(matches!(&outcomes[4], Outcome::Ignored { .. }), "terminal");
}

/// Every (state, event) pair, and a duplicate of each: the whole transition table.
#[test]
fn every_state_and_event_pair_goes_where_the_table_says() {
    use FraudDecision::*;
    let foreign = PaymentSucceeded { payment_id: "pay-OTHER".into(), ..succeeded("A-1") };
    let c = || ("c1", Input::Confirmed(confirmed("A-1")));
    let f = |id: &'static str, d| (id, Input::Scored(scored("A-1", d)));
    let states: Vec<(&str, Vec<(&str, Input)>)> = vec![
        ("none", vec![]),
        ("pending", vec![("x0", Input::Succeeded(foreign))]),
        ("confirmed", vec![c()]),
        ("held", vec![c(), f("f0", Review)]),
        ("rejected", vec![c(), f("f0", Reject)]),
        ("payment_requested", vec![c(), f("f0", Approve)]),
        ("paid", vec![c(), f("f0", Approve), ("p0", Input::Succeeded(succeeded("A-1")))]),
        ("payment_failed", vec![c(), f("f0", Approve), ("p0", Input::Failed(failed("A-1")))]),
    ];
    let events: Vec<(&str, Input)> = vec![
        ("e-confirmed", Input::Confirmed(confirmed("A-1"))),
        ("e-approve", Input::Scored(scored("A-1", Approve))),
        ("e-review", Input::Scored(scored("A-1", Review))),
        ("e-reject", Input::Scored(scored("A-1", Reject))),
        ("e-succeeded", Input::Succeeded(succeeded("A-1"))),
        ("e-failed", Input::Failed(failed("A-1"))),
    ];
    // What each event does in each state: the state it leaves, `+wait` when it waits in the
    // record, `ignored` when it changes nothing.
    let table = [
        ("none", ["confirmed", "pending+wait", "pending+wait", "pending+wait", "pending+wait", "pending+wait"]),
        ("pending", ["confirmed", "pending+wait", "pending+wait", "pending+wait", "pending+wait", "pending+wait"]),
        ("confirmed", ["ignored", "payment_requested", "held", "rejected", "confirmed+wait", "confirmed+wait"]),
        ("held", ["ignored", "payment_requested", "ignored", "rejected", "held+wait", "held+wait"]),
        ("rejected", ["ignored"; 6]),
        ("payment_requested", ["ignored", "ignored", "ignored", "ignored", "paid", "payment_failed"]),
        ("paid", ["ignored"; 6]),
        ("payment_failed", ["ignored"; 6]),
    ];
    let name = |s: OrderState| serde_json::to_value(s).expect("state").as_str().unwrap_or("").to_string();
    for ((state, history), (row, expected)) in states.iter().zip(table) {
        assert_eq!(*state, row);
        let (record, _) = run(history);
        if *state != "none" {
            assert_eq!(record.as_ref().map(|r| name(r.state)).as_deref(), Some(*state), "building {state}");
        }
        for ((id, input), want) in events.iter().zip(expected) {
            let got = match apply(record.clone(), id, at(50), input) {
                Outcome::Ignored { .. } => "ignored".to_string(),
                Outcome::Redelivery => "redelivery".to_string(),
                Outcome::Refused { code, .. } => format!("refused: {code}"),
                Outcome::Changed { record: after, .. } => {
                    let waited = after.waiting.len() > record.as_ref().map_or(0, |r| r.waiting.len());
                    format!("{}{}", name(after.state), if waited { "+wait" } else { "" })
                }
            };
            assert_eq!(got, want, "{id} on a {state} order");
            // The same event again, once it has been applied, is a redelivery in every state.
            if let Outcome::Changed { record: after, .. } = apply(record.clone(), id, at(50), input) {
                assert_eq!(apply(Some(*after), id, at(51), input), Outcome::Redelivery, "{id} twice on {state}");
            }
        }
    }
}

/// payment-processor's check of a first request: only the request the order made passes.
#[test]
fn a_payment_request_is_checked_against_the_order_that_made_it() {
    use crate::testing::awaiting_payment;
    let asked = PaymentRequested {
        order_id: OrderId::parse("A-1").expect("id"),
        payment_id: "pay-A-1".into(),
        amount: succeeded("A-1").amount,
        payment_token: Some("tok_visa".into()),
    };
    let order = awaiting_payment(&asked);
    assert_eq!(check_request(Some(&order), &asked), Ok(()));
    let refused = |r: &PaymentRequested, record: Option<&OrderRecord>| check_request(record, r).unwrap_err();

    assert_eq!(refused(&asked, None).0, "unknown_order");
    let other_id = PaymentRequested { payment_id: "pay-B-2".into(), ..asked.clone() };
    let (code, reason) = refused(&other_id, Some(&order));
    assert_eq!(code, "order_mismatch");
    assert!(reason.contains("the order asks payment pay-A-1"), "{reason}");
    let mut other_total = asked.clone();
    other_total.amount.amount_minor += 1;
    assert!(refused(&other_total, Some(&order)).1.contains("the order totals"));
    let other_card = PaymentRequested { payment_token: Some("tok_mc".into()), ..asked.clone() };
    assert!(refused(&other_card, Some(&order)).1.contains("card token is not the order's"));
    let no_card = PaymentRequested { payment_token: None, ..asked.clone() };
    assert_eq!(refused(&no_card, Some(&order)).0, "order_mismatch");
    // An order not yet asking for payment (confirmed, no decision) has no payment id.
    let (confirmed_only, _) = run(&[("c-A-1", Input::Confirmed(confirmed("A-1")))]);
    assert_eq!(refused(&asked, confirmed_only.as_ref()).0, "order_mismatch");
}
