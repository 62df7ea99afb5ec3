//! The Azure Functions host, played locally: the custom-handler invocation it sends for a Kafka
//! trigger with cardinality many (entries, trigger metadata, `sys`, `RetryContext`), and what it
//! reads from each function.json (trigger topic, output bindings, retry count).
use chrono::Utc;
use inmemory::Record;
use platform_azure::InvocationRequest;
use platform_azure::kafka_trigger::{KafkaEventData, KafkaHeader, to_binding_value};
use serde_json::{Map, Value, json};

/// The Functions host's invocation of a Kafka-triggered function with cardinality many.
pub fn kafka_trigger_request(
    function: &str,
    trigger_binding: &str,
    records: &[Record],
    retry: Option<(u32, u32)>,
    invocation: u64,
) -> InvocationRequest {
    let events: Vec<KafkaEventData> = records
        .iter()
        .map(|r| KafkaEventData {
            offset: r.offset,
            partition: r.partition,
            topic: r.topic.clone(),
            timestamp: crate::pubsub_push::ms_to_time(r.timestamp_ms)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            key: Some(r.key.clone()),
            value: String::from_utf8_lossy(&r.payload).into_owned(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| KafkaHeader { key: k.clone(), value: base64_encode(v.as_bytes()) })
                .collect(),
        })
        .collect();
    let mut data = Map::new();
    data.insert(trigger_binding.into(), to_binding_value(&events));
    let mut req = InvocationRequest { data, ..Default::default() };
    let col = |f: fn(&KafkaEventData) -> Value| Value::Array(events.iter().map(f).collect());
    req.set_metadata("PartitionArray", &col(|e| json!(e.partition)));
    req.set_metadata("OffsetArray", &col(|e| json!(e.offset)));
    req.set_metadata("TopicArray", &col(|e| json!(e.topic)));
    req.set_metadata("TimestampArray", &col(|e| json!(e.timestamp)));
    req.set_metadata("KeyArray", &col(|e| json!(e.key)));
    let sys = json!({"MethodName": function, "UtcNow": Utc::now().to_rfc3339(), "RandGuid": format!("local-{invocation:012}")});
    req.set_metadata("sys", &sys);
    if let Some((count, max)) = retry {
        req.set_metadata("RetryContext", &json!({"RetryCount": count, "MaxRetryCount": max}));
    }
    req
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A function.json's trigger (topic, binding name), output bindings (name → topic) and retry count.
#[derive(Debug, Clone)]
pub struct FunctionJson {
    pub trigger_topic: String,
    pub trigger_name: String,
    pub outputs: Vec<(String, String)>,
    pub max_retry_count: u32,
}

pub fn parse_function_json(text: &str) -> FunctionJson {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let bindings = v["bindings"].as_array().cloned().unwrap_or_default();
    let topic = |b: &Value| b["topic"].as_str().unwrap_or_default().to_string();
    FunctionJson {
        trigger_topic: bindings.iter().find(|b| b["direction"] == "in").map(topic).unwrap_or_default(),
        trigger_name: bindings
            .iter()
            .find(|b| b["direction"] == "in")
            .and_then(|b| b["name"].as_str())
            .unwrap_or_default()
            .to_string(),
        outputs: bindings
            .iter()
            .filter(|b| b["direction"] == "out")
            .map(|b| (b["name"].as_str().unwrap_or_default().to_string(), topic(b)))
            .collect(),
        max_retry_count: v["retry"]["maxRetryCount"].as_u64().unwrap_or(0) as u32,
    }
}
