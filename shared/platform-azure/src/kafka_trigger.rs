//! The Kafka trigger with `"cardinality": "many"` and `"dataType": "string"`: `Data.<binding>` is
//! an array with one entry per record, each the JSON text of a `KafkaEventData`
//! (`Offset`, `Partition`, `Topic`, `Timestamp`, `Key`, `Value`, `Headers[{Key, Value(base64)}]`).
use crate::custom_handler::InvocationRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    #[error("binding {0:?} is missing or not an array")]
    MissingBinding(String),
    #[error("entry {index} is not a Kafka event: {detail}")]
    BadEntry { index: usize, detail: String },
}

/// One entry of the trigger's array: a Kafka event, or why it is not one with its raw text.
pub type Entry = Result<KafkaEventData, (TriggerError, String)>;

/// Every record of the invocation, in the order the host sent them; an entry that is not a
/// Kafka event fails alone, keeping its raw text so that it can be dead-lettered.
pub fn events(req: &InvocationRequest, binding: &str) -> Result<Vec<Entry>, TriggerError> {
    let Some(Value::Array(items)) = req.data.get(binding) else {
        return Err(TriggerError::MissingBinding(binding.to_string()));
    };
    Ok(items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let parsed = match item {
                // The host serialises each event to a JSON string; accept an object as well.
                Value::String(text) => serde_json::from_str::<KafkaEventData>(text),
                other => serde_json::from_value::<KafkaEventData>(other.clone()),
            };
            parsed.map_err(|e| {
                let raw = item.as_str().map(str::to_string).unwrap_or_else(|| item.to_string());
                (TriggerError::BadEntry { index, detail: e.to_string() }, raw)
            })
        })
        .collect())
}

/// Builds the `Data` entry the host would send for these records (the local runner is the host).
pub fn to_binding_value(events: &[KafkaEventData]) -> Value {
    Value::Array(events.iter().map(|e| Value::String(serde_json::to_string(e).unwrap_or_default())).collect())
}
