//! Lambda entry point: configuration from the environment (in Lambda the Kafka bootstrap servers
//! are required), DynamoDB through the function's role, then the runtime's event loop, one
//! scheduled event at a time.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use order_sweeper::{Config, Sweeper};
use orders::layout::TOP_LEVEL;
use orders::store::OrderStore;
use platform_aws::dynamodb::{DynamoCarts, DynamoDocuments, client_from_env};
use platform_aws::invocation::Invocation;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let config = Config::from_env(&serve::Env::Process)?;
    let client = client_from_env().await;
    let orders = Arc::new(DynamoDocuments::new(client.clone(), &config.orders_table).with_top_level(&TOP_LEVEL));
    let sweeper = Arc::new(Sweeper {
        store: OrderStore {
            orders: orders.clone(),
            carts: Arc::new(DynamoCarts::new(client, &config.carts_table)),
            bus: Arc::new(kafka::KafkaPublisher::new(&config.kafka_bootstrap)?),
        },
        index: orders,
        rules: config.rules,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| {
        let sweeper = sweeper.clone();
        async move {
            sweeper.handle(event.payload, &Invocation::of(&event.context)).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
