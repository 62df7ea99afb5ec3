//! audit-sink (GCP Cloud Run, Pub/Sub push of the topics mirrored from Kafka): appends every event
//! to an immutable audit log in GCS, one NDJSON object per event, named by topic, day and event
//! id. The write is create-only, so a redelivery or a re-published duplicate rewrites nothing.
//! The record's Kafka key is stored whole, however long: `domain::mirror` puts back a key the
//! bridge carried in pieces, so a replay republishes it as it was.
pub mod replay;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::audit::AuditRecord;
use domain::cloudevent::peek_attributes;
use domain::mirror;
use domain::ports::{ObjectStore, PortError, PutOutcome};
use platform_gcp::PushGuard;
use platform_gcp::push::{PushedMessage, from_http};
use serde_json::{Value, json};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "audit-sink";
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Attributes the Kafka→Pub/Sub bridge sets on each mirrored record.
pub use platform_gcp::pubsub::attrs;

/// `AUDIT_BUCKET` (default `estate-audit`).
pub fn bucket_from_env(env: &serve::Env) -> String {
    env.get_or("AUDIT_BUCKET", "estate-audit")
}

pub struct AuditSink {
    pub store: Arc<dyn ObjectStore>,
    pub bucket: String,
}

/// The audit line for a pushed message. Total: any payload, even one that is not a CloudEvent or
/// not valid base64, is recorded as it came.
pub fn audit_record(msg: &PushedMessage) -> AuditRecord {
    let a = |k: &str| msg.attributes.get(k).cloned();
    let topic = a(attrs::TOPIC)
        .or_else(|| msg.subscription.as_ref().and_then(|s| s.rsplit('/').next()).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let (event, attributes) = match &msg.data {
        Ok(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => (v, peek_attributes(bytes).ok()),
            Err(_) => (Value::String(String::from_utf8_lossy(bytes).into_owned()), None),
        },
        Err(e) => (json!({"undecodable": e.to_string(), "raw": String::from_utf8_lossy(&msg.raw_data)}), None),
    };
    let (event_id, event_time) = match attributes {
        Some(ce) => (ce.id, ce.time),
        None => (format!("msg-{}", msg.message_id), msg.publish_time),
    };
    AuditRecord {
        topic,
        partition: a(attrs::PARTITION).and_then(|p| p.parse().ok()),
        offset: a(attrs::OFFSET).and_then(|o| o.parse().ok()),
        key: key_of(msg),
        message_id: msg.message_id.clone(),
        publish_time: msg.publish_time,
        event_id,
        event_time,
        event,
    }
}

/// The Kafka key the message carries. Pieces that do not add up to a key are logged and the
/// key left out: the event is still audited, and its topic, partition and offset find the key.
fn key_of(msg: &PushedMessage) -> Option<String> {
    mirror::decode(&msg.attributes).unwrap_or_else(|e| {
        tracing::error!(message_id = %msg.message_id, error = %e, "unreadable key attributes; audited without the key");
        None
    })
}

impl AuditSink {
    pub fn new(store: Arc<dyn ObjectStore>, bucket: impl Into<String>) -> Self {
        AuditSink { store, bucket: bucket.into() }
    }

    /// Writes the message's audit object once. `Err` means not acknowledged (retry).
    pub async fn handle(&self, msg: &PushedMessage) -> Result<(String, PutOutcome), PortError> {
        let record = audit_record(msg);
        let name = record.object_name();
        let outcome = self.store.put_if_absent(&self.bucket, &name, record.to_ndjson(), CONTENT_TYPE).await?;
        tracing::info!(event_id = %record.event_id, object = %name, ?outcome, "audited");
        Ok((name, outcome))
    }
}

/// The Cloud Run service: `POST /` takes a push, behind the guard's body limit and token check.
pub fn app(sink: Arc<AuditSink>, guard: &PushGuard) -> Router {
    guard.apply(Router::new().route("/", post(push)).with_state(sink))
}

async fn push(State(sink): State<Arc<AuditSink>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let msg = match from_http(&headers, &body) {
        Ok(m) => m,
        // Not a Pub/Sub request at all: nothing to audit; 400 and Pub/Sub's own dead-letter policy.
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let span = tracing::info_span!("invocation", function = NAME, event_id = %msg.message_id);
    match sink.handle(&msg).instrument(span).await {
        Ok(_) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => {
            tracing::error!(message_id = %msg.message_id, error = %e, "audit write failed; Pub/Sub will redeliver");
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}
