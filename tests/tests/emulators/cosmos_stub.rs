//! The Cosmos port and projection-updater against a stub Cosmos DB gateway that answers document
//! operations with a chosen status: what is transient (401/403 after a key rotation or a missing
//! role, 429, 5xx) fails the invocation for a retry and dead-letters nothing; what no retry can
//! fix (400, 413) is dead-lettered; and a 429's `x-ms-retry-after-ms` is waited out. It runs with
//! the emulator tests because the SDK reads its transport settings (HTTP/1.1, no IMDS probe)
//! from the environment that `scripts/emulators.sh env` sets.
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use domain::ports::{Documents, PortError};
use estate_tests::{emulator, fixture, fresh};
use platform_azure::InvocationRequest;
use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct Fault {
    status: u16,
    retry_after_ms: Option<u64>,
    /// How many document requests get the fault; after that they succeed.
    times: usize,
    /// Fault only creates and replaces (reads answer 404: no projection yet).
    writes_only: bool,
}

#[derive(Clone, Default)]
struct Stub {
    base: String,
    fault: Arc<Mutex<Option<Fault>>>,
    doc_requests: Arc<AtomicUsize>,
}

impl Stub {
    fn arm(&self, f: Fault) {
        *self.fault.lock().expect("lock") = Some(f);
        self.doc_requests.store(0, Ordering::SeqCst);
    }

    /// The armed fault's answer for this document request, if it still applies.
    fn fault(&self, write: bool) -> Option<Response> {
        self.doc_requests.fetch_add(1, Ordering::SeqCst);
        let mut slot = self.fault.lock().expect("lock");
        let f = slot.as_mut().filter(|f| f.times > 0 && (write || !f.writes_only))?;
        f.times -= 1;
        let mut headers = HeaderMap::new();
        if let Some(ms) = f.retry_after_ms {
            headers.insert("x-ms-retry-after-ms", ms.into());
        }
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Some((status, headers, Json(json!({"code": "Stub", "message": format!("stub {status}")}))).into_response())
    }
}

async fn account(State(s): State<Stub>) -> Json<Value> {
    let here = json!([{"name": "West Europe", "databaseAccountEndpoint": s.base}]);
    Json(json!({"_self": "", "id": "stub", "_rid": "stub", "writableLocations": here, "readableLocations": here,
                "enableMultipleWriteLocations": false, "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"}}))
}

async fn container(Path((_db, coll)): Path<(String, String)>) -> Json<Value> {
    Json(json!({"id": coll, "_rid": "pLJdAIgW6Ro=", "_etag": "\"c1\"",
                "partitionKey": {"paths": ["/sku"], "kind": "Hash", "version": 2}}))
}

async fn pkranges(h: HeaderMap) -> Response {
    if h.contains_key(header::IF_NONE_MATCH) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let ranges = json!({"PartitionKeyRanges": [{"id": "0", "minInclusive": "", "maxExclusive": "FF"}]});
    ([(header::ETAG, "\"pk1\"")], Json(ranges)).into_response()
}

async fn read_doc(State(s): State<Stub>) -> Response {
    s.fault(false).unwrap_or_else(|| (StatusCode::NOT_FOUND, Json(json!({"code": "NotFound"}))).into_response())
}

async fn write_doc(State(s): State<Stub>) -> Response {
    s.fault(true).unwrap_or_else(|| (StatusCode::CREATED, [(header::ETAG, "\"e1\"")]).into_response())
}

