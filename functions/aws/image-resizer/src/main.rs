//! Lambda entry point: configuration from the environment (in Lambda the Kafka bootstrap servers
//! are required), S3 through the function's role, then the runtime's loop over S3 notifications.
use aws_lambda_events::event::s3::S3Event;
use image_resizer::{ImageResizer, Settings};
use lambda_runtime::{LambdaEvent, service_fn};
use platform_aws::invocation::Invocation;
use platform_aws::s3_store::{S3Objects, client_from_env};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = serve::Env::Process;
    let settings = Settings::from_env(&env)?;
    let resizer = Arc::new(ImageResizer {
        objects: Arc::new(S3Objects::new(client_from_env(&env).await)),
        bus: Arc::new(kafka::KafkaPublisher::new(&settings.kafka_bootstrap)?),
        settings,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| {
        let resizer = resizer.clone();
        // S3 invokes asynchronously and reads no response; an error makes Lambda retry. The
        // outcomes are the response for direct invocations (`cargo lambda invoke`).
        async move {
            resizer.handle(event.payload, &Invocation::of(&event.context)).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
