//! Lambda entry point: the customers and notification tables and SES through the function's
//! role, Kafka for dead letters, the sender; in Lambda the sender and the bootstrap servers are
//! required. Then the runtime's loop, one stream batch at a time.
use notifier::{Config, Notifier};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env};
use platform_aws::ses::SesMailer;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let config = Config::from_env(&serve::Env::Process)?;
    let dynamodb = client_from_env().await;
    let function = Arc::new(Notifier {
        bus: Arc::new(kafka::KafkaPublisher::new(&config.kafka_bootstrap)?),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(notifier::NAME, domain::events::topics::CHECKOUT_DLQ),
        customers: Arc::new(DynamoDocuments::new(dynamodb.clone(), &config.customers_table)),
        notifications: Arc::new(DynamoDocuments::new(dynamodb, &config.notifications_table)),
        mailer: Arc::new(SesMailer::from_env().await),
        sender: config.sender,
        clock: Arc::new(chrono::Utc::now),
        lease: config.lease,
    });
    platform_aws::stream_runtime::run(|event, invocation| {
        let function = function.clone();
        async move { function.handle(event, &invocation).await.map(|out| out.response) }
    })
    .await
}
