//! `local invoke <function> <fixture>`: runs one function on one recorded trigger payload on the
//! embedded default and reports the native response and every effect, as one JSON document.
//! `objects.rs`: the user's files it puts in the bucket first, and the objects it writes out.
mod lake;
mod objects;
pub mod state;
pub mod summary;

use crate::estate::Estate;
use crate::oneshot::post;
use crate::registry::{Host, HostError, Trigger};
use aws_lambda_events::event::s3::S3Event;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use domain::ports::{NewObject, VersionedObjects};
pub use objects::ObjectFile;
use platform_azure::{InvocationRequest, InvocationResponse};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use summary::{Fate, Summary};

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No such function in the registry (the message lists them).
    #[error("{0}")]
    UnknownFunction(String),
    #[error("{function} has no function folder {folder:?} (Metadata.sys.MethodName); its folders: {known}{fits}", known = folders.join(", "))]
    UnknownMethod { function: String, folder: String, folders: Vec<String>, fits: String },
    /// The function took the event and failed as a whole (the platform would retry it).
    #[error("{function} failed the invocation: {detail}")]
    Failed { function: String, detail: String },
    #[error("not a valid {function} envelope: {detail}\n{function} takes {expects}{fits}")]
    NotAnEnvelope { function: String, detail: String, expects: &'static str, fits: String },
    #[error("--object puts files where an S3 notification names them: only image-resizer takes one, not {0}")]
    ObjectsNeedS3(String),
    #[error("no ObjectCreated record of the event names the key {key:?}; its keys: {keys:?}")]
    NoRecordNames { key: String, keys: Vec<String> },
    #[error("cannot read {file}: {detail}")]
    CannotRead { file: String, detail: String },
    #[error("state file {file}: {detail}")]
    BadState { file: String, detail: String },
    /// The function ran; what it wrote could not be copied out (`--out`, `--save-state`).
    #[error("cannot write {0}")]
    CannotWrite(String),
}

/// What `local invoke` does around the function: the objects it puts in the local buckets first,
/// and where it copies what the function wrote.
#[derive(Debug, Clone, Default)]
pub struct InvokeOptions {
    /// For an S3 notification: `<dir>/<bucket>/<key>` is put at each created object it names
    /// (S3 fixtures keep their objects beside them, in `objects/`), unless `objects` has the key.
    pub beside: Option<PathBuf>,
    /// `--object KEY=FILE`.
    pub objects: Vec<ObjectFile>,
    /// `--out DIR`.
    pub out: Option<PathBuf>,
    /// `--state FILE`: the stores as the invocation finds them.
    pub state: Option<PathBuf>,
    /// `--save-state FILE`: the stores as the invocation leaves them.
    pub save_state: Option<PathBuf>,
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
    invoke_with_objects(function, raw, None).await
}

/// As [`invoke`]; an S3 notification's objects are first put in the local bucket from
/// `objects/<bucket>/<key>` when that file exists (S3 fixtures keep them beside themselves).
pub async fn invoke_with_objects(function: &str, raw: &[u8], objects: Option<&Path>) -> Result<Value, InvokeError> {
    let options = InvokeOptions { beside: objects.map(Path::to_path_buf), ..InvokeOptions::default() };
    invoke_with(function, raw, &options).await.map(|(out, _)| out)
}

/// As [`invoke`], with the objects of `options` put first; also says which files `--out` wrote.
pub async fn invoke_with(
    function: &str,
    raw: &[u8],
    options: &InvokeOptions,
) -> Result<(Value, Vec<PathBuf>), InvokeError> {
    let mut estate = Estate::new();
    if let Some(file) = &options.state {
        state::load(&estate, file).await?;
    }
    let mut before = objects::before(&estate);
    let out = run(&mut estate, function, raw, options, &mut before).await?;
    let mut written = match &options.out {
        Some(dir) => objects::write_out(&estate, &before, dir).await?,
        None => Vec::new(),
    };
    if let Some(file) = &options.save_state {
        state::save(&estate, file).await?;
        written.push(file.clone());
    }
    Ok((out, written))
}

