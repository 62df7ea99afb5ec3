//! Cloud Run entry point: GCS from the environment, optional push-token check, serve.
use audit_sink::{AuditSink, app, bucket_from_env};
use platform_gcp::gcs::GcsObjects;
use platform_gcp::oidc::OidcVerifier;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(filter).init();
    let sink = Arc::new(AuditSink::new(Arc::new(GcsObjects::from_env()), bucket_from_env()));
    let verifier = OidcVerifier::from_env().map(Arc::new);
    if verifier.is_none() {
        tracing::warn!("PUSH_AUDIENCE unset: push tokens are not verified (local use only)");
    }
    platform_gcp::serve(app(sink, verifier), platform_gcp::port_from_env()).await?;
    Ok(())
}
