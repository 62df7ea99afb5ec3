//! {{name}} (AWS Lambda, DynamoDB Streams event source mapping on the `orders` table, view
//! `NEW_AND_OLD_IMAGES`): reads each change of an order's item (laid out by `orders::layout`) as
//! the state it went from and the state it went to; an INSERT has none before, a REMOVE none
//! after. What it does with a change goes where it says `Your logic here`.
//!
//! A record whose images are not an order's (no new image on an INSERT or MODIFY, an image
//! without a state, an oversize one) is dead-lettered on `checkout.dlq`, without payment
//! secrets, and the batch goes on. If that publish or the logic fails, the
//! batch stops there and reports the record's sequence number as its only batch item failure
//! (`ReportBatchItemFailures`): Lambda retries the shard from that record, in order.
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use domain::dead_letter::{DeadLetterPolicy, Rejected};
use domain::events::topics;
use domain::ports::{PortError, Publisher};
use orders::layout::state_in;
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::RECORD_BUDGET;
use platform_aws::stream_image::{Images, images};
use serde::Serialize;
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "{{name}}";
/// The table whose stream this reads.
pub const TABLE: &str = "orders";

pub struct {{Type}} {
    /// Kafka, where dead letters go.
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

/// One order's change: `from` is None for an INSERT, `to` None for a REMOVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub order_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub changed_at: Option<String>,
}

/// The response for Lambda, and what became of the records before the first failure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOutcome {
    pub response: DynamoDbEventResponse,
    pub changes: Vec<Change>,
    pub dead_lettered: usize,
}

impl {{Type}} {
    pub fn new(bus: Arc<dyn Publisher>) -> Self {
        Self { bus, dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ) }
    }

    /// One stream batch. An event that is not one (a misconfigured trigger) is an error.
    pub async fn handle(&self, event: Event, invocation: &Invocation) -> Result<StreamOutcome, EnvelopeError> {
        if let Some(other) = event.records.iter().find(|r| r.event_source.as_deref() != Some("aws:dynamodb")) {
            let detail = format!("eventSource is {:?}, not \"aws:dynamodb\"", other.event_source);
            return Err(EnvelopeError::NotThisTrigger { trigger: "DynamoDB Streams", detail });
        }
        let mut out = StreamOutcome::default();
        for record in &event.records {
            let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
            let span = tracing::info_span!("record", event = %record.event_name, %sequence_number);
            // Not started with less left than a record may take: stopped here, not cut off mid-record.
            let handled = if invocation.ends_within(RECORD_BUDGET) {
                Err(PortError::Unavailable("too little of the invocation left for another record".into()))
            } else {
                match read(record) {
                    Ok(change) => self.changed(&change).instrument(span.clone()).await.map(|()| Some(change)),
                    Err(reason) => self.dead_letter(record, reason).instrument(span.clone()).await.map(|()| None),
                }
            };
            match handled {
                Ok(Some(change)) => out.changes.push(change),
                Ok(None) => out.dead_lettered += 1,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "record failed; Lambda retries the shard from here"));
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(sequence_number);
                    out.response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        let (records, changes, dead_lettered) = (event.records.len(), out.changes.len(), out.dead_lettered);
        tracing::info!(records, changes, dead_lettered, "batch done");
        Ok(out)
    }

    async fn changed(&self, change: &Change) -> Result<(), PortError> {
        // Your logic here: an error stops the batch at this record for Lambda to retry, so return
        // one only for what a retry may fix, and keep the work idempotent (records come again).
        let (from, to) = (change.from.as_deref().unwrap_or("-"), change.to.as_deref().unwrap_or("-"));
        tracing::info!(order_id = %change.order_id, from, to, "order changed");
        Ok(())
    }

    /// The record as the dead letter's payload, without payment secrets, named by its sequence number.
    async fn dead_letter(&self, record: &EventRecord, (code, reason): (&str, String)) -> Result<(), PortError> {
        let sequence_number = record.change.sequence_number.as_deref().unwrap_or_default();
        let origin = format!("dynamodb:{TABLE}@{sequence_number}");
        tracing::warn!(%origin, reason_code = code, %reason, "record dead-lettered");
        // Through a `Value`, whose maps keep their keys in order: a redelivery gives the same bytes.
        let payload = serde_json::to_vec(&orders::redact::redacted(record)).unwrap_or_default();
        let letter = Rejected { code, reason, origin, payload: &payload, key: None };
        self.bus.publish(self.dead_letters.message(letter, record.change.approximate_creation_date_time)).await?;
        Ok(())
    }
}

