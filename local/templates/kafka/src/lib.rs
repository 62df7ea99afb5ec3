//! {{name}} (Azure Functions custom handler, Kafka trigger on `order.confirmed`, cardinality
//! many): takes each confirmed order (`OrderConfirmed`) of the batch; what it does with one goes
//! where it says `Your logic here`.
//!
//! A record that can never be taken (not a Kafka event, oversize, not an `order.confirmed` event,
//! an order that fails its checks) goes to `checkout.dlq` through the `deadLetters` output
//! binding with its reason; the host publishes outputs only after a successful invocation, so a
//! retried batch never dead-letters twice. A failure a retry may fix answers 500: the host
//! retries the batch under function.json's policy, and on its last attempt the records still
//! failing are dead-lettered instead.
use axum::Router;
use axum::http::StatusCode;
use domain::cloudevent::{CloudEvent, decode_text};
use domain::dead_letter::DeadLetterPolicy;
use domain::events::{OrderConfirmed, topics};
use domain::ports::PortError;
use platform_azure::dead_letter_output::DeadLetterOutput;
use platform_azure::{InvocationRequest, InvocationResponse};
use serve::{ConfigError, Env};
use std::sync::Arc;

pub const NAME: &str = "{{name}}";
/// The function folders of this app; the host POSTs each to `/<folder>`.
pub const FUNCTIONS: [(&str, &str); 1] = [("order-confirmed", include_str!("../order-confirmed/function.json"))];
pub const HOST_JSON: &str = include_str!("../host.json");
pub const TRIGGER_BINDING: &str = "orders";
pub const DLQ_BINDING: &str = "deadLetters";
/// The checkout flow's record limit: an order of 100 lines is well under it.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

pub struct {{Type}} {
    pub dead_letters: DeadLetterPolicy,
}

impl Default for {{Type}} {
    fn default() -> Self {
        Self { dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ) }
    }
}

impl {{Type}} {
    /// One invocation; the status is what the custom handler answers the host.
    pub async fn handle(&self, req: &InvocationRequest) -> (StatusCode, InvocationResponse) {
        let mut resp = InvocationResponse::default();
        let mut dead = DeadLetterOutput::new(DLQ_BINDING, &self.dead_letters);
        let entries = match dead.entries(req, TRIGGER_BINDING) {
            Ok(entries) => entries,
            Err(error) => {
                dead.write_to(&mut resp);
                resp.log(format!("invalid invocation: {error}; its Data was dead-lettered"));
                return (StatusCode::OK, resp);
            }
        };
        let (records, mut done, mut retry) = (entries.len(), 0usize, None);
        for entry in entries {
            let Some(ev) = dead.readable(req, entry, MAX_RECORD_BYTES) else { continue };
            let checked = decode_text::<OrderConfirmed>(&ev.value)
                .map_err(|e| (e.code(), e.to_string()))
                .and_then(|o| o.data.check().map(|()| o));
            let order = match checked {
                Ok(order) => order,
                Err((code, reason)) => {
                    dead.record(&ev, code, reason);
                    continue;
                }
            };
            match self.confirmed(&order).await {
                Ok(()) => done += 1,
                // The rest of the batch would meet the same outage: the host retries it all.
                Err(e) if e.is_transient() && !req.is_last_attempt() => {
                    retry = Some(e);
                    break;
                }
                Err(e) => {
                    let code = if e.is_transient() { "retries_exhausted" } else { "store_rejected" };
                    dead.record(&ev, code, e.to_string());
                }
            }
        }
        let dead_lettered = dead.len();
        dead.write_to(&mut resp);
        tracing::info!(records, done, dead_lettered, retry = retry.is_some(), "batch done");
        let report = serde_json::json!({"records": records, "done": done, "dead_lettered": dead_lettered});
        resp.log_fields("batch done", report);
        if let Some(e) = retry {
            resp.log(format!("{e}; failing the invocation for the host to retry it"));
            return (StatusCode::INTERNAL_SERVER_ERROR, resp);
        }
        (StatusCode::OK, resp)
    }

