//! The whole estate in one process on the in-memory backends. Each function is its real HTTP
//! app; the estate plays the platforms around them: Pub/Sub pushing ERP records, the Functions
//! host polling Kafka for projection-updater (commit only after success, retry with
//! RetryContext, publish the output bindings), and the Kafka→Pub/Sub bridge feeding audit-sink.
use crate::functions_host::{self, FunctionJson, parse_function_json};
use crate::oneshot::post;
use crate::pubsub_push;
use audit_sink::AuditSink;
use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::events::topics;
use domain::ports::{OutboundMessage, Publisher};
use inmemory::{Bus, InMemoryDocuments, InMemoryObjects};
use merch_normalizer::Normalizer;
use platform_azure::InvocationResponse;
use platform_gcp::PushGuard;
use projection_updater::Updater;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const AUDIT_BUCKET: &str = "estate-audit";
const ERP_SUBSCRIPTION: &str = "projects/local/subscriptions/erp-changes-merch-normalizer";
/// Topics the bridge mirrors to Pub/Sub for audit-sink.
pub const MIRRORED: [&str; 3] = [topics::PRICE_CHANGED, topics::INVENTORY_CHANGED, topics::MERCH_DLQ];

/// Every function the estate runs, by name: `local invoke` takes these.
pub const FUNCTIONS: [&str; 3] = [merch_normalizer::NAME, projection_updater::NAME, audit_sink::NAME];

/// The custom handler's body limit as deployed (host.json's batch size, the environment's sizes).
fn max_invocation_bytes() -> usize {
    projection_updater::max_body_bytes(&serve::Env::Process).unwrap_or(usize::MAX)
}

/// Counters per function: what went in, what came out, what was dead-lettered.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub pushes: u64,
    pub redeliveries: u64,
    pub invocations: u64,
    pub retries: u64,
    pub records_in: u64,
    pub dead_lettered: u64,
}

pub struct Estate {
    pub bus: Bus,
    pub objects: InMemoryObjects,
    pub docs: InMemoryDocuments,
    normalizer: Router,
    updater: Router,
    audit: Router,
    azure_functions: Vec<(String, FunctionJson)>,
    pub stats: BTreeMap<&'static str, Stats>,
    invocation: AtomicU64,
}

impl Default for Estate {
    fn default() -> Self {
        Self::new()
    }
}

impl Estate {
    pub fn new() -> Self {
        let bus = Bus::new(3);
        let objects = InMemoryObjects::default();
        let docs = InMemoryDocuments::default();
        let normalizer = Arc::new(Normalizer::new(Arc::new(bus.clone()), merch_normalizer::Config::default()));
        let updater = Arc::new(Updater::new(Arc::new(docs.clone())));
        let audit = Arc::new(AuditSink::new(Arc::new(objects.clone()), AUDIT_BUCKET));
        Estate {
            normalizer: merch_normalizer::app(normalizer, &PushGuard::local()),
            updater: projection_updater::app(updater, max_invocation_bytes()),
            audit: audit_sink::app(audit, &PushGuard::local()),
            azure_functions: projection_updater::FUNCTIONS
                .iter()
                .map(|(name, json)| (name.to_string(), parse_function_json(json)))
                .collect(),
            bus,
            objects,
            docs,
            stats: BTreeMap::new(),
            invocation: AtomicU64::new(0),
        }
    }

    /// The HTTP app of a function, by name.
    pub fn app(&self, function: &str) -> Option<&Router> {
        match function {
            merch_normalizer::NAME => Some(&self.normalizer),
            projection_updater::NAME => Some(&self.updater),
            audit_sink::NAME => Some(&self.audit),
            _ => None,
        }
    }

