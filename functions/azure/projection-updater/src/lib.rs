//! projection-updater (Azure Functions custom handler, Kafka trigger, cardinality many): keeps one
//! Cosmos DB document per sku with the newest price per region and stock per location.
//!
//! Per batch: records that can never succeed (not a Kafka event, not a canonical change, too
//! large, a slot its ERP system does not own) go to the `deadLetters` output binding with a
//! reason, each under its own id; a trigger binding the handler cannot read at all is kept
//! whole in one dead letter. The rest are grouped by sku and applied under etags (`store.rs`).
//! If the store is unavailable, throttled or refuses our credentials, the invocation fails (500)
//! so the host retries it under the function's retry policy (the batch is idempotent); on the
//! last retry the records still failing are dead-lettered instead, so nothing is lost.
pub mod store;

use axum::Router;
use axum::http::StatusCode;
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::merch::MerchChange;
use domain::ownership::SlotOwners;
use domain::ports::Documents;
use platform_azure::dead_letter_output::DeadLetterOutput;
use platform_azure::kafka_trigger::KafkaEventData;
use platform_azure::{InvocationRequest, InvocationResponse};
use serve::{ConfigError, Env};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const NAME: &str = "projection-updater";
/// The function folders of this app; the host POSTs each to `/<folder>`.
pub const FUNCTIONS: [(&str, &str); 2] = [
    ("price-changed", include_str!("../price-changed/function.json")),
    ("inventory-changed", include_str!("../inventory-changed/function.json")),
];
pub const HOST_JSON: &str = include_str!("../host.json");
pub const TRIGGER_BINDING: &str = "events";
pub const DLQ_BINDING: &str = "deadLetters";
/// A canonical change is a few hundred bytes; a record over this is not one.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub applied: usize,
    pub stale: usize,
    pub conflicts: usize,
    pub dead_lettered: usize,
    /// Skus whose write failed transiently on an attempt that will be retried.
    pub retry: Vec<String>,
}

/// `DEAD_LETTER_MAX_PAYLOAD_BYTES` (default 64 KiB) and `SLOT_OWNERS` (the slot owner table as
/// JSON; default the checked-in one). The dead-letter topic is the output binding's.
#[derive(Debug, Clone)]
pub struct Config {
    pub dead_letters: DeadLetterPolicy,
    pub owners: SlotOwners,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        let owners = SlotOwners::configured(env.get("SLOT_OWNERS").as_deref()).map_err(ConfigError)?;
        let dead_letters = DeadLetterPolicy::new(NAME, domain::events::topics::MERCH_DLQ).with_max_payload_bytes(max);
        Ok(Config { dead_letters, owners })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dead_letters: DeadLetterPolicy::new(NAME, domain::events::topics::MERCH_DLQ),
            owners: SlotOwners::checked_in(),
        }
    }
}

pub struct Updater {
    pub docs: Arc<dyn Documents>,
    pub config: Config,
}

impl Updater {
    pub fn new(docs: Arc<dyn Documents>) -> Self {
        Self::with_config(docs, Config::default())
    }

