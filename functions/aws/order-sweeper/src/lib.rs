//! order-sweeper (AWS Lambda, EventBridge schedule rule): the reconciler of the checkout. An MSK
//! event source mapping with a retry limit commits past a record once its retries are spent; if
//! that record carried an order's pending effect, the order would wait for an event that never
//! comes. The sweeper finds every open order that has not changed (or been looked at) for
//! `SWEEP_AFTER_SECONDS`, through the orders table's sparse index `open-orders`
//! (`orders::layout`), oldest first and at most `SWEEP_MAX_ORDERS` a run, and reads each record
//! (consistently: the index may be behind) before it acts:
//!
//! - effects still pending → run them (all idempotent) and take them out of the record;
//! - `payment_requested` with no outcome → republish the kept `payment.requested`, byte for
//!   byte, so payment-processor asks the gateway (`lookup`) before it charges; the sweeper never
//!   publishes a payment outcome itself. After `SWEEP_MAX_REPUBLISH` looks it reports instead;
//! - anything else it cannot settle (held for review, no fraud decision, never confirmed, no
//!   payment token) → an error log with a reason code, counted in the run's report.
//!
//! Each look is noted in the record (`swept`: how many, and when), under the version read, so
//! the order goes to the back of the index and the next run looks at others first. "Now" is the
//! scheduled event's `time`: a redelivered event finds the orders it swept already noted, and
//! does nothing twice.
pub mod look;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Duration, Utc};
use domain::ports::{DocumentIndex, IndexEntry, PortError};
use look::Look;
use orders::layout::{OPEN_ORDERS, SHARDS, time_text};
use orders::machine::{OrderRecord, Swept};
use orders::store::OrderStore;
use platform_aws::invocation::Invocation;
use serde::Serialize;
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "order-sweeper";
/// What looking at one order may take (a read, a write, maybe a publish): none is started with
/// less of the invocation left; the rest wait for the next run.
pub const ORDER_BUDGET: Duration = Duration::seconds(5);
/// What EventBridge sends for a schedule rule.
pub const SCHEDULED: (&str, &str) = ("aws.events", "Scheduled Event");

/// How long an order may wait, how many a run takes, how often a request is republished.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub after: Duration,
    pub max_orders: u32,
    pub max_republish: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { after: Duration::seconds(900), max_orders: 200, max_republish: 3 }
    }
}

