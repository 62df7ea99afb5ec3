//! Lambda entry point: configuration from the environment (in Lambda the Kafka bootstrap servers
//! are required), DynamoDB through the function's role, then the runtime's event loop.
use lambda_runtime::{LambdaEvent, service_fn};
use order_updater::{Config, OrderUpdater};
use platform_aws::dynamodb::{DynamoCarts, DynamoDocuments, client_from_env};
use platform_aws::msk_event::MskEvent;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let config = Config::from_env(&serve::Env::Process)?;
    let client = client_from_env().await;
    let updater = Arc::new(OrderUpdater {
        orders: Arc::new(DynamoDocuments::new(client.clone(), &config.orders_table)),
        carts: Arc::new(DynamoCarts::new(client, &config.carts_table)),
        bus: Arc::new(kafka::KafkaPublisher::new(&config.kafka_bootstrap)?),
        dead_letters: config.dead_letters,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<MskEvent>| {
        let updater = updater.clone();
        async move {
            updater.handle(event.payload.0).await.map(|(response, _)| response).map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
