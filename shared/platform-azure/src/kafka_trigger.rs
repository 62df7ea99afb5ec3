//! The Kafka trigger with `"cardinality": "many"`: `Data.<binding>` holds one entry per record,
//! each a `KafkaEventData` (`Offset`, `Partition`, `Topic`, `Timestamp`, `Key`, `Value`,
//! `Headers[{Key, Value(base64)}]`). Depending on the extension version and `dataType`, the host
//! sends the binding in one of three shapes, and all three are read:
//! - an array of JSON strings, each the text of one event (`dataType: string`);
//! - an array of JSON objects;
//! - one JSON string that holds the whole array.
//!
//! Anything else is a [`BadBinding`] that keeps the raw `Data`, so the function can dead-letter
//! it instead of failing an invocation that no retry can fix.
use crate::custom_handler::InvocationRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KafkaHeader {
    pub key: String,
    /// Base64 of the header bytes (a .NET `byte[]` in JSON).
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KafkaEventData {
    pub offset: i64,
    pub partition: i32,
    pub topic: String,
    pub timestamp: String,
    #[serde(default)]
    pub key: Option<String>,
    /// The record value as a string (the trigger's `dataType: string`).
    pub value: String,
    #[serde(default)]
    pub headers: Vec<KafkaHeader>,
}

impl KafkaEventData {
    pub fn position(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("binding {binding:?} is {found}, not an array of Kafka events nor a JSON string holding one")]
    UnreadableBinding { binding: String, found: String },
    #[error("entry {index} is not a Kafka event: {detail}")]
    BadEntry { index: usize, detail: String },
}

impl TriggerError {
    pub fn code(&self) -> &'static str {
        match self {
            TriggerError::UnreadableBinding { .. } => "unreadable_binding",
            TriggerError::BadEntry { .. } => "wrong_envelope",
        }
    }
}

/// A trigger binding that is none of the three shapes, with what the host sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBinding {
    pub error: TriggerError,
    /// The whole `Data` object as JSON text.
    pub raw_data: String,
}

/// One entry that is not a Kafka event: why, and its raw text, to dead-letter it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub error: TriggerError,
    pub index: usize,
    pub raw: String,
}

/// One entry of the binding: a Kafka event, or why it is not one.
pub type Entry = Result<KafkaEventData, BadEntry>;

