//! Cloud Run entry point: configuration and the Kafka publisher from the environment, the push
//! guard (which refuses to start on Cloud Run without its token settings), serve.
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
    let publisher = kafka::KafkaPublisher::new(&kafka::bootstrap_from_env())?;
    let normalizer = Arc::new(Normalizer::new(Arc::new(publisher), config));
    platform_gcp::serve(app(normalizer, &guard), platform_gcp::port_from_env()).await?;
    Ok(())
}
