//! merch-normalizer (GCP Cloud Run, Pub/Sub push of `erp-changes`): validates and normalises ERP
//! price/inventory records into canonical events on Kafka, keyed by sku. A record that can never
//! succeed (bad content, or a slot its ERP system does not own) goes to `merch.dlq` with its
//! reason. The push is acknowledged (2xx) only after the publish succeeded; otherwise 503 makes
//! Pub/Sub redeliver.
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy, Rejected};
use domain::merch::{ErpFormat, MerchChange, normalize};
use domain::ownership::SlotOwners;
use domain::ports::{OutboundMessage, PortError, Publisher};
use platform_gcp::PushGuard;
use platform_gcp::push::{PushError, PushedMessage, from_http};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "merch-normalizer";

/// `MERCH_DLQ_TOPIC` (default `merch.dlq`), `DEAD_LETTER_MAX_PAYLOAD_BYTES` (default 64 KiB),
/// `SLOT_OWNERS` (the slot owner table as JSON; default the checked-in one). Canonical topics
/// are the events' own.
#[derive(Debug, Clone)]
pub struct Config {
    pub dead_letters: DeadLetterPolicy,
    pub owners: SlotOwners,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let topic = env.get_or("MERCH_DLQ_TOPIC", domain::events::topics::MERCH_DLQ);
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        let owners = SlotOwners::configured(env.get("SLOT_OWNERS").as_deref()).map_err(ConfigError)?;
        Ok(Config { dead_letters: DeadLetterPolicy::new(NAME, topic).with_max_payload_bytes(max), owners })
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
        let checked =
            normalize(data, format).map_err(|r| (r.code(), r.to_string())).and_then(|c| self.config.owners.admit(c));
        match checked {
            Ok(change) => self.publish(change).await,
            Err((code, reason)) => {
                tracing::warn!(message_id = %msg.message_id, reason_code = code, %reason, "ERP record rejected");
                self.dead_letter(code, reason, msg, data).await
            }
        }
    }

    /// A push body that is not a Pub/Sub message at all: keep it in the DLQ rather than bounce it
    /// until Pub/Sub gives up.
    pub async fn handle_unreadable(&self, body: &[u8], err: &PushError) -> Result<Outcome, PortError> {
        tracing::warn!(error = %err, "unreadable push request");
        let origin = format!("request:{}", &domain::dead_letter::sha256_hex(body)[..16]);
        self.publish_dead_letter(err.code(), err.to_string(), origin, body, chrono::Utc::now()).await
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
        let rejected = Rejected { code, reason: reason.clone(), origin, payload, key: None };
        self.publisher.publish(self.config.dead_letters.message(rejected, time)).await?;
        Ok(Outcome::DeadLettered { reason_code: code.into(), reason })
    }
}

/// The Cloud Run service: `POST /` takes a push in any of its three forms, behind the guard's
/// body limit and token check.
pub fn app(normalizer: Arc<Normalizer>, guard: &PushGuard) -> Router {
    guard.apply(Router::new().route("/", post(push)).with_state(normalizer))
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
