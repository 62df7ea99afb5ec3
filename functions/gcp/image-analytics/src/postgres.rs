//! The `ImageTotals` port over PostgreSQL (Cloud SQL) with tokio-postgres, and the migrations in
//! `migrations/`, applied in order at start-up and recorded in `schema_migrations`.
use async_trait::async_trait;
use domain::ports::{Counted, ImageCount, ImageTotals, PortError, WindowTotal};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

/// The migrations, in order: (version, SQL).
pub const MIGRATIONS: [(i32, &str); 1] = [(1, include_str!("../migrations/0001_image_totals.sql"))];

pub struct PostgresTotals {
    /// One connection: a Cloud Run instance handles one push at a time per connection; the
    /// transaction needs the client exclusively.
    client: Mutex<Client>,
}

fn unavailable(what: &str) -> impl Fn(tokio_postgres::Error) -> PortError + '_ {
    move |e| PortError::Unavailable(format!("postgres {what}: {e}"))
}

impl PostgresTotals {
    /// Connects (`DATABASE_URL`-style URL or key-value string) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, PortError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(unavailable("connect"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "postgres connection closed");
            }
        });
        let totals = PostgresTotals { client: Mutex::new(client) };
        totals.migrate().await?;
        Ok(totals)
    }

    async fn migrate(&self) -> Result<(), PortError> {
        let mut client = self.client.lock().await;
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            .await
            .map_err(unavailable("migrate"))?;
        for (version, sql) in MIGRATIONS {
            let tx = client.transaction().await.map_err(unavailable("migrate"))?;
            // Two instances starting at once: the second waits here, then finds it applied.
            tx.batch_execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE").await.map_err(unavailable("migrate"))?;
            let applied = tx
                .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&version])
                .await
                .map_err(unavailable("migrate"))?;
            if applied.is_none() {
                tx.batch_execute(sql).await.map_err(unavailable("migrate"))?;
                tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version])
                    .await
                    .map_err(unavailable("migrate"))?;
            }
            tx.commit().await.map_err(unavailable("migrate"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ImageTotals for PostgresTotals {
    async fn count(&self, image: ImageCount<'_>) -> Result<Counted, PortError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(unavailable("begin"))?;
        let inserted = tx
            .execute("INSERT INTO counted_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING", &[&image.event_id])
            .await
            .map_err(unavailable("count"))?;
        if inserted == 0 {
            return Ok(Counted::AlreadyCounted); // dropping the transaction rolls it back
        }
        let bytes = i64::try_from(image.bytes).map_err(|_| PortError::Rejected(format!("{} bytes", image.bytes)))?;
        tx.execute(
            "INSERT INTO image_totals (window_start, size_label, format, bytes, images) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (window_start, size_label, format) \
             DO UPDATE SET bytes = image_totals.bytes + EXCLUDED.bytes, images = image_totals.images + 1",
            &[&image.window_start, &image.size_label, &image.format, &bytes],
        )
        .await
        .map_err(unavailable("count"))?;
        tx.commit().await.map_err(unavailable("commit"))?;
        Ok(Counted::Added)
    }

    async fn totals(&self) -> Result<Vec<WindowTotal>, PortError> {
        let client = self.client.lock().await;
        let rows = client
            .query("SELECT window_start, size_label, format, bytes, images FROM image_totals ORDER BY 1, 2, 3", &[])
            .await
            .map_err(unavailable("totals"))?;
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
