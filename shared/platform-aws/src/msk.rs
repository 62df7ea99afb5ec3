//! MSK / self-managed Kafka event source mapping batches. Values are base64; header values are
//! arrays of signed bytes; records are grouped under `"<topic>-<partition>"`.
use crate::{EnvelopeError, parse_envelope};
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskRecord {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl MskRecord {
    pub fn position(&self) -> String {
        format!("{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// A record whose key or value could not be decoded: its position, its time, the value as it
/// came (text that is not base64), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
    pub raw_value: String,
    pub error: EnvelopeError,
}

/// All records of the batch in (topic, partition, offset) order; each decodes or fails alone.
pub fn records(bytes: &[u8]) -> Result<Vec<Result<MskRecord, Undecodable>>, EnvelopeError> {
    records_of(parse_envelope::<crate::msk_event::MskEvent>(bytes, "Kafka")?.0)
}

/// The event sources of Lambda's Kafka event source mappings (MSK, self-managed Kafka).
pub const EVENT_SOURCES: [&str; 2] = ["aws:kafka", "SelfManagedKafka"];

/// The records of an event `lambda_runtime` has already parsed, as [`records`] gives them. Every
/// field of the SDK type is optional, so any JSON object parses as one: an event whose
/// `eventSource` is not Kafka's is refused here, not read as an empty batch.
#[allow(clippy::result_large_err)] // one per record, side by side with the record it stands for
pub fn records_of(event: KafkaEvent) -> Result<Vec<Result<MskRecord, Undecodable>>, EnvelopeError> {
    let source = event.event_source.clone().unwrap_or_default();
    if !EVENT_SOURCES.contains(&source.as_str()) {
        let detail = format!("eventSource is {source:?}, not one of {EVENT_SOURCES:?}");
        return Err(EnvelopeError::NotThisTrigger { trigger: "Kafka", detail });
    }
    let mut all: Vec<_> = event.records.into_values().flatten().collect();
    // Sorted by the topic as reported: a record without one reports "", so it sorts as "" does.
    let at = |r: &KafkaRecord| (r.topic.as_deref().unwrap_or_default().to_owned(), r.partition, r.offset);
    all.sort_by_key(at);
    Ok(all
        .into_iter()
        .map(|r| {
            let topic = r.topic.clone().unwrap_or_default();
            let fail = |field, e: base64::DecodeError| Undecodable {
                topic: topic.clone(),
                partition: r.partition,
                offset: r.offset,
                timestamp: *r.timestamp,
                raw_value: r.value.clone().unwrap_or_default(),
                error: EnvelopeError::BadBase64 { field, detail: e.to_string() },
            };
            let value = STANDARD.decode(r.value.as_deref().unwrap_or_default()).map_err(|e| fail("value", e))?;
            let key = r.key.as_deref().map(|k| STANDARD.decode(k)).transpose().map_err(|e| fail("key", e))?;
            let headers = r
                .headers
                .iter()
                .flat_map(|h| h.iter())
                .map(|(k, v)| (k.clone(), v.iter().map(|b| *b as u8).collect()))
                .collect();
            Ok(MskRecord {
                topic,
                partition: r.partition,
                offset: r.offset,
                timestamp: *r.timestamp,
                key,
                value,
                headers,
            })
        })
        .collect())
}

/// Kafka's partial batch response (`ReportBatchItemFailures` on the event source mapping): each
/// failure names its partition by the event's `records` key (`<topic>-<partition>`, e.g.
/// `orders-0`) under `partition`, and its offset; Lambda retries from the lowest failed offset
/// of each partition. An identifier with another key name fails the whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchResponse {
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchItemFailure {
    pub item_identifier: KafkaItemIdentifier,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaItemIdentifier {
    /// The `records` key of the record's partition: `<topic>-<partition>`.
    pub partition: String,
    pub offset: i64,
}

impl KafkaBatchResponse {
    pub fn fail(&mut self, topic: &str, partition: i64, offset: i64) {
        self.batch_item_failures.push(KafkaBatchItemFailure {
            item_identifier: KafkaItemIdentifier { partition: format!("{topic}-{partition}"), offset },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property test at 50,000 cases: a record without `topic` sorted before one
    /// with `topic: ""` (None < Some), though both report "" — so the batch came out of order.
    #[test]
    fn a_record_without_a_topic_sorts_as_the_empty_topic_it_reports() {
        let event = serde_json::json!({
            "eventSource": "aws:kafka",
            "records": {
                "a": [{ "partition": 5, "offset": 0, "timestamp": 0, "timestampType": "CREATE_TIME", "value": "", "headers": [] }],
                "b": [{ "topic": "", "partition": 1, "offset": 0, "timestamp": 0, "timestampType": "CREATE_TIME", "value": "", "headers": [] }]
            }
        });
        let read: Vec<(String, i64)> = records(event.to_string().as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| r.map(|r| (r.topic, r.partition)).unwrap())
            .collect();
        assert_eq!(read, vec![(String::new(), 1), (String::new(), 5)]);
    }
}
