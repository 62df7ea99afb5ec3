//! notifier on moto: its customers and notification records in DynamoDB, its e-mails through
//! SES v2. The recorded stream batch delivered twice sends each e-mail once, and each can be read
//! back from moto as the MIME the notifier rendered: values escaped in the HTML part, a locale
//! without templates in English, nothing for an opted-out customer, and an address SES refuses
//! recorded `rejected` without the address in its reason.
use domain::dead_letter::DeadLetterPolicy;
use domain::ports::{Documents, document};
use estate_tests::{emulator, fixture, fresh};
use notifier::record::{self, State};
use notifier::render::Kind;
use notifier::{Fate, Notifier, StreamOutcome};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_documents_table};
use platform_aws::invocation::Invocation;
use platform_aws::ses::SesMailer;
use serde_json::Value;
use std::sync::Arc;

/// A customer: id, name, address, locale, opted out.
type Signup<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, bool);

/// The notifier over fresh tables on moto with these customers, and its verified sender.
async fn notifier_on_moto(customers: &[Signup<'_>]) -> (Notifier, Arc<DynamoDocuments>, String) {
    let config = aws_config::load_from_env().await;
    let dynamodb = client_from_env().await;
    let (customers_table, notifications) = (fresh("it-customers"), fresh("it-notifications"));
    create_documents_table(&dynamodb, &customers_table).await.expect("customers table");
    create_documents_table(&dynamodb, &notifications).await.expect("notifications table");
    let sender = format!("{}@shop.example.com", fresh("orders"));
    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity().email_identity(&sender).send().await.expect("the sender's identity");
    let table = DynamoDocuments::new(dynamodb.clone(), &customers_table);
    for (id, name, email, locale, opted_out) in customers {
        let c = notifier::Customer {
            id: notifier::CUSTOMER_ID.into(),
            pk: id.to_string(),
            name: name.to_string(),
            email: email.map(str::to_string),
            locale: Some(locale.to_string()),
            opted_out: *opted_out,
        };
        table.create(id, notifier::CUSTOMER_ID, document(&c).expect("json")).await.expect("customer");
    }
    let records = Arc::new(DynamoDocuments::new(dynamodb, &notifications));
    let function = Notifier {
        bus: Arc::new(inmemory::Bus::new(1)),
        dead_letters: DeadLetterPolicy::new(notifier::NAME, "checkout.dlq"),
        customers: Arc::new(table),
        notifications: records.clone(),
        mailer: Arc::new(SesMailer::new(ses)),
        sender: sender.clone(),
        clock: Arc::new(chrono::Utc::now),
        lease: chrono::Duration::minutes(2),
    };
    (function, records, sender)
}

async fn run(function: &Notifier) -> StreamOutcome {
    let event = serde_json::from_slice(&fixture("aws/dynamodb-stream/notifier-order-changes.json")).expect("event");
    function.handle(event, &Invocation::one_minute()).await.expect("a batch")
}

fn sent(out: &StreamOutcome) -> usize {
    out.changes.iter().filter(|c| c.fate == Some(Fate::Sent)).count()
}

/// The raw messages moto's SES took from `sender`.
async fn sent_by(sender: &str) -> Vec<String> {
    let endpoint = emulator("AWS_ENDPOINT_URL");
    let data: Value =
        reqwest::get(format!("{endpoint}/moto-api/data.json")).await.expect("moto").json().await.expect("json");
    let all = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    all.iter().filter(|m| m["source"] == sender).filter_map(|m| m["raw_data"].as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn a_redelivered_batch_sends_each_email_once_through_ses_on_moto() {
    let ana = ("C-77001", "Ana", Some("ana@example.org"), "de-AT", false);
    let ben = ("C-90512", "Ben", Some("ben@example.org"), "de-AT", false);
    let (function, _, sender) = notifier_on_moto(&[ana, ben]).await;
    let (first, again) = (run(&function).await, run(&function).await);
    assert_eq!((sent(&first), sent(&again)), (2, 0), "each e-mail once");
    let ours = sent_by(&sender).await;
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(ours[0].contains("Content-Language: de") && ours[0].contains("multipart/alternative"), "{}", ours[0]);
}

#[tokio::test]
async fn escaping_locale_fallback_and_opting_out_on_moto() {
    let ana = ("C-77001", "Ana <script>alert(1)</script>", Some("ana@example.org"), "fr-FR", false);
    let ben = ("C-90512", "Ben", Some("ben@example.org"), "en", true);
    let (function, _, sender) = notifier_on_moto(&[ana, ben]).await;
    let out = run(&function).await;
    let skipped = out.changes.iter().filter(|c| c.fate == Some(Fate::Skipped)).count();
    assert_eq!((sent(&out), skipped), (1, 1), "Ben opted out");
    let ours = sent_by(&sender).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].contains("Content-Language: en"), "fr-FR has no templates: English");
    let html = notifier::render::decoded_parts(&ours[0]).into_iter().find(|p| p.contains("<p>")).expect("an HTML part");
    assert!(html.contains("Ana &lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"), "{html}");
}

#[tokio::test]
async fn an_address_ses_refuses_is_rejected_for_good_on_moto() {
    let ana = ("C-77001", "Ana", Some("ana(at)example.org"), "en", false);
    let ben = ("C-90512", "Ben", Some("ben@example.org"), "en", false);
    let (function, records, sender) = notifier_on_moto(&[ana, ben]).await;
    let out = run(&function).await;
    let fates: Vec<_> = out.changes.iter().filter_map(|c| c.fate.filter(|f| *f != Fate::NotNotified)).collect();
    assert_eq!(fates, [Fate::Rejected, Fate::Sent]);
    let rejected = record::read(records.as_ref(), &record::key("A200100", Kind::Paid)).await.expect("read");
    let Some(State::Rejected { reason }) = rejected else { panic!("{rejected:?}") };
    assert!(!reason.contains("ana(at)example.org"), "{reason}");
    assert_eq!(sent(&run(&function).await), 0, "not retried");
    assert_eq!(sent_by(&sender).await.len(), 1);
}
