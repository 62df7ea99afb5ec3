use super::*;
use domain::events::topics;
use domain::ports::document;
use inmemory::{Bus, InMemoryDocuments, InMemoryMailer};
use serde_json::{Value, json};

/// The recorded batch: A200100 confirmed → payment_requested, an item of A200161 written without
/// `state`, A200160 inserted, A200100 payment_requested → paid, A200161 confirmed → held, and
/// A200100 written again in `paid`.
const FIXTURE: &str =
    include_str!(concat!("../../../../events/aws/dynamodb-stream/", env!("CARGO_PKG_NAME"), "-order-changes.json"));

/// A customer as the tests sign them up: id, name, address, locale, opted out.
type Signup = (&'static str, &'static str, Option<&'static str>, Option<&'static str>, bool);

struct World {
    now: Arc<std::sync::Mutex<DateTime<Utc>>>,
    bus: Bus,
    customers: InMemoryDocuments,
    notifications: InMemoryDocuments,
    mailer: InMemoryMailer,
}

impl World {
    async fn new(customers: &[Signup]) -> World {
        let w = World {
            now: Arc::new(std::sync::Mutex::new("2026-11-21T08:40:00Z".parse().expect("time"))),
            bus: Bus::new(1),
            customers: InMemoryDocuments::default(),
            notifications: InMemoryDocuments::default(),
            mailer: InMemoryMailer::default(),
        };
        w.mailer.verify("shop.example.com");
        for (id, name, email, locale, opted_out) in customers {
            let c = Customer {
                id: CUSTOMER_ID.into(),
                pk: id.to_string(),
                name: name.to_string(),
                email: email.map(str::to_string),
                locale: locale.map(str::to_string),
                opted_out: *opted_out,
            };
            w.customers.create(id, CUSTOMER_ID, document(&c).expect("json")).await.expect("customer");
        }
        w
    }

    fn notifier(&self) -> Notifier {
        Notifier {
            bus: Arc::new(self.bus.clone()),
            dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ),
            customers: Arc::new(self.customers.clone()),
            notifications: Arc::new(self.notifications.clone()),
            mailer: Arc::new(self.mailer.clone()),
            sender: "orders@shop.example.com".into(),
            clock: {
                let now = self.now.clone();
                Arc::new(move || *now.lock().expect("clock"))
            },
            lease: Duration::minutes(2),
        }
    }

    async fn run(&self) -> StreamOutcome {
        let event: Event = serde_json::from_str(FIXTURE).expect("a DynamoDB Streams event");
        self.notifier().handle(event, &Invocation::one_minute()).await.expect("a stream batch")
    }
}

const ANA: Signup = ("C-77001", "Ana <script>alert(1)</script>", Some("ana@example.org"), Some("de-DE"), false);
const BEN: Signup = ("C-90512", "Ben", Some("ben@example.org"), None, false);

fn fates(out: &StreamOutcome) -> Vec<(&str, Option<Fate>)> {
    out.changes.iter().map(|c| (c.order_id.as_str(), c.fate)).collect()
}

#[tokio::test]
async fn each_change_into_an_outcome_sends_one_email_and_a_redelivery_sends_none() {
    let w = World::new(&[ANA, BEN]).await;
    let out = w.run().await;
    use Fate::*;
    let want = [
        ("A200100", Some(NotNotified)),
        ("A200161", Some(NotNotified)), // written in the older layout: held → held
        ("A200160", Some(NotNotified)),
        ("A200100", Some(Sent)),
        ("A200161", Some(Sent)),
        ("A200100", Some(NotNotified)),
    ];
    assert_eq!(fates(&out), want);
    assert_eq!((out.dead_lettered, out.response.batch_item_failures.len()), (0, 0));
    let sent = w.mailer.sent();
    assert_eq!(sent.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), ["ana@example.org", "ben@example.org"]);
    let ana = String::from_utf8(sent[0].mime.clone()).expect("ASCII MIME");
    assert!(ana.contains("Content-Language: de"), "{ana}");
    let html = render::decoded_parts(&ana).into_iter().find(|p| p.contains("<p>")).expect("an HTML part");
    assert!(html.contains("Ana &lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"), "{html}");

    let again = w.run().await;
    assert_eq!(fates(&again).iter().filter(|(_, f)| *f == Some(AlreadyDone)).count(), 2);
    assert_eq!(w.mailer.sent().len(), 2, "a redelivered batch sends nothing");
    let record = record::read(&w.notifications, &record::key("A200100", Kind::Paid)).await.expect("read");
    assert!(matches!(record, Some(State::Sent { message_id, .. }) if message_id == sent[0].message_id));
}

#[tokio::test]
async fn opted_out_or_without_an_address_nothing_is_sent() {
    let opted_out = ("C-77001", "Ana", Some("ana@example.org"), None, true);
    let no_address = ("C-90512", "Ben", None, None, false);
    let w = World::new(&[opted_out, no_address]).await;
    let out = w.run().await;
    assert_eq!(fates(&out).iter().filter(|(_, f)| *f == Some(Fate::Skipped)).count(), 2);
    assert!(w.mailer.sent().is_empty());
}

