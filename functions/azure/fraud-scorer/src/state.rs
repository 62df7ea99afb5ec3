//! The scorer's state in one document container partitioned by `/pk` (Cosmos DB, or its
//! in-memory twin):
//! - `customer:<customer id>` and `card:<fingerprint hash>`: the latest orders of a customer and
//!   of a card (ids, confirmation times, totals), what the velocity and amount rules read;
//! - `verdict:<order id>`: the first `fraud.scored` event of an order, as published.
//!
//! A batch reads each history it needs once, scores its orders in turn against them, writes each
//! changed history once and then stores the verdicts (`Histories`): on Cosmos DB that is one
//! read and one write per customer and card of the batch instead of per order.
//!
//! Order of writes, for at-least-once delivery: an order is recorded in its histories first and
//! its verdict last. A crash in between leaves the order in its histories without a verdict; the
//! redelivery scores it again (the rules never count an order against itself, nor one after it
//! in its batch) and stores the verdict. Once a verdict is stored, every redelivery re-emits it:
//! the first result wins.
use crate::signals::PastOrder;
use domain::cloudevent::CloudEvent;
use domain::dead_letter::sha256_hex;
use domain::events::FraudScored;
use domain::ports::{Documents, Etag, PortError, document, read_document};
use domain::values::{CustomerId, OrderId};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde::Deserialize;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};

/// How many reads or writes of the scorer's documents one invocation keeps in flight: on Cosmos
/// DB each is a round trip, and a batch of 500 orders done one at a time would wait on over a
/// thousand of them in a row.
pub const IN_FLIGHT: usize = 16;

/// Runs `operations` with at most IN_FLIGHT of them at once, and gives their results in order.
/// Each is made only when there is room for it: a batch's 500 futures of a few hundred bytes
/// each, made up front, were half a megabyte of fresh memory to fault in and copy.
pub async fn in_flight<F: Future>(operations: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let operations = operations.into_iter();
    let mut results = Vec::with_capacity(operations.size_hint().0);
    let mut running = FuturesOrdered::new();
    for operation in operations {
        if running.len() == IN_FLIGHT
            && let Some(done) = running.next().await
        {
            results.push(done);
        }
        running.push_back(operation);
    }
    while let Some(done) = running.next().await {
        results.push(done);
    }
    results
}

async fn write_history(
    docs: &dyn Documents,
    key: &str,
    etag: Option<&Etag>,
    orders: &[PastOrder],
) -> Result<Etag, PortError> {
    let body = document(&StateDocument { id: key, pk: key, keeps: Orders { orders } })?;
    match etag {
        Some(etag) => docs.replace(key, key, body, etag).await,
        None => docs.create(key, key, body).await,
    }
}

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

/// A stored document of the scorer: its key (`id`, `pk`) and what it keeps, a history's
/// `orders` or a verdict's `event` (as published). Read back, only what it keeps is read.
#[derive(Serialize)]
struct StateDocument<'a, T: Serialize> {
    id: &'a str,
    pk: &'a str,
    #[serde(flatten)]
    keeps: T,
}

#[derive(Serialize, Deserialize)]
struct Orders<O> {
    orders: O,
}

#[derive(Serialize, Deserialize)]
struct Verdict<E> {
    event: E,
}

pub async fn read_history(docs: &dyn Documents, key: &HistoryKey) -> Result<StoredHistory, PortError> {
    let Some(doc) = docs.read(key.as_str(), key.as_str()).await? else { return Ok(StoredHistory::default()) };
    let Orders { orders } = read_document::<Orders<Vec<PastOrder>>>(&doc.body, key.as_str())?;
    Ok(StoredHistory { orders, etag: Some(doc.etag) })
}

/// The histories one batch of orders reads and writes: each read once, brought up to date in
/// memory order by order, and written once under the etag it was read with.
#[derive(Debug, Default)]
pub struct Histories {
    by_key: HashMap<String, (StoredHistory, Vec<PastOrder>)>,
    keep: usize,
}

impl Histories {
    /// Reads every history in `keys` once. The orders of the batch (`batch`) are left out of
    /// what is read, as if not recorded yet: an earlier attempt (or a lost etag race) may have
    /// recorded some of them. Each comes back in its turn, as it is scored (`add`) or, if it has
    /// its verdict already, as it was stored (`restore`), so an order never sees one that comes
    /// after it in its batch, whatever happened before.
    pub async fn read(
        docs: &dyn Documents,
        keys: &[&HistoryKey],
        batch: &HashSet<&OrderId>,
        keep: usize,
    ) -> Result<Self, PortError> {
        let mut unique: Vec<&HistoryKey> = keys.to_vec();
        unique.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        unique.dedup();
        let mut reads = Vec::with_capacity(unique.len());
        for key in &unique {
            reads.push(read_history(docs, key));
        }
        let stored = in_flight(reads).await.into_iter().collect::<Result<Vec<StoredHistory>, _>>()?;
        let by_key = unique
            .iter()
            .zip(stored)
            .map(|(key, stored)| {
                let current = stored.orders.iter().filter(|p| !batch.contains(&p.order_id)).cloned().collect();
                (key.as_str().to_string(), (stored, current))
            })
            .collect();
        Ok(Histories { by_key, keep: keep.max(1) })
    }

