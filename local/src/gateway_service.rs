//! The test payment gateway (`inmemory::TestGateway`, its documented tokens) served over HTTP
//! in the estate's gateway protocol (`domain::gateway_http`), so that every payment-processor
//! process charges one ledger: two processes, or one restarted, that charged a payment id twice
//! are seen doing it. Idempotent by payment id as card gateways are: the same key and request
//! answer the first outcome again and charge nothing; every request is counted (`requests`), so
//! a processor that asks twice is caught even when the gateway saved it.
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::gateway_http::{CHARGES, ChargeRequest, IDEMPOTENCY_KEY};
use domain::ports::{Charge, ChargeError, ChargeOutcome, PaymentGateway};
use domain::values::{Currency, Money};
use inmemory::TestGateway;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What one idempotency key has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyRecord {
    /// Charge requests with this key.
    pub requests: u32,
    /// The request the key was first used with.
    #[serde(skip)]
    first: Option<ChargeRequest>,
    /// The outcome answered (again) to a repeat.
    pub outcome: Option<ChargeOutcome>,
    /// A charge with this key is being made: a repeat meanwhile is answered 503 `in_progress`
    /// (nothing done; try again), as card gateways refuse a concurrent use of a key.
    #[serde(skip)]
    in_progress: bool,
}

#[derive(Clone)]
pub struct GatewayService {
    pub gateway: TestGateway,
    keys: Arc<Mutex<BTreeMap<String, KeyRecord>>>,
    /// How long a charge takes before the gateway acts on it (a slow card processor).
    delay: Arc<Mutex<std::time::Duration>>,
}

impl GatewayService {
    pub fn new(gateway: TestGateway) -> Self {
        GatewayService { gateway, keys: Arc::default(), delay: Arc::default() }
    }

    /// Makes each charge wait this long before the gateway acts on it; a caller that gives up
    /// meanwhile charged nothing.
    pub fn set_delay(&self, delay: std::time::Duration) {
        *self.delay.lock().unwrap_or_else(|p| p.into_inner()) = delay;
    }

    /// Every key's requests and outcome, by payment id.
    pub fn keys(&self) -> BTreeMap<String, KeyRecord> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn app(&self) -> Router {
        Router::new()
            .route(CHARGES, post(charge))
            .route(&format!("{CHARGES}/{{payment_id}}"), get(lookup))
            .with_state(self.clone())
    }

    /// Serves on 127.0.0.1 on a free port; the URL is payment-processor's `PAYMENT_GATEWAY_URL`.
    pub async fn serve(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = self.app();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }
}

/// A key's charge in progress, until dropped.
struct InProgress {
    keys: Arc<Mutex<BTreeMap<String, KeyRecord>>>,
    key: String,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some(record) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.key) {
            record.in_progress = false;
        }
    }
}

fn refused(status: StatusCode, error: &str, detail: String) -> Response {
    (status, axum::Json(json!({"error": error, "detail": detail}))).into_response()
}

async fn charge(State(service): State<GatewayService>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(key) = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok()).filter(|k| !k.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, "idempotency_key_missing", "a charge needs an Idempotency-Key".into());
    };
    let request: ChargeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refused(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    let currency = match Currency::parse(&request.currency) {
        Ok(c) => c,
        Err(e) => return refused(StatusCode::BAD_REQUEST, "bad_currency", e.to_string()),
    };
    {
        let mut keys = service.keys.lock().unwrap_or_else(|p| p.into_inner());
        let record = keys.entry(key.to_string()).or_default();
        record.requests += 1;
        match (&record.first, &record.outcome) {
            (Some(first), _) if *first != request => {
                let detail = format!("payment id {key} was first charged with another request");
                return refused(StatusCode::CONFLICT, "idempotency_key_reused", detail);
            }
            (Some(_), Some(outcome)) => return (StatusCode::OK, axum::Json(outcome.clone())).into_response(),
            _ if record.in_progress => {
                let detail = format!("a charge with payment id {key} is in progress");
                return refused(StatusCode::SERVICE_UNAVAILABLE, "in_progress", detail);
            }
            _ => {
                record.first = Some(request.clone());
                record.in_progress = true;
            }
        }
    }
    // Cleared however the charge ends, even when the caller goes away and the charge with it.
    let _in_progress = InProgress { keys: service.keys.clone(), key: key.to_string() };
    let delay = *service.delay.lock().unwrap_or_else(|p| p.into_inner());
    tokio::time::sleep(delay).await;
    let charge = Charge {
        payment_id: key.to_string(),
        token: request.token,
        amount: Money::new(request.amount_minor, currency),
    };
    let answer = service.gateway.charge(&charge).await;
    // A charge that timed out was made: a repeat of the key answers what the ledger holds.
    let kept = match &answer {
        Ok(outcome) => Some(outcome.clone()),
        Err(ChargeError::Unknown(_)) => service.gateway.lookup(key).await.ok().flatten(),
        Err(_) => None,
    };
    if let Some(outcome) = kept {
        let mut keys = service.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.entry(key.to_string()).or_default().outcome = Some(outcome);
    }
    match answer {
        Ok(outcome) => (StatusCode::OK, axum::Json(outcome)).into_response(),
        Err(ChargeError::NotSent(e)) => refused(StatusCode::SERVICE_UNAVAILABLE, "not_sent", e),
        Err(ChargeError::Unknown(e)) => refused(StatusCode::GATEWAY_TIMEOUT, "timed_out", e),
        Err(ChargeError::Rejected(e)) => refused(StatusCode::BAD_REQUEST, "rejected", e),
    }
}

async fn lookup(State(service): State<GatewayService>, Path(payment_id): Path<String>) -> Response {
    match service.gateway.lookup(&payment_id).await {
        Ok(Some(outcome)) => (StatusCode::OK, axum::Json(outcome)).into_response(),
        Ok(None) => refused(StatusCode::NOT_FOUND, "not_found", format!("nothing charged under {payment_id}")),
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
    }
}
