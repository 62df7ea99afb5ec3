//! Lambda's asynchronous invocation, as S3 notifications and EventBridge schedules invoke: the
//! event is queued and the caller does not wait; a failed invocation (an error, a timeout, a
//! process that exited) is retried twice, with a pause before each retry, and then an
//! invocation record goes to the on-failure destination (an SQS queue here), in Lambda's shape:
//! `requestContext` (condition `RetriesExhausted`, `approximateInvokeCount`), `requestPayload`,
//! `responseContext`, `responsePayload`.
use super::pool::Pool;
use super::stats::Stats;
use crate::runtime::api::Outcome;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct AsyncInvoker {
    /// The events being invoked, with their retries: ended when `up` stops.
    pub tasks: Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
    pub pool: Arc<Pool>,
    pub stats: Arc<Stats>,
    pub sqs: aws_sdk_sqs::Client,
    pub on_failure_queue: String,
    pub function_arn: String,
    pub retries: u32,
    pub pause: Duration,
}

impl AsyncInvoker {
    /// Queues the event and returns at once (the caller, S3 or EventBridge, reads no answer);
    /// `done` runs once the event is through (answered, or its record on the on-failure queue).
    pub fn invoke(&self, event: Vec<u8>, done: impl Future<Output = ()> + Send + 'static) {
        let this = self.clone();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            this.invoke_and_wait(event).await;
            done.await;
        });
    }

    /// Ends the events in flight (`up` is stopping).
    pub fn stop(&self) {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).abort_all();
    }

    /// The whole asynchronous life of one event: the first attempt, the retries, and the
    /// on-failure record; returns the last outcome.
    pub async fn invoke_and_wait(&self, event: Vec<u8>) -> Outcome {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = self.pool.invoke(event.clone()).await;
            if matches!(outcome, Outcome::Response(_)) {
                return outcome;
            }
            if attempts > self.retries {
                self.send_on_failure(&event, &outcome, attempts).await;
                return outcome;
            }
            self.stats.retried(self.pool.name);
            tokio::time::sleep(self.pause).await;
        }
    }

    async fn send_on_failure(&self, event: &[u8], outcome: &Outcome, attempts: u32) {
        let record = invocation_record(&self.function_arn, event, outcome, attempts);
        let sent =
            self.sqs.send_message().queue_url(&self.on_failure_queue).message_body(record.to_string()).send().await;
        match sent {
            Ok(_) => self.stats.sent_on_failure(self.pool.name, 1),
            Err(e) => tracing::error!(function = self.pool.name, error = ?e, "the on-failure queue refused a record"),
        }
    }
}

/// Lambda's record of an asynchronous invocation that failed for good.
pub fn invocation_record(function_arn: &str, event: &[u8], outcome: &Outcome, attempts: u32) -> Value {
    let payload = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
    };
    // Lambda says `Unhandled` of any error the runtime reported or a timeout; what the
    // function said is the response payload.
    let (error, response) = match outcome {
        Outcome::Error { body, .. } | Outcome::InitError { body, .. } => ("Unhandled", payload(body)),
        Outcome::TimedOut => ("Unhandled", json!({"errorMessage": "Task timed out", "errorType": "Sandbox.Timedout"})),
        Outcome::Response(body) => ("", payload(body)),
    };
    json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": uuid_like(event),
            "functionArn": format!("{function_arn}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload(event),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": error},
        "responsePayload": response,
    })
}

/// An id for the record, stable for the event (the request ids of the attempts differ).
fn uuid_like(event: &[u8]) -> String {
    let h = domain::fnv::fnv1a(&String::from_utf8_lossy(event));
    format!("{h:08x}-0000-4000-8000-{:012x}", event.len())
}