/// The change a record carries, or the reason code and why it cannot be read: no new image on an
/// INSERT or MODIFY, an image over DynamoDB's item limit or with attribute kinds the orders layout
/// never writes (`platform_aws::stream_image::images`), or one without a state (an item written
/// before `state` was top-level is read from its record).
fn read(record: &EventRecord) -> Result<Change, (&'static str, String)> {
    let Images { keys, old, new } = images(record).map_err(|u| (u.code, u.reason))?;
    let to = state_in(new.as_ref(), "NewImage").map_err(|e| ("not_an_order", e))?;
    let from = state_in(old.as_ref(), "OldImage").map_err(|e| ("not_an_order", e))?;
    let Some(order_id) = keys["pk"].as_str().map(str::to_string) else {
        return Err(("not_an_item", format!("Keys has no pk text: {keys}")));
    };
    let changed_at = new.as_ref().and_then(|i| i["changed_at"].as_str()).map(str::to_string);
    Ok(Change { order_id, from, to, changed_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use inmemory::Bus;

    /// The recorded batch: A200100 confirmed → payment_requested, an INSERT of A200161 without a
    /// new image, and A200160 inserted.
    const FIXTURE: &str =
        include_str!(concat!("../../../../events/aws/dynamodb-stream/", env!("CARGO_PKG_NAME"), "-order-changes.json"));

    async fn run(bus: &Bus) -> StreamOutcome {
        let event: Event = serde_json::from_str(FIXTURE).expect("a DynamoDB Streams event");
        let function = {{Type}}::new(Arc::new(bus.clone()));
        function.handle(event, &Invocation::one_minute()).await.expect("a stream batch")
    }

    fn moves(out: &StreamOutcome) -> Vec<(&str, Option<&str>, Option<&str>)> {
        out.changes.iter().map(|c| (c.order_id.as_str(), c.from.as_deref(), c.to.as_deref())).collect()
    }

    #[tokio::test]
    async fn changes_are_read_and_an_unreadable_record_is_dead_lettered_with_its_reason() {
        let bus = Bus::new(1);
        let out = run(&bus).await;
        let paid = ("A200100", Some("confirmed"), Some("payment_requested"));
        assert_eq!(moves(&out), [paid, ("A200160", None, Some("confirmed"))]);
        assert_eq!((out.dead_lettered, out.response.batch_item_failures.len()), (1, 0));
        let letters = bus.records(topics::CHECKOUT_DLQ);
        let letter: serde_json::Value = serde_json::from_slice(&letters[0].payload).expect("a dead letter");
        assert_eq!((letter["data"]["reason_code"].as_str(), letters.len()), (Some("no_image"), 1));
    }

    #[tokio::test]
    async fn a_dead_letter_that_cannot_be_published_stops_the_batch_at_its_record() {
        let bus = Bus::new(1);
        bus.outage.fail_next(1);
        let out = run(&bus).await;
        assert_eq!(moves(&out), [("A200100", Some("confirmed"), Some("payment_requested"))]);
        let failed: Vec<_> = out.response.batch_item_failures.iter().map(|f| f.item_identifier.as_deref()).collect();
        assert_eq!(failed, [Some("4217400000000052840195508")]);
    }
}
