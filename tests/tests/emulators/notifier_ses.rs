//! notifier on moto: its customers and notification records in DynamoDB, its e-mails through
//! SES v2. The recorded stream batch delivered twice sends each e-mail once, and each can be read
//! back from moto as the MIME the notifier rendered.
use domain::dead_letter::DeadLetterPolicy;
use domain::ports::{Documents, document};
use estate_tests::{emulator, fixture, fresh};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_documents_table};
use platform_aws::invocation::Invocation;
use platform_aws::ses::SesMailer;
use serde_json::Value;
use std::sync::Arc;

#[tokio::test]
async fn a_redelivered_batch_sends_each_email_once_through_ses_on_moto() {
    let endpoint = emulator("AWS_ENDPOINT_URL");
    let config = aws_config::load_from_env().await;
    let dynamodb = client_from_env().await;
    let (customers, notifications) = (fresh("it-customers"), fresh("it-notifications"));
    create_documents_table(&dynamodb, &customers).await.expect("customers table");
    create_documents_table(&dynamodb, &notifications).await.expect("notifications table");
    let sender = format!("{}@shop.example.com", fresh("orders"));
    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity().email_identity(&sender).send().await.expect("the sender's identity");
    let customers = DynamoDocuments::new(dynamodb.clone(), &customers);
    for (id, email) in [("C-77001", "ana@example.org"), ("C-90512", "ben@example.org")] {
        let c = notifier::Customer {
            id: notifier::CUSTOMER_ID.into(),
            pk: id.into(),
            name: format!("<b>{id}</b>"),
            email: Some(email.into()),
            locale: Some("de-AT".into()),
            opted_out: false,
        };
        customers.create(id, notifier::CUSTOMER_ID, document(&c).expect("json")).await.expect("customer");
    }
    let function = notifier::Notifier {
        bus: Arc::new(inmemory::Bus::new(1)),
        dead_letters: DeadLetterPolicy::new(notifier::NAME, "checkout.dlq"),
        customers: Arc::new(customers),
        notifications: Arc::new(DynamoDocuments::new(dynamodb, &notifications)),
        mailer: Arc::new(SesMailer::new(ses)),
        sender: sender.clone(),
        clock: Arc::new(chrono::Utc::now),
        lease: chrono::Duration::minutes(2),
    };
    let event = || serde_json::from_slice(&fixture("aws/dynamodb-stream/notifier-order-changes.json")).expect("event");
    let sent =
        |out: &notifier::StreamOutcome| out.changes.iter().filter(|c| c.fate == Some(notifier::Fate::Sent)).count();
    let first = function.handle(event(), &Invocation::one_minute()).await.expect("a batch");
    let again = function.handle(event(), &Invocation::one_minute()).await.expect("a batch");
    assert_eq!((sent(&first), sent(&again)), (2, 0), "each e-mail once");

    let data: Value =
        reqwest::get(format!("{endpoint}/moto-api/data.json")).await.expect("moto").json().await.expect("json");
    let ours: Vec<&Value> = data["ses"]["RawMessage"]
        .as_array()
        .expect("sent raw messages")
        .iter()
        .filter(|m| m["source"] == sender.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    let raw = ours[0]["raw_data"].as_str().expect("MIME");
    assert!(raw.contains("Content-Language: de") && raw.contains("multipart/alternative"), "{raw}");
}
