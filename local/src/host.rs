//! The platform side of each trigger, played locally: wraps bus records and ERP payloads in the
//! native envelopes the clouds send (Pub/Sub push, Functions host custom-handler request) and
//! delivers them to a function's HTTP app, exactly as the deployed binary would receive them.
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use inmemory::Record;
use platform_azure::InvocationRequest;
use platform_azure::kafka_trigger::{KafkaEventData, KafkaHeader, to_binding_value};
use platform_gcp::push::PushEnvelope;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use tower::ServiceExt;

/// POSTs `body` with `headers` to `path` of `app` (no socket) and returns status and body.
pub async fn post(app: &Router, path: &str, headers: &[(String, String)], body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::post(path);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Body::from(body)).unwrap_or_default();
    match app.clone().oneshot(req).await {
        Ok(resp) => {
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
            (status, bytes)
        }
        Err(e) => match e {},
    }
}

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

/// The Kafka→Pub/Sub bridge's push of one bus record (what Kafka Connect's Pub/Sub sink does).
pub fn mirror_push_body(r: &Record) -> Vec<u8> {
    let attrs = BTreeMap::from([
        ("kafka_topic".to_string(), r.topic.clone()),
        ("kafka_partition".to_string(), r.partition.to_string()),
        ("kafka_offset".to_string(), r.offset.to_string()),
        ("kafka_key".to_string(), r.key.clone()),
    ]);
    let id = format!("mirror-{}-{}-{}", r.topic, r.partition, r.offset);
    let sub = format!("projects/local/subscriptions/mirror-{}", r.topic.replace('.', "-"));
    push_body(&r.payload, attrs, &id, ms_to_time(r.timestamp_ms), &sub)
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}

/// The Functions host's invocation of a Kafka-triggered function with cardinality many.
pub fn kafka_trigger_request(
    function: &str,
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
            timestamp: ms_to_time(r.timestamp_ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            key: Some(r.key.clone()),
            value: String::from_utf8_lossy(&r.payload).into_owned(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| KafkaHeader { key: k.clone(), value: base64_encode(v.as_bytes()) })
                .collect(),
        })
        .collect();
    let mut metadata = Map::new();
    let col = |f: fn(&KafkaEventData) -> Value| Value::Array(events.iter().map(f).collect());
    metadata.insert("PartitionArray".into(), col(|e| json!(e.partition)));
    metadata.insert("OffsetArray".into(), col(|e| json!(e.offset)));
    metadata.insert("TopicArray".into(), col(|e| json!(e.topic)));
    metadata.insert("TimestampArray".into(), col(|e| json!(e.timestamp)));
    metadata.insert("KeyArray".into(), col(|e| json!(e.key)));
    metadata.insert(
        "sys".into(),
        json!({"MethodName": function, "UtcNow": Utc::now().to_rfc3339(), "RandGuid": format!("local-{invocation:012}")}),
    );
    if let Some((count, max)) = retry {
        metadata.insert("RetryContext".into(), json!({"RetryCount": count, "MaxRetryCount": max}));
    }
    let mut data = Map::new();
    data.insert(projection_updater::TRIGGER_BINDING.into(), to_binding_value(&events));
    InvocationRequest { data, metadata }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A function.json's trigger topic, output bindings (name → topic) and retry count.
#[derive(Debug, Clone)]
pub struct FunctionJson {
    pub trigger_topic: String,
    pub outputs: Vec<(String, String)>,
    pub max_retry_count: u32,
}

pub fn parse_function_json(text: &str) -> FunctionJson {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let bindings = v["bindings"].as_array().cloned().unwrap_or_default();
    let topic = |b: &Value| b["topic"].as_str().unwrap_or_default().to_string();
    FunctionJson {
        trigger_topic: bindings.iter().find(|b| b["direction"] == "in").map(topic).unwrap_or_default(),
        outputs: bindings
            .iter()
            .filter(|b| b["direction"] == "out")
            .map(|b| (b["name"].as_str().unwrap_or_default().to_string(), topic(b)))
            .collect(),
        max_retry_count: v["retry"]["maxRetryCount"].as_u64().unwrap_or(0) as u32,
    }
}
