//! Lambda entry point: the wall clock, then the runtime's loop, one scheduled event at a time.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use platform_aws::invocation::Invocation;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let clock = Arc::new(chrono::Utc::now);
    let function = Arc::new({{crate}}::{{Type}} { clock });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| {
        let function = function.clone();
        async move {
            function.handle(event.payload, &Invocation::of(&event.context)).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
