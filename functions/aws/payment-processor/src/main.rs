//! Lambda entry point: configuration from the environment (in Lambda the Kafka bootstrap servers
//! are required), the idempotency records in DynamoDB, the gateway, then the runtime's loop,
//! which hands the handler each invocation's deadline with its event.
//!
//! The gateway is reached over HTTP (`PAYMENT_GATEWAY=http`, `PAYMENT_GATEWAY_URL`) in the
//! estate's gateway protocol, which the local runner's test gateway serves; no card processor's
//! API is reachable from here, and a real one would be another `GatewayKind`. The binary links
//! no in-memory twin.
use lambda_runtime::{LambdaEvent, service_fn};
use orders::layout::TOP_LEVEL;
use payment_processor::http_gateway::HttpGateway;
use payment_processor::{Config, GatewayKind, PaymentProcessor};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env};
use platform_aws::invocation::Invocation;
use platform_aws::msk_event::MskEvent;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let config = Config::from_env(&serve::Env::Process)?;
    let client = client_from_env().await;
    let processor = Arc::new(PaymentProcessor {
        clock: Arc::new(chrono::Utc::now),
        payments: Arc::new(DynamoDocuments::new(client.clone(), &config.payments_table)),
        orders: Arc::new(DynamoDocuments::new(client, &config.orders_table).with_top_level(&TOP_LEVEL)),
        gateway: match &config.gateway {
            GatewayKind::Http { url } => {
                Arc::new(HttpGateway::new(url, payment_processor::GATEWAY_TIMEOUT).map_err(std::io::Error::other)?)
            }
        },
        bus: Arc::new(kafka::KafkaPublisher::new(&config.kafka_bootstrap)?),
        dead_letters: config.dead_letters,
        rules: config.rules,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<MskEvent>| {
        let processor = processor.clone();
        async move {
            let invocation = Invocation::of(&event.context);
            let handled = processor.handle(event.payload.0, &invocation).await;
            handled.map(|(response, _)| response).map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
