//! order-sweeper on the embedded estate: its EventBridge schedule played (a `Scheduled Event` at
//! a given time), with the platforms then delivering what it published, and `local invoke` of it.
use crate::demo::Verdict;
use crate::estate::{Estate, RunError};
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Utc};
use order_sweeper::SweepReport;
use orders::machine::OrderState;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Sweeps at most in a demo: enough to republish a request as often as the rules allow, and
/// report it.
pub const MAX_SWEEPS: u32 = 8;

/// What a demo's scheduled sweeps did, all runs together.
#[derive(Default)]
pub struct Sweeps {
    pub runs: u32,
    pub effects_rerun: usize,
    pub republished: usize,
    /// The last reason code each order was reported with.
    pub reported: BTreeMap<String, String>,
}

impl Sweeps {
    /// One run's report, as the function answers it (`SweepReport` in JSON); whether the run
    /// did or left something a next run may still settle.
    pub fn add(&mut self, report: &Value) -> bool {
        let count = |name: &str| report[name].as_u64().unwrap_or(0) as usize;
        self.runs += 1;
        self.effects_rerun += count("effects_rerun");
        self.republished += count("requests_republished");
        for r in report["reported"].as_array().into_iter().flatten() {
            let (Some(order), Some(code)) = (r["order_id"].as_str(), r["reason_code"].as_str()) else { continue };
            self.reported.insert(order.to_string(), code.to_string());
        }
        ["effects_rerun", "requests_republished", "left_for_next_run", "failed"].iter().any(|n| count(n) > 0)
    }
}

/// Every order ends terminal with nothing left to run, or the sweeper reported it; and the run
/// did have records that exhausted mappings committed past (`skipped`), which only a sweep settles.
pub fn check_swept(estate: &Estate, sweeps: &Sweeps, skipped: u64, v: &mut Verdict) {
    let mut open = Vec::new();
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for d in estate.orders.all() {
        let Ok(state) = serde_json::from_value::<OrderState>(d["state"].clone()) else { continue };
        let pk = d["pk"].as_str().unwrap_or_default().to_string();
        let settled = state.is_terminal() && d["record"]["pending"].as_array().is_none_or(Vec::is_empty);
        match sweeps.reported.get(&pk) {
            _ if settled => {}
            Some(code) => *codes.entry(code.as_str()).or_default() += 1,
            None => open.push(pk),
        }
    }
    v.check(
        format!(
            "every order ends terminal or is reported by order-sweeper ({skipped} records committed past by exhausted \
             mappings; {} runs re-ran {} orders' effects and republished {} payment requests; reported: {codes:?}; \
             neither: {open:?})",
            sweeps.runs, sweeps.effects_rerun, sweeps.republished
        ),
        // Whether a sweep re-ran or republished anything depends on which records the outages
        // hit (in a small run, only orders it can but report); that none is left is the point.
        open.is_empty() && skipped > 0,
    );
}

/// Decisions that came before their orders were held (the order `pending`) until it came.
pub fn check_waited(waited: usize, v: &mut Verdict) {
    v.check(format!("decisions that came before their orders waited for them ({waited} orders)"), waited > 0);
}

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