/// `ORDERS_TABLE`, `CARTS_TABLE`, `KAFKA_BOOTSTRAP_SERVERS` (as order-updater's),
/// `SWEEP_AFTER_SECONDS` (default 900, at least 60: longer than a payment normally takes,
/// lease and retries included), `SWEEP_MAX_ORDERS` (default 200), `SWEEP_MAX_REPUBLISH` (3).
#[derive(Debug, Clone)]
pub struct Config {
    pub orders_table: String,
    pub carts_table: String,
    pub kafka_bootstrap: String,
    pub rules: Rules,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let rules = Rules {
            after: Duration::seconds(env.number("SWEEP_AFTER_SECONDS", 900)?.max(60) as i64),
            max_orders: env.number("SWEEP_MAX_ORDERS", 200)?.max(1) as u32,
            max_republish: env.number("SWEEP_MAX_REPUBLISH", 3)? as u32,
        };
        Ok(Config {
            orders_table: env.get_or("ORDERS_TABLE", "orders"),
            carts_table: env.get_or("CARTS_TABLE", "carts"),
            kafka_bootstrap: env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?,
            rules,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SweepError {
    /// Not what a schedule rule sends: refused, never swept on.
    #[error("event {id:?} is not a scheduled event (source {event_source:?}, detail-type {detail_type:?})")]
    NotScheduled { id: String, event_source: String, detail_type: String },
}

/// An order the sweeper could not settle, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reported {
    pub order_id: String,
    pub reason_code: &'static str,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Open orders due and looked at (at most `SWEEP_MAX_ORDERS`).
    pub due: usize,
    /// Due beyond the bound or the invocation's time, left for the next run (at least this many).
    pub left_for_next_run: usize,
    pub effects_rerun: usize,
    pub requests_republished: usize,
    pub reported: Vec<Reported>,
    /// Settled or changed since the index listed them.
    pub skipped: usize,
    /// A store or the bus was unavailable: the order stays due for the next run.
    pub failed: usize,
}

pub struct Sweeper {
    /// The orders table, the carts and the bus, as order-updater uses them.
    pub store: OrderStore,
    /// The orders table's `open-orders` index.
    pub index: Arc<dyn DocumentIndex>,
    pub rules: Rules,
}

impl Sweeper {
    /// One scheduled run.
    pub async fn handle(&self, event: CloudWatchEvent, invocation: &Invocation) -> Result<SweepReport, SweepError> {
        let id = event.id.clone().unwrap_or_default();
        let (event_source, detail_type) = (event.source.unwrap_or_default(), event.detail_type.unwrap_or_default());
        if (event_source.as_str(), detail_type.as_str()) != SCHEDULED {
            let error = SweepError::NotScheduled { id, event_source, detail_type };
            tracing::error!(%error, "refused");
            return Err(error);
        }
        let span = tracing::info_span!("sweep", event_id = %id, time = %time_text(event.time));
        let report = self.sweep(event.time, invocation).instrument(span.clone()).await;
        let r = &report;
        span.in_scope(|| {
            tracing::info!(
                due = r.due,
                left_for_next_run = r.left_for_next_run,
                effects_rerun = r.effects_rerun,
                requests_republished = r.requests_republished,
                reported = r.reported.len(),
                skipped = r.skipped,
                failed = r.failed,
                "sweep done"
            )
        });
        Ok(report)
    }

    async fn sweep(&self, now: DateTime<Utc>, invocation: &Invocation) -> SweepReport {
        let mut report = SweepReport::default();
        let cutoff = now - self.rules.after;
        let due = match self.due(&time_text(cutoff)).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "the index could not be read: the next run tries again");
                report.failed += 1;
                return report;
            }
        };
        report.due = due.len().min(self.rules.max_orders as usize);
        report.left_for_next_run = due.len() - report.due;
        for (i, entry) in due.into_iter().take(self.rules.max_orders as usize).enumerate() {
            if invocation.ends_within(ORDER_BUDGET) {
                let left_ms = invocation.remaining().num_milliseconds();
                tracing::warn!(left_ms, swept = i, "too little of the invocation left: the rest wait for the next run");
                report.left_for_next_run += report.due - i;
                report.due = i;
                break;
            }
            let span = tracing::info_span!("order", order_id = %entry.partition_key);
            match self.sweep_one(&entry.partition_key, now, cutoff).instrument(span.clone()).await {
                Ok(None) => report.skipped += 1,
                Ok(Some(Look::RerunEffects)) => report.effects_rerun += 1,
                Ok(Some(Look::Republish)) => report.requests_republished += 1,
                Ok(Some(Look::Report { code, .. })) => {
                    report.reported.push(Reported { order_id: entry.partition_key, reason_code: code })
                }
                Ok(Some(Look::Settled)) => report.skipped += 1,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "not swept: the next run tries again"));
                    report.failed += 1;
                }
            }
        }
        report
    }

    /// The oldest due entries of every shard, oldest first over all of them.
    async fn due(&self, cutoff: &str) -> Result<Vec<IndexEntry>, PortError> {
        let mut due = Vec::new();
        for shard in 0..SHARDS {
            due.extend(self.index.at_most(&OPEN_ORDERS, &shard.to_string(), cutoff, self.rules.max_orders).await?);
        }
        due.sort_by(|a, b| (&a.range, &a.partition_key).cmp(&(&b.range, &b.partition_key)));
        Ok(due)
    }

    /// Reads the order and does what its record calls for; None when it is no longer due.
    async fn sweep_one(&self, pk: &str, now: DateTime<Utc>, cutoff: DateTime<Utc>) -> Result<Option<Look>, PortError> {
        let (Some(record), Some(etag)) = self.store.read(pk).await? else { return Ok(None) };
        if record.sweep_at().is_none_or(|at| at > cutoff) {
            return Ok(None); // changed since the index said so
        }
        let look = look::look(&record, self.rules.max_republish);
        // The look is noted only on the record as read: if order-updater changed the order in
        // between, its change stands and starts the count again.
        let (seen, times) = (record.changed_at, record.swept.map_or(0, |s| s.times));
        let mark = move |r: &mut OrderRecord| {
            if r.changed_at == seen {
                r.swept = Some(Swept { times: times + 1, at: now });
            }
        };
        match &look {
            Look::Settled => {}
            Look::RerunEffects => {
                tracing::warn!(state = ?record.state, effects = record.pending.len(), "running effects left pending");
                self.store.flush(record, etag, &mark).await?;
            }
            Look::Republish => {
                let request = republished(&record);
                tracing::warn!(looks = times + 1, "no payment outcome: the request is published again");
                self.store.run(&request).await?;
                self.store.settle(record, etag, &[], &mark).await?;
            }
            Look::Report { code, reason } => {
                tracing::error!(reason_code = code, %reason, state = ?record.state, "order not settled");
                self.store.settle(record, etag, &[], &mark).await?;
            }
        }
        Ok(Some(look))
    }
}

/// The kept payment request, as an effect to run again.
fn republished(record: &OrderRecord) -> Vec<orders::machine::Effect> {
    record.payment_request.iter().map(|r| r.effect()).collect()
}

#[cfg(test)]
mod tests;
