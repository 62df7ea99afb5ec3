//! {{name}} (GCP Cloud Run, Pub/Sub push of `mirror-order-paid`, the Pub/Sub mirror of Kafka's
//! `order.paid` that kafka-pubsub-bridge publishes; OIDC-checked like every push function):
//! takes each paid order (`OrderPaid`); what it does with one goes where it says
//! `Your logic here`.
//!
//! The push is acknowledged (204) once the order is handled. A message that is not a paid order,
//! or whose order fails its checks, is dead-lettered on the Pub/Sub topic `checkout.dlq` with its
//! reason and acknowledged. If that publish (or the logic) fails, 503: Pub/Sub redelivers, so
//! what is done per order must be safe to do again.
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::cloudevent::CloudEvent;
use domain::dead_letter::DeadLetterPolicy;
use domain::events::{OrderPaid, topics};
use domain::ports::{PortError, Publisher};
use platform_gcp::PushGuard;
use platform_gcp::push::{PushedMessage, from_http};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "{{name}}";

pub struct {{Type}} {
    /// Pub/Sub, where dead letters go.
    pub pubsub: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Done { order_id: String },
    DeadLettered { code: &'static str },
}

impl {{Type}} {
    pub fn new(pubsub: Arc<dyn Publisher>) -> Self {
        Self { pubsub, dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ) }
    }

    /// `Err` means not acknowledged: Pub/Sub redelivers.
    pub async fn handle(&self, msg: &PushedMessage) -> Result<Handled, PortError> {
        let paid = match msg.decode::<OrderPaid>().and_then(|p| p.data.check().map(|()| p)) {
            Ok(paid) => paid,
            Err((code, reason)) => {
                self.pubsub.publish(msg.dead_letter(&self.dead_letters, code, reason)).await?;
                return Ok(Handled::DeadLettered { code });
            }
        };
        self.paid(&paid).await?;
        Ok(Handled::Done { order_id: paid.data.order_id.to_string() })
    }

    async fn paid(&self, paid: &CloudEvent<OrderPaid>) -> Result<(), PortError> {
        // Your logic here: an error answers 503 and Pub/Sub redelivers the push, so return one
        // only for what a retry may fix; the order's ids and time are fixed by the event, which
        // makes what is published from it the same on every delivery.
        let o = &paid.data;
        tracing::info!(order_id = %o.order_id, total = %o.total, payment_id = %o.payment_id, "order paid");
        Ok(())
    }
}

/// The Cloud Run service: `POST /` takes a push, behind the guard's body limit and token check.
pub fn app(f: Arc<{{Type}}>, guard: &PushGuard) -> Router {
    guard.apply(Router::new().route("/", post({{Type}}::push)).with_state(f))
}

impl {{Type}} {
    /// One push: 204 once handled, 503 for Pub/Sub to redeliver, 400 for what is not a push.
    async fn push(State(f): State<Arc<Self>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
        let msg = match from_http(&headers, &body) {
            Ok(m) => m,
            // Not a Pub/Sub request at all: 400, and the subscription's own dead-letter policy.
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
        };
        let span = tracing::info_span!("invocation", function = NAME, event_id = %msg.message_id);
        match f.handle(&msg).instrument(span).await {
            Ok(_) => (StatusCode::NO_CONTENT, String::new()),
            Err(e) => {
                tracing::error!(message_id = %msg.message_id, error = %e, "not handled; Pub/Sub will redeliver");
                (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inmemory::{Bus, InMemoryPubSub};

    /// The recorded push beside fulfillment's: a paid order from `mirror-order-paid`.
    const FIXTURE: &str =
        include_str!(concat!("../../../../events/gcp/pubsub-push/", env!("CARGO_PKG_NAME"), "-order-paid.json"));
    /// A push whose data is not an event at all ("not an order", base64).
    const NOT_AN_ORDER: &str = r#"{"message":{"data":"bm90IGFuIG9yZGVy","messageId":"13190563472861907",
        "publishTime":"2026-11-21T08:17:02.511Z"},"subscription":"projects/acme-merch-prod/subscriptions/s"}"#;

    fn pushed(body: &str) -> PushedMessage {
        from_http(&HeaderMap::new(), body.as_bytes()).expect("a push")
    }

    #[tokio::test]
    async fn a_paid_order_is_done_and_anything_else_is_dead_lettered_with_its_reason() {
        let pubsub = InMemoryPubSub::new(Bus::new(1));
        let function = {{Type}}::new(Arc::new(pubsub.clone()));
        let done = function.handle(&pushed(FIXTURE)).await.expect("acknowledged");
        assert_eq!(done, Handled::Done { order_id: "A200170".into() });
        let bad = function.handle(&pushed(NOT_AN_ORDER)).await.expect("acknowledged");
        assert_eq!(bad, Handled::DeadLettered { code: "malformed_json" });
        let letters = pubsub.bus.records(topics::CHECKOUT_DLQ);
        assert_eq!(letters.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["pubsub:13190563472861907"]);
    }

    #[tokio::test]
    async fn a_dead_letter_that_cannot_be_published_is_not_acknowledged() {
        let pubsub = InMemoryPubSub::new(Bus::new(1));
        pubsub.bus.outage.fail_next(1);
        let function = {{Type}}::new(Arc::new(pubsub.clone()));
        let error = function.handle(&pushed(NOT_AN_ORDER)).await.expect_err("503: Pub/Sub redelivers");
        assert!(matches!(error, PortError::Unavailable(_)), "{error}");
    }
}
