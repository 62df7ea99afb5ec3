//! The order's record in its table, shared by the two functions that write it: order-updater
//! (which applies events) and order-sweeper (which re-runs what was left). Every write is
//! conditional on the version read; effects run after the write that holds them and are taken
//! out of the record after they ran (the record is an outbox, see `machine.rs`).
use crate::layout::{OrderDocument, RECORD_ID, StoredOrder};
use crate::machine::{Effect, OrderRecord};
use domain::ports::{Carts, Documents, Etag, OutboundMessage, PortError, Publisher, document, read_document};
use std::sync::Arc;

/// The order's record and its version from the orders table alone (payment-processor reads
/// it so; it writes nothing there); (None, None) for an order not seen yet.
pub async fn read_record(orders: &dyn Documents, pk: &str) -> Result<(Option<OrderRecord>, Option<Etag>), PortError> {
    let Some(d) = orders.read(pk, RECORD_ID).await? else { return Ok((None, None)) };
    let stored: StoredOrder = read_document(&d.body, &format!("order {pk}"))?;
    Ok((Some(stored.record), Some(d.etag)))
}

/// Writes the record under the version read (create when none): its new version, or None if
/// another writer came first.
pub async fn write_record(
    orders: &dyn Documents,
    record: &OrderRecord,
    etag: Option<&Etag>,
) -> Result<Option<Etag>, PortError> {
    let pk = record.order_id.as_str();
    let body = document(&OrderDocument::of(record))?;
    let written = match etag {
        Some(etag) => orders.replace(pk, RECORD_ID, body, etag).await,
        None => orders.create(pk, RECORD_ID, body).await,
    };
    match written {
        Ok(etag) => Ok(Some(etag)),
        Err(PortError::PreconditionFailed | PortError::AlreadyExists) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Lost version races on one order beyond this many fail the attempt for a retry.
pub const MAX_ATTEMPTS: usize = 8;

pub struct OrderStore {
    pub orders: Arc<dyn Documents>,
    pub carts: Arc<dyn Carts>,
    pub bus: Arc<dyn Publisher>,
}

impl OrderStore {
    /// The order's record and its version; (None, None) for an order not seen yet.
    pub async fn read(&self, pk: &str) -> Result<(Option<OrderRecord>, Option<Etag>), PortError> {
        read_record(self.orders.as_ref(), pk).await
    }

    /// Writes the record under the version read (create when none): its new version, or None if
    /// another writer came first.
    pub async fn write(&self, record: &OrderRecord, etag: Option<&Etag>) -> Result<Option<Etag>, PortError> {
        write_record(self.orders.as_ref(), record, etag).await
    }

    /// Runs the record's pending effects, then writes it without them (see [`Self::settle`]).
    pub async fn flush(&self, mut record: OrderRecord, etag: Etag, mark: &Mark<'_>) -> Result<(), PortError> {
        let ran = std::mem::take(&mut record.pending);
        self.run(&ran).await?;
        self.settle(record, etag, &ran, mark).await
    }

    /// Writes the record with `ran` out of its pending effects and `mark` applied: under the
    /// version given, or, if another writer came in between, onto theirs (effects are
    /// idempotent, so a writer that ran some of them too did no harm).
    pub async fn settle(
        &self,
        mut record: OrderRecord,
        mut etag: Etag,
        ran: &[Effect],
        mark: &Mark<'_>,
    ) -> Result<(), PortError> {
        let pk = record.order_id.to_string();
        record.pending.retain(|e| !ran.contains(e));
        mark(&mut record);
        for _ in 0..MAX_ATTEMPTS {
            if self.write(&record, Some(&etag)).await?.is_some() {
                return Ok(());
            }
            let (Some(current), Some(current_etag)) = self.read(&pk).await? else { return Ok(()) };
            record = current;
            record.pending.retain(|e| !ran.contains(e));
            mark(&mut record);
            etag = current_etag;
        }
        Err(PortError::Unavailable(format!("order {pk}: could not clear its pending effects")))
    }

    /// Effects in order; each is idempotent, so a retry may run them all again.
    pub async fn run(&self, effects: &[Effect]) -> Result<(), PortError> {
        for effect in effects {
            match effect {
                Effect::Publish { topic, key, id, payload } => {
                    let msg = OutboundMessage::new(topic.as_str(), key.as_str(), payload.as_bytes().to_vec())
                        .with_header("ce_id", id)
                        .with_header("content-type", "application/cloudevents+json");
                    self.bus.publish(msg).await?;
                }
                Effect::EmptyCart { customer_id, skus } => {
                    for sku in skus {
                        self.carts.remove(customer_id, sku).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What else a settling write changes in the record it writes (order-sweeper's note of its
/// look); nothing for order-updater.
pub type Mark<'a> = dyn Fn(&mut OrderRecord) + Send + Sync + 'a;

/// Leaves the record as it is.
pub fn unmarked(_: &mut OrderRecord) {}
