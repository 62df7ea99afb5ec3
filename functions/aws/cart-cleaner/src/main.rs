//! Lambda entry point: configuration from the environment (in Lambda the Kafka bootstrap servers
//! are required), the carts table through the function's role, then the runtime's loop.
use cart_cleaner::{CartCleaner, Config};
use lambda_runtime::{LambdaEvent, service_fn};
use platform_aws::dynamodb::{DynamoCarts, client_from_env};
use platform_aws::invocation::Invocation;
use platform_aws::msk_event::MskEvent;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let config = Config::from_env(&serve::Env::Process)?;
    let cleaner = Arc::new(CartCleaner {
        carts: Arc::new(DynamoCarts::new(client_from_env().await, &config.carts_table)),
        bus: Arc::new(kafka::KafkaPublisher::new(&config.kafka_bootstrap)?),
        dead_letters: config.dead_letters,
        page_size: config.page_size,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<MskEvent>| {
        let cleaner = cleaner.clone();
        async move {
            cleaner
                .handle(event.payload.0, &Invocation::of(&event.context))
                .await
                .map(|out| out.response)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