/// Every record of the invocation, in the order the host sent them. An entry that is not a
/// Kafka event fails alone; a binding that holds no entries at all is a [`BadBinding`].
pub fn events(req: &InvocationRequest, binding: &str) -> Result<Vec<Entry>, BadBinding> {
    let bad = |found: String| BadBinding {
        error: TriggerError::UnreadableBinding { binding: binding.into(), found },
        raw_data: serde_json::to_string(&req.data).unwrap_or_default(),
    };
    match req.data.get(binding) {
        Some(Value::Array(items)) => Ok(items.iter().enumerate().map(|(i, item)| from_value(i, item)).collect()),
        Some(Value::String(text)) => match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => Ok(items.iter().enumerate().map(|(i, item)| from_raw(i, item)).collect()),
            Err(e) => Err(bad(format!("a string that is not a JSON array ({e})"))),
        },
        Some(other) => Err(bad(format!("a JSON {}", kind(other)))),
        None => Err(bad("missing".into())),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn bad_entry(index: usize, detail: String, raw: String) -> BadEntry {
    BadEntry { error: TriggerError::BadEntry { index, detail }, index, raw }
}

/// An entry of an array binding: the JSON text of an event, or the event as an object.
fn from_value(index: usize, item: &Value) -> Entry {
    let parsed = match item {
        Value::String(text) => serde_json::from_str::<KafkaEventData>(text),
        Value::Object(_) => KafkaEventData::deserialize(item),
        other => return Err(bad_entry(index, format!("a JSON {}", kind(other)), other.to_string())),
    };
    parsed.map_err(|e| {
        let raw = item.as_str().map(str::to_string).unwrap_or_else(|| item.to_string());
        bad_entry(index, e.to_string(), raw)
    })
}

/// An entry of a binding that came as one string: each element is itself an object or a string.
fn from_raw(index: usize, item: &RawValue) -> Entry {
    let text = item.get();
    let parsed = if text.starts_with('"') {
        serde_json::from_str::<String>(text).and_then(|inner| serde_json::from_str::<KafkaEventData>(&inner))
    } else {
        serde_json::from_str::<KafkaEventData>(text)
    };
    parsed.map_err(|e| bad_entry(index, e.to_string(), text.to_string()))
}

/// The trigger metadata's per-record arrays (`TopicArray`, `PartitionArray`, `OffsetArray`,
/// `TimestampArray`, which the host sends beside the entries), read once: they place an entry
/// that is itself unreadable.
#[derive(Debug, Default)]
pub struct TriggerMetadata {
    topics: Vec<Value>,
    partitions: Vec<Value>,
    offsets: Vec<Value>,
    timestamps: Vec<Value>,
}

impl TriggerMetadata {
    pub fn read(req: &InvocationRequest) -> Self {
        let array = |name: &str| {
            req.metadata.get(name).and_then(|raw| serde_json::from_str(raw.get()).ok()).unwrap_or_default()
        };
        TriggerMetadata {
            topics: array("TopicArray"),
            partitions: array("PartitionArray"),
            offsets: array("OffsetArray"),
            timestamps: array("TimestampArray"),
        }
    }

    /// Where entry `index` came from: `<topic>/<partition>@<offset>`.
    pub fn position(&self, index: usize) -> Option<String> {
        let topic = self.topics.get(index)?.as_str()?;
        let (partition, offset) = (self.partitions.get(index)?.as_i64()?, self.offsets.get(index)?.as_i64()?);
        Some(format!("{topic}/{partition}@{offset}"))
    }

    /// The Kafka timestamp of entry `index`.
    pub fn timestamp(&self, index: usize) -> Option<&str> {
        self.timestamps.get(index)?.as_str()
    }
}

/// Builds the `Data` entry the host would send for these records (the local runner is the host).
pub fn to_binding_value(events: &[KafkaEventData]) -> Value {
    Value::Array(events.iter().map(|e| Value::String(serde_json::to_string(e).unwrap_or_default())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(offset: i64) -> KafkaEventData {
        KafkaEventData {
            offset,
            partition: 1,
            topic: "merch.price-changed".into(),
            timestamp: "2026-11-20T09:15:05.950Z".into(),
            key: Some("A-1".into()),
            value: r#"{"x":1}"#.into(),
            headers: vec![],
        }
    }

    fn request(binding: Value) -> InvocationRequest {
        let mut req = InvocationRequest::default();
        req.data.insert("events".into(), binding);
        req
    }

    fn read(binding: Value) -> Vec<KafkaEventData> {
        events(&request(binding), "events").expect("binding").into_iter().map(|e| e.expect("event")).collect()
    }

    #[test]
    fn all_three_shapes_give_the_same_events() {
        let want = vec![event(7), event(8)];
        let strings = to_binding_value(&want);
        let objects = serde_json::to_value(&want).expect("objects");
        let one_string = Value::String(objects.to_string());
        let strings_in_a_string = Value::String(strings.to_string());
        for shape in [strings, objects, one_string, strings_in_a_string] {
            assert_eq!(read(shape.clone()), want, "{shape}");
        }
    }

    #[test]
    fn a_bad_entry_fails_alone_and_keeps_its_text() {
        let entries =
            events(&request(json!(["{\"Offset\":", serde_json::to_string(&event(9)).expect("json"), 42])), "events")
                .expect("binding");
        let bad: Vec<(usize, String)> =
            entries.iter().filter_map(|e| e.as_ref().err()).map(|b| (b.index, b.raw.clone())).collect();
        assert_eq!(bad, vec![(0, "{\"Offset\":".to_string()), (2, "42".to_string())]);
        assert_eq!(entries[1].as_ref().ok(), Some(&event(9)));
    }

    #[test]
    fn a_binding_of_no_shape_is_reported_with_the_raw_data() {
        for (binding, found) in [
            (json!(42), "a JSON number"),
            (json!({"Offset": 1}), "a JSON object"),
            (json!("not an array"), "a string that is not a JSON array"),
        ] {
            let err = events(&request(binding.clone()), "events").unwrap_err();
            assert!(err.error.to_string().contains(found), "{err:?}");
            assert_eq!(err.error.code(), "unreadable_binding");
            assert_eq!(err.raw_data, json!({"events": binding}).to_string());
        }
        let missing = events(&InvocationRequest::default(), "events").unwrap_err();
        assert!(missing.error.to_string().contains("is missing"));
    }

    #[test]
    fn unreadable_entries_are_placed_by_the_trigger_metadata() {
        let mut req = request(json!(["?"]));
        req.set_metadata("TopicArray", &json!(["merch.price-changed"]));
        req.set_metadata("PartitionArray", &json!([2]));
        req.set_metadata("OffsetArray", &json!([981]));
        let metadata = TriggerMetadata::read(&req);
        assert_eq!(metadata.position(0).as_deref(), Some("merch.price-changed/2@981"));
        assert_eq!(metadata.position(1), None);
    }
}
