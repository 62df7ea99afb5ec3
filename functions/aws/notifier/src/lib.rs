//! notifier (AWS Lambda, DynamoDB Streams event source mapping on the `orders` table, view
//! `NEW_AND_OLD_IMAGES`): one e-mail per (order, kind) when an order's state changes into
//! `paid` (a receipt), `payment_failed`, `held` or `rejected` (`render::Kind`). The order's
//! state changes are the truth, so "first decision wins" holds for what customers are told.
//!
//! Per change: the customer (address, name, locale, opt-out) from the `customers` table; none,
//! no address or opted out → nothing sent, an info log, counted. Otherwise the notification
//! record (`record`) is claimed under a lease, the e-mail rendered (`render`) and sent through
//! SES as raw MIME, and the record finished with SES's message id; a redelivered change finds the
//! record done and sends nothing. SES throttled or down → the record fails (Lambda retries the
//! shard from it); an address SES refuses for good → `rejected`, logged, not retried.
//!
//! A record whose images are not an order's is dead-lettered on `checkout.dlq` and the batch
//! goes on. A failure stops the batch there and reports the record's sequence number as its only
//! batch item failure (`ReportBatchItemFailures`).
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Duration, Utc};
use domain::dead_letter::{DeadLetterPolicy, Rejected};
use domain::ports::{Documents, MailError, Mailer, PortError, Publisher, RawEmail, read_document};
use orders::layout::state_in;
use orders::machine::OrderRecord;
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::RECORD_BUDGET;
use platform_aws::stream_image::{Images, images};
use record::{Claim, State};
use render::{Kind, Values};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::Instrument;

pub mod record;
pub mod render;

pub const NAME: &str = "notifier";
/// The table whose stream this reads.
pub const TABLE: &str = "orders";

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Notifier {
    /// Kafka, where dead letters go.
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
    /// The customers table: one item per customer (`pk` = customer id, `id` = "customer").
    pub customers: Arc<dyn Documents>,
    /// The notification records (`record`).
    pub notifications: Arc<dyn Documents>,
    pub mailer: Arc<dyn Mailer>,
    /// The sender address, an identity SES has verified.
    pub sender: String,
    pub clock: Clock,
    /// How long an attempt holds a notification record: longer than SES takes to answer.
    pub lease: Duration,
}

/// A customer as the customers table keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub pk: String,
    pub name: String,
    pub email: Option<String>,
    pub locale: Option<String>,
    #[serde(default)]
    pub opted_out: bool,
}

pub const CUSTOMER_ID: &str = "customer";

/// `CUSTOMERS_TABLE` (default `customers`), `NOTIFICATIONS_TABLE` (default `notifications`),
/// `NOTIFY_FROM` (the sender, a verified SES identity; required in Lambda),
/// `KAFKA_BOOTSTRAP_SERVERS` (dead letters; required in Lambda), `NOTIFY_LEASE_SECONDS`
/// (default 120).
#[derive(Debug, Clone)]
pub struct Config {
    pub customers_table: String,
    pub notifications_table: String,
    pub sender: String,
    pub kafka_bootstrap: String,
    pub lease: Duration,
}

impl Config {
    pub fn from_env(env: &serve::Env) -> Result<Self, serve::ConfigError> {
        Ok(Config {
            customers_table: env.get_or("CUSTOMERS_TABLE", "customers"),
            notifications_table: env.get_or("NOTIFICATIONS_TABLE", "notifications"),
            sender: env.required_in_cloud("NOTIFY_FROM", env.on_lambda(), "orders@shop.example.com")?,
            kafka_bootstrap: env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?,
            lease: Duration::seconds(env.number("NOTIFY_LEASE_SECONDS", 120)?.clamp(5, 900) as i64),
        })
    }
}

/// What became of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// No e-mail for this change.
    NotNotified,
    Sent,
    /// Sent before (a redelivery), or refused for good before.
    AlreadyDone,
    /// No customer, no address, or opted out.
    Skipped,
    /// SES refused the address for good.
    Rejected,
}

/// One order's change: `from` is None for an INSERT, `to` None for a REMOVE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub order_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub changed_at: Option<String>,
    pub fate: Option<Fate>,
    /// The order's record in the new image (its `body.record`), when there is one.
    #[serde(skip)]
    pub record: Option<OrderRecord>,
}

/// The response for Lambda, and what became of the records before the first failure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOutcome {
    pub response: DynamoDbEventResponse,
    pub changes: Vec<Change>,
    pub dead_lettered: usize,
}

