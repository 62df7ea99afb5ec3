//! What every function binary does the same way: JSON logs through `tracing`, configuration from
//! the environment with start-up errors that name the variable, and serving an axum app the way
//! the platforms run it (bound where the platform expects, stopped gracefully on SIGTERM), and
//! the allocator.
mod config;
mod json_lines;

pub use config::{ConfigError, Env};
pub use json_lines::Platform as LogPlatform;
use std::net::IpAddr;
pub use tracing_subscriber::EnvFilter;

/// Every binary that links serve (the functions, `local`, the integration tests and the
/// benchmarks) allocates with mimalloc, set here once so that what is measured is what is
/// deployed. A batch allocates many small strings and frees them together at the end; glibc's
/// malloc spent a tenth of a projection-updater invocation on that (`_int_free`,
/// `malloc_consolidate`), and mimalloc raised every function's benchmark ratio
/// (projection-updater 0.72 -> 0.77). The `mimalloc` feature (default) can be turned off by a
/// binary that needs its own global allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// JSON logs at `RUST_LOG` (default info) on stdout, where Cloud Run, Lambda and the Functions
/// host collect them. Call once, first thing in `main`.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let subscriber = json_subscriber_for(LogPlatform::from_env(), filter, std::io::stdout);
    // Only fails when a subscriber is already set, and then that one logs.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The functions' log format, for `init_tracing`, the tests that read log lines, and the
/// benchmark that pays for them: one JSON object per line with the current span's fields (one
/// span per invocation carries the event id), see `json_lines.rs`. Not the whole span list: a
/// function has one span, and listing it twice doubles the formatting cost of every line.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    json_subscriber_for(LogPlatform::Plain, filter, writer)
}

/// [`json_subscriber`] with the top-level fields the platform's log pipeline reads.
pub fn json_subscriber_for<W>(
    platform: LogPlatform,
    filter: EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .fmt_fields(json_lines::JsonMembers)
        .event_format(json_lines::JsonLines(platform))
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

pub async fn serve(app: axum::Router, ip: IpAddr, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((ip, port)).await?;
    tracing::info!(%ip, port, "listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
}

/// Resolves on SIGTERM or Ctrl-C: the server then finishes the requests in flight and returns.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

/// What `main` returns on failure: Rust prints an error returned from `main` with `Debug`; this
/// prints the message itself (`Error: configuration: PUSH_AUDIENCE not set: …`) and exits 1.
pub struct Fatal(Box<dyn std::error::Error>);

impl<E: std::error::Error + 'static> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(Box::new(e))
    }
}

impl std::fmt::Debug for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