    async fn confirmed(&self, order: &CloudEvent<OrderConfirmed>) -> Result<(), PortError> {
        // Your logic here: return a transient `PortError` (unavailable) for the host to retry the
        // batch, any other to dead-letter the order; keep it idempotent (a batch comes again).
        let o = &order.data;
        tracing::info!(order_id = %o.order_id, total = %o.total, lines = o.lines.len(), "order confirmed");
        Ok(())
    }
}

impl platform_azure::handler_app::Invocations for {{Type}} {
    const NAME: &'static str = NAME;
    fn dead_letters(&self) -> (&str, &DeadLetterPolicy) {
        (DLQ_BINDING, &self.dead_letters)
    }
    async fn invoke(&self, req: &InvocationRequest) -> (StatusCode, InvocationResponse) {
        self.handle(req).await
    }
}

/// The custom handler: `POST /order-confirmed`, behind a body limit as large as the host's
/// biggest batch.
pub fn app(f: Arc<{{Type}}>, max_body: usize) -> Router {
    platform_azure::handler_app::router(f, &FUNCTIONS.map(|(name, _)| name), max_body)
}

/// The body limit for this app's host.json batch size, from the environment.
pub fn max_body_bytes(env: &Env) -> Result<usize, ConfigError> {
    platform_azure::max_invocation_bytes(env, platform_azure::host_max_batch_size(HOST_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The recorded invocation beside fraud-scorer's: a confirmed order, then a price change
    /// produced to `order.confirmed` by mistake.
    const FIXTURE: &str = include_str!(concat!(
        "../../../../events/azure/kafka-trigger/",
        env!("CARGO_PKG_NAME"),
        "-order-confirmed.json"
    ));

    #[tokio::test]
    async fn an_order_is_done_and_another_event_is_dead_lettered_through_the_output_binding() {
        let req: InvocationRequest = serde_json::from_str(FIXTURE).expect("an invocation");
        let (status, resp) = {{Type}}::default().handle(&req).await;
        assert_eq!(status, StatusCode::OK);
        let letters = resp.outputs[DLQ_BINDING].as_array().expect("dead letters");
        let letter: Value = serde_json::from_str(letters[0]["Value"].as_str().expect("text")).expect("a dead letter");
        assert_eq!((letters.len(), letter["data"]["reason_code"].as_str()), (1, Some("unexpected_type")));
        let report: Value = serde_json::from_str(resp.logs.last().expect("a report")).expect("fields");
        assert_eq!(report, json!({"message": "batch done", "records": 2, "done": 1, "dead_lettered": 1}));
    }

    /// The function folder deploys as it is: its bindings match what this handler reads and
    /// writes, and host.json starts this binary.
    #[test]
    fn function_json_and_host_json_agree_with_the_handler() {
        let (folder, text) = FUNCTIONS[0];
        let f: Value = serde_json::from_str(text).expect("function.json is JSON");
        let bindings = f["bindings"].as_array().expect("bindings");
        let trigger = bindings.iter().find(|b| b["direction"] == "in").expect("a trigger");
        assert_eq!(
            (&trigger["type"], &trigger["name"], &trigger["cardinality"], &trigger["topic"]),
            (&json!("kafkaTrigger"), &json!(TRIGGER_BINDING), &json!("many"), &json!(topics::ORDER_CONFIRMED)),
            "{folder}"
        );
        let outputs: Vec<(&str, &str)> = bindings
            .iter()
            .filter(|b| b["direction"] == "out")
            .filter_map(|b| Some((b["name"].as_str()?, b["topic"].as_str()?)))
            .collect();
        assert_eq!(outputs, [(DLQ_BINDING, topics::CHECKOUT_DLQ)]);
        assert!(f["retry"]["maxRetryCount"].as_u64().is_some_and(|n| n > 0), "the host must retry failed batches");
        let host: Value = serde_json::from_str(HOST_JSON).expect("host.json is JSON");
        assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], env!("CARGO_PKG_NAME"));
    }
}