/// Runs the function; `before` becomes the buckets as the function found them.
async fn run(
    estate: &mut Estate,
    function: &str,
    raw: &[u8],
    options: &InvokeOptions,
    before: &mut objects::Before,
) -> Result<Value, InvokeError> {
    let spec = crate::registry::function(function).map_err(InvokeError::UnknownFunction)?;
    let name = spec.name;
    let not_envelope = |detail: String| wrong_fixture(function, detail);
    let fixture: Value =
        serde_json::from_slice(raw).map_err(|e| not_envelope(format!("the fixture is not JSON: {e}")))?;
    // What a Lambda host says: a refusal of the envelope, or a failure of the whole invocation.
    let failed = |e: HostError| match e {
        HostError::NotThisTrigger(detail) => not_envelope(detail),
        HostError::Failed(detail) => InvokeError::Failed { function: function.into(), detail },
    };
    if !options.objects.is_empty() && !matches!(spec.host, Host::S3 { .. }) {
        return Err(InvokeError::ObjectsNeedS3(function.into()));
    }
    match spec.host {
        Host::S3 { run: host } => {
            let mut event: S3Event = serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
            objects::put_files(estate, &mut event, &options.objects).await?;
            if let Some(dir) = &options.beside {
                seed_uploads(estate, &event, dir).await;
            }
            *before = objects::before(estate);
            let records = event.records.len();
            let response = host(estate, event, estate.lambda_invocation()).await.map_err(failed)?;
            let summary = Summary::of(records, &Fate::Succeeded, &published(estate));
            return Ok(report(function, summary, response, estate));
        }
        Host::Schedule { run: host } => {
            let event = serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
            // order-sweeper's run needs orders: without a state, order-updater's fixtures make them.
            let seeded_from = match options.state {
                None if name == order_sweeper::NAME => {
                    crate::sweeps::seed_orders(estate).await.map_err(not_envelope)?
                }
                _ => Vec::new(),
            };
            let seeded = published(estate); // the seeding's dead letters are not the run's
            let mut response = host(estate, event, estate.lambda_invocation()).await.map_err(failed)?;
            if !seeded_from.is_empty() {
                response["orders_from"] = json!(seeded_from);
            }
            let ran: Vec<_> = published(estate).into_iter().filter(|r| !seeded.contains(r)).collect();
            return Ok(report(function, Summary::of(1, &Fate::Succeeded, &ran), response, estate));
        }
        Host::Msk { run: host, .. } => {
            // Lambda's runtime parses the event into the trigger's type before the handler runs.
            let event: aws_lambda_events::event::kafka::KafkaEvent =
                serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
            let records = summary::kafka_records(&event);
            let response = host(estate, event.clone(), estate.lambda_invocation()).await.map_err(failed)?.response;
            let fate = Fate::Partial { batch: &event, response: &response };
            let summary = Summary::of(records, &fate, &published(estate));
            return Ok(report(function, summary, json!({"batch_response": response}), estate));
        }
        Host::DynamoDbStream { run: host, .. } => {
            let event: aws_lambda_events::event::dynamodb::Event =
                serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
            let response = host(estate, event.clone(), estate.lambda_invocation()).await.map_err(failed)?.response;
            let fate = Fate::Stream { batch: &event, response: &response };
            let summary = Summary::of(event.records.len(), &fate, &published(estate))
                .with_dead_letters(lake::dead_letter_codes(estate));
            return Ok(report(function, summary, json!({"batch_response": response}), estate));
        }
        Host::Push { .. } | Host::Functions { .. } => {}
    }
    let app = estate
        .app(name)
        .cloned()
        .ok_or_else(|| InvokeError::UnknownFunction(format!("{function} has no app in the estate")))?;
    let (records, succeeded, response) = match spec.trigger {
        Trigger::Kafka => {
            let req: InvocationRequest = serde_json::from_slice(raw).map_err(|e| not_envelope(e.to_string()))?;
            // The host always says which function it invokes; its Data is the function's to judge
            // (a binding it cannot read is dead-lettered, not refused here).
            let folder = req
                .sys()
                .map(|s| s.method_name)
                .ok_or_else(|| not_envelope("no Metadata.sys: not a custom-handler invocation".into()))?;
            let folders = estate.azure_function_folders(name);
            if !folders.contains(&folder) {
                let fits = fitting(function);
                return Err(InvokeError::UnknownMethod { function: function.into(), folder, folders, fits });
            }
            let body = serde_json::to_vec(&req).unwrap_or_default();
            let headers = [("content-type".to_string(), "application/json".to_string())];
            let (status, bytes) = post(&app, &format!("/{folder}"), &headers, body).await;
            let resp: InvocationResponse = serde_json::from_slice(&bytes).unwrap_or_default();
            if status.is_success() {
                // The host publishes output bindings only for a successful invocation.
                let outputs = estate.azure_outputs(name, &folder);
                estate.publish_outputs(name, &resp, &outputs).await.map_err(|e| not_envelope(e.to_string()))?;
            }
            let records = summary::host_records(&Value::Object(req.data.clone()));
            (
                records,
                status.is_success(),
                json!({"status": status.as_u16(), "route": format!("/{folder}"), "body": resp}),
            )
        }
        _ => {
            let (headers, body) = as_http(&fixture, raw);
            let msg =
                platform_gcp::push::from_http(&header_map(&headers), &body).map_err(|e| not_envelope(e.to_string()))?;
            let (status, bytes) = post(&app, "/", &headers, body).await;
            let response = json!({"status": status.as_u16(), "form": msg.form, "message_id": msg.message_id,
                   "body": String::from_utf8_lossy(&bytes)});
            (1, status.is_success(), response)
        }
    };
    let fate = if succeeded { Fate::Succeeded } else { Fate::FailedWhole };
    Ok(report(function, Summary::of(records, &fate, &published(estate)), response, estate))
}

