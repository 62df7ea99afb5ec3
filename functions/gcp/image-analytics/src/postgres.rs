//! The `ImageTotals` port over PostgreSQL (Cloud SQL): a deadpool pool of tokio-postgres
//! connections (`DATABASE_POOL_SIZE`), over TLS with the server's certificate checked
//! (`tls.rs`, `settings.rs`), and the migrations (`migrate.rs`) applied at start-up.
//!
//! A connection that broke (Cloud SQL failed over, a socket dropped, the backend was terminated)
//! is not handed out again: the pool checks each one as it hands it out and opens a new one in
//! its place, and a push whose connection broke under it is retried once on a new one before it
//! is answered 503. A value PostgreSQL can never store (a data exception: NUL in a text, a number out
//! of range, a window's total leaving bigint) is `Rejected`, never retried.
pub mod migrate;
pub mod settings;
pub mod tls;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use domain::ports::{Counted, ImageCount, ImageTotals, PortError, WindowTotal};
use settings::Database;
use std::future::Future;
use std::time::Duration;

pub use migrate::MIGRATIONS;

/// How long a push waits for a connection of the pool, or for a new one to open.
const POOL_WAIT: Duration = Duration::from_secs(10);

pub struct PostgresTotals {
    pool: Pool,
}

/// tokio-postgres' own text is only "db error" or "error performing TLS handshake": the server's
/// message and SQLSTATE, or the causes, say what happened.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// What went wrong with one attempt.
pub(crate) enum Failure {
    /// The connection is gone: another one may well work.
    Broken(String),
    Failed(PortError),
}

impl Failure {
    pub(crate) fn of(what: &str, e: tokio_postgres::Error) -> Failure {
        let text = format!("postgres {what}: {}", describe(&e));
        if let Some(code) = e.code().map(|c| c.code()) {
            return match code {
                // Data exceptions: the same values fail the same way every time.
                c if c.starts_with("22") => Failure::Failed(PortError::Rejected(text)),
                // Connection exceptions; the server shutting down or terminating the backend.
                c if c.starts_with("08") || c.starts_with("57P") => Failure::Broken(text),
                _ => Failure::Failed(PortError::Unavailable(text)),
            };
        }
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io { Failure::Broken(text) } else { Failure::Failed(PortError::Unavailable(text)) }
    }

    fn of_pool(e: PoolError) -> Failure {
        match e {
            PoolError::Backend(e) => Failure::of("connect", e),
            other => Failure::Failed(PortError::Unavailable(format!("postgres pool: {other}"))),
        }
    }

    pub(crate) fn into_port(self) -> PortError {
        match self {
            Failure::Broken(text) => PortError::Unavailable(text),
            Failure::Failed(e) => e,
        }
    }
}

impl PostgresTotals {
    /// Local and test use: the URL under the local rules, the default pool size.
    pub async fn connect(url: &str) -> Result<Self, PortError> {
        let db = Database::parse(url, false, settings::DEFAULT_POOL_SIZE)
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        PostgresTotals::open(db).await
    }

    /// Builds the pool and applies the migrations (which needs the database reachable now).
    pub async fn open(db: Database) -> Result<Self, PortError> {
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match db.tls {
            Some(tls) => Manager::from_config(db.config, tls, manager_config),
            None => Manager::from_config(db.config, tokio_postgres::NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(db.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| PortError::Unavailable(format!("postgres pool: {e}")))?;
        let mut client = pool.get().await.map_err(|e| Failure::of_pool(e).into_port())?;
        migrate::run(&mut client).await?;
        drop(client);
        Ok(PostgresTotals { pool })
    }

    /// Runs `attempt`, and once more on a new connection if its connection broke under it. A
    /// broken connection usually means the server went away (a failover), taking every other
    /// connection with it, which the pool may not have noticed yet: the idle ones are dropped
    /// first, so the retry does not meet another dead one.
    async fn retried_once<T, F, Fut>(&self, attempt: F) -> Result<T, PortError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        match attempt().await {
            Err(Failure::Broken(e)) => {
                let dropped = self.pool.retain(|_, _| false).removed.len();
                tracing::warn!(error = %e, dropped, "postgres connection broke; retrying once on a new one");
                attempt().await.map_err(Failure::into_port)
            }
            done => done.map_err(Failure::into_port),
        }
    }

    async fn count_once(&self, image: &ImageCount<'_>, bytes: i64) -> Result<Counted, Failure> {
        let mut client = self.pool.get().await.map_err(Failure::of_pool)?;
        let tx = client.transaction().await.map_err(|e| Failure::of("begin", e))?;
        let inserted = tx
            .execute("INSERT INTO counted_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING", &[&image.event_id])
            .await
            .map_err(|e| Failure::of("count", e))?;
        if inserted == 0 {
            return Ok(Counted::AlreadyCounted); // dropping the transaction rolls it back
        }
        tx.execute(
            "INSERT INTO image_totals (window_start, size_label, format, bytes, images) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (window_start, size_label, format) \
             DO UPDATE SET bytes = image_totals.bytes + EXCLUDED.bytes, images = image_totals.images + 1",
            &[&image.window_start, &image.size_label, &image.format, &bytes],
        )
        .await
        .map_err(|e| Failure::of("add to the window's total", e))?;
        tx.commit().await.map_err(|e| Failure::of("commit", e))?;
        Ok(Counted::Added)
    }

    async fn totals_once(&self) -> Result<Vec<WindowTotal>, Failure> {
        let client = self.pool.get().await.map_err(Failure::of_pool)?;
        let rows = client
            .query("SELECT window_start, size_label, format, bytes, images FROM image_totals ORDER BY 1, 2, 3", &[])
            .await
            .map_err(|e| Failure::of("totals", e))?;
        Ok(rows
            .iter()
            .map(|r| WindowTotal {
                window_start: r.get(0),
                size_label: r.get(1),
                format: r.get(2),
                bytes: r.get::<_, i64>(3).max(0) as u64,
                images: r.get::<_, i64>(4).max(0) as u64,
            })
            .collect())
    }
}

#[async_trait]
impl ImageTotals for PostgresTotals {
    async fn count(&self, image: ImageCount<'_>) -> Result<Counted, PortError> {
        let bytes = i64::try_from(image.bytes)
            .map_err(|_| PortError::Rejected(format!("bytes {} beyond bigint's range", image.bytes)))?;
        let image = &image;
        self.retried_once(move || self.count_once(image, bytes)).await
    }

    async fn totals(&self) -> Result<Vec<WindowTotal>, PortError> {
        self.retried_once(|| self.totals_once()).await
    }
}
