//! A DynamoDB table's stream (view `NEW_AND_OLD_IMAGES`), as Lambda's event source mapping reads
//! it: every write of the table appends one record to the shard of its partition key, with a
//! sequence number that grows along the stream (so one key's changes keep their order), the
//! item's keys, its images before and after in DynamoDB's JSON (`{"S": …}`), and the time of the
//! change. Shards neither split nor expire here: a local run is far inside the 24-hour retention.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// How many shards the stream spreads its keys over (DynamoDB has one per table partition).
pub const SHARDS: usize = 4;

/// One record of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: &'static str,
    /// Decimal digits, as DynamoDB's (it only grows, within a shard and across them).
    pub sequence_number: String,
    pub shard: usize,
    pub keys: Value,
    pub old_image: Option<Value>,
    pub new_image: Option<Value>,
    pub at: DateTime<Utc>,
}

impl ChangeRecord {
    /// The record as Lambda's event source mapping hands it over (`Records[]` of the event).
    pub fn to_lambda(&self, table_arn: &str, stream_label: &str) -> Value {
        let mut change = json!({
            "ApproximateCreationDateTime": self.at.timestamp(),
            "Keys": self.keys,
            "SequenceNumber": self.sequence_number,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        let images = [("NewImage", &self.new_image), ("OldImage", &self.old_image)];
        let mut size = self.keys.to_string().len();
        for (name, image) in images {
            if let Some(image) = image {
                size += image.to_string().len();
                change[name] = image.clone();
            }
        }
        change["SizeBytes"] = json!(size);
        json!({
            "eventID": self.event_id,
            "eventName": self.event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-1",
            "dynamodb": change,
            "eventSourceARN": format!("{table_arn}/stream/{stream_label}"),
        })
    }
}

/// The stream of one table; clones share it.
#[derive(Clone)]
pub struct ChangeFeed {
    state: Arc<Mutex<Vec<Vec<ChangeRecord>>>>,
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::with_clock(Arc::new(Utc::now))
    }
}

/// A partition key's shard: FNV-1a, the same in every run.
pub fn shard_of(partition_key: &str) -> usize {
    domain::fnv::fnv1a(partition_key) as usize % SHARDS
}

impl ChangeFeed {
    /// A stream whose records take their time from `clock`.
    pub fn with_clock(clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>) -> Self {
        ChangeFeed { state: Arc::new(Mutex::new(vec![Vec::new(); SHARDS])), clock }
    }

    /// Appends the change of the item at `keys` from `old` to `new` (DynamoDB JSON images).
    pub fn append(&self, partition_key: &str, keys: Value, old: Option<Value>, new: Option<Value>) {
        let event_name = match (&old, &new) {
            (None, _) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
        };
        let shard = shard_of(partition_key);
        let mut shards = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let n: usize = shards.iter().map(Vec::len).sum::<usize>() + 1;
        // 21 digits and no leading zero, as DynamoDB's: as text they sort as numbers do.
        let sequence_number = format!("1{n:020}");
        let event_id = format!("{:032x}", n as u128 * 0x9e37_79b9_7f4a_7c15);
        let record = ChangeRecord {
            event_id,
            event_name,
            sequence_number,
            shard,
            keys,
            old_image: old,
            new_image: new,
            at: (self.clock)(),
        };
        shards[shard].push(record);
    }

    /// Up to `max` records of `shard` after the sequence number `after` (from the trim horizon
    /// when None), in order.
    pub fn after(&self, shard: usize, after: Option<&str>, max: usize) -> Vec<ChangeRecord> {
        let shards = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(records) = shards.get(shard) else { return Vec::new() };
        let from = after
            .map_or(0, |seq| records.iter().position(|r| r.sequence_number.as_str() > seq).unwrap_or(records.len()));
        records[from..].iter().take(max).cloned().collect()
    }

    /// Every record, shard by shard, in order.
    pub fn all(&self) -> Vec<ChangeRecord> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).concat()
    }
}

/// A JSON value in DynamoDB's JSON, as the DynamoDB adapter stores it (`to_attribute`).
pub fn to_dynamodb_json(v: &Value) -> Value {
    match v {
        Value::Null => json!({"NULL": true}),
        Value::Bool(b) => json!({"BOOL": b}),
        Value::Number(n) => json!({"N": n.to_string()}),
        Value::String(s) => json!({"S": s}),
        Value::Array(a) => json!({"L": a.iter().map(to_dynamodb_json).collect::<Vec<_>>()}),
        Value::Object(o) => {
            json!({"M": o.iter().map(|(k, v)| (k.clone(), to_dynamodb_json(v))).collect::<Map<String, Value>>()})
        }
    }
}

/// The item the DynamoDB adapter writes for a document: its keys `pk` and `id`, its version `v`,
/// the `top_level` members of the body as attributes of their own, and the rest as `body`.
pub fn document_item(pk: &str, id: &str, version: u64, body: &Value, top_level: &[&str]) -> Value {
    let mut body = body.clone();
    let mut item = Map::new();
    item.insert("pk".into(), json!({"S": pk}));
    item.insert("id".into(), json!({"S": id}));
    item.insert("v".into(), json!({"N": version.to_string()}));
    if let Value::Object(members) = &mut body {
        for name in top_level {
            if let Some(v) = members.remove(*name) {
                item.insert((*name).into(), to_dynamodb_json(&v));
            }
        }
    }
    item.insert("body".into(), to_dynamodb_json(&body));
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_keys_changes_keep_their_order_in_its_shard_and_numbers_only_grow() {
        let feed = ChangeFeed::default();
        let keys = |pk: &str| json!({"pk": {"S": pk}, "id": {"S": "order"}});
        for n in 0..3 {
            let old = (n > 0).then(|| json!({"n": {"N": (n - 1).to_string()}}));
            feed.append("A1", keys("A1"), old, Some(json!({"n": {"N": n.to_string()}})));
            feed.append("B7", keys("B7"), None, Some(json!({})));
        }
        let a = feed.after(shard_of("A1"), None, 10);
        let names: Vec<&str> = a.iter().filter(|r| r.keys == keys("A1")).map(|r| r.event_name).collect();
        assert_eq!(names, ["INSERT", "MODIFY", "MODIFY"]);
        let all = feed.all();
        for shard in 0..SHARDS {
            let seqs: Vec<&String> = all.iter().filter(|r| r.shard == shard).map(|r| &r.sequence_number).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        }
        let second = &a[1];
        assert_eq!(feed.after(second.shard, Some(&second.sequence_number), 10)[0], a[2]);
        assert_eq!(feed.after(second.shard, Some(&a.last().expect("records").sequence_number), 10), vec![]);
    }

    #[test]
    fn an_item_is_laid_out_as_the_dynamodb_adapter_writes_it() {
        let body = json!({"id": "order", "pk": "A1", "state": "paid", "record": {"n": 1, "ok": true, "none": null}});
        let item = document_item("A1", "order", 2, &body, &["state", "changed_at"]);
        assert_eq!(
            item,
            json!({"pk": {"S": "A1"}, "id": {"S": "order"}, "v": {"N": "2"}, "state": {"S": "paid"},
                   "body": {"M": {"id": {"S": "order"}, "pk": {"S": "A1"},
                                  "record": {"M": {"n": {"N": "1"}, "ok": {"BOOL": true}, "none": {"NULL": true}}}}}})
        );
    }
}
