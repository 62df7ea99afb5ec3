//! The Lambda Runtime API (version 2018-06-01) as the local runner serves it to one function's
//! processes: a deployed binary, started with `AWS_LAMBDA_RUNTIME_API` pointing here, asks for
//! its next invocation (a long poll), and posts the response or the error back, as in Lambda:
//!
//! - `GET  /2018-06-01/runtime/invocation/next`: the event, with `Lambda-Runtime-Aws-Request-Id`,
//!   `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `…/{id}/error`: 202, or 400
//!   `InvalidRequestID` for an id that is not in flight (answered before, or timed out);
//! - `POST /2018-06-01/runtime/init/error`: the process could not start; 202.
//!
//! Each process takes one invocation at a time (Lambda's model); a function runs more processes
//! for concurrency, all polling the same queue.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What became of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function's response body.
    Response(Vec<u8>),
    /// The function reported an error: its type (`Lambda-Runtime-Function-Error-Type`) and body.
    Error { error_type: Option<String>, body: Vec<u8> },
    /// The process could not start (`/init/error`).
    InitError { error_type: Option<String>, body: Vec<u8> },
    /// No answer within the function's timeout.
    TimedOut,
}

/// An invocation waiting for a process to take it.
struct Queued {
    id: String,
    event: Vec<u8>,
    deadline_ms: i64,
    answer: oneshot::Sender<Outcome>,
}

struct Shared {
    function_arn: String,
    queue: mpsc::UnboundedSender<Queued>,
    waiting: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Outcome>>,
    count: AtomicU64,
}

/// One function's Runtime API: `invoke` queues an event and waits for its outcome.
#[derive(Clone)]
pub struct RuntimeApi {
    shared: Arc<Shared>,
}

impl RuntimeApi {
    pub fn new(function_arn: impl Into<String>) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let shared = Shared {
            function_arn: function_arn.into(),
            queue,
            waiting: tokio::sync::Mutex::new(waiting),
            in_flight: Mutex::default(),
            init_error: Mutex::default(),
            count: AtomicU64::new(0),
        };
        RuntimeApi { shared: Arc::new(shared) }
    }

    /// The routes, apart from any socket (tests call them with `oneshot`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(self.shared.clone())
    }

    /// Serves the API on 127.0.0.1 on a free port, until the runtime stops; the address is what
    /// a process gets as `AWS_LAMBDA_RUNTIME_API`.
    pub async fn serve(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(address)
    }

    /// Queues the event for the next process that asks, and waits up to `timeout` for its
    /// outcome. An invocation not answered in time is no longer in flight: a late answer is
    /// refused, as Lambda refuses one after the function timed out.
    pub async fn invoke(&self, event: Vec<u8>, timeout: Duration) -> Outcome {
        if let Some(failed) = self.init_failure() {
            return failed;
        }
        self.shared.count.fetch_add(1, Ordering::SeqCst);
        let id = request_id(REQUESTS.fetch_add(1, Ordering::SeqCst) + 1);
        let deadline_ms = chrono::Utc::now().timestamp_millis() + timeout.as_millis() as i64;
        let (answer, outcome) = oneshot::channel();
        let queued = Queued { id: id.clone(), event, deadline_ms, answer };
        if self.shared.queue.send(queued).is_err() {
            return Outcome::TimedOut;
        }
        // However this ends (answered, timed out, or given up by the caller because the process
        // died), the id is no longer in flight: a late answer is refused.
        let _forget = Forget { shared: &self.shared, id };
        match tokio::time::timeout(timeout, outcome).await {
            Ok(Ok(outcome)) => outcome,
            _ => Outcome::TimedOut,
        }
    }

    /// The `/init/error` a process posted, if one did (cleared by `clear_init_error` on restart).
    pub fn init_failure(&self) -> Option<Outcome> {
        lock(&self.shared.init_error).clone()
    }

    pub fn clear_init_error(&self) {
        lock(&self.shared.init_error).take();
    }

    /// How many invocations were queued to this API.
    pub fn invocations(&self) -> u64 {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// How many invocations are queued or in flight with no process answering them.
    pub fn in_flight(&self) -> usize {
        lock(&self.shared.in_flight).len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes an invocation's id out of the in-flight ones when its caller stops waiting.
struct Forget<'a> {
    shared: &'a Shared,
    id: String,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(&self.shared.in_flight).remove(&self.id);
    }
}

/// Invocations of every function of the runner, numbered: their request ids never repeat.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// A request id in Lambda's form (a UUID), unique within the runner's run.
fn request_id(n: u64) -> String {
    let start = std::process::id() as u64;
    format!("{:08x}-0000-4000-8000-{:012x}", start & 0xffff_ffff, n)
}

/// X-Ray's trace header form, which the runtime puts in `_X_AMZN_TRACE_ID`.
fn trace_id(n: &str, deadline_ms: i64) -> String {
    let tail: String = n.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &tail[tail.len().saturating_sub(24)..];
    format!("Root=1-{:08x}-{tail:0>24};Parent={:016x};Sampled=0", deadline_ms / 1000, deadline_ms)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    // An invocation whose caller stopped waiting (timed out, or its process died) is not run.
    let queued = {
        let mut waiting = shared.waiting.lock().await;
        loop {
            match waiting.recv().await {
                Some(q) if q.answer.is_closed() => continue,
                other => break other,
            }
        }
    };
    let Some(queued) = queued else {
        return (StatusCode::GONE, "the runner is stopping").into_response();
    };
    let Queued { id, event, deadline_ms, answer } = queued;
    lock(&shared.in_flight).insert(id.clone(), answer);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", id.clone());
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", shared.function_arn.clone());
    put("lambda-runtime-trace-id", trace_id(&id, deadline_ms));
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, event).into_response()
}

fn answered(shared: &Shared, id: &str, outcome: Outcome) -> Response {
    match lock(&shared.in_flight).remove(id) {
        Some(answer) => {
            let _ = answer.send(outcome);
            (StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "OK"}))).into_response()
        }
        None => {
            let body = serde_json::json!({"errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID"});
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
    }
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    answered(&shared, &id, Outcome::Response(body.to_vec()))
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    answered(&shared, &id, Outcome::Error { error_type: error_type(&headers), body: body.to_vec() })
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    *lock(&shared.init_error) = Some(Outcome::InitError { error_type: error_type(&headers), body: body.to_vec() });
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "OK"}))).into_response()
}
