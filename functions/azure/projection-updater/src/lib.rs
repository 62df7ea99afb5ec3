//! projection-updater (Azure Functions custom handler, Kafka trigger, cardinality many): keeps one
//! Cosmos DB document per sku with the newest price per region and stock per location.
//!
//! Per batch: records that can never succeed (not a Kafka event, not a canonical change, too
//! large) go to the `deadLetters` output binding with a reason; the rest are grouped by sku and
//! applied under etags (`store.rs`). If the store is unavailable the invocation fails (500) so
//! the host retries it under the function's retry policy (the batch is idempotent); on the last
//! retry the records still failing are dead-lettered instead, so nothing is lost.
pub mod store;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use domain::events::DeadLetter;
use domain::merch::MerchChange;
use domain::ports::Documents;
use platform_azure::kafka_trigger::{KafkaEventData, events};
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "projection-updater";
/// The function folders of this app; the host POSTs each to `/<folder>`.
pub const FUNCTIONS: [(&str, &str); 2] = [
    ("price-changed", include_str!("../price-changed/function.json")),
    ("inventory-changed", include_str!("../inventory-changed/function.json")),
];
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

pub struct Updater {
    pub docs: Arc<dyn Documents>,
}

impl Updater {
    pub fn new(docs: Arc<dyn Documents>) -> Self {
        Updater { docs }
    }

    /// Handles one invocation; the status is what the custom handler answers the host.
    pub async fn handle(&self, req: &InvocationRequest) -> (StatusCode, InvocationResponse, BatchReport) {
        let mut resp = InvocationResponse::default();
        let mut report = BatchReport::default();
        let entries = match events(req, TRIGGER_BINDING) {
            Ok(e) => e,
            Err(e) => {
                resp.log(format!("invalid invocation: {e}"));
                return (StatusCode::BAD_REQUEST, resp, report);
            }
        };
        report.records = entries.len();
        // The host's clock for this invocation: dead letters of a retried batch come out the same.
        let now = req
            .sys()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s.utc_now).ok())
            .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
        let mut dl = DeadLetters { resp: &mut resp, report: &mut report, now };
        let mut by_sku: BTreeMap<String, Vec<(MerchChange, KafkaEventData)>> = BTreeMap::new();
        for entry in entries {
            match entry {
                Err((e, raw)) => dl.push("wrong_envelope", e.to_string(), "host", raw.as_bytes(), None),
                Ok(ev) if ev.value.len() > MAX_RECORD_BYTES => {
                    let reason = format!("record is {} bytes, over the {MAX_RECORD_BYTES}-byte limit", ev.value.len());
                    let head = &ev.value.as_bytes()[..MAX_RECORD_BYTES.min(4096)];
                    dl.push("oversize", reason, &ev.position(), head, ev.key.clone());
                }
                Ok(ev) => match MerchChange::decode(ev.value.as_bytes()) {
                    Ok(change) => by_sku.entry(change.sku().to_string()).or_default().push((change, ev)),
                    Err(e) => {
                        dl.push(e.code(), e.to_string(), &ev.position(), ev.value.as_bytes(), ev.key.clone());
                    }
                },
            }
        }
        let last_attempt = req.is_last_attempt();
        for (sku, items) in &by_sku {
            let changes: Vec<&MerchChange> = items.iter().map(|(c, _)| c).collect();
            match store::apply_changes(self.docs.as_ref(), sku, &changes).await {
                Ok(r) => {
                    dl.report.applied += r.applied;
                    dl.report.stale += r.stale;
                    dl.report.conflicts += r.conflicts;
                }
                Err(e) if e.is_transient() && !last_attempt => {
                    tracing::warn!(%sku, error = %e, "store unavailable; the host will retry the batch");
                    dl.report.retry.push(sku.clone());
                }
                Err(e) => {
                    // Retries spent, or the store refused for good: keep the records with the reason.
                    for (_, ev) in items {
                        let code = if e.is_transient() { "retries_exhausted" } else { "store_rejected" };
                        dl.push(code, e.to_string(), &ev.position(), ev.value.as_bytes(), ev.key.clone());
                    }
                }
            }
        }
        resp.log(format!(
            "{} records: {} applied, {} stale, {} dead-lettered, {} etag conflicts",
            report.records, report.applied, report.stale, report.dead_lettered, report.conflicts
        ));
        if !report.retry.is_empty() {
            resp.log(format!("store unavailable for {} skus; failing the invocation for a retry", report.retry.len()));
            return (StatusCode::INTERNAL_SERVER_ERROR, resp, report);
        }
        (StatusCode::OK, resp, report)
    }
}

/// Collects dead letters into the `deadLetters` output binding (the host publishes them).
struct DeadLetters<'a> {
    resp: &'a mut InvocationResponse,
    report: &'a mut BatchReport,
    now: chrono::DateTime<chrono::Utc>,
}

impl DeadLetters<'_> {
    fn push(&mut self, code: &str, reason: String, origin: &str, payload: &[u8], key: Option<String>) {
        // Inside the invocation span, so the line carries the invocation id as well as the record.
        tracing::warn!(origin, reason_code = code, %reason, "record dead-lettered");
        let event = DeadLetter::new(code, reason, NAME, format!("kafka:{origin}"), payload, key).into_event(self.now);
        let value = String::from_utf8(event.to_json()).unwrap_or_default();
        self.resp.push_output(DLQ_BINDING, json!({ "Key": event.key(), "Value": value }));
        self.report.dead_lettered += 1;
    }
}

/// The custom handler: one route per function folder, all served by the same updater.
pub fn app(updater: Arc<Updater>) -> Router {
    FUNCTIONS.iter().fold(Router::new(), |r, (name, _)| r.route(&format!("/{name}"), post(invoke))).with_state(updater)
}

async fn invoke(
    State(u): State<Arc<Updater>>,
    Json(req): Json<InvocationRequest>,
) -> (StatusCode, Json<InvocationResponse>) {
    let span = tracing::info_span!("invocation", function = NAME, event_id = %req.invocation_id());
    let (status, resp, _) = u.handle(&req).instrument(span).await;
    (status, Json(resp))
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
        let host: Value = serde_json::from_str(include_str!("../host.json")).expect("host.json is JSON");
        assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], env!("CARGO_PKG_NAME"));
    }
}
