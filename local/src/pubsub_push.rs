//! Pub/Sub's side of a push subscription, played locally: the JSON body it pushes for one
//! message, and for a message published to the in-memory Pub/Sub.
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

/// The push of a message published to the in-memory Pub/Sub (a bus record under its Pub/Sub
/// topic name): its data, its attributes (the record's headers), an id from its position, and
/// its publish time.
pub fn pushed_from_bus(r: &Record, subscription: &str) -> Vec<u8> {
    let attrs: BTreeMap<String, String> = r.headers.iter().cloned().collect();
    let id = format!("{}-{}-{}", r.topic, r.partition, r.offset);
    let sub = format!("projects/local/subscriptions/{subscription}");
    push_body(&r.payload, attrs, &id, ms_to_time(r.timestamp_ms), &sub)
}

pub fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}
