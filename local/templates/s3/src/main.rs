//! Lambda entry point: S3 through the function's role (`AWS_ENDPOINT_URL` and
//! `AWS_S3_FORCE_PATH_STYLE` for a local S3), then the runtime's loop over S3 notifications.
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use platform_aws::invocation::Invocation;
use platform_aws::s3_store::{S3Objects, client_from_env};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let objects = Arc::new(S3Objects::new(client_from_env(&serve::Env::Process).await));
    let function = Arc::new({{crate}}::{{Type}} { objects });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| {
        let function = function.clone();
        // S3 invokes asynchronously and reads no response; an error makes Lambda retry the event.
        async move {
            function.handle(event.payload, &Invocation::of(&event.context)).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