    /// The function folders of projection-updater's app (the routes the host POSTs to).
    pub fn azure_function_folders(&self) -> Vec<String> {
        self.azure_functions.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Output bindings (name → topic) of one projection-updater function folder.
    pub fn azure_outputs(&self, function_folder: &str) -> Vec<(String, String)> {
        self.azure_functions
            .iter()
            .find(|(n, _)| n == function_folder)
            .map(|(_, f)| f.outputs.clone())
            .unwrap_or_default()
    }

    fn stat(&mut self, f: &'static str) -> &mut Stats {
        self.stats.entry(f).or_default()
    }

    /// Pub/Sub pushes one ERP message to merch-normalizer, redelivering on a non-2xx answer as
    /// Pub/Sub does (bounded here; Pub/Sub would hand it to the subscription's dead-letter topic).
    pub async fn push_erp(
        &mut self,
        data: &[u8],
        attrs: BTreeMap<String, String>,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> StatusCode {
        let body = pubsub_push::push_body(data, attrs, message_id, at, ERP_SUBSCRIPTION);
        self.push_raw(merch_normalizer::NAME, body).await
    }

    /// Pushes a ready-made body (an envelope that may be broken) to a Cloud Run function.
    pub async fn push_raw(&mut self, function: &'static str, body: Vec<u8>) -> StatusCode {
        let Some(app) = self.app(function).cloned() else { return StatusCode::NOT_FOUND };
        self.stat(function).pushes += 1;
        for _ in 0..5 {
            let (status, _) =
                post(&app, "/", &[("content-type".into(), "application/json".into())], body.clone()).await;
            if status.is_success() {
                return status;
            }
            self.stat(function).redeliveries += 1;
        }
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The Functions host: for each function of projection-updater, polls its topic in batches,
    /// invokes, publishes output bindings, and commits only after a successful invocation.
    pub async fn run_projection_updater(&mut self, max_batch: usize) -> Result<(), RunError> {
        for (name, function) in self.azure_functions.clone() {
            let FunctionJson { trigger_topic: topic, outputs, max_retry_count: max_retry } = function;
            loop {
                let batch = self.bus.poll(projection_updater::NAME, &[topic.as_str()], max_batch);
                if batch.is_empty() {
                    break;
                }
                let mut attempt = 0;
                let resp = loop {
                    let n = self.invocation.fetch_add(1, Ordering::SeqCst);
                    let retry = (attempt > 0).then_some((attempt, max_retry));
                    let req = functions_host::kafka_trigger_request(&name, &batch, retry, n);
                    let body = serde_json::to_vec(&req).unwrap_or_default();
                    let headers = [("content-type".to_string(), "application/json".to_string())];
                    let (status, bytes) = post(&self.updater, &format!("/{name}"), &headers, body).await;
                    self.stat(projection_updater::NAME).invocations += 1;
                    if status.is_success() {
                        break serde_json::from_slice::<InvocationResponse>(&bytes).unwrap_or_default();
                    }
                    if attempt >= max_retry {
                        return Err(RunError(format!("{name}: invocation failed after {attempt} retries")));
                    }
                    attempt += 1;
                    self.stat(projection_updater::NAME).retries += 1;
                };
                self.publish_outputs(&resp, &outputs).await?;
                self.stat(projection_updater::NAME).records_in += batch.len() as u64;
                self.bus.commit(projection_updater::NAME, &batch);
            }
        }
        Ok(())
    }

    pub async fn publish_outputs(
        &mut self,
        resp: &InvocationResponse,
        outputs: &[(String, String)],
    ) -> Result<(), RunError> {
        for (binding, topic) in outputs {
            let Some(serde_json::Value::Array(items)) = resp.outputs.get(binding) else { continue };
            for item in items {
                let key = item["Key"].as_str().unwrap_or_default();
                let value = item["Value"].as_str().unwrap_or_default().as_bytes().to_vec();
                self.bus
                    .publish(OutboundMessage::new(topic.as_str(), key, value))
                    .await
                    .map_err(|e| RunError(format!("output binding {binding}: {e}")))?;
                if binding == projection_updater::DLQ_BINDING {
                    self.stat(projection_updater::NAME).dead_lettered += 1;
                }
            }
        }
        Ok(())
    }

    /// The Kafka→Pub/Sub bridge: pushes every new record of the mirrored topics to audit-sink.
    pub async fn run_audit_bridge(&mut self, max_batch: usize) -> Result<(), RunError> {
        loop {
            let batch = self.bus.poll("audit-bridge", &MIRRORED, max_batch);
            if batch.is_empty() {
                return Ok(());
            }
            for r in &batch {
                let status = self.push_raw(audit_sink::NAME, pubsub_push::mirror_push_body(r)).await;
                if !status.is_success() {
                    return Err(RunError(format!("audit-sink refused {}/{}@{}", r.topic, r.partition, r.offset)));
                }
                self.stat(audit_sink::NAME).records_in += 1;
            }
            self.bus.commit("audit-bridge", &batch);
        }
    }
}

/// Why a local run stopped: a platform step the real cloud would also have failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);
