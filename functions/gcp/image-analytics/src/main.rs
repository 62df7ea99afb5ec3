//! Cloud Run entry point: PostgreSQL from `DATABASE_URL` (required on Cloud Run; the migrations
//! run before serving), Pub/Sub for dead letters, the push guard, serve.
use image_analytics::postgres::PostgresTotals;
use image_analytics::{ImageAnalytics, app, dead_letters_from_env};
use platform_gcp::PushGuard;
use platform_gcp::pubsub::{PubSubConfig, PubSubPublisher};
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let guard = PushGuard::from_env(&env)?;
    let url =
        env.required_in_cloud("DATABASE_URL", env.on_cloud_run(), "postgres://postgres@127.0.0.1:5433/postgres")?;
    let pubsub = Arc::new(PubSubPublisher::new(PubSubConfig::from_env(&env)?));
    let totals = Arc::new(PostgresTotals::connect(&url).await?);
    let analytics = Arc::new(ImageAnalytics { totals, pubsub, dead_letters: dead_letters_from_env(&env)? });
    platform_gcp::serve(app(analytics, &guard), platform_gcp::port_from_env()).await?;
    Ok(())
}
