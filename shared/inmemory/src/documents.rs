use crate::Outage;
use crate::stream::{ChangeFeed, document_item};
use async_trait::async_trait;
use domain::ports::{DocumentIndex, Documents, Etag, IndexEntry, JsonText, PortError, SparseIndex, StoredDocument};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A Cosmos DB container: documents addressed by (partition key, id), kept as the JSON text
/// Cosmos keeps; each write gives a new etag, `replace` holds only while the caller's etag is
/// current (If-Match → 412), and a body whose `id` is not the one named is refused (Cosmos: 400).
#[derive(Clone, Default)]
pub struct InMemoryDocuments {
    docs: Arc<Mutex<HashMap<(String, String), StoredDocument>>>,
    counter: Arc<AtomicU64>,
    pub outage: Arc<Outage>,
    /// The table's stream, when it is a DynamoDB table with one.
    stream: Option<Arc<Streamed>>,
}

/// A DynamoDB table's stream: each write's images as the DynamoDB adapter lays the item out.
struct Streamed {
    feed: ChangeFeed,
    top_level: &'static [&'static str],
    /// Each item's version (`v`): 1 when created, one more with each replace.
    versions: Mutex<HashMap<(String, String), u64>>,
}

impl InMemoryDocuments {
    /// A DynamoDB table whose stream (`NEW_AND_OLD_IMAGES`) is `feed`; `top_level` are the body
    /// members its items keep as attributes of their own (`DynamoDocuments::with_top_level`).
    pub fn with_stream(mut self, feed: ChangeFeed, top_level: &'static [&'static str]) -> Self {
        self.stream = Some(Arc::new(Streamed { feed, top_level, versions: Mutex::default() }));
        self
    }

    /// Appends a write to the stream, if the table has one. Called with the documents locked,
    /// so the stream's order is the writes' order.
    fn streamed(&self, pk: &str, id: &str, old: Option<&JsonText>, new: &JsonText) {
        let Some(s) = &self.stream else { return };
        let mut versions = s.versions.lock().unwrap_or_else(|p| p.into_inner());
        let version = versions.entry((pk.to_string(), id.to_string())).or_insert(0);
        let image = |v: u64, body: &JsonText| document_item(pk, id, v, &body.to_value(), s.top_level);
        let old = old.map(|body| image(*version, body));
        *version += 1;
        let keys = json!({"pk": {"S": pk}, "id": {"S": id}});
        s.feed.append(pk, keys, old, Some(image(*version, new)));
    }

    fn next_etag(&self) -> Etag {
        Etag(format!("\"{:016x}\"", self.counter.fetch_add(1, Ordering::SeqCst) + 1))
    }

    /// Every stored body in (partition key, id) order, for summaries and invariant checks.
    pub fn all(&self) -> Vec<Value> {
        let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let mut keyed: Vec<(&(String, String), &StoredDocument)> = docs.iter().collect();
        keyed.sort_by(|a, b| a.0.cmp(b.0));
        keyed.into_iter().map(|(_, d)| d.body.to_value()).collect()
    }

    /// Every document with its partition key, in (partition key, id) order: what a copy of the
    /// container needs (`local invoke --save-state`).
    pub fn keyed(&self) -> Vec<(String, Value)> {
        let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let mut keyed: Vec<(String, Value)> = docs.iter().map(|((pk, _), d)| (pk.clone(), d.body.to_value())).collect();
        keyed.sort_by(|a, b| {
            (&a.0, a.1.get("id").map(Value::to_string)).cmp(&(&b.0, b.1.get("id").map(Value::to_string)))
        });
        keyed
    }

    /// Writes behind the caller's back, as a concurrent writer would (tests of the etag path).
    pub fn touch(&self, partition_key: &str, id: &str) {
        let etag = self.next_etag();
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = docs.get_mut(&(partition_key.to_string(), id.to_string())) {
            d.etag = etag;
        }
    }
}

