//! Custom handler entry point: the model and the Cosmos container from the environment (refusing
//! to start on an unknown model version, or without a key for a non-local endpoint), serve on
//! the host's port.
use fraud_scorer::{COSMOS_CONTAINER, COSMOS_DATABASE, Config, PARTITION_KEY_PATH, Scorer, app, max_body_bytes};
use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = Env::Process;
    let (config, max_body) = (Config::from_env(&env)?, max_body_bytes(&env)?);
    let cosmos = CosmosConfig::from_env(&env, COSMOS_DATABASE, COSMOS_CONTAINER)?;
    // Terraform creates the database and container in Azure; locally, create them if missing.
    let create = env.get("COSMOS_CREATE_IF_MISSING").is_some_and(|v| v == "true");
    let docs = CosmosDocuments::connect(&cosmos, PARTITION_KEY_PATH, create).await?;
    let scorer = Arc::new(Scorer::new(Arc::new(docs), config));
    platform_azure::serve(app(scorer, max_body), platform_azure::port_from_env()).await?;
    Ok(())
}
