//! `local invoke <function> <fixture>`: runs one function on one recorded trigger payload on the
//! embedded default and reports the native response and every effect, as one JSON document.
use crate::estate::{self, Estate};
use crate::oneshot::post;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("unknown function {0:?}; known: {known}", known = estate::FUNCTIONS.join(", "))]
    UnknownFunction(String),
    #[error("{function} has no function folder {folder:?} (Metadata.sys.MethodName); its folders: {known}", known = folders.join(", "))]
    UnknownMethod { function: String, folder: String, folders: Vec<String> },
    #[error("fixture is not JSON: {0}")]
    NotJson(String),
    #[error("not a valid {function} envelope: {detail}")]
    NotAnEnvelope { function: String, detail: String },
}

/// A recorded HTTP request (`{"headers": {...}, "body": "..."}`) or a bare JSON body.
pub fn as_http(fixture: &Value, raw: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    match (fixture.get("headers").and_then(Value::as_object), fixture.get("body").and_then(Value::as_str)) {
        (Some(h), Some(body)) => (
            h.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_string())).collect(),
            body.as_bytes().to_vec(),
        ),
        _ => (vec![("content-type".into(), "application/json".into())], raw.to_vec()),
    }
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    headers
        .iter()
        .filter_map(|(k, v)| Some((HeaderName::from_bytes(k.as_bytes()).ok()?, HeaderValue::from_str(v).ok()?)))
        .collect()
}

pub async fn invoke(function: &str, raw: &[u8]) -> Result<Value, InvokeError> {
    let fixture: Value = serde_json::from_slice(raw).map_err(|e| InvokeError::NotJson(e.to_string()))?;
    let not_envelope = |detail: String| InvokeError::NotAnEnvelope { function: function.into(), detail };
    let mut estate = Estate::new();
    let Some(name) = estate::FUNCTIONS.iter().copied().find(|f| *f == function) else {
        return Err(InvokeError::UnknownFunction(function.into()));
    };
    if estate.is_lambda(name) {
        // Lambda's runtime parses the event into the trigger's type before the handler runs.
        let event = serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
        let (response, report) = estate.invoke_lambda(name, event).await.map_err(not_envelope)?;
        let response = json!({"batch_response": response, "report": report});
        return Ok(json!({"function": function, "response": response, "effects": effects(&estate)}));
    }
    let app = estate.app(name).cloned().ok_or_else(|| InvokeError::UnknownFunction(function.into()))?;
    let response = match name {
        azure if estate.is_azure_app(azure) => {
            let req: InvocationRequest = serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
            // The host always says which function it invokes; its Data is the function's to judge
            // (a binding it cannot read is dead-lettered, not refused here).
            let folder = req
                .sys()
                .map(|s| s.method_name)
                .ok_or_else(|| not_envelope("no Metadata.sys: not a custom-handler invocation".into()))?;
            let folders = estate.azure_function_folders(name);
            if !folders.contains(&folder) {
                return Err(InvokeError::UnknownMethod { function: function.into(), folder, folders });
            }
            let body = serde_json::to_vec(&req).unwrap_or_default();
            let headers = [("content-type".to_string(), "application/json".to_string())];
            let (status, bytes) = post(&app, &format!("/{folder}"), &headers, body).await;
            let resp: InvocationResponse = serde_json::from_slice(&bytes).unwrap_or_default();
            if status.is_success() {
                // The host publishes output bindings only for a successful invocation.
                let outputs = estate.azure_outputs(&folder);
                estate.publish_outputs(name, &resp, &outputs).await.map_err(|e| not_envelope(e.to_string()))?;
            }
            json!({"status": status.as_u16(), "route": format!("/{folder}"), "body": resp})
        }
        _ => {
            let (headers, body) = as_http(&fixture, raw);
            let msg =
                platform_gcp::push::from_http(&header_map(&headers), &body).map_err(|e| not_envelope(e.to_string()))?;
            let (status, bytes) = post(&app, "/", &headers, body).await;
            json!({"status": status.as_u16(), "form": msg.form, "message_id": msg.message_id,
                   "body": String::from_utf8_lossy(&bytes)})
        }
    };
    Ok(json!({"function": function, "response": response, "effects": effects(&estate)}))
}

/// Everything the invocation left behind in the embedded backends.
pub fn effects(estate: &Estate) -> Value {
    let messages: Vec<Value> = estate
        .bus
        .topics()
        .iter()
        .flat_map(|t| estate.bus.records(t))
        .map(|r| {
            let payload = serde_json::from_slice::<Value>(&r.payload)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.payload).into_owned()));
            json!({"topic": r.topic, "partition": r.partition, "offset": r.offset, "key": r.key,
                   "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(), "payload": payload})
        })
        .collect();
    let objects: Vec<Value> = estate
        .objects
        .all()
        .into_iter()
        .map(|o| json!({"bucket": o.bucket, "key": o.key, "size": o.size, "content_type": o.content_type}))
        .collect();
    let mut effects = json!({"messages": messages, "objects": objects, "documents": estate.docs.all()});
    // The other functions' stores, when an invocation wrote to them.
    let stores = [
        ("fraud_state", estate.fraud_docs.all()),
        ("orders", estate.orders.all()),
        ("payments", estate.payments.all()),
    ];
    for (name, docs) in stores {
        if !docs.is_empty() {
            effects[name] = Value::Array(docs);
        }
    }
    let windows: Vec<Value> = estate
        .image_totals
        .all()
        .into_iter()
        .map(|t| json!({"window_start": t.window_start, "size_label": t.size_label, "format": t.format, "bytes": t.bytes, "images": t.images}))
        .collect();
    if !windows.is_empty() {
        effects["image_totals"] = Value::Array(windows);
    }
    effects
}
