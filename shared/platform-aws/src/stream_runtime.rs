//! Lambda's runtime loop for a DynamoDB Streams function: each batch handed to the function with
//! its invocation, its `ReportBatchItemFailures` answer given back to Lambda; an error (an event
//! that is not a stream batch) fails the invocation whole.
use crate::EnvelopeError;
use crate::invocation::Invocation;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};
use std::future::Future;

/// Runs until the runtime stops; `handle` is the function's batch handler.
pub async fn run<H, Fut>(handle: H) -> Result<(), serve::Fatal>
where
    H: Fn(Event, Invocation) -> Fut,
    Fut: Future<Output = Result<DynamoDbEventResponse, EnvelopeError>>,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        handle(event.payload, Invocation::of(&event.context)).await.map_err(lambda_runtime::Error::from)
    }))
    .await
    .map_err(|e| std::io::Error::other(format!("Lambda runtime: {e}")).into())
}