#[tokio::test]
async fn ses_throttling_fails_the_record_and_a_refused_address_is_rejected_for_good() {
    let malformed = ("C-77001", "Ana", Some("ana(at)example.org"), None, false);
    let w = World::new(&[malformed, BEN]).await;
    w.mailer.outage.fail_after(0, 1); // the first send (Ana's, refused anyway) is throttled
    let out = w.run().await;
    let failed: Vec<_> = out.response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref()).collect();
    assert_eq!(failed, [Some("4217600000000052840197001")], "the shard is retried from the paid change");
    let out = w.run().await;
    assert_eq!(fates(&out)[3], ("A200100", Some(Fate::Rejected)));
    assert_eq!(fates(&out)[4], ("A200161", Some(Fate::Sent)));
    let rejected = record::read(&w.notifications, &record::key("A200100", Kind::Paid)).await.expect("read");
    // The reason is kept and logged without the address (SES's words name it).
    let Some(State::Rejected { reason }) = rejected else { panic!("{rejected:?}") };
    assert!(reason.contains("<recipient>") && !reason.contains("ana(at)example.org"), "{reason}");
    let third = w.run().await;
    assert_eq!(fates(&third)[3], ("A200100", Some(Fate::AlreadyDone)), "not retried");
    assert_eq!(w.mailer.sent().len(), 1);
}

#[tokio::test]
async fn records_no_reader_can_use_are_dead_lettered_with_their_reason_and_without_payment_secrets() {
    let w = World::new(&[ANA, BEN]).await;
    let bad = include_str!("../../../../events/aws/dynamodb-stream/notifier-bad-records.json");
    let mut event: Event = serde_json::from_str(bad).expect("a DynamoDB Streams event");
    // And one over DynamoDB's item limit, from the recorded paid change (which carries a token).
    let good: Event = serde_json::from_str(FIXTURE).expect("a DynamoDB Streams event");
    let mut big = serde_json::to_value(&good.records[3]).expect("JSON");
    big["dynamodb"]["NewImage"]["note"] = json!({"S": "x".repeat(platform_aws::stream_image::MAX_ITEM_BYTES)});
    event.records.push(serde_json::from_value(big).expect("a record"));
    let out = w.notifier().handle(event, &Invocation::one_minute()).await.expect("a stream batch");
    assert_eq!((out.dead_lettered, out.changes.len(), out.response.batch_item_failures.len()), (4, 0, 0));
    let letters = w.bus.records(topics::CHECKOUT_DLQ);
    let codes: Vec<Value> = letters
        .iter()
        .map(|l| serde_json::from_slice::<Value>(&l.payload).expect("a dead letter")["data"]["reason_code"].clone())
        .collect();
    assert_eq!(codes, [json!("no_image"), json!("not_an_order"), json!("not_an_item"), json!("oversize")]);
    for letter in &letters {
        let text = String::from_utf8_lossy(&letter.payload);
        assert!(!text.contains("tok_visa") && !text.contains("fp_C-77001"), "{text}");
    }
    assert!(w.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_lost_answer_holds_the_record_until_its_lease_runs_out_then_it_is_sent_again() {
    let w = World::new(&[ANA, BEN]).await;
    w.mailer.lost_answers.fail_next(1); // Ana's receipt goes, and SES's answer is lost
    let out = w.run().await;
    let failed: Vec<_> = out.response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref()).collect();
    assert_eq!(failed, [Some("4217600000000052840197001")]);
    assert_eq!(w.mailer.sent().len(), 1, "it went");
    // Redelivered within the lease: held, nothing sent, the shard waits.
    let held = w.run().await;
    assert_eq!(held.response.batch_item_failures.len(), 1);
    assert_eq!(w.mailer.sent().len(), 1);
    // After the lease: sent again (the one case that may duplicate; logged), then done.
    *w.now.lock().expect("clock") += Duration::minutes(3);
    let after = w.run().await;
    assert!(after.response.batch_item_failures.is_empty());
    assert_eq!(w.mailer.sent().len(), 3, "Ana's receipt again, and Ben's");
    assert_eq!(w.run().await.changes.iter().filter(|c| c.fate == Some(Fate::Sent)).count(), 0);
}

#[tokio::test]
async fn an_unreadable_customer_is_dead_lettered_and_the_shard_goes_on() {
    let w = World::new(&[BEN]).await;
    w.customers
        .create("C-77001", CUSTOMER_ID, serde_json::json!({"id": "customer", "name": 7}).into())
        .await
        .expect("a broken item");
    let out = w.run().await;
    assert!(out.response.batch_item_failures.is_empty());
    let codes: Vec<String> = w
        .bus
        .records(topics::CHECKOUT_DLQ)
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.payload).ok())
        .map(|l| l["data"]["reason_code"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codes, ["store_rejected"]);
    assert_eq!(w.mailer.sent().len(), 1, "Ben's e-mail still went");
}

#[tokio::test]
async fn a_sent_email_whose_record_cannot_be_finished_at_once_is_not_sent_again() {
    let w = World::new(&[ANA, BEN]).await;
    // Ana's record: created, then finished after SES took the e-mail; that write fails once.
    w.notifications.outage.fail_after(1, 1);
    let out = w.run().await;
    assert!(out.response.batch_item_failures.is_empty());
    let record = record::read(&w.notifications, &record::key("A200100", Kind::Paid)).await.expect("read");
    assert!(matches!(record, Some(State::Sent { .. })), "{record:?}");
    // The table down through every try: the e-mail went, so the record is not failed (a retry
    // would only send it again once the lease ran out); the error is logged.
    let w = World::new(&[ANA, BEN]).await;
    w.notifications.outage.fail_after(1, 3);
    let out = w.run().await;
    assert!(out.response.batch_item_failures.is_empty());
    assert_eq!(fates(&out)[3], ("A200100", Some(Fate::Sent)));
    assert_eq!(w.mailer.sent().len(), 2);
}
