//! Cloud Run entry point: configuration and the Kafka publisher from the environment, the push
//! guard (which refuses to start on Cloud Run without its token settings, as it does without
//! `KAFKA_BOOTSTRAP_SERVERS`), serve.
use merch_normalizer::{Config, Normalizer, app};
use platform_gcp::PushGuard;
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let guard = PushGuard::from_env(&env)?;
    let config = Config::from_env(&env)?;
    // Deployed, the brokers must be named: the loopback default is for local runs only.
    let bootstrap = env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_cloud_run(), "127.0.0.1:9092")?;
    let publisher = kafka::KafkaPublisher::new(&bootstrap)?;
    let normalizer = Arc::new(Normalizer::new(Arc::new(publisher), config));
    platform_gcp::serve(app(normalizer, &guard), platform_gcp::port_from_env()).await?;
    Ok(())
}
