//! Cloud Run entry point: Pub/Sub from the environment (`GOOGLE_CLOUD_PROJECT` required on
//! Cloud Run), the push guard (which refuses to start on Cloud Run without its token settings),
//! serve.
use platform_gcp::PushGuard;
use platform_gcp::pubsub::{PubSubConfig, PubSubPublisher};
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let guard = PushGuard::from_env(&env)?;
    let pubsub = Arc::new(PubSubPublisher::new(PubSubConfig::from_env(&env)?));
    let function = Arc::new({{crate}}::{{Type}}::new(pubsub));
    let app = {{crate}}::app(function, &guard);
    platform_gcp::serve(app, platform_gcp::port_from_env()).await?;
    Ok(())
}
