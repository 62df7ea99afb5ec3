//! image-analytics (GCP Cloud Run, Pub/Sub push of `product-images.processed`, OIDC-checked like
//! every push function): bytes and count of processed images per (size label, format) in
//! tumbling one-minute windows by the event's CloudEvent `time`, in PostgreSQL (`postgres.rs`).
//!
//! Each event is counted exactly once: its id is recorded in the same transaction as the
//! increment, and a redelivery finds it there. A late event updates its own window (the window is
//! the event's time, not the arrival's). The push is acknowledged (204) only after the commit;
//! the database unavailable → 503 and Pub/Sub redelivers. A message that is not a processed-image
//! event, or whose values the database can never store, is dead-lettered on the Pub/Sub topic
//! `images.dlq` with a reason and acknowledged.
pub mod postgres;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::{ProductImageProcessed, topics};
use domain::ports::{Counted, ImageCount, ImageTotals, PortError, Publisher};
use platform_gcp::PushGuard;
use platform_gcp::push::{PushedMessage, from_http};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "image-analytics";

/// `DEAD_LETTER_MAX_PAYLOAD_BYTES`; Pub/Sub's settings are `platform_gcp::pubsub::PubSubConfig`'s.
pub fn dead_letters_from_env(env: &Env) -> Result<DeadLetterPolicy, ConfigError> {
    let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
    Ok(DeadLetterPolicy::new(NAME, topics::IMAGES_DLQ).with_max_payload_bytes(max))
}

/// The start of the tumbling one-minute window a time falls in.
pub fn window_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::minutes(1)).unwrap_or(time)
}

pub struct ImageAnalytics {
    pub totals: Arc<dyn ImageTotals>,
    /// Pub/Sub, for dead letters.
    pub pubsub: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Counted(Counted),
    DeadLettered { code: &'static str },
}

impl ImageAnalytics {
    /// `Err` means not acknowledged: Pub/Sub redelivers.
    pub async fn handle(&self, msg: &PushedMessage) -> Result<Handled, PortError> {
        let event = match msg.decode::<ProductImageProcessed>() {
            Ok(event) => event,
            Err((code, reason)) => {
                self.pubsub.publish(msg.dead_letter(&self.dead_letters, code, reason)).await?;
                return Ok(Handled::DeadLettered { code });
            }
        };
        let d = &event.data;
        let image = ImageCount {
            event_id: &event.id,
            window_start: window_of(event.time),
            size_label: &d.size_label,
            format: d.format.as_deref().unwrap_or("jpeg"),
            bytes: d.bytes,
        };
        let counted = match self.totals.count(image).await {
            Ok(counted) => counted,
            // PostgreSQL can never store it (a NUL in a label, bytes or a window's total beyond
            // bigint): redelivering would fail the same way forever.
            Err(PortError::Rejected(reason)) => {
                let code = "store_rejected";
                self.pubsub.publish(msg.dead_letter(&self.dead_letters, code, reason)).await?;
                return Ok(Handled::DeadLettered { code });
            }
            Err(e) => return Err(e),
        };
        tracing::info!(event_id = %event.id, window = %window_of(event.time), ?counted, "image counted");
        Ok(Handled::Counted(counted))
    }
}

/// The Cloud Run service: `POST /` takes a push, behind the guard's body limit and token check.
pub fn app(analytics: Arc<ImageAnalytics>, guard: &PushGuard) -> Router {
    guard.apply(Router::new().route("/", post(push)).with_state(analytics))
}

async fn push(State(a): State<Arc<ImageAnalytics>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let msg = match from_http(&headers, &body) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let span = tracing::info_span!("invocation", function = NAME, event_id = %msg.message_id);
    match a.handle(&msg).instrument(span).await {
        Ok(_) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => {
            tracing::error!(message_id = %msg.message_id, error = %e, "not counted; Pub/Sub will redeliver");
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}
