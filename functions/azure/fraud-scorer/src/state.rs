//! The scorer's state in one document container partitioned by `/pk` (Cosmos DB, or its
//! in-memory twin):
//! - `customer:<customer id>` and `card:<fingerprint hash>`: the latest orders of a customer and
//!   of a card (ids, confirmation times, totals), what the velocity and amount rules read;
//! - `verdict:<order id>`: the first `fraud.scored` event of an order, as published.
//!
//! Order of writes, for at-least-once delivery: an order is recorded in its histories first and
//! its verdict last. A crash in between leaves the order in its histories without a verdict; the
//! redelivery scores it again (the rules never count an order against itself) and stores the
//! verdict. Once a verdict is stored, every redelivery re-emits it: the first result wins.
use crate::signals::PastOrder;
use domain::cloudevent::CloudEvent;
use domain::dead_letter::sha256_hex;
use domain::events::FraudScored;
use domain::ports::{Documents, Etag, PortError};
use domain::values::{CustomerId, OrderId};
use serde::Deserialize;
use serde_json::{Value, json};

/// A history document: whose it is, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryKey(String);

impl HistoryKey {
    pub fn customer(id: &CustomerId) -> Self {
        HistoryKey(format!("customer:{id}"))
    }
    /// The fingerprint is the storefront's text; a Cosmos id cannot hold `/`, `\`, `?` or `#`,
    /// so the document is named by its hash.
    pub fn card(fingerprint: &str) -> Self {
        HistoryKey(format!("card:{}", &sha256_hex(fingerprint.as_bytes())[..32]))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A history as read, with the etag its update must match (None: not created yet).
#[derive(Debug, Clone, Default)]
pub struct StoredHistory {
    pub orders: Vec<PastOrder>,
    pub etag: Option<Etag>,
}

fn rejected(what: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Rejected(format!("stored {what} is unreadable: {e}"))
}

pub async fn read_history(docs: &dyn Documents, key: &HistoryKey) -> Result<StoredHistory, PortError> {
    let Some(doc) = docs.read(key.as_str(), key.as_str()).await? else { return Ok(StoredHistory::default()) };
    // Deserialised from the stored tree in place, not from a copy of it.
    let orders = Vec::<PastOrder>::deserialize(&doc.body["orders"]).map_err(|e| rejected(key.as_str(), e))?;
    Ok(StoredHistory { orders, etag: Some(doc.etag) })
}

/// Adds `order` to the history read as `stored`, keeping the `keep` latest by confirmation time,
/// under the etag read. Returns false if someone wrote in between (read again and start over);
/// an order already there writes nothing.
pub async fn record(
    docs: &dyn Documents,
    key: &HistoryKey,
    stored: &StoredHistory,
    order: &PastOrder,
    keep: usize,
) -> Result<bool, PortError> {
    if stored.orders.iter().any(|p| p.order_id == order.order_id) {
        return Ok(true);
    }
    let mut orders = stored.orders.clone();
    orders.push(order.clone());
    orders.sort_by(|a, b| b.confirmed_at.cmp(&a.confirmed_at).then_with(|| a.order_id.cmp(&b.order_id)));
    orders.truncate(keep.max(1));
    let body = json!({"id": key.as_str(), "pk": key.as_str(), "orders": orders});
    let written = match &stored.etag {
        Some(etag) => docs.replace(key.as_str(), key.as_str(), body, etag).await,
        None => docs.create(key.as_str(), body).await,
    };
    match written {
        Ok(_) => Ok(true),
        Err(PortError::PreconditionFailed | PortError::AlreadyExists) => Ok(false),
        Err(e) => Err(e),
    }
}

fn verdict_id(order: &OrderId) -> String {
    format!("verdict:{order}")
}

/// The verdict already published for this order, if any.
pub async fn read_verdict(docs: &dyn Documents, order: &OrderId) -> Result<Option<CloudEvent<FraudScored>>, PortError> {
    let id = verdict_id(order);
    let Some(doc) = docs.read(&id, &id).await? else { return Ok(None) };
    let event = CloudEvent::<FraudScored>::deserialize(&doc.body["event"]).map_err(|e| rejected(&id, e))?;
    Ok(Some(event))
}

/// Stores the verdict unless one is there already, and returns the one that is stored: if
/// another instance scored the same order first, its verdict wins and is what we publish too.
pub async fn keep_first_verdict(
    docs: &dyn Documents,
    event: CloudEvent<FraudScored>,
) -> Result<CloudEvent<FraudScored>, PortError> {
    let id = verdict_id(&event.data.order_id);
    let body: Value = json!({"id": id, "pk": id, "event": event});
    match docs.create(&id, body).await {
        Ok(_) => Ok(event),
        Err(PortError::AlreadyExists) => read_verdict(docs, &event.data.order_id)
            .await?
            .ok_or_else(|| PortError::Unavailable(format!("{id} exists but could not be read back"))),
        Err(e) => Err(e),
    }
}
