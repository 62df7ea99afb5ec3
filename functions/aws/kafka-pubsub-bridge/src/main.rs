//! Lambda entry point: Pub/Sub from the environment (deployed, `GOOGLE_CLOUD_PROJECT` is required
//! and credentials come from Application Default Credentials: in AWS, a workload identity
//! federation configuration named by `GOOGLE_APPLICATION_CREDENTIALS`), Kafka for dead letters.
use kafka_pubsub_bridge::{Bridge, dead_letters_from_env};
use lambda_runtime::{LambdaEvent, service_fn};
use platform_aws::invocation::Invocation;
use platform_aws::msk_event::MskEvent;
use platform_gcp::pubsub::{PubSubConfig, PubSubPublisher};
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let pubsub = PubSubPublisher::new(PubSubConfig::from_env(&env)?);
    let bootstrap = env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?;
    let bridge = Arc::new(Bridge {
        pubsub: Arc::new(pubsub),
        kafka: Arc::new(kafka::KafkaPublisher::new(&bootstrap)?),
        dead_letters: dead_letters_from_env(&env)?,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<MskEvent>| {
        let bridge = bridge.clone();
        async move {
            bridge
                .handle(event.payload.0, &Invocation::of(&event.context))
                .await
                .map(|out| out.response)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
