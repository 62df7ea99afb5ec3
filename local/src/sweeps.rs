//! order-sweeper on the embedded estate: its EventBridge schedule played (a `Scheduled Event` at
//! a given time), with the platforms then delivering what it published, and `local invoke` of it.
use crate::estate::{Estate, RunError};
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Utc};
use order_sweeper::SweepReport;
use serde_json::json;

/// The event a schedule rule sends at `time`.
pub fn scheduled_event(time: DateTime<Utc>) -> CloudWatchEvent {
    let event = json!({
        "version": "0", "id": format!("sweep-{}", time.timestamp()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "000000000000", "time": time, "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:000000000000:rule/order-sweeper"], "detail": {},
    });
    serde_json::from_value(event).unwrap_or_else(|e| panic!("the scheduled event shape is aws_lambda_events': {e}"))
}

impl Estate {
    /// One scheduled run of order-sweeper, then every checkout mapping delivers what it
    /// published (the payment requests it republished, the events of effects it ran).
    pub async fn run_order_sweeper(&mut self, at: DateTime<Utc>) -> Result<SweepReport, RunError> {
        let report = self
            .order_sweeper
            .handle(scheduled_event(at), &self.lambda_invocation())
            .await
            .map_err(|e| RunError(format!("{}: {e}", order_sweeper::NAME)))?;
        self.stat(order_sweeper::NAME).invocations += 1;
        self.run_payment_processor(100).await?;
        self.run_order_updater(100).await?;
        self.run_cart_cleaner(100).await?;
        self.run_mirror(500).await?;
        Ok(report)
    }

    /// The latest `changed_at` of any order (the orders' own clock), if any.
    pub fn latest_order_change(&self) -> Option<DateTime<Utc>> {
        self.orders.all().iter().filter_map(|d| d["changed_at"].as_str()?.parse().ok()).max()
    }
}

/// `local invoke order-sweeper <scheduled event>`: the orders table is first filled by
/// order-updater from its recorded fixtures (`events/aws/msk/order-updater-*.json`), so the run
/// has orders to look at; their names come back.
pub async fn seed_orders(estate: &Estate) -> Result<Vec<String>, String> {
    let msk_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/aws/msk");
    let msk_dir = msk_dir.as_path();
    let mut seeds: Vec<_> = std::fs::read_dir(msk_dir)
        .map_err(|e| format!("{}: {e}", msk_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("order-updater-")))
        .collect();
    seeds.sort();
    for seed in &seeds {
        let batch = std::fs::read(seed).map_err(|e| format!("{}: {e}", seed.display()))?;
        let batch = serde_json::from_slice(&batch).map_err(|e| format!("{}: {e}", seed.display()))?;
        estate.order_updater.handle(batch, &estate.lambda_invocation()).await.map_err(|e| e.to_string())?;
    }
    Ok(seeds.iter().filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect())
}