    /// Puts an order of the batch back as it was stored, if it was (one whose verdict is
    /// stored already: it is seen by the orders after it, and only by them).
    pub fn restore(&mut self, key: &HistoryKey, order_id: &OrderId) {
        let Some((stored, _)) = self.by_key.get(key.as_str()) else { return };
        if let Some(past) = stored.orders.iter().find(|p| &p.order_id == order_id).cloned() {
            self.add(key, &past);
        }
    }

    /// The orders of a history as they stand (empty if it was not read).
    pub fn get(&self, key: &HistoryKey) -> &[PastOrder] {
        self.by_key.get(key.as_str()).map(|(_, current)| current.as_slice()).unwrap_or_default()
    }

    /// Adds `order`, keeping the `keep` latest by confirmation time (latest first, then by id).
    pub fn add(&mut self, key: &HistoryKey, order: &PastOrder) {
        let Some((_, orders)) = self.by_key.get_mut(key.as_str()) else { return };
        if orders.iter().any(|p| p.order_id == order.order_id) {
            return;
        }
        let at = orders.partition_point(|p| {
            p.confirmed_at > order.confirmed_at || (p.confirmed_at == order.confirmed_at && p.order_id < order.order_id)
        });
        orders.insert(at, order.clone());
        orders.truncate(self.keep);
    }

    /// Writes every history that changed, each under the etag it was read with. Returns false
    /// if someone wrote one of them in between (read again and start over); the others stay
    /// written, which `read` allows for.
    pub async fn write(&self, docs: &dyn Documents) -> Result<bool, PortError> {
        let mut writes = Vec::new();
        for (key, (stored, orders)) in &self.by_key {
            if *orders != stored.orders {
                writes.push(write_history(docs, key, stored.etag.as_ref(), orders));
            }
        }
        let mut lost_a_race = false;
        for written in in_flight(writes).await {
            match written {
                Ok(_) => {}
                Err(PortError::PreconditionFailed | PortError::AlreadyExists) => lost_a_race = true,
                Err(e) => return Err(e),
            }
        }
        Ok(!lost_a_race)
    }
}

fn verdict_id(order: &OrderId) -> String {
    format!("verdict:{order}")
}

/// An order's verdict as published: the event, and its JSON text, made once for both the
/// verdict document and the `scores` output.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: CloudEvent<FraudScored>,
    pub json: Box<RawValue>,
}

/// Equal when the same event as the same text.
impl PartialEq for Published {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event && self.json.get() == other.json.get()
    }
}

impl Published {
    pub fn new(event: CloudEvent<FraudScored>) -> Result<Self, PortError> {
        let json = serde_json::value::to_raw_value(&event).map_err(|e| PortError::Rejected(e.to_string()))?;
        Ok(Published { event, json })
    }
}

/// The verdict already published for this order, if any. Its text is made again from the stored
/// event, not taken as the store returns it (a store may escape differently): every
/// redelivery publishes the bytes the first delivery did.
pub async fn read_verdict(docs: &dyn Documents, order: &OrderId) -> Result<Option<Published>, PortError> {
    let id = verdict_id(order);
    let Some(doc) = docs.read(&id, &id).await? else { return Ok(None) };
    let Verdict { event } = read_document::<Verdict<CloudEvent<FraudScored>>>(&doc.body, &id)?;
    Published::new(event).map(Some)
}

/// The verdict that `keep_first_verdict` found stored.
#[derive(Debug)]
pub enum Kept {
    /// Ours, just stored (or stored as it is by an earlier attempt).
    Ours(Published),
    /// Another instance scored the same order first, differently: its verdict wins.
    Theirs(Published),
}

/// Stores the verdict unless one is there already, and returns the one that is stored: if
/// another instance scored the same order first, its verdict wins and is what we publish too.
pub async fn keep_first_verdict(docs: &dyn Documents, verdict: Published) -> Result<Kept, PortError> {
    let id = verdict_id(&verdict.event.data.order_id);
    let body = document(&StateDocument { id: &id, pk: &id, keeps: Verdict { event: &verdict.json } })?;
    match docs.create(&id, &id, body).await {
        Ok(_) => Ok(Kept::Ours(verdict)),
        Err(PortError::AlreadyExists) => {
            let stored = read_verdict(docs, &verdict.event.data.order_id)
                .await?
                .ok_or_else(|| PortError::Unavailable(format!("{id} exists but could not be read back")))?;
            Ok(if stored.event == verdict.event { Kept::Ours(verdict) } else { Kept::Theirs(stored) })
        }
        Err(e) => Err(e),
    }
}
