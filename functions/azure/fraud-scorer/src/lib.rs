//! fraud-scorer (Azure Functions custom handler, Kafka trigger on `order.confirmed`, cardinality
//! many): scores each confirmed order 0–1000 with the rules in `signals.rs` weighed by the
//! versioned model in `models/` (`model.rs`), decides approve / review / reject, and publishes
//! `fraud.scored` through the `scores` Kafka output binding.
//!
//! At-least-once: the first verdict of an order is stored and every redelivery re-emits it, byte
//! for byte (`state.rs`); the host publishes the outputs only after a successful invocation. A
//! record that can never be scored (not an order, oversize) goes to `checkout.dlq` through the
//! `deadLetters` binding. A state store that is unavailable fails the invocation (500) for the
//! host to retry; on the last retry the orders still unscored are dead-lettered instead.
pub mod model;
pub mod scorer;
pub mod signals;
pub mod state;
#[cfg(test)]
mod testing;

use axum::Router;
use axum::http::StatusCode;
use domain::cloudevent::decode_text;
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::{OrderConfirmed, topics};
use domain::ports::Documents;
use model::Model;
use platform_azure::dead_letter_output::DeadLetterOutput;
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::json;
use serve::{ConfigError, Env};
use state::Published;
use std::sync::Arc;

pub const NAME: &str = "fraud-scorer";
/// The function folders of this app; the host POSTs each to `/<folder>`.
pub const FUNCTIONS: [(&str, &str); 1] = [("order-confirmed", include_str!("../order-confirmed/function.json"))];
pub const HOST_JSON: &str = include_str!("../host.json");
pub const TRIGGER_BINDING: &str = "orders";
pub const SCORES_BINDING: &str = "scores";
pub const DLQ_BINDING: &str = "deadLetters";
/// The checkout flow's record limit: an order of 100 lines is well under it.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Where the scorer's state lives unless `COSMOS_DATABASE` / `COSMOS_CONTAINER` say otherwise.
pub const COSMOS_DATABASE: &str = "checkout";
pub const COSMOS_CONTAINER: &str = "fraud";
/// The state container's partition key path (see `state.rs`).
pub const PARTITION_KEY_PATH: &str = "/pk";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub scored: usize,
    /// Orders whose stored verdict was re-emitted.
    pub redelivered: usize,
    pub dead_lettered: usize,
    /// The order that met an unavailable store on an attempt that will be retried.
    pub retry: Option<String>,
}

/// `FRAUD_MODEL_VERSION` (default [`model::DEFAULT_VERSION`]; an unknown one stops start-up) and
/// `DEAD_LETTER_MAX_PAYLOAD_BYTES` (default 64 KiB).
#[derive(Debug, Clone)]
pub struct Config {
    pub model: Model,
    pub dead_letters: DeadLetterPolicy,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let model = Model::select(env.get("FRAUD_MODEL_VERSION").as_deref()).map_err(|e| ConfigError(e.to_string()))?;
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        let dead_letters = DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ).with_max_payload_bytes(max);
        Ok(Config { model, dead_letters })
    }
}

impl Default for Config {
    /// The default model and dead-letter policy, as `from_env` gives them with nothing set.
    fn default() -> Self {
        Config {
            model: Model::select(None).unwrap_or_else(|e| panic!("the default model is checked in and valid: {e}")),
            dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ),
        }
    }
}

pub struct Scorer {
    pub docs: Arc<dyn Documents>,
    pub config: Config,
}

impl Scorer {
    pub fn new(docs: Arc<dyn Documents>, config: Config) -> Self {
        Scorer { docs, config }
    }

