//! AWS Lambda's Kafka event source mapping (MSK or self-managed), played locally: the event it
//! sends for a batch (records grouped under `<topic>-<partition>`, keys and values base64, header
//! values as arrays of signed bytes) and how it reads the partial batch response (each partition
//! resumes from its lowest failed offset; the records before it are done).
use aws_lambda_events::event::kafka::KafkaEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use inmemory::Record;
use platform_aws::msk::KafkaBatchResponse;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The event Lambda sends for these records.
pub fn msk_event(records: &[Record]) -> KafkaEvent {
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        let headers: Vec<Value> = r
            .headers
            .iter()
            .map(|(k, v)| json!({ k: v.as_bytes().iter().map(|b| *b as i8).collect::<Vec<i8>>() }))
            .collect();
        grouped.entry(format!("{}-{}", r.topic, r.partition)).or_default().push(json!({
            "topic": r.topic, "partition": r.partition, "offset": r.offset,
            "timestamp": r.timestamp_ms, "timestampType": "CREATE_TIME",
            "key": STANDARD.encode(r.key.as_bytes()), "value": STANDARD.encode(&r.payload),
            "headers": headers,
        }));
    }
    let records: Map<String, Value> = grouped.into_iter().map(|(k, v)| (k, Value::Array(v))).collect();
    let event = json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:eu-west-1:000000000000:cluster/estate-local/00000000-0000-0000-0000-000000000000-1",
        "bootstrapServers": "127.0.0.1:9092",
        "records": records,
    });
    // Built from Lambda's wire shape, so it parses as the runtime would parse it.
    serde_json::from_value(event).unwrap_or_else(|e| panic!("the MSK event shape is aws_lambda_events': {e}"))
}

/// The records Lambda treats as done after this response: per partition, those before the
/// lowest failed offset (all of them when the partition has no failure).
pub fn settled(records: &[Record], response: &KafkaBatchResponse) -> Vec<Record> {
    let mut lowest: BTreeMap<&str, i64> = BTreeMap::new();
    for f in &response.batch_item_failures {
        let id = &f.item_identifier;
        let at = lowest.entry(id.partition.as_str()).or_insert(id.offset);
        *at = (*at).min(id.offset);
    }
    records
        .iter()
        .filter(|r| lowest.get(format!("{}-{}", r.topic, r.partition).as_str()).is_none_or(|&f| r.offset < f))
        .cloned()
        .collect()
}
