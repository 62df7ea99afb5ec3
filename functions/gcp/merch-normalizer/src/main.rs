//! Cloud Run entry point: Kafka publisher from the environment, optional push-token check, serve.
use merch_normalizer::{Config, Normalizer, app};
use platform_gcp::oidc::OidcVerifier;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(env_filter()).init();
    let publisher = kafka::KafkaPublisher::new(&kafka::bootstrap_from_env())?;
    let normalizer = Arc::new(Normalizer::new(Arc::new(publisher), Config::from_env()));
    let verifier = OidcVerifier::from_env().map(Arc::new);
    if verifier.is_none() {
        tracing::warn!("PUSH_AUDIENCE unset: push tokens are not verified (local use only)");
    }
    platform_gcp::serve(app(normalizer, verifier), platform_gcp::port_from_env()).await?;
    Ok(())
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}
