//! The immutable audit log: one NDJSON object per event, with a deterministic name, laid out
//! as Hive partitions (`topic=…/dt=…`) that a BigQuery external table reads.
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const PREFIX: &str = "audit";

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub topic: String,
    /// The bus coordinates when the record was mirrored from Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message_id: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub publish_time: DateTime<Utc>,
    /// The CloudEvent id, or the message id when the payload is not a CloudEvent.
    pub event_id: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub event_time: DateTime<Utc>,
    /// The event itself: JSON when it parsed, else a string.
    pub event: serde_json::Value,
}

impl AuditRecord {
    pub fn object_name(&self) -> String {
        object_name(&self.topic, self.event_time, &self.event_id)
    }
    pub fn to_ndjson(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// `audit/topic=<topic>/dt=<yyyy-mm-dd>/<event id>.ndjson`. The event id names the object, so a
/// redelivered or re-published event maps to the same object and is written once.
pub fn object_name(topic: &str, event_time: DateTime<Utc>, event_id: &str) -> String {
    format!("{}{}.ndjson", day_prefix(topic, event_time.date_naive()), safe_segment(event_id))
}

pub fn day_prefix(topic: &str, day: NaiveDate) -> String {
    format!("{PREFIX}/topic={}/dt={}/", safe_segment(topic), day.format("%Y-%m-%d"))
}

/// The day prefixes that can hold events in `[from, to)`.
pub fn day_prefixes(topic: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = from.date_naive();
    while day <= to.date_naive() && out.len() < 3660 {
        out.push(day_prefix(topic, day));
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
    out
}

/// Object-name-safe: keeps `[A-Za-z0-9._-]`, percent-encodes every other byte (so names stay unique).
fn safe_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_partitioned_and_safe() {
        let t: DateTime<Utc> = "2026-11-20T23:59:59Z".parse().unwrap();
        assert_eq!(
            object_name("merch.price-changed", t, "erp-sap-eu-1"),
            "audit/topic=merch.price-changed/dt=2026-11-20/erp-sap-eu-1.ndjson"
        );
        assert_eq!(object_name("t", t, "a/b c"), "audit/topic=t/dt=2026-11-20/a%2Fb%20c.ndjson");
        assert_ne!(object_name("t", t, "a/b"), object_name("t", t, "a%2Fb"));
    }

    #[test]
    fn range_covers_each_day_once() {
        let from: DateTime<Utc> = "2026-11-19T22:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-11-21T01:00:00Z".parse().unwrap();
        let days = day_prefixes("t", from, to);
        assert_eq!(
            days,
            ["audit/topic=t/dt=2026-11-19/", "audit/topic=t/dt=2026-11-20/", "audit/topic=t/dt=2026-11-21/"]
        );
    }
}
