//! Lambda entry point: the lake bucket from the environment (required in Lambda), S3 through the
//! function's role, then the runtime's loop, one stream batch at a time.
use lake_archiver::{Config, LakeArchiver};
use platform_aws::s3_store::{S3Objects, client_from_env};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), serve::Fatal> {
    serve::init_tracing();
    let env = serve::Env::Process;
    let config = Config::from_env(&env)?;
    let lake = Arc::new(S3Objects::new(client_from_env(&env).await));
    let function = Arc::new(LakeArchiver { lake, bucket: config.bucket });
    platform_aws::stream_runtime::run(|event, invocation| {
        let function = function.clone();
        async move { function.handle(event, &invocation).await.map(|out| out.response) }
    })
    .await
}
