//! merch-normalizer (GCP Cloud Run, Pub/Sub push of `erp-changes`): validates and normalises ERP
//! price/inventory records into canonical events on Kafka, keyed by sku. A record that can never
//! succeed goes to `merch.dlq` with its reason. The push is acknowledged (2xx) only after the
//! publish succeeded; otherwise 503 makes Pub/Sub redeliver.
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::events::DeadLetter;
use domain::merch::{ErpFormat, MerchChange, normalize};
use domain::ports::{OutboundMessage, PortError, Publisher};
use platform_gcp::oidc::{OidcVerifier, protect};
use platform_gcp::push::{PushError, PushedMessage, from_http};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "merch-normalizer";

/// Topic names from `MERCH_DLQ_TOPIC` (default `merch.dlq`); canonical topics are the events' own.
#[derive(Debug, Clone)]
pub struct Config {
    pub dlq_topic: String,
}

impl Config {
    pub fn from_env() -> Self {
        Config {
            dlq_topic: std::env::var("MERCH_DLQ_TOPIC").unwrap_or_else(|_| domain::events::topics::MERCH_DLQ.into()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config { dlq_topic: domain::events::topics::MERCH_DLQ.into() }
    }
}

/// What happened to one pushed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Published { topic: String, key: String, event_id: String },
    DeadLettered { reason_code: String, reason: String },
}

pub struct Normalizer {
    pub publisher: Arc<dyn Publisher>,
    pub config: Config,
}

impl Normalizer {
    pub fn new(publisher: Arc<dyn Publisher>, config: Config) -> Self {
        Normalizer { publisher, config }
    }

    /// Handles one pushed message. `Err` means "not acknowledged": the publish did not succeed.
    pub async fn handle(&self, msg: &PushedMessage) -> Result<Outcome, PortError> {
        let data = match &msg.data {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(message_id = %msg.message_id, reason = %e, "ERP record rejected");
                return self.dead_letter(e.code(), e.to_string(), msg, &msg.raw_data).await;
            }
        };
        let format = ErpFormat::detect(msg.attributes.get("format").map(String::as_str), data);
        match normalize(data, format) {
            Ok(change) => self.publish(change).await,
            Err(rejection) => {
                tracing::warn!(message_id = %msg.message_id, reason = %rejection, "ERP record rejected");
                self.dead_letter(rejection.code(), rejection.to_string(), msg, data).await
            }
        }
    }

    /// A push body that is not a Pub/Sub message at all: keep it in the DLQ rather than bounce it
    /// until Pub/Sub gives up.
    pub async fn handle_unreadable(&self, body: &[u8], err: &PushError) -> Result<Outcome, PortError> {
        tracing::warn!(error = %err, "unreadable push request");
        let origin = format!("http:unreadable-{:016x}", fnv1a(body));
        let kept = &body[..body.len().min(domain::merch::MAX_RECORD_BYTES)];
        self.publish_dead_letter(err.code(), err.to_string(), origin, kept, chrono::Utc::now()).await
    }

    async fn publish(&self, change: MerchChange) -> Result<Outcome, PortError> {
        let key = change.sku().to_string();
        let msg = OutboundMessage::new(change.topic(), key.clone(), change.to_json())
            .with_header("ce_id", change.id())
            .with_header("content-type", "application/cloudevents+json");
        self.publisher.publish(msg).await?;
        tracing::info!(event_id = change.id(), topic = change.topic(), sku = %key, "published");
        Ok(Outcome::Published { topic: change.topic().into(), key, event_id: change.id().into() })
    }

    /// Dead letters carry the message's publish time, so a redelivered bad record yields the same one.
    async fn dead_letter(
        &self,
        code: &str,
        reason: String,
        msg: &PushedMessage,
        payload: &[u8],
    ) -> Result<Outcome, PortError> {
        let origin = format!("pubsub:{}", msg.message_id);
        self.publish_dead_letter(code, reason, origin, payload, msg.publish_time).await
    }

    async fn publish_dead_letter(
        &self,
        code: &str,
        reason: String,
        origin: String,
        payload: &[u8],
        time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Outcome, PortError> {
        let event = DeadLetter::new(code, reason.clone(), NAME, origin, payload, None).into_event(time);
        let msg =
            OutboundMessage::new(&self.config.dlq_topic, event.key(), event.to_json()).with_header("ce_id", &event.id);
        self.publisher.publish(msg).await?;
        Ok(Outcome::DeadLettered { reason_code: code.into(), reason })
    }
}

/// FNV-1a: a stable name for a body that has no message id.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The Cloud Run service: `POST /` takes a push in any of its three forms.
pub fn app(normalizer: Arc<Normalizer>, verifier: Option<Arc<OidcVerifier>>) -> Router {
    protect(Router::new().route("/", post(push)).with_state(normalizer), verifier)
}

async fn push(State(n): State<Arc<Normalizer>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let result = match from_http(&headers, &body) {
        Ok(msg) => {
            let span = tracing::info_span!("invocation", function = NAME, event_id = %msg.message_id, form = ?msg.form);
            n.handle(&msg).instrument(span).await
        }
        Err(e) => n.handle_unreadable(&body, &e).await,
    };
    match result {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(e) => {
            tracing::error!(error = %e, "not acknowledged; Pub/Sub will redeliver");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