    /// Handles one invocation; the status is what the custom handler answers the host.
    pub async fn handle(&self, req: &InvocationRequest) -> (StatusCode, InvocationResponse, BatchReport) {
        let mut resp = InvocationResponse::default();
        let mut report = BatchReport::default();
        let mut dead = DeadLetterOutput::new(DLQ_BINDING, &self.config.dead_letters);
        let entries = match dead.entries(req, TRIGGER_BINDING) {
            Ok(entries) => entries,
            Err(error) => {
                report.dead_lettered = dead.len();
                dead.write_to(&mut resp);
                resp.log(format!("invalid invocation: {error}; its Data was dead-lettered"));
                return (StatusCode::OK, resp, report);
            }
        };
        report.records = entries.len();
        let mut orders = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(ev) = dead.readable(req, entry, MAX_RECORD_BYTES) else { continue };
            let checked = decode_text::<OrderConfirmed>(&ev.value)
                .map_err(|e| (e.code(), e.to_string()))
                .and_then(|o| o.data.check().map(|()| o));
            match checked {
                Ok(order) => orders.push((ev, order)),
                Err((code, reason)) => dead.record(&ev, code, reason),
            }
        }
        // The verdict's time is the order event's own: every delivery of it gives the same.
        let batch: Vec<scorer::Order> = orders.iter().map(|(_, o)| (&o.data, o.time)).collect();
        let last_attempt = req.is_last_attempt();
        match scorer::score_batch(self.docs.as_ref(), &self.config.model, &batch).await {
            Ok(scored) => scored.into_iter().for_each(|s| emit(s, &mut resp, &mut report)),
            Err(e) if e.error.is_transient() && !last_attempt => retry_later(&e.order_id, &e.error, &mut report),
            // The last attempt, or a stored document that cannot be read: one order at a time,
            // so that what fails is each order's own and the rest are scored.
            Err(_) => {
                for (i, (ev, order)) in orders.iter().enumerate() {
                    let (one, after) = (&batch[i..=i], &batch[i + 1..]);
                    match scorer::score_before(self.docs.as_ref(), &self.config.model, one, after).await {
                        Ok(mut s) => emit(s.remove(0), &mut resp, &mut report),
                        Err(e) if e.error.is_transient() && !last_attempt => {
                            retry_later(&order.data.order_id, &e.error, &mut report);
                            break;
                        }
                        Err(e) => {
                            let code = if e.error.is_transient() { "retries_exhausted" } else { "store_rejected" };
                            dead.record(ev, code, e.error.to_string());
                        }
                    }
                }
            }
        }
        report.dead_lettered = dead.len();
        dead.write_to(&mut resp);
        let r = &report;
        tracing::info!(
            records = r.records,
            scored = r.scored,
            redelivered = r.redelivered,
            dead_lettered = r.dead_lettered,
            retry = r.retry.is_some(),
            "batch done"
        );
        resp.log_fields(
            "batch done",
            serde_json::json!({"records": r.records, "scored": r.scored, "redelivered": r.redelivered,
                "dead_lettered": r.dead_lettered, "retry": r.retry.is_some()}),
        );
        if let Some(order) = &report.retry {
            resp.log(format!("state store unavailable at order {order}; failing the invocation for a retry"));
            return (StatusCode::INTERNAL_SERVER_ERROR, resp, report);
        }
        (StatusCode::OK, resp, report)
    }
}

/// A scored order's verdict goes to the `scores` output, keyed by order id.
fn emit(s: scorer::Scored, resp: &mut InvocationResponse, report: &mut BatchReport) {
    let d = &s.verdict.event.data;
    tracing::info!(order_id = %d.order_id, score = d.score, decision = ?d.decision, redelivery = s.redelivery, "order scored");
    if s.redelivery {
        report.redelivered += 1;
    } else {
        report.scored += 1;
    }
    let Published { event, json } = s.verdict;
    // The text moves into the output as it is (a RawValue is a str), not copied.
    let text = String::from(Box::<str>::from(json));
    resp.push_output(SCORES_BINDING, json!({"Key": event.key(), "Value": text}));
}

/// The rest of the batch would meet the same store: the host retries it all, and the orders
/// scored so far re-emit their stored verdicts.
fn retry_later(order_id: &domain::values::OrderId, error: &domain::ports::PortError, report: &mut BatchReport) {
    tracing::warn!(order_id = %order_id, error = %error, "state store unavailable; the host will retry the batch");
    report.retry = Some(order_id.to_string());
}

impl platform_azure::handler_app::Invocations for Scorer {
    const NAME: &'static str = NAME;
    fn dead_letters(&self) -> (&str, &DeadLetterPolicy) {
        (DLQ_BINDING, &self.config.dead_letters)
    }
    async fn invoke(&self, req: &InvocationRequest) -> (StatusCode, InvocationResponse) {
        let (status, resp, _) = self.handle(req).await;
        (status, resp)
    }
}

/// The custom handler: one route per function folder, behind a body limit as large as the host's
/// biggest batch.
pub fn app(scorer: Arc<Scorer>, max_body_bytes: usize) -> Router {
    platform_azure::handler_app::router(scorer, &FUNCTIONS.map(|(name, _)| name), max_body_bytes)
}

/// The body limit for this app's host.json batch size, from the environment.
pub fn max_body_bytes(env: &Env) -> Result<usize, ConfigError> {
    platform_azure::max_invocation_bytes(env, platform_azure::host_max_batch_size(HOST_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
            .filter(|b| b["direction"] == "out" && b["type"] == "kafka")
            .filter_map(|b| Some((b["name"].as_str()?, b["topic"].as_str()?)))
            .collect();
        assert_eq!(outputs, [(SCORES_BINDING, topics::FRAUD_SCORED), (DLQ_BINDING, topics::CHECKOUT_DLQ)]);
        assert!(f["retry"]["maxRetryCount"].as_u64().is_some_and(|n| n > 0), "the host must retry failed batches");
        let host: Value = serde_json::from_str(HOST_JSON).expect("host.json is JSON");
        assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], env!("CARGO_PKG_NAME"));
    }

    #[test]
    fn an_unknown_model_version_is_a_configuration_error_naming_it() {
        let err = Config::from_env(&Env::fixed([("FRAUD_MODEL_VERSION", "v7")])).unwrap_err().to_string();
        assert!(err.contains("\"v7\" is not a model in this build"), "{err}");
        let config = Config::from_env(&Env::fixed([])).expect("defaults");
        assert_eq!((config.model.version.as_str(), config.dead_letters.topic.as_str()), ("v1", "checkout.dlq"));
    }
}
