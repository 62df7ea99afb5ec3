//! Lambda entry point: Kafka for dead letters from the environment (in Lambda the bootstrap
//! servers are required), then the runtime's loop, one stream batch at a time.
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let bootstrap = env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?;
    let bus = Arc::new(kafka::KafkaPublisher::new(&bootstrap)?);
    let function = Arc::new({{crate}}::{{Type}}::new(bus));
    platform_aws::stream_runtime::run(|event, invocation| {
        let function = function.clone();
        async move { function.handle(event, &invocation).await.map(|out| out.response) }
    })
    .await
}
