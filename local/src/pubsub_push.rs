//! Pub/Sub's side of a push subscription, played locally: the JSON body it pushes for one
//! message, and the Kafka→Pub/Sub bridge's push of a mirrored record.
use chrono::{DateTime, TimeZone, Utc};
use inmemory::Record;
use platform_gcp::push::PushEnvelope;
use std::collections::BTreeMap;

/// The JSON body Pub/Sub pushes for one message.
pub fn push_body(
    data: &[u8],
    attributes: BTreeMap<String, String>,
    message_id: &str,
    at: DateTime<Utc>,
    sub: &str,
) -> Vec<u8> {
    serde_json::to_vec(&PushEnvelope::wrap(data, attributes, message_id, at, sub)).unwrap_or_default()
}

/// The Kafka→Pub/Sub bridge's push of one bus record (what Kafka Connect's Pub/Sub sink does).
pub fn mirror_push_body(r: &Record) -> Vec<u8> {
    let attrs = BTreeMap::from([
        ("kafka_topic".to_string(), r.topic.clone()),
        ("kafka_partition".to_string(), r.partition.to_string()),
        ("kafka_offset".to_string(), r.offset.to_string()),
        ("kafka_key".to_string(), r.key.clone()),
    ]);
    let id = format!("mirror-{}-{}-{}", r.topic, r.partition, r.offset);
    let sub = format!("projects/local/subscriptions/mirror-{}", r.topic.replace('.', "-"));
    push_body(&r.payload, attrs, &id, ms_to_time(r.timestamp_ms), &sub)
}

pub fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}
