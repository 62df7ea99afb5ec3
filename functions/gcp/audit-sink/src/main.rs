//! Cloud Run entry point: GCS from the environment, the push guard (which refuses to start on
//! Cloud Run without its token settings), serve.
use audit_sink::{AuditSink, app, bucket_from_env};
use platform_gcp::PushGuard;
use platform_gcp::gcs::GcsObjects;
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let guard = PushGuard::from_env(&env)?;
    let sink = Arc::new(AuditSink::new(Arc::new(GcsObjects::from_env(&env)), bucket_from_env(&env)));
    platform_gcp::serve(app(sink, &guard), platform_gcp::port_from_env()).await?;
    Ok(())
}
