//! Lambda entry point: the customers and notification tables and SES through the function's
//! role, Kafka for dead letters, the sender; in Lambda the sender and the bootstrap servers are
//! required. Then the runtime's loop, one stream batch at a time.
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use notifier::{Config, Notifier};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env};
use platform_aws::invocation::Invocation;
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let function = function.clone();
        async move {
            function
                .handle(event.payload, &Invocation::of(&event.context))
                .await
                .map(|out| out.response)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
