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

/// Serves `app` on 127.0.0.1 (the host and the handler share the sandbox) until SIGTERM or Ctrl-C.
pub async fn serve(app: axum::Router, port: u16) -> std::io::Result<()> {
    use std::net::{IpAddr, Ipv4Addr};
    serve::serve(app, IpAddr::V4(Ipv4Addr::LOCALHOST), port).await
}