/// The one document `local invoke` prints: the summary, the native response, every effect.
fn report(function: &str, summary: Summary, response: Value, estate: &Estate) -> Value {
    json!({"function": function, "summary": summary, "response": response, "effects": effects(estate)})
}

/// Every record the invocation published (the estate starts empty).
fn published(estate: &Estate) -> Vec<inmemory::Record> {
    estate.bus.topics().iter().flat_map(|t| estate.bus.records(t)).collect()
}

/// A fixture the function cannot take: what it expects, and the recorded fixtures that fit.
fn wrong_fixture(function: &str, detail: String) -> InvokeError {
    let expects = crate::registry::function(function).map_or("its trigger's envelope", |f| f.trigger.envelope());
    InvokeError::NotAnEnvelope { function: function.into(), detail, expects, fits: fitting(function) }
}

/// "; fixtures that fit: …" naming the recorded fixtures the function takes, or nothing.
fn fitting(function: &str) -> String {
    let fitting =
        crate::registry::events_dir().map(|dir| crate::registry::fixtures_of(&dir, function)).unwrap_or_default();
    if fitting.is_empty() {
        return String::new();
    }
    format!("; fixtures that fit: {}", fitting.iter().map(|f| format!("events/{f}")).collect::<Vec<_>>().join(", "))
}

/// Puts the objects an S3 notification names (its created ones) from `dir/<bucket>/<key>`.
pub async fn seed_uploads(estate: &Estate, event: &S3Event, dir: &Path) {
    let created =
        event.records.iter().filter(|r| r.event_name.as_deref().is_some_and(|n| n.starts_with("ObjectCreated:")));
    for record in created {
        let (Some(bucket), Some(raw)) = (&record.s3.bucket.name, &record.s3.object.key) else { continue };
        let Ok(key) = platform_aws::s3::decode_key(raw) else { continue };
        if let Ok(bytes) = std::fs::read(dir.join(bucket).join(&key)) {
            let object = NewObject { key: &key, bytes, content_type: "image/jpeg", cache_control: None };
            let _ = estate.uploads.put_new(bucket, object).await;
        }
    }
}

/// Everything the invocation left behind in the embedded backends.
pub fn effects(estate: &Estate) -> Value {
    let messages: Vec<Value> = published(estate)
        .into_iter()
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
        ("notifications", estate.notifications.all()),
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
    let uploads: Vec<Value> = estate
        .uploads
        .all()
        .into_iter()
        .map(|(bucket, o)| {
            json!({"bucket": bucket, "key": o.key, "size": o.size, "etag": o.etag,
            "content_type": o.content_type, "cache_control": o.cache_control})
        })
        .collect();
    if !uploads.is_empty() {
        effects["uploads"] = Value::Array(uploads);
    }
    // notifier's e-mails, as SES took them: to whom, which message, subject and language.
    let emails: Vec<Value> = estate
        .mailer
        .sent()
        .into_iter()
        .map(|m| {
            let mime = String::from_utf8_lossy(&m.mime).into_owned();
            let header =
                |name: &str| mime.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).map(str::to_string);
            // The subject as the reader sees it: its RFC 2047 encoded word decoded.
            let subject = header("Subject:").map(|s| {
                let word = s.strip_prefix("=?utf-8?B?").and_then(|w| w.strip_suffix("?="));
                let decoded = word
                    .and_then(|w| base64::engine::general_purpose::STANDARD.decode(w).ok())
                    .and_then(|b| String::from_utf8(b).ok());
                decoded.unwrap_or(s)
            });
            json!({"message_id": m.message_id, "from": m.from, "to": m.to, "subject": subject,
               "content_language": header("Content-Language:")})
        })
        .collect();
    if !emails.is_empty() {
        effects["emails"] = Value::Array(emails);
    }
    let lake = lake::effects(estate);
    if !lake.is_empty() {
        effects["lake"] = Value::Array(lake);
    }
    effects
}