    pub fn with_config(docs: Arc<dyn Documents>, config: Config) -> Self {
        Updater { docs, config }
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
        let mut by_sku: BTreeMap<String, Vec<(MerchChange, KafkaEventData)>> = BTreeMap::new();
        for entry in entries {
            let Some(ev) = dead.readable(req, entry, MAX_RECORD_BYTES) else { continue };
            let checked = MerchChange::decode_text(&ev.value)
                .map_err(|e| (e.code(), e.to_string()))
                .and_then(|c| self.config.owners.admit(c));
            match checked {
                Ok(change) => match by_sku.get_mut(change.sku().as_str()) {
                    Some(items) => items.push((change, ev)),
                    None => {
                        by_sku.insert(change.sku().to_string(), vec![(change, ev)]);
                    }
                },
                Err((code, reason)) => dead.record(&ev, code, reason),
            }
        }
        let last_attempt = req.is_last_attempt();
        for (sku, items) in &by_sku {
            let changes: Vec<&MerchChange> = items.iter().map(|(c, _)| c).collect();
            match store::apply_changes(self.docs.as_ref(), sku, &changes).await {
                Ok(r) => {
                    report.applied += r.applied;
                    report.stale += r.stale;
                    report.conflicts += r.conflicts;
                }
                Err(e) if e.is_transient() && !last_attempt => {
                    tracing::warn!(%sku, error = %e, "store unavailable; the host will retry the batch");
                    report.retry.push(sku.clone());
                }
                Err(e) => {
                    // Retries spent, or the store refused for good: keep the records with the reason.
                    let code = if e.is_transient() { "retries_exhausted" } else { "store_rejected" };
                    for (_, ev) in items {
                        dead.record(ev, code, e.to_string());
                    }
                }
            }
        }
        report.dead_lettered = dead.len();
        dead.write_to(&mut resp);
        let r = &report;
        tracing::info!(
            records = r.records,
            applied = r.applied,
            stale = r.stale,
            dead_lettered = r.dead_lettered,
            conflicts = r.conflicts,
            retry = r.retry.len(),
            "batch done"
        );
        resp.log_fields(
            "batch done",
            serde_json::json!({"records": r.records, "applied": r.applied, "stale": r.stale,
                "dead_lettered": r.dead_lettered, "conflicts": r.conflicts, "retry": r.retry.len()}),
        );
        if !report.retry.is_empty() {
            resp.log(format!("store unavailable for {} skus; failing the invocation for a retry", report.retry.len()));
            return (StatusCode::INTERNAL_SERVER_ERROR, resp, report);
        }
        (StatusCode::OK, resp, report)
    }
}

impl platform_azure::handler_app::Invocations for Updater {
    const NAME: &'static str = NAME;
    fn dead_letters(&self) -> (&str, &DeadLetterPolicy) {
        (DLQ_BINDING, &self.config.dead_letters)
    }
    async fn invoke(&self, req: &InvocationRequest) -> (StatusCode, InvocationResponse) {
        let (status, resp, _) = self.handle(req).await;
        (status, resp)
    }
}

/// The custom handler: one route per function folder, all served by the same updater, behind a
/// body limit as large as the host's biggest batch (see `platform_azure::max_invocation_bytes`).
pub fn app(updater: Arc<Updater>, max_body_bytes: usize) -> Router {
    let folders = FUNCTIONS.map(|(name, _)| name);
    platform_azure::handler_app::router(updater, &folders, max_body_bytes)
}

/// The body limit for this app's host.json batch size, from the environment.
pub fn max_body_bytes(env: &Env) -> Result<usize, ConfigError> {
    platform_azure::max_invocation_bytes(env, platform_azure::host_max_batch_size(HOST_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The function folders deploy as they are: their bindings must match the names this handler
    /// reads and writes, and host.json must start this binary.
    #[test]
    fn function_json_and_host_json_agree_with_the_handler() {
        for (folder, text) in FUNCTIONS {
            let f: Value = serde_json::from_str(text).expect("function.json is JSON");
            let bindings = f["bindings"].as_array().expect("bindings");
            let trigger = bindings.iter().find(|b| b["direction"] == "in").expect("a trigger");
            assert_eq!(trigger["type"], "kafkaTrigger", "{folder}");
            assert_eq!(trigger["name"], TRIGGER_BINDING, "{folder}");
            assert_eq!(trigger["cardinality"], "many", "{folder}");
            assert_eq!(trigger["dataType"], "string", "{folder}");
            assert_eq!(trigger["topic"], format!("merch.{folder}"), "{folder}");
            let out = bindings.iter().find(|b| b["direction"] == "out").expect("an output");
            assert_eq!((out["type"].as_str(), out["name"].as_str()), (Some("kafka"), Some(DLQ_BINDING)), "{folder}");
            assert!(
                f["retry"]["maxRetryCount"].as_u64().is_some_and(|n| n > 0),
                "{folder}: the host must retry failed batches"
            );
        }
        let host: Value = serde_json::from_str(HOST_JSON).expect("host.json is JSON");
        assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], env!("CARGO_PKG_NAME"));
    }
}