/// The body's own `id` must be the one the write names. Reading it scans the whole body, so it
/// is checked in debug builds (every test), not in the benchmarks' release builds: a mismatch is
/// a bug of the caller, not something a deployed function meets at run time.
fn check_id(id: &str, body: &JsonText) -> Result<(), PortError> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    match body.to_value().get("id").and_then(Value::as_str) {
        Some(own) if own == id => Ok(()),
        Some(own) => Err(PortError::Rejected(format!("document id {own:?} is not {id:?}"))),
        None => Err(PortError::Rejected("document has no string id".into())),
    }
}

#[async_trait]
impl Documents for InMemoryDocuments {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        self.outage.check("document read")?;
        let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        Ok(docs.get(&(pk.to_string(), id.to_string())).cloned())
    }

    async fn create(&self, pk: &str, id: &str, body: JsonText) -> Result<Etag, PortError> {
        self.outage.check("document create")?;
        check_id(id, &body)?;
        let etag = self.next_etag();
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (pk.to_string(), id.to_string());
        if docs.contains_key(&slot) {
            return Err(PortError::AlreadyExists);
        }
        self.streamed(pk, id, None, &body);
        docs.insert(slot, StoredDocument { body, etag: etag.clone() });
        Ok(etag)
    }

    async fn replace(&self, pk: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError> {
        self.outage.check("document replace")?;
        check_id(id, &body)?;
        let etag = self.next_etag();
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        match docs.get_mut(&(pk.to_string(), id.to_string())) {
            None => Err(PortError::Rejected(format!("document {id} not found"))),
            Some(d) if &d.etag != if_match => Err(PortError::PreconditionFailed),
            Some(d) => {
                self.streamed(pk, id, Some(&d.body), &body);
                *d = StoredDocument { body, etag: etag.clone() };
                Ok(etag)
            }
        }
    }
}

/// The index as DynamoDB keeps it: every document whose body has both key members as strings,
/// by hash value, in range order (then by key, which DynamoDB leaves open).
#[async_trait]
impl DocumentIndex for InMemoryDocuments {
    async fn at_most(
        &self,
        index: &SparseIndex,
        value: &str,
        at_most: &str,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, PortError> {
        self.outage.check("index query")?;
        let docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let mut entries: Vec<IndexEntry> = docs
            .iter()
            .filter_map(|((pk, id), d)| {
                let body = d.body.to_value();
                let hash = body.get(index.hash)?.as_str()?;
                let range = body.get(index.range)?.as_str()?;
                (hash == value && range <= at_most).then(|| IndexEntry {
                    partition_key: pk.clone(),
                    id: id.clone(),
                    range: range.to_string(),
                })
            })
            .collect();
        entries.sort_by(|a, b| (&a.range, &a.partition_key, &a.id).cmp(&(&b.range, &b.partition_key, &b.id)));
        entries.truncate(limit as usize);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn etags_guard_every_write() {
        let c = InMemoryDocuments::default();
        let e1 = c.create("A", "A", json!({"id": "A", "n": 1}).into()).await.unwrap();
        assert_eq!(c.create("A", "A", json!({"id": "A"}).into()).await, Err(PortError::AlreadyExists));
        let e2 = c.replace("A", "A", json!({"id": "A", "n": 2}).into(), &e1).await.unwrap();
        assert_ne!(e1, e2);
        let stale = c.replace("A", "A", json!({"id": "A", "n": 3}).into(), &e1).await;
        assert_eq!(stale, Err(PortError::PreconditionFailed));
        let got = c.read("A", "A").await.unwrap().unwrap();
        assert_eq!((got.body.to_value()["n"].as_i64(), got.etag), (Some(2), e2));
        assert_eq!(c.read("B", "A").await.unwrap(), None, "partition key is part of the address");
        let other = c.create("A", "B", json!({"id": "C"}).into()).await;
        assert!(matches!(other, Err(PortError::Rejected(m)) if m.contains("\"C\" is not \"B\"")));
        assert!(matches!(c.create("A", "B", json!({"n": 1}).into()).await, Err(PortError::Rejected(_))));
    }
}
