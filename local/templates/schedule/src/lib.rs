//! {{name}} (AWS Lambda, EventBridge schedule rule `{{name}}-schedule`): one run per scheduled
//! event; what a run does goes where it says `Your logic here`.
//!
//! Only what a schedule rule sends is run on: an event with another `source` or `detail-type`
//! is refused with an error. EventBridge invokes asynchronously and may deliver an event twice;
//! the event's `time` is the time the run was scheduled for, the same on every delivery, so work
//! keyed by it is not done twice.
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Utc};
use platform_aws::invocation::Invocation;
use serde::Serialize;
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "{{name}}";
/// What EventBridge sends for a schedule rule: its `source` and `detail-type`.
pub const SCHEDULED: (&str, &str) = ("aws.events", "Scheduled Event");

/// The wall clock: `Utc::now` when deployed, a fixed or stepped one in tests and local runs.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct {{Type}} {
    pub clock: Clock,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// Not what a schedule rule sends: refused, never run on.
    #[error("event {id:?} is not a scheduled event (source {event_source:?}, detail-type {detail_type:?})")]
    NotScheduled { id: String, event_source: String, detail_type: String },
}

/// What one run did: the invocation's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub event_id: String,
    /// The rule's ARN (the event's `resources`).
    pub rule: Option<String>,
    /// The time the run was scheduled for: the event's `time`.
    pub scheduled_at: DateTime<Utc>,
    /// How long after that the run started, by this function's clock (negative if it is behind).
    pub started_late_ms: i64,
}

impl {{Type}} {
    /// One scheduled run.
    pub async fn handle(&self, event: CloudWatchEvent, invocation: &Invocation) -> Result<RunReport, ScheduleError> {
        let id = event.id.unwrap_or_default();
        let (event_source, detail_type) = (event.source.unwrap_or_default(), event.detail_type.unwrap_or_default());
        if (event_source.as_str(), detail_type.as_str()) != SCHEDULED {
            let error = ScheduleError::NotScheduled { id, event_source, detail_type };
            tracing::error!(%error, "refused");
            return Err(error);
        }
        let report = RunReport {
            event_id: id,
            rule: event.resources.first().cloned(),
            scheduled_at: event.time,
            started_late_ms: ((self.clock)() - event.time).num_milliseconds(),
        };
        let span = tracing::info_span!("run", event_id = %report.event_id, scheduled_at = %report.scheduled_at);
        self.run(&report, invocation).instrument(span).await;
        Ok(report)
    }

    async fn run(&self, report: &RunReport, invocation: &Invocation) {
        // Your logic here: the work of one run, keyed by `report.scheduled_at`. Before each step
        // of a long job check `invocation.ends_within(..)`, and leave the rest for the next run
        // rather than be stopped mid-step. To have Lambda retry a failed run (twice, as for any
        // asynchronous invocation), return an error from `handle`.
        let left_ms = invocation.remaining().num_milliseconds();
        let (rule, started_late_ms) = (report.rule.as_deref(), report.started_late_ms);
        tracing::info!(rule, started_late_ms, left_ms, "scheduled run done");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    /// The recorded event beside order-sweeper's: this function's schedule rule firing.
    const FIXTURE: &str =
        include_str!(concat!("../../../../events/aws/eventbridge/", env!("CARGO_PKG_NAME"), "-scheduled.json"));

    fn event() -> CloudWatchEvent {
        serde_json::from_str(FIXTURE).expect("an EventBridge event")
    }

    /// The function, its clock reading `late` after the event's scheduled time.
    fn started(event: &CloudWatchEvent, late: Duration) -> {{Type}} {
        let now = event.time + late;
        {{Type}} { clock: Arc::new(move || now) }
    }

    #[tokio::test]
    async fn a_scheduled_event_runs_and_says_how_late_it_started() {
        let event = event();
        let function = started(&event, Duration::milliseconds(1_250));
        let report = function.handle(event, &Invocation::one_minute()).await.expect("a run");
        assert_eq!(report.started_late_ms, 1_250);
        let rule = format!("arn:aws:events:eu-west-1:123456789012:rule/{NAME}-schedule");
        assert_eq!(report.rule, Some(rule));
    }

    #[tokio::test]
    async fn an_event_that_is_not_a_schedule_is_refused() {
        let mut event = event();
        event.source = Some("aws.s3".into());
        event.detail_type = Some("Object Created".into());
        let function = started(&event, Duration::zero());
        let error = function.handle(event, &Invocation::one_minute()).await.expect_err("refused");
        assert!(matches!(error, ScheduleError::NotScheduled { event_source, .. } if event_source == "aws.s3"));
    }
}
