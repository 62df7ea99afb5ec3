//! Cloud Run entry point: PostgreSQL from `DATABASE_URL` (required on Cloud Run, with the server's
//! certificate checked; the migrations run before serving), a pool of `DATABASE_POOL_SIZE`
//! connections, Pub/Sub for dead letters, the push guard, serve.
use image_analytics::postgres::PostgresTotals;
use image_analytics::postgres::settings::Database;
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
    let database = Database::from_env(&env)?;
    let pubsub = Arc::new(PubSubPublisher::new(PubSubConfig::from_env(&env)?));
    let totals = Arc::new(PostgresTotals::open(database).await?);
    let analytics = Arc::new(ImageAnalytics { totals, pubsub, dead_letters: dead_letters_from_env(&env)? });
    platform_gcp::serve(app(analytics, &guard), platform_gcp::port_from_env()).await?;
    Ok(())
}
