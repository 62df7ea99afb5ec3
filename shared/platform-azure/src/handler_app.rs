//! The HTTP side of a custom handler, the same for every function app of the estate: one POST
//! route per function folder, a body limit as large as the host's biggest batch, the body read
//! as an invocation (or dead-lettered whole, see `read_invocation`), and the handling run in a
//! span that names the function and the invocation.
use crate::dead_letter_output::read_invocation;
use crate::{InvocationRequest, InvocationResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use domain::dead_letter::DeadLetterPolicy;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// A function app's handling of one invocation; the status is what the handler answers the host
/// (non-2xx: the host retries the invocation under the function's retry policy).
pub trait Invocations: Send + Sync + 'static {
    /// The app's name, for logs.
    const NAME: &'static str;
    /// Where an unreadable request body is dead-lettered: the output binding and its policy.
    fn dead_letters(&self) -> (&str, &DeadLetterPolicy);
    fn invoke(&self, req: &InvocationRequest) -> impl Future<Output = (StatusCode, InvocationResponse)> + Send;
}

/// The custom handler's router: `/<folder>` for each function folder, behind the body limit.
pub fn router<H: Invocations>(handler: Arc<H>, folders: &[&str], max_body_bytes: usize) -> Router {
    let routes = folders.iter().fold(Router::new(), |r, name| r.route(&format!("/{name}"), post(route::<H>)));
    crate::with_body_limit(routes.with_state(handler), max_body_bytes)
}

/// Reads the body itself rather than through axum's `Json` extractor, which tracks the path of
/// every value for its error messages (a fifth of the decoding time of a 500-record batch) and
/// answers 415/422 to a body it cannot read, which the host would retry forever.
async fn route<H: Invocations>(State(h): State<Arc<H>>, body: Bytes) -> Response {
    let (binding, policy) = h.dead_letters();
    let req = match read_invocation(&body, binding, policy) {
        Ok(req) => req,
        Err(dead_lettered) => return json_response(StatusCode::OK, &dead_lettered),
    };
    let span = tracing::info_span!("invocation", function = H::NAME, event_id = %req.invocation_id());
    let (status, resp) = h.invoke(&req).instrument(span).await;
    json_response(status, &resp)
}

/// The response as JSON, written into a buffer sized for it up front: 500 verdicts are half a
/// megabyte, and growing to that by doubling (as axum's `Json` does) copies and faults in
/// twice the memory.
fn json_response(status: StatusCode, resp: &InvocationResponse) -> Response {
    let mut body = Vec::with_capacity(resp.json_size_hint());
    match serde_json::to_writer(&mut body, resp) {
        Ok(()) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        // Only a map with non-string keys fails, which a `Value` cannot hold.
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
