//! GCP Cloud Run: the Pub/Sub push forms (wrapped envelope, unwrapped payload, Eventarc
//! CloudEvents in binary mode), OIDC verification of push tokens, the GCS port, and the server
//! helper every Cloud Run function's `main` uses.
pub mod gcs;
pub mod oidc;
pub mod push;

/// Cloud Run tells the container where to listen through `PORT`.
pub fn port_from_env() -> u16 {
    std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080)
}

/// Serves `app` on all interfaces (Cloud Run's front end connects from outside the container).
pub async fn serve(app: axum::Router, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    tracing::info!(port, "listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

/// Cloud Run stops an instance with SIGTERM (Ctrl-C locally): finish the requests in flight, then exit.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
