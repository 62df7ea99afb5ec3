//! The migrations in `migrations/`, applied in order at start-up and recorded in
//! `schema_migrations`, all in one transaction that first takes a transaction-level advisory
//! lock. Instances starting together on an empty database queue on the lock, so only the first
//! creates `schema_migrations` (two `CREATE TABLE IF NOT EXISTS` at once can both try, and one
//! fails on the catalog's unique index); the others find every migration applied. A failure rolls
//! everything back and releases the lock with the transaction.
use super::Failure;
use domain::ports::PortError;
use tokio_postgres::Client;

/// The migrations, in order: (version, SQL).
pub const MIGRATIONS: [(i32, &str); 1] = [(1, include_str!("../../migrations/0001_image_totals.sql"))];

/// The advisory lock's key: the bytes of "imgstats", so it is recognisable in `pg_locks`.
pub const LOCK_KEY: i64 = i64::from_be_bytes(*b"imgstats");

pub async fn run(client: &mut Client) -> Result<(), PortError> {
    let failed = |e| Failure::of("migrate", e).into_port();
    let tx = client.transaction().await.map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await.map_err(failed)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(failed)?;
    for (version, sql) in MIGRATIONS {
        let applied =
            tx.query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&version]).await.map_err(failed)?;
        if applied.is_none() {
            tx.batch_execute(sql).await.map_err(failed)?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await.map_err(failed)?;
            tracing::info!(version, "migration applied");
        }
    }
    tx.commit().await.map_err(failed)
}
