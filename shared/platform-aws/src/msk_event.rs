//! Lambda's Kafka event read by our own reader into the SDK's type. The SDK's reader of a
//! record's `timestamp` (aws_lambda_events 1.2) goes through an f64 of seconds, which lands a
//! millisecond early for many times (1700000000123 reads as …122), and asserts the value has
//! no fraction, so a `timestamp` of `1.5` panics before any handler runs (in a release build,
//! which aborts on panic, it takes the whole runtime down). Found by the property tests.
use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A Kafka event source mapping's event: what the Lambdas take from the runtime
/// (`LambdaEvent<MskEvent>`) and hand to [`crate::msk::records_of`] as `event.0`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MskEvent(pub KafkaEvent);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    event_source: Option<String>,
    #[serde(default)]
    event_source_arn: Option<String>,
    #[serde(default)]
    records: Option<HashMap<String, Vec<WireRecord>>>,
    #[serde(default)]
    bootstrap_servers: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRecord {
    #[serde(default)]
    topic: Option<String>,
    partition: i64,
    offset: i64,
    #[serde(deserialize_with = "millis")]
    timestamp: DateTime<Utc>,
    #[serde(default)]
    timestamp_type: Option<String>,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<HashMap<String, Vec<i8>>>,
}

/// Milliseconds since the epoch, exactly: an integer, or a string of one (as the SDK reads them).
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Millis {
        Int(i64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    let ms = match Millis::deserialize(d)? {
        Millis::Int(ms) => Some(ms),
        Millis::Text(s) => s.trim().parse().ok(),
        Millis::Other(_) => None,
    };
    ms.and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| de::Error::custom("timestamp is not a whole number of milliseconds in range"))
}

impl<'de> Deserialize<'de> for MskEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        let mut event = KafkaEvent::default();
        event.event_source = wire.event_source;
        event.event_source_arn = wire.event_source_arn;
        event.bootstrap_servers = wire.bootstrap_servers;
        event.records = wire
            .records
            .unwrap_or_default()
            .into_iter()
            .map(|(partition, records)| (partition, records.into_iter().map(record).collect()))
            .collect();
        Ok(MskEvent(event))
    }
}

fn record(w: WireRecord) -> KafkaRecord {
    let mut r = KafkaRecord::default();
    r.topic = w.topic;
    r.partition = w.partition;
    r.offset = w.offset;
    r.timestamp = MillisecondTimestamp(w.timestamp);
    r.timestamp_type = w.timestamp_type;
    r.key = w.key;
    r.value = w.value;
    r.headers = w.headers;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(timestamp: &str) -> String {
        format!(
            r#"{{"eventSource":"aws:kafka","records":{{"t-0":[{{"topic":"t","partition":0,"offset":1,
            "timestamp":{timestamp},"timestampType":"CREATE_TIME","value":"e30=","headers":[]}}]}}}}"#
        )
    }

    fn time(timestamp: &str) -> Result<DateTime<Utc>, String> {
        let MskEvent(e) = serde_json::from_str(&event(timestamp)).map_err(|e| e.to_string())?;
        Ok(*e.records["t-0"][0].timestamp)
    }

    /// What `msk::records` read before: the SDK's reader is a millisecond early and panics on a
    /// fraction. (If this fails, the SDK was fixed and `MskEvent` may go.)
    #[test]
    fn the_sdk_reader_is_a_millisecond_early_and_panics_on_a_fraction() {
        let sdk = |t: &str| {
            serde_json::from_str::<KafkaEvent>(&event(t)).map(|e| e.records["t-0"][0].timestamp.timestamp_millis())
        };
        assert_eq!(sdk("1700000000123").ok(), Some(1_700_000_000_122));
        assert!(std::panic::catch_unwind(|| sdk("1.5")).is_err());
    }

    #[test]
    fn timestamps_are_exact_milliseconds_and_a_fraction_is_an_error() {
        assert_eq!(time("1700000000123").map(|t| t.timestamp_millis()), Ok(1_700_000_000_123));
        assert_eq!(time("\"1700000000123\"").map(|t| t.timestamp_millis()), Ok(1_700_000_000_123));
        assert_eq!(time("-1").map(|t| t.timestamp_millis()), Ok(-1), "Kafka's 'no timestamp'");
        for bad in ["1.5", "1e-7", "\"x\"", "null", "9223372036854775807"] {
            assert!(time(bad).is_err_and(|e| e.contains("timestamp")), "{bad}");
        }
    }

    #[test]
    fn the_event_reads_as_the_sdk_reads_it_otherwise() {
        let text = event("1700000000000");
        let ours: MskEvent = serde_json::from_str(&text).expect("ours");
        let sdk: KafkaEvent = serde_json::from_str(&text).expect("sdk");
        assert_eq!(ours.0, sdk);
        let null_records: MskEvent =
            serde_json::from_str(r#"{"eventSource":"aws:kafka","records":null}"#).expect("null");
        assert!(null_records.0.records.is_empty());
    }
}
