//! The Azure Functions host, played locally: the custom-handler invocation it sends for a Kafka
//! trigger with cardinality many (entries, trigger metadata, `sys`, `RetryContext`), the Kafka
//! messages of a response's output bindings, and what it reads of an app's folders (`config`).
//! The in-memory estate and `local up`'s host over the Kafka emulator both use these.
use chrono::Utc;
use domain::ports::OutboundMessage;
use inmemory::Record;
use platform_azure::kafka_trigger::{KafkaEventData, KafkaHeader, to_binding_value};
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::{Map, Value, json};

pub mod config;
pub mod noop;
pub use config::{FunctionJson, parse_function_json};

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

/// The Kafka messages of a response's output bindings, with the binding each came from. A
/// binding holds an array of items or a single item; an item is an object with `Key` (optional),
/// `Value` (text) and optional `Headers` (`[{Key, Value}]`, the value base64 as the trigger sends
/// them), or a plain string (a value without key). Bindings the function did not write produce
/// nothing; an item the host cannot produce (no text `Value`, a header that is not base64) is an
/// error, which fails the invocation rather than drop the item.
pub fn output_messages(
    resp: &InvocationResponse,
    outputs: &[(String, String)],
) -> Result<Vec<(String, OutboundMessage)>, String> {
    use base64::Engine;
    let mut out = Vec::new();
    for (binding, topic) in outputs {
        let items = match resp.outputs.get(binding) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(one) => vec![one],
        };
        for item in items {
            let msg = match item {
                Value::String(value) => OutboundMessage::new(topic.as_str(), "", value.as_bytes().to_vec()),
                Value::Object(_) => {
                    let key = item["Key"].as_str().unwrap_or_default();
                    let Some(value) = item["Value"].as_str() else {
                        return Err(format!("output binding {binding}: an item without a text Value: {item}"));
                    };
                    let mut msg = OutboundMessage::new(topic.as_str(), key, value.as_bytes().to_vec());
                    for h in item["Headers"].as_array().into_iter().flatten() {
                        let raw = h["Value"].as_str().unwrap_or_default();
                        let decoded = base64::engine::general_purpose::STANDARD
                            .decode(raw)
                            .map_err(|e| format!("output binding {binding}: header {}: {e}", h["Key"]))?;
                        msg = msg.with_header(h["Key"].as_str().unwrap_or_default(), String::from_utf8_lossy(&decoded));
                    }
                    msg
                }
                other => return Err(format!("output binding {binding}: an item that is not a message: {other}")),
            };
            out.push((binding.clone(), msg));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_items_become_messages_or_fail_the_invocation() {
        let outputs =
            [("scores".to_string(), "fraud.scored".to_string()), ("deadLetters".into(), "checkout.dlq".into())];
        let mut resp = InvocationResponse::default();
        resp.outputs.insert(
            "scores".into(),
            json!([{"Key": "O-1", "Value": "{}", "Headers": [{"Key": "ce_id", "Value": "ZTE="}]}, "plain"]),
        );
        resp.outputs.insert("deadLetters".into(), json!({"Key": "O-2", "Value": "dead"}));
        resp.outputs.insert("undeclared".into(), json!(["ignored: no binding of that name"]));
        let got = output_messages(&resp, &outputs).expect("messages");
        let seen: Vec<(&str, &str, &str)> =
            got.iter().map(|(b, m)| (b.as_str(), m.topic.as_str(), m.key.as_str())).collect();
        assert_eq!(
            seen,
            [("scores", "fraud.scored", "O-1"), ("scores", "fraud.scored", ""), ("deadLetters", "checkout.dlq", "O-2")]
        );
        assert_eq!(got[0].1.headers, [("ce_id".to_string(), "e1".to_string())]);
        resp.outputs.insert("scores".into(), json!([{"Key": "O-3"}]));
        assert!(output_messages(&resp, &outputs).is_err_and(|e| e.contains("without a text Value")));
        resp.outputs
            .insert("scores".into(), json!([{"Key": "O-3", "Value": "x", "Headers": [{"Key": "h", "Value": "@@"}]}]));
        assert!(output_messages(&resp, &outputs).is_err_and(|e| e.contains("header")));
        resp.outputs.insert("scores".into(), json!([42]));
        assert!(output_messages(&resp, &outputs).is_err_and(|e| e.contains("not a message")));
    }
}
