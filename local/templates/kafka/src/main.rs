//! Custom handler entry point: the body limit from host.json's batch size and the environment,
//! then serve on the port the Functions host names.
use serve::Env;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let max_body = {{crate}}::max_body_bytes(&Env::Process)?;
    let function = Arc::new({{crate}}::{{Type}}::default());
    let app = {{crate}}::app(function, max_body);
    platform_azure::serve(app, platform_azure::port_from_env()).await?;
    Ok(())
}