async fn start() -> (Stub, CosmosDocuments) {
    // The SDK's process-wide transport reads these once; scripts/emulators.sh env sets them.
    assert_eq!(emulator("AZURE_COSMOS_CONNECTION_POOL_IS_HTTP2_ALLOWED"), "false");
    emulator("COSMOS_DISABLE_IMDS");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://127.0.0.1:{}/", listener.local_addr().expect("addr").port());
    let stub = Stub { base: base.clone(), ..Default::default() };
    let app = Router::new()
        .route("/", get(account))
        .route("/dbs/{db}/colls/{coll}", get(container))
        .route("/dbs/{db}/colls/{coll}/pkranges", get(pkranges))
        .route("/dbs/{db}/colls/{coll}/docs", axum::routing::post(write_doc))
        .route("/dbs/{db}/colls/{coll}/docs/{id}", get(read_doc).put(write_doc))
        .fallback(|| async { StatusCode::BAD_REQUEST })
        .with_state(stub.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = CosmosConfig {
        database: fresh("stub-db"),
        container: fresh("stub-coll"),
        ..CosmosConfig::from_env(&serve::Env::fixed([("COSMOS_ENDPOINT", base.as_str())]), "merch", "projections")
            .expect("loopback config")
    };
    let docs = CosmosDocuments::connect(&config, "/sku", false).await.expect("connect to the stub");
    (stub, docs)
}

fn invocation(retry: Option<(u32, u32)>) -> InvocationRequest {
    let mut req: InvocationRequest =
        serde_json::from_slice(&fixture("azure/kafka-trigger/price-changed-batch.json")).expect("request");
    req.metadata.remove("RetryContext");
    if let Some((count, max)) = retry {
        req.set_metadata("RetryContext", &json!({"RetryCount": count, "MaxRetryCount": max}));
    }
    req
}

fn fault(status: u16) -> Fault {
    Fault { status, retry_after_ms: (status == 429).then_some(1), times: usize::MAX, writes_only: false }
}

#[tokio::test]
async fn account_state_failures_fail_the_invocation_and_dead_letter_nothing() {
    let (stub, docs) = start().await;
    let updater = projection_updater::Updater::new(Arc::new(docs));
    for status in [401, 403, 429, 500, 503] {
        stub.arm(fault(status));
        let err = updater.docs.read("SKU-1", "SKU-1").await.unwrap_err();
        assert!(
            matches!(&err, PortError::Unavailable(m) if m.contains(&format!("Cosmos DB {status}"))),
            "{status}: {err}"
        );
        let (code, resp, report) = updater.handle(&invocation(None)).await;
        assert_eq!(code, 500, "{status}: the host retries the invocation");
        let dead = resp.outputs.get("deadLetters").and_then(Value::as_array).map_or(0, Vec::len);
        assert_eq!((report.dead_lettered, dead), (1, 1), "{status}: only the malformed record, never the stream");
    }
    // On the host's last retry the records still failing are kept, with the reason.
    stub.arm(fault(403));
    let (code, _, report) = updater.handle(&invocation(Some((5, 5)))).await;
    assert_eq!((code.as_u16(), report.dead_lettered), (200, 4), "1 malformed + 3 retries_exhausted");
}

#[tokio::test]
async fn a_write_no_retry_can_fix_is_dead_lettered() {
    let (stub, docs) = start().await;
    let updater = projection_updater::Updater::new(Arc::new(docs));
    for status in [400, 413] {
        stub.arm(Fault { writes_only: true, ..fault(status) });
        let (code, resp, report) = updater.handle(&invocation(None)).await;
        assert_eq!((code.as_u16(), report.dead_lettered), (200, 4), "{status}");
        let reasons: Vec<String> = resp.outputs["deadLetters"]
            .as_array()
            .expect("dead letters")
            .iter()
            .filter_map(|o| serde_json::from_str::<Value>(o["Value"].as_str()?).ok())
            .map(|d| d["data"]["reason_code"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(reasons.iter().filter(|r| *r == "store_rejected").count(), 3, "{status}: {reasons:?}");
    }
}

#[tokio::test]
async fn a_throttled_request_waits_as_long_as_cosmos_asks_then_succeeds() {
    let (stub, docs) = start().await;
    stub.arm(Fault { status: 429, retry_after_ms: Some(300), times: 2, writes_only: false });
    let started = Instant::now();
    assert_eq!(docs.read("SKU-1", "SKU-1").await, Ok(None), "the third attempt gets the answer");
    assert!(started.elapsed() >= Duration::from_millis(600), "waited {:?}", started.elapsed());
    assert_eq!(stub.doc_requests.load(Ordering::SeqCst), 3);
}
