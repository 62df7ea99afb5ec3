//! order-sweeper on the emulators, run as its schedule runs it (a Scheduled Event, invoked
//! asynchronously by the runner): each run once every open order has waited
//! `SWEEP_AFTER_SECONDS` since its last change or look (so the run looks at all of them), then
//! the run settles (payment-processor charges what it republished, order-updater applies the
//! outcomes), until a run finds nothing it may still settle. The demo runs the schedule when
//! that time comes rather than waiting for `--sweep-every`.
use super::load::{Item, scan, text};
use crate::demo::Verdict;
use crate::estate::RunError;
use crate::runtime::api::Outcome;
use crate::sweeps::{MAX_SWEEPS, Sweeps};
use crate::up::Running;
use crate::up::demo::settle;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

pub async fn sweep(
    running: &Running,
    dynamo: &aws_sdk_dynamodb::Client,
    deadline: Duration,
    progress: &mut dyn FnMut(String),
) -> Result<Sweeps, RunError> {
    let after = chrono::Duration::seconds(crate::up::lambdas::SWEEP_AFTER_SECONDS as i64 + 1);
    let until = Instant::now() + deadline;
    let mut sweeps = Sweeps::default();
    while sweeps.runs < MAX_SWEEPS && Instant::now() < until {
        let open = scan(dynamo, &running.names.table("orders")).await?;
        let Some(latest) = latest_look(&open) else { break };
        let wait = (latest + after - Utc::now()).to_std().unwrap_or_default();
        progress(format!(
            "checkout: {} orders open; order-sweeper's schedule runs in {} s, when each has waited {} s",
            open.iter().filter(|i| i.contains_key("open_shard")).count(),
            wait.as_secs(),
            crate::up::lambdas::SWEEP_AFTER_SECONDS
        ));
        tokio::time::sleep(wait).await;
        let outcome = running.run_schedule(order_sweeper::NAME).await.map_err(RunError)?;
        let Outcome::Response(body) = &outcome else {
            return Err(RunError(format!("order-sweeper's scheduled run failed: {outcome:?}")));
        };
        let report: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| RunError(format!("order-sweeper's report: {e}")))?;
        let more = sweeps.add(&report);
        progress(format!("checkout: order-sweeper run {}: {}", sweeps.runs, briefly(&report)));
        if !more {
            break;
        }
        // What it republished or re-ran goes through the functions (changing the orders, which
        // makes them due later) before the next run's time is taken.
        settle(&running.stats, RUN_QUIET, deadline, progress, async || Ok(Verdict::default())).await?;
    }
    Ok(sweeps)
}

/// Quiet for this long after a run: its republished requests have been charged and applied.
const RUN_QUIET: Duration = Duration::from_secs(3);

/// A run's report in a line: its counts, and the orders it reported by reason.
fn briefly(report: &serde_json::Value) -> String {
    let mut reasons: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for r in report["reported"].as_array().into_iter().flatten() {
        *reasons.entry(r["reason_code"].as_str().unwrap_or("?")).or_default() += 1;
    }
    let count = |name: &str| report[name].as_u64().unwrap_or(0);
    format!(
        "{} due, {} effects re-run, {} payment requests republished, {} left, {} failed; reported {reasons:?}",
        count("due"),
        count("effects_rerun"),
        count("requests_republished"),
        count("left_for_next_run"),
        count("failed")
    )
}

/// The latest `sweep_at` of the open orders (those in the sparse `open-orders` index): when the
/// last of them was changed or looked at. None when no order is open.
fn latest_look(items: &[Item]) -> Option<DateTime<Utc>> {
    items.iter().filter(|i| i.contains_key("open_shard")).filter_map(|i| text(i, "sweep_at")?.parse().ok()).max()
}
