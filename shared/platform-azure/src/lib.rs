//! Azure Functions custom handlers: the host POSTs `{Data, Metadata}` to `/<function name>` and
//! reads `{Outputs, Logs, ReturnValue}` back. This crate holds that protocol, the Kafka trigger's
//! payload, the HTTP app every function app serves (`handler_app`), the Cosmos DB port, and the
//! server helper every Azure function's `main` uses.
pub mod cosmos;
pub mod custom_handler;
pub mod dead_letter_output;
pub mod handler_app;
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

/// Kafka's default largest record (`message.max.bytes`, 1 MiB plus the batch overhead).
pub const KAFKA_DEFAULT_MAX_RECORD_BYTES: usize = 1_048_588;

/// The largest request body the custom handler accepts. axum's 2 MB default would answer 413 to
/// a full Kafka batch before any dead-letter logic runs, and the host would retry it forever; so
/// it is sized from what the host can send: `maxBatchSize` records of the topic's largest record
/// (`KAFKA_MAX_RECORD_BYTES`, Kafka's 1 MiB default), each counted twice plus 1 KiB for the
/// event's other fields. An entry is a JSON string holding the event, whose `Value` is itself a
/// JSON string, so every quote or backslash of a record takes 4 bytes: twice the size covers a
/// record whose quotes and backslashes are at most a third of its bytes (a canonical change is
/// about a fifth), not arbitrary text; `CUSTOM_HANDLER_MAX_BODY_BYTES` sets the limit outright.
pub fn max_invocation_bytes(env: &serve::Env, max_batch_size: usize) -> Result<usize, serve::ConfigError> {
    let record = env.number("KAFKA_MAX_RECORD_BYTES", KAFKA_DEFAULT_MAX_RECORD_BYTES)?;
    let computed = max_batch_size.saturating_mul(record.saturating_mul(2).saturating_add(1024));
    env.number("CUSTOM_HANDLER_MAX_BODY_BYTES", computed)
}

/// The `extensions.kafka.maxBatchSize` of a host.json (the extension's default, 64, if absent).
pub fn host_max_batch_size(host_json: &str) -> usize {
    serde_json::from_str::<serde_json::Value>(host_json)
        .ok()
        .and_then(|h| h["extensions"]["kafka"]["maxBatchSize"].as_u64())
        .map_or(64, |n| n as usize)
}

/// The custom handler's routes with the body limit in front of them.
pub fn with_body_limit(router: axum::Router, max_body_bytes: usize) -> axum::Router {
    router.layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
}
