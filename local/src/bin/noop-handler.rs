//! A custom handler that does nothing (`local::functions_host::noop`), served on the host's
//! `FUNCTIONS_CUSTOMHANDLER_PORT`: the Functions host's overhead is measured with it
//! (`benches/host_overhead.rs`).
#[tokio::main]
async fn main() -> std::io::Result<()> {
    platform_azure::serve(local::functions_host::noop::app(), platform_azure::port_from_env()).await
}
