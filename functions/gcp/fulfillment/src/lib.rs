//! fulfillment (GCP Cloud Run, Pub/Sub push of `mirror-order-paid`, OIDC-checked like every push
//! function): for each paid order, books the sale with accounting (`accounting.entries`) and asks
//! the warehouse to dispatch it (`warehouse.dispatch`), both published with google-cloud-pubsub.
//!
//! Ids are fixed by the order (`ledger-entry-<order>`, `warehouse-dispatch-<order>`), and so is the
//! events' time (the `order.paid` event's), so a redelivered push publishes the same events and
//! consumers dedupe them. The push is acknowledged (204) only after both publishes; if either
//! fails, 503 and Pub/Sub redelivers. A message that is not a paid order, or one whose order fails
//! its checks (`OrderPaid::check`: a positive total in one currency), is dead-lettered on the
//! Pub/Sub topic `checkout.dlq` with its reason and acknowledged.
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use domain::cloudevent::{CloudEvent, DomainEvent};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::{DispatchLine, LedgerEntry, OrderPaid, WarehouseDispatch, topics};
use domain::ports::{OutboundMessage, PortError, Publisher};
use platform_gcp::PushGuard;
use platform_gcp::push::{PushedMessage, from_http};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "fulfillment";
pub const SOURCE: &str = "/gcp/fulfillment";
/// The accounts a card sale moves money between.
pub const DEBIT_ACCOUNT: &str = "1200-receivables-card-gateway";
pub const CREDIT_ACCOUNT: &str = "4000-revenue-sales";

/// `DEAD_LETTER_MAX_PAYLOAD_BYTES`; Pub/Sub's settings are `platform_gcp::pubsub::PubSubConfig`'s.
pub fn dead_letters_from_env(env: &Env) -> Result<DeadLetterPolicy, ConfigError> {
    let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
    Ok(DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ).with_max_payload_bytes(max))
}

pub struct Fulfillment {
    pub pubsub: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Booked { order_id: String },
    DeadLettered { code: &'static str },
}

/// The ledger entry and the dispatch request of a paid order.
pub fn plan(paid: &CloudEvent<OrderPaid>) -> (CloudEvent<LedgerEntry>, CloudEvent<WarehouseDispatch>) {
    let o = &paid.data;
    let entry = LedgerEntry {
        entry_id: format!("ledger-{}", o.order_id),
        order_id: o.order_id.clone(),
        debit_account: DEBIT_ACCOUNT.into(),
        credit_account: CREDIT_ACCOUNT.into(),
        amount: o.total,
    };
    let dispatch = WarehouseDispatch {
        dispatch_id: format!("dispatch-{}", o.order_id),
        order_id: o.order_id.clone(),
        lines: o.lines.iter().map(|l| DispatchLine { sku: l.sku.clone(), quantity: l.quantity }).collect(),
        ship_to_country: o.ship_to_country.clone(),
    };
    (
        CloudEvent::new(format!("ledger-entry-{}", o.order_id), SOURCE, paid.time, entry),
        CloudEvent::new(format!("warehouse-dispatch-{}", o.order_id), SOURCE, paid.time, dispatch),
    )
}

fn message<T: DomainEvent>(event: &CloudEvent<T>) -> OutboundMessage {
    // The order id orders both topics: one order's events stay in order for their readers.
    OutboundMessage::new(T::TOPIC, event.key(), event.to_json())
        .with_header("ce_id", &event.id)
        .with_header("ce_type", T::TYPE)
}

impl Fulfillment {
    /// `Err` means not acknowledged: Pub/Sub redelivers.
    pub async fn handle(&self, msg: &PushedMessage) -> Result<Handled, PortError> {
        let paid = match msg.decode::<OrderPaid>().and_then(|p| p.data.check().map(|()| p)) {
            Ok(paid) => paid,
            Err((code, reason)) => {
                self.pubsub.publish(msg.dead_letter(&self.dead_letters, code, reason)).await?;
                return Ok(Handled::DeadLettered { code });
            }
        };
        let (entry, dispatch) = plan(&paid);
        self.pubsub.publish(message(&entry)).await?;
        self.pubsub.publish(message(&dispatch)).await?;
        tracing::info!(order_id = %paid.data.order_id, amount = %paid.data.total, "booked and sent to the warehouse");
        Ok(Handled::Booked { order_id: paid.data.order_id.to_string() })
    }
}

/// The Cloud Run service: `POST /` takes a push, behind the guard's body limit and token check.
pub fn app(f: Arc<Fulfillment>, guard: &PushGuard) -> Router {
    guard.apply(Router::new().route("/", post(push)).with_state(f))
}

async fn push(State(f): State<Arc<Fulfillment>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let msg = match from_http(&headers, &body) {
        Ok(m) => m,
        // Not a Pub/Sub request at all: 400, and the subscription's own dead-letter policy.
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let span = tracing::info_span!("invocation", function = NAME, event_id = %msg.message_id);
    match f.handle(&msg).instrument(span).await {
        Ok(_) => (StatusCode::NO_CONTENT, String::new()),
        Err(e) => {
            tracing::error!(message_id = %msg.message_id, error = %e, "publish failed; Pub/Sub will redeliver");
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}
