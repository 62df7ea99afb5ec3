//! Lambda entry point: configuration from the environment (in Lambda the Kafka bootstrap servers
//! are required), DynamoDB through the function's role, then the runtime's event loop.
use lambda_runtime::{LambdaEvent, service_fn};
use order_updater::{Config, OrderUpdater};
use orders::layout::TOP_LEVEL;
use orders::store::OrderStore;
use platform_aws::dynamodb::{DynamoCarts, DynamoDocuments, client_from_env};
use platform_aws::invocation::Invocation;
use platform_aws::msk_event::MskEvent;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let config = Config::from_env(&serve::Env::Process)?;
    let client = client_from_env().await;
    let orders = DynamoDocuments::new(client.clone(), &config.orders_table).with_top_level(&TOP_LEVEL);
    let updater = Arc::new(OrderUpdater {
        clock: Arc::new(chrono::Utc::now),
        store: OrderStore {
            orders: Arc::new(orders),
            carts: Arc::new(DynamoCarts::new(client, &config.carts_table)),
            bus: Arc::new(kafka::KafkaPublisher::new(&config.kafka_bootstrap)?),
        },
        dead_letters: config.dead_letters,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<MskEvent>| {
        let updater = updater.clone();
        async move {
            updater
                .handle(event.payload.0, &Invocation::of(&event.context))
                .await
                .map(|(response, _)| response)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
