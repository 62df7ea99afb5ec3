//! Azure Functions custom handlers: the host POSTs `{Data, Metadata}` to `/<function name>` and
//! reads `{Outputs, Logs, ReturnValue}` back. This crate holds that protocol, the Kafka trigger's
//! payload, the Cosmos DB port, and the server helper every Azure function's `main` uses.
pub mod cosmos;
pub mod custom_handler;
pub mod kafka_trigger;

pub use custom_handler::{InvocationRequest, InvocationResponse, RetryContext};

/// The host tells the handler where to listen through `FUNCTIONS_CUSTOMHANDLER_PORT`.
pub fn port_from_env() -> u16 {
    std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(7071)
}

/// Serves `app` on 127.0.0.1 (the host and the handler share the sandbox) until Ctrl-C.
pub async fn serve(app: axum::Router, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(port, "custom handler listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

/// The Functions host stops an instance with SIGTERM (Ctrl-C locally): finish the requests in flight, then exit.
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
