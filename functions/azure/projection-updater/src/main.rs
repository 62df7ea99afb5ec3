//! Custom handler entry point: configuration and the Cosmos container from the environment
//! (refusing to start without a key for a non-local endpoint), serve on the host's port.
use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
use projection_updater::{Config, Updater, app, max_body_bytes};
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let cosmos = CosmosConfig::from_env(&env, "merch", "projections")?;
    let (config, max_body) = (Config::from_env(&env)?, max_body_bytes(&env)?);
    // Terraform creates the database and container in Azure; locally, create them if missing.
    let create = env.get("COSMOS_CREATE_IF_MISSING").is_some_and(|v| v == "true");
    let docs = CosmosDocuments::connect(&cosmos, "/sku", create).await?;
    let updater = Arc::new(Updater::with_config(Arc::new(docs), config));
    platform_azure::serve(app(updater, max_body), platform_azure::port_from_env()).await?;
    Ok(())
}
