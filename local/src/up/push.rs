//! Pub/Sub push to the Cloud Run functions, as Google delivers it. The Pub/Sub emulator keeps the
//! subscriptions — push endpoint, ack deadline, retry policy, dead-letter topic and maximum
//! delivery attempts — and redelivers and dead-letters itself; its push carries no token, so it
//! pushes to this front end, which does what Google's push adds: an OIDC token minted for the
//! subscription's service account and audience (`push_auth`), and `deliveryAttempt` in the body
//! (Google sets it when a dead-letter policy is on; the emulator does not). The function's status
//! goes back to the emulator: 2xx acknowledges, anything else is redelivered.
use super::push_auth::{Claims, PushSigner};
use super::stats::Stats;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// One push subscription's delivery: to which function, with which token.
#[derive(Debug, Clone)]
pub struct Route {
    pub function: &'static str,
    /// The service's URL (`http://127.0.0.1:<PORT>/`).
    pub endpoint: String,
    pub audience: String,
    pub service_account: String,
}

#[derive(Clone)]
struct FrontEnd {
    routes: Arc<RwLock<BTreeMap<String, Route>>>,
    signer: Arc<PushSigner>,
    stats: Arc<Stats>,
    client: reqwest::Client,
    /// Deliveries so far of each message not yet acknowledged: (subscription, message id).
    attempts: Arc<Mutex<HashMap<(String, String), u32>>>,
}

/// Messages whose attempts are counted at most; past this the oldest counts are forgotten (a
/// message redelivered after that counts from 1 again, as Google says may happen).
const COUNTED: usize = 100_000;

pub struct PushFrontEnd {
    /// `http://127.0.0.1:<port>`; a subscription's endpoint is `<url>/push/<subscription>`, the
    /// key set is at `<url>/oauth2/v3/certs`.
    pub url: String,
    routes: Arc<RwLock<BTreeMap<String, Route>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PushFrontEnd {
    pub async fn serve(signer: Arc<PushSigner>, stats: Arc<Stats>) -> std::io::Result<PushFrontEnd> {
        let routes = Arc::new(RwLock::new(BTreeMap::new()));
        let state = FrontEnd {
            routes: routes.clone(),
            signer,
            stats,
            client: reqwest::Client::new(),
            attempts: Arc::default(),
        };
        // The key set the services verify the tokens with (`PUSH_JWKS_URL`), served beside.
        let keys = state.signer.jwks();
        let app = Router::new()
            .route("/push/{subscription}", post(deliver))
            .route("/oauth2/v3/certs", axum::routing::get(move || async move { axum::Json(keys) }))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(PushFrontEnd { url, routes, task })
    }

    /// Where the emulator pushes this subscription's messages.
    pub fn endpoint(&self, subscription: &str) -> String {
        format!("{}/push/{subscription}", self.url)
    }

    pub fn route(&self, subscription: &str, route: Route) {
        self.routes.write().unwrap_or_else(|p| p.into_inner()).insert(subscription.to_string(), route);
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn deliver(State(fe): State<FrontEnd>, Path(subscription): Path<String>, body: Bytes) -> StatusCode {
    let route = fe.routes.read().unwrap_or_else(|p| p.into_inner()).get(&subscription).cloned();
    // An endpoint no subscription of this run names: refused (the emulator redelivers, then
    // dead-letters), never acknowledged unread.
    let Some(route) = route else { return StatusCode::NOT_FOUND };
    // A body that is no envelope goes on as it came, with its token: what the service does with a
    // broken push is the service's to show (Google's own pushes are always envelopes).
    let Ok(mut envelope) = serde_json::from_slice::<Value>(&body) else {
        return forward(&fe, &route, &subscription, reqwest::Body::from(body)).await;
    };
    let message_id = envelope["message"]["messageId"].as_str().unwrap_or_default().to_string();
    let key = (subscription.clone(), message_id);
    let attempt = {
        let mut attempts = fe.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if attempts.len() >= COUNTED {
            attempts.clear();
        }
        let n = attempts.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    };
    envelope["deliveryAttempt"] = json!(attempt);
    let body = reqwest::Body::from(serde_json::to_vec(&envelope).unwrap_or_default());
    let status = forward(&fe, &route, &subscription, body).await;
    if status.is_success() {
        fe.attempts.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
    } else if attempt > 1 {
        fe.stats.retried(route.function);
    }
    status
}

/// POSTs the body to the service with a token minted for the route; the service's status.
async fn forward(fe: &FrontEnd, route: &Route, subscription: &str, body: reqwest::Body) -> StatusCode {
    let token = fe.signer.token(&Claims::push(&route.audience, &route.service_account));
    let started = Instant::now();
    // Google waits for an answer no longer than the subscription's ack deadline.
    let request = fe.client.post(&route.endpoint).bearer_auth(token).header("content-type", "application/json");
    let answer = request.body(body).timeout(super::services::ACK_DEADLINE).send().await;
    let status = match answer {
        Ok(a) => StatusCode::from_u16(a.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        Err(e) => {
            tracing::warn!(function = route.function, subscription, error = %e, "the service did not answer the push");
            if e.is_timeout() { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::SERVICE_UNAVAILABLE }
        }
    };
    fe.stats.invoked(route.function, started.elapsed(), !status.is_success());
    status
}
