//! Serving an axum app the way the platforms run it: bound where the platform expects, stopped
//! gracefully on SIGTERM (how Cloud Run and the Functions host stop an instance) or Ctrl-C.
use std::net::IpAddr;

pub async fn serve(app: axum::Router, ip: IpAddr, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((ip, port)).await?;
    tracing::info!(%ip, port, "listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

/// Resolves on SIGTERM or Ctrl-C: the server then finishes the requests in flight and returns.
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
