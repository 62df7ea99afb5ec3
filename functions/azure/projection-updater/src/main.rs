//! Custom handler entry point: Cosmos container from the environment, serve on the host's port.
use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
use projection_updater::{Updater, app};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(filter).init();
    let config = CosmosConfig::from_env();
    // Terraform creates the database and container in Azure; locally, create them if missing.
    let create = std::env::var("COSMOS_CREATE_IF_MISSING").is_ok_and(|v| v == "true");
    let docs = CosmosDocuments::connect(&config, "/sku", create).await?;
    let updater = Arc::new(Updater::new(Arc::new(docs)));
    platform_azure::serve(app(updater), platform_azure::port_from_env()).await?;
    Ok(())
}
