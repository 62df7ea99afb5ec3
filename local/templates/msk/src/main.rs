//! Lambda entry point: Kafka for dead letters from the environment (in Lambda the bootstrap
//! servers are required), then the runtime's loop, one MSK batch at a time.
use lambda_runtime::{LambdaEvent, service_fn};
use platform_aws::invocation::Invocation;
use platform_aws::msk_event::MskEvent;
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let bootstrap = env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?;
    let bus = Arc::new(kafka::KafkaPublisher::new(&bootstrap)?);
    let function = Arc::new({{crate}}::{{Type}}::new(bus));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<MskEvent>| {
        let function = function.clone();
        async move {
            function
                .handle(event.payload.0, &Invocation::of(&event.context))
                .await
                .map(|out| out.response)
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
