//! The custom handler request and response, as the Functions host sends and reads them.
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationRequest {
    /// One entry per input binding, by binding name.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Trigger metadata (for Kafka: `PartitionArray`, `OffsetArray`, … one entry per record),
    /// `sys`, and on a retry `RetryContext`. Kept as raw JSON and read on demand: the handler
    /// needs `sys` and `RetryContext`, and the arrays only to place an unreadable entry.
    #[serde(default)]
    pub metadata: BTreeMap<String, Box<RawValue>>,
}

/// `Metadata.sys`: which function, when, and a random id the host made for this invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sys {
    pub method_name: String,
    pub utc_now: String,
    pub rand_guid: String,
}

/// Present when the host retries an invocation under the function's retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryContext {
    pub retry_count: u32,
    pub max_retry_count: u32,
    #[serde(default)]
    pub exception: Option<Value>,
}

impl InvocationRequest {
    pub fn sys(&self) -> Option<Sys> {
        self.metadata.get("sys").and_then(|v| serde_json::from_str(v.get()).ok())
    }
    pub fn retry_context(&self) -> Option<RetryContext> {
        self.metadata.get("RetryContext").and_then(|v| serde_json::from_str(v.get()).ok())
    }
    /// Sets one metadata entry (the local runner and tests play the host with it).
    pub fn set_metadata(&mut self, key: &str, value: &Value) {
        if let Ok(raw) = serde_json::value::to_raw_value(value) {
            self.metadata.insert(key.to_string(), raw);
        }
    }
    /// The invocation id for logs: the host's `sys.RandGuid`.
    pub fn invocation_id(&self) -> String {
        self.sys().map(|s| s.rand_guid).unwrap_or_else(|| "unknown".into())
    }
    /// True when the host will not retry again after this attempt. The first attempt carries
    /// no RetryContext; function.json must declare the retry policy that makes the host retry.
    pub fn is_last_attempt(&self) -> bool {
        self.retry_context().is_some_and(|rc| rc.retry_count >= rc.max_retry_count)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvocationResponse {
    /// One entry per output binding, by binding name (for a Kafka output: an array of messages).
    pub outputs: Map<String, Value>,
    /// Lines the host writes to the function's log.
    pub logs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_value: Option<Value>,
}

impl InvocationResponse {
    pub fn log(&mut self, line: impl Into<String>) {
        self.logs.push(line.into());
    }

    /// A log entry of fields: one JSON object with its `message`. The host writes each entry as
    /// the message of a trace tied to the invocation, so Application Insights can query it
    /// (`traces | extend r = parse_json(message) | where r.message == "batch done"`).
    pub fn log_fields(&mut self, message: &str, fields: Value) {
        let mut line = serde_json::Map::new();
        line.insert("message".into(), Value::String(message.into()));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        self.logs.push(Value::Object(line).to_string());
    }
    /// At least how many bytes the response takes as JSON (escapes counted), to size the buffer
    /// it is written to.
    pub fn json_size_hint(&self) -> usize {
        let outputs: usize = self.outputs.iter().map(|(k, v)| string_size(k) + 1 + json_size_hint(v)).sum();
        let logs: usize = self.logs.iter().map(|l| string_size(l) + 1).sum();
        64 + outputs + logs + self.return_value.as_ref().map_or(0, json_size_hint)
    }
    /// Appends to an array-valued output binding.
    pub fn push_output(&mut self, binding: &str, value: Value) {
        let slot = self.outputs.entry(binding.to_string()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = slot {
            items.push(value);
        }
    }
}

/// A value's JSON size, at most (numbers at their longest). A string counts its escapes: event
/// texts held as strings escape every quote.
fn json_size_hint(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => string_size(s),
        Value::Array(items) => 2 + items.iter().map(|i| json_size_hint(i) + 1).sum::<usize>(),
        Value::Object(map) => 2 + map.iter().map(|(k, v)| string_size(k) + 1 + json_size_hint(v) + 1).sum::<usize>(),
    }
}

/// A string's JSON size with its quotes and escapes (a control character at its longest).
fn string_size(s: &str) -> usize {
    let escapes: usize = s.bytes().map(|b| if b < 0x20 { 5 } else { usize::from(b == b'"' || b == b'\\') }).sum();
    s.len() + escapes + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The buffer is sized so that writing the response never grows it, and not much larger.
    #[test]
    fn the_size_hint_holds_the_response_with_little_to_spare() {
        let mut resp = InvocationResponse::default();
        for i in 0..200 {
            let event = json!({"id": format!("fraud-{i}\t\u{1}"), "type": "com.shop.fraud.scored.v1", "data": {"score": i,
                "reasons": ["velocity_card: 3 orders in 1h", "bin_country_mismatch: \"DE\" vs \"AT\""]}});
            resp.push_output("scores", json!({"Key": format!("O-{i}"), "Value": event.to_string()}));
        }
        resp.log("200 orders: 200 scored, 0 redelivered, 0 dead-lettered");
        for i in 0..50 {
            resp.log(format!("record dead-lettered: \"wrong_schema\" at {i}\n\tdata: missing field `order_id`"));
        }
        resp.return_value = Some(json!({"ok": true, "n": 200, "none": null}));
        let written = serde_json::to_vec(&resp).expect("json").len();
        let hint = resp.json_size_hint();
        assert!(hint >= written && hint < written + written / 16, "hint {hint} for {written} bytes");
        assert!(
            InvocationResponse::default().json_size_hint()
                >= serde_json::to_vec(&InvocationResponse::default()).unwrap().len()
        );
    }
}
