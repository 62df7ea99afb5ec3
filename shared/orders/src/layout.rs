//! The orders item, as DynamoDB keeps it and as later readers of the table (its stream among
//! them) see it:
//!
//! | attribute | what | when |
//! |---|---|---|
//! | `pk`, `id` | the order id, `"order"` | always |
//! | `v` | the version every write is conditional on (the `Documents` etag) | always |
//! | `state` | the order's state (`confirmed`, `paid`, …) | always |
//! | `changed_at` | when order-updater last changed the order, RFC 3339 UTC with milliseconds (text that sorts) | records written since it is kept |
//! | `open_shard` | `"0"`–`"7"`, a hash of the order id | only while the order is open: not terminal, or effects still to run |
//! | `sweep_at` | when the sweeper is next to look: its last look, else `changed_at` (same text form) | with `open_shard` |
//! | `body` | the rest of the document: `record` holds the whole state machine record | always |
//!
//! `open_shard` and `sweep_at` are the keys of the sparse index [`OPEN_ORDERS`]: an order leaves
//! it the moment it is settled, so the index holds only what may need a sweep, and its hash key
//! spreads them over [`SHARDS`] partitions instead of one hot `state = payment_requested`.
//! Records written before this layout (state only inside `body`) read as before; they carry no
//! `changed_at`, so they join the index at their next change.
use crate::machine::{OrderRecord, OrderState};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::ports::SparseIndex;
use serde::{Deserialize, Serialize};

/// The order's record is the item `(pk = order id, id = RECORD_ID)`.
pub const RECORD_ID: &str = "order";
/// The body members the DynamoDB adapter keeps as top-level attributes of the item.
pub const TOP_LEVEL: [&str; 4] = ["state", "changed_at", "open_shard", "sweep_at"];
/// The open orders: hash `open_shard`, range `sweep_at`, keys only.
pub const OPEN_ORDERS: SparseIndex = SparseIndex { name: "open-orders", hash: "open_shard", range: "sweep_at" };
/// How many partitions of the index the open orders are spread over; the sweeper reads each.
pub const SHARDS: u32 = 8;

/// A time as the item's sortable text: RFC 3339, UTC, always milliseconds.
pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The order's state in an item read as plain JSON (a stream image): the top-level `state`, or
/// for an item written before this layout, its record's. None: the item is not an order's.
pub fn state_of(item: &serde_json::Value) -> Option<&str> {
    item["state"].as_str().or(item["body"]["record"]["state"].as_str())
}

/// The state in a stream image read as plain JSON (None for no image), or why the image is not
/// an order's; `which` names the image in that reason.
pub fn state_in(image: Option<&serde_json::Value>, which: &str) -> Result<Option<String>, String> {
    let state =
        |i| state_of(i).map(str::to_string).ok_or_else(|| format!("{which} has no state, top-level or in body.record"));
    image.map(state).transpose()
}

/// The shard of an order id: FNV-1a, so it is the same in every build and language.
pub fn shard_of(order_id: &str) -> u32 {
    domain::fnv::fnv1a(order_id) % SHARDS
}

/// The item's document.
#[derive(Serialize)]
pub struct OrderDocument<'a> {
    id: &'static str,
    pk: &'a str,
    state: OrderState,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_shard: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep_at: Option<String>,
    record: &'a OrderRecord,
}

impl<'a> OrderDocument<'a> {
    pub fn of(record: &'a OrderRecord) -> Self {
        let pk = record.order_id.as_str();
        // Both index keys or neither: an item without its range key is not in the index.
        let (open_shard, sweep_at) = match record.sweep_at() {
            Some(at) if record.is_open() => (Some(shard_of(pk).to_string()), Some(time_text(at))),
            _ => (None, None),
        };
        OrderDocument {
            id: RECORD_ID,
            pk,
            state: record.state,
            changed_at: record.changed_at.map(time_text),
            open_shard,
            sweep_at,
            record,
        }
    }
}

/// What is read back: the record (everything else is derived from it).
#[derive(Deserialize)]
pub struct StoredOrder {
    pub record: OrderRecord,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Effect, Input, Outcome, apply};
    use crate::testing::{confirmed, scored, succeeded};
    use domain::events::FraudDecision;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn changed(record: Option<OrderRecord>, id: &str, input: Input, now: &str) -> OrderRecord {
        let Outcome::Changed { record, .. } = apply(record, id, at("2026-11-20T10:00:00Z"), &input) else {
            panic!("changed")
        };
        let mut record = *record;
        record.changed(at(now));
        record
    }

    #[test]
    fn an_open_order_carries_the_index_keys_and_a_settled_one_does_not() {
        let record = changed(None, "c1", Input::Confirmed(confirmed("A-1")), "2026-11-20T10:00:01Z");
        let doc = serde_json::to_value(OrderDocument::of(&record)).expect("json");
        assert_eq!(doc["state"], "confirmed");
        assert_eq!(doc["changed_at"], "2026-11-20T10:00:01.000Z");
        assert_eq!(doc["sweep_at"], "2026-11-20T10:00:01.000Z");
        assert_eq!(doc["open_shard"], shard_of("A-1").to_string());

        let approved =
            changed(Some(record), "f1", Input::Scored(scored("A-1", FraudDecision::Approve)), "2026-11-20T10:00:02Z");
        let paid = changed(Some(approved), "p1", Input::Succeeded(succeeded("A-1")), "2026-11-20T10:00:03Z");
        assert!(paid.state.is_terminal() && !paid.pending.is_empty());
        let doc = serde_json::to_value(OrderDocument::of(&paid)).expect("json");
        assert_eq!(
            (doc["state"].as_str(), doc["open_shard"].is_string()),
            (Some("paid"), true),
            "effects still to run"
        );
        let settled = OrderRecord { pending: Vec::<Effect>::new(), ..paid };
        let doc = serde_json::to_value(OrderDocument::of(&settled)).expect("json");
        assert!(doc.get("open_shard").is_none() && doc.get("sweep_at").is_none(), "{doc}");
        assert_eq!(doc["changed_at"], "2026-11-20T10:00:03.000Z");
    }

    #[test]
    fn a_record_written_before_the_layout_reads_and_stays_out_of_the_index() {
        let old = serde_json::json!({"id": "order", "pk": "A-1", "state": "confirmed", "record": {
            "order_id": "A-1", "state": "confirmed", "order": null, "fraud": null, "payment_id": null,
            "waiting": [], "seen": ["c1"]}});
        let stored: StoredOrder = serde_json::from_value(old).expect("an old record reads");
        assert_eq!((stored.record.state, stored.record.changed_at), (OrderState::Confirmed, None));
        let doc = serde_json::to_value(OrderDocument::of(&stored.record)).expect("json");
        assert!(doc.get("open_shard").is_none(), "no change time, no place in the index: {doc}");
    }

    #[test]
    fn times_sort_as_text_and_shards_spread() {
        let (a, b) = (at("2026-11-20T10:00:00Z"), at("2026-11-20T10:00:00.5Z"));
        assert!(time_text(a) < time_text(b), "{} {}", time_text(a), time_text(b));
        let shards: std::collections::BTreeSet<u32> = (0..200).map(|i| shard_of(&format!("A{i:06}"))).collect();
        assert_eq!(shards.len(), SHARDS as usize);
        assert_eq!(shard_of("A-1"), shard_of("A-1"));
    }
}
