//! Calling a function's HTTP app as its platform does, without a socket (`tower::oneshot`).
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
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