impl Notifier {
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
                    Ok(mut change) => match self.changed(&change).instrument(span.clone()).await {
                        Ok(fate) => {
                            change.fate = Some(fate);
                            Ok(Some(change))
                        }
                        // A store that refuses for good (an unreadable customer or record) would
                        // block the shard on every retry: that record is dead-lettered instead.
                        Err(e @ PortError::Rejected(_)) => {
                            let letter = ("store_rejected", e.to_string());
                            self.dead_letter(record, letter).instrument(span.clone()).await.map(|()| None)
                        }
                        Err(e) => Err(e),
                    },
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
        let count = |fate: Fate| out.changes.iter().filter(|c| c.fate == Some(fate)).count();
        let (sent, skipped, rejected) = (count(Fate::Sent), count(Fate::Skipped), count(Fate::Rejected));
        let already = count(Fate::AlreadyDone);
        tracing::info!(records, changes, sent, already, skipped, rejected, dead_lettered, "batch done");
        Ok(out)
    }

    async fn changed(&self, change: &Change) -> Result<Fate, PortError> {
        let Some(kind) = Kind::of_change(change.from.as_deref(), change.to.as_deref().unwrap_or_default()) else {
            return Ok(Fate::NotNotified);
        };
        let Some(order) = change.record.as_ref().and_then(|r| r.order.as_ref()) else {
            tracing::info!(order_id = %change.order_id, kind = kind.as_str(), "no order details in the record: nothing sent");
            return Ok(Fate::Skipped);
        };
        let customer_id = order.customer_id.to_string();
        let customer = match self.customers.read(&customer_id, CUSTOMER_ID).await? {
            Some(found) => Some(read_document::<Customer>(&found.body, &format!("customer {customer_id}"))?),
            None => None,
        };
        let Some((customer, to)) = customer.filter(|c| !c.opted_out).and_then(|c| c.email.clone().map(|e| (c, e)))
        else {
            tracing::info!(order_id = %change.order_id, %customer_id, kind = kind.as_str(), "no address or opted out: nothing sent");
            return Ok(Fate::Skipped);
        };
        let pk = record::key(&change.order_id, kind);
        let now = (self.clock)();
        let (etag, attempt) = match record::claim(self.notifications.as_ref(), &pk, now, self.lease).await? {
            Claim::Done(_) => return Ok(Fate::AlreadyDone),
            Claim::Held { until } => {
                return Err(PortError::Unavailable(format!(
                    "notification {pk} is held by another attempt until {until}"
                )));
            }
            Claim::Send { etag, attempt, possible_duplicate } => {
                if possible_duplicate {
                    tracing::warn!(%pk, attempt, "an earlier attempt's answer was lost: this e-mail may be a duplicate");
                }
                (etag, attempt)
            }
        };
        let values = Values {
            name: &customer.name,
            order_id: &change.order_id,
            lines: &order.lines,
            total: Some(order.total),
            reason: change.record.as_ref().and_then(|r| r.payment_failure.as_deref()),
        };
        let email = render::render(kind, customer.locale.as_deref(), &values);
        let mime = render::mime(&self.sender, &to, &email);
        let sent = self.mailer.send_raw(RawEmail { from: &self.sender, to: &to, mime: &mime }).await;
        // SES's words may name the address: kept and logged without it (docs/personal-data.md).
        match sent.map_err(|e| e.map_text(|text| text.replace(to.as_str(), "<recipient>"))) {
            Ok(message_id) => {
                let sent = State::Sent { message_id: message_id.clone(), sent_at: now };
                // It went: failing the record now would only send it again once the lease ran out,
                // so a record the table will not finish is logged, not retried.
                if let Err(e) = record::finish_retrying(self.notifications.as_ref(), &pk, &etag, sent).await {
                    tracing::error!(%pk, %message_id, error = %e, "e-mail sent but its record not finished: a redelivery after the lease may send it again");
                }
                tracing::info!(%pk, %message_id, locale = email.locale, "e-mail sent");
                Ok(Fate::Sent)
            }
            Err(MailError::Refused(reason)) => {
                tracing::warn!(%pk, %reason, "SES refused the e-mail for good: not retried");
                record::finish(self.notifications.as_ref(), &pk, &etag, State::Rejected { reason }).await?;
                Ok(Fate::Rejected)
            }
            Err(MailError::Unavailable(why)) => {
                // Throttled or down: nothing was sent, so the next attempt may send at once.
                record::finish(self.notifications.as_ref(), &pk, &etag, record::released(now, attempt)).await?;
                Err(PortError::Unavailable(why))
            }
            Err(MailError::Unknown(why)) => {
                // It may have gone: the record stays held until its lease runs out, and only
                // then is it sent again (logged as a possible duplicate).
                tracing::warn!(%pk, %why, "SES's answer was lost: held until the lease runs out");
                Err(PortError::Unavailable(format!("{pk}: outcome unknown: {why}")))
            }
        }
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

/// The change a record carries, or the reason code and why it cannot be read.
fn read(record: &EventRecord) -> Result<Change, (&'static str, String)> {
    let Images { keys, old, new } = images(record).map_err(|u| (u.code, u.reason))?;
    let to = state_in(new.as_ref(), "NewImage").map_err(|e| ("not_an_order", e))?;
    let from = state_in(old.as_ref(), "OldImage").map_err(|e| ("not_an_order", e))?;
    let Some(order_id) = keys["pk"].as_str().map(str::to_string) else {
        return Err(("not_an_item", format!("Keys has no pk text: {keys}")));
    };
    let changed_at = new.as_ref().and_then(|i| i["changed_at"].as_str()).map(str::to_string);
    let record = match new.as_ref().map(|i| &i["body"]["record"]).filter(|r| !r.is_null()) {
        None => None,
        Some(r) => {
            Some(OrderRecord::deserialize(r).map_err(|e| ("not_an_order", format!("NewImage body.record: {e}")))?)
        }
    };
    Ok(Change { order_id, from, to, changed_at, fate: None, record })
}

#[cfg(test)]
mod tests;
