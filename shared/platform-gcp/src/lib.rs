//! GCP Cloud Run: the Pub/Sub push forms (wrapped envelope, unwrapped payload, Eventarc
//! CloudEvents in binary mode), OIDC verification of push tokens, the GCS port, and the server
//! helper every Cloud Run function's `main` uses.
pub mod gcs;
pub mod guard;
pub mod oidc;
pub mod pubsub;
pub mod push;

pub use guard::PushGuard;

/// Cloud Run tells the container where to listen through `PORT`.
pub fn port_from_env() -> u16 {
    std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080)
}

/// Serves `app` on all interfaces (Cloud Run's front end connects from outside the container) until SIGTERM or Ctrl-C.
pub async fn serve(app: axum::Router, port: u16) -> std::io::Result<()> {
    use std::net::{IpAddr, Ipv4Addr};
    serve::serve(app, IpAddr::V4(Ipv4Addr::UNSPECIFIED), port).await
}
