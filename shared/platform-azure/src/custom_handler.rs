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
    /// Appends to an array-valued output binding.
    pub fn push_output(&mut self, binding: &str, value: Value) {
        let slot = self.outputs.entry(binding.to_string()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = slot {
            items.push(value);
        }
    }
}
