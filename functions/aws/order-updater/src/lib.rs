//! order-updater (AWS Lambda, MSK event source mapping on `order.confirmed`, `fraud.scored`,
//! `payment.succeeded` and `payment.failed`): keeps each order's state machine (`machine.rs`) in
//! DynamoDB under conditional writes, and acts on its transitions: `payment.requested` when an
//! order is approved, `order.paid` and the bought skus out of the cart when it is paid.
//!
//! Per record (the batch rules are `platform_aws::kafka_batch`'s): read the order's record, apply
//! the event, write under the version read (a lost race reads again), then run the effects. A
//! record that can never apply (not a CloudEvent of its topic's type, a value that is not
//! base64) is dead-lettered on `checkout.dlq`. A store or bus that is unavailable fails the
//! record in the partial batch response, Lambda retries its partition from there, and the
//! redelivered event runs the effects still pending (the record is an outbox, see `machine.rs`).
pub mod machine;
#[cfg(test)]
mod testing;

use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{DateTime, Utc};
use domain::cloudevent::{DomainEvent, RawEvent};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::topics;
use domain::ports::{Carts, Documents, Etag, OutboundMessage, PortError, Publisher, document, read_document};
use machine::{Effect, Input, OrderRecord, Outcome};
use platform_aws::EnvelopeError;
use platform_aws::kafka_batch::{self, Failure, RecordHandler};
use platform_aws::msk::{KafkaBatchResponse, MskRecord};
use serde::{Deserialize, Serialize};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "order-updater";
/// The topics of its event source mappings.
pub const TOPICS: [&str; 4] =
    [topics::ORDER_CONFIRMED, topics::FRAUD_SCORED, topics::PAYMENT_SUCCEEDED, topics::PAYMENT_FAILED];
/// The order's record is the item `(pk = order id, id = RECORD_ID)`.
pub const RECORD_ID: &str = "order";
/// Lost version races on one order beyond this many fail the record for a retry.
pub const MAX_ATTEMPTS: usize = 8;

/// `ORDERS_TABLE` (default `orders`), `CARTS_TABLE` (default `carts`), `KAFKA_BOOTSTRAP_SERVERS`
/// (required in Lambda; locally `127.0.0.1:9092`), `DEAD_LETTER_MAX_PAYLOAD_BYTES`.
#[derive(Debug, Clone)]
pub struct Config {
    pub orders_table: String,
    pub carts_table: String,
    pub kafka_bootstrap: String,
    pub dead_letters: DeadLetterPolicy,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
        Ok(Config {
            orders_table: env.get_or("ORDERS_TABLE", "orders"),
            carts_table: env.get_or("CARTS_TABLE", "carts"),
            kafka_bootstrap: env.required_in_cloud("KAFKA_BOOTSTRAP_SERVERS", env.on_lambda(), "127.0.0.1:9092")?,
            dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ).with_max_payload_bytes(max),
        })
    }
}

/// What happened to one batch, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub changed: usize,
    pub redelivered: usize,
    pub ignored: usize,
    pub dead_lettered: usize,
    /// Left for Lambda's retry: the failed record and the ones after it in its partition.
    pub failed: usize,
}

/// The order's item: its key, its state on top (for a reader of the table), and the record.
#[derive(Serialize)]
struct RecordDocument<'a> {
    id: &'a str,
    pk: &'a str,
    state: machine::OrderState,
    record: &'a OrderRecord,
}

#[derive(Deserialize)]
struct StoredRecord {
    record: OrderRecord,
}

pub struct OrderUpdater {
    pub orders: Arc<dyn Documents>,
    pub carts: Arc<dyn Carts>,
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

impl OrderUpdater {
    /// One MSK batch: the partial batch response Lambda reads, and what happened.
    pub async fn handle(&self, event: KafkaEvent) -> Result<(KafkaBatchResponse, BatchReport), EnvelopeError> {
        let out = kafka_batch::handle(self, event).await?;
        let count = |kind: fn(&Outcome) -> bool| out.done.iter().filter(|o| kind(o)).count();
        let report = BatchReport {
            records: out.done.len() + out.dead_lettered + out.failed,
            changed: count(|o| matches!(o, Outcome::Changed { .. })),
            redelivered: count(|o| matches!(o, Outcome::Redelivery)),
            ignored: count(|o| matches!(o, Outcome::Ignored { .. })),
            dead_lettered: out.dead_lettered,
            failed: out.failed,
        };
        tracing::info!(?report, "batch done");
        Ok((out.response, report))
    }

    /// Read the order's record, apply the event, write under the version read (a lost race
    /// reads again), then run what is pending and write the record again without it.
    async fn apply(&self, event_id: &str, time: DateTime<Utc>, input: Input) -> Result<Outcome, Failure> {
        let pk = input.order_id().to_string();
        for _ in 0..MAX_ATTEMPTS {
            let (stored, etag) = self.read(&pk).await?;
            let outcome = machine::apply(stored.clone(), event_id, time, &input);
            let (record, etag) = match &outcome {
                Outcome::Changed { record, note } => match self.write(&pk, record, etag.as_ref()).await? {
                    Some(etag) => {
                        tracing::info!(state = ?record.state, note, "order changed");
                        if record.pending.is_empty() {
                            return Ok(outcome); // nothing to run, nothing to clear
                        }
                        (record.as_ref().clone(), etag)
                    }
                    None => continue, // someone wrote since we read: apply to theirs
                },
                // Dead-lettered, and logged with its code, by the batch rules.
                Outcome::Refused { code, reason } => return Err(Failure::Permanent(code, reason.clone())),
                Outcome::Redelivery | Outcome::Ignored { .. } => {
                    match &outcome {
                        Outcome::Ignored { note } => tracing::info!(note, "event changes nothing"),
                        _ => tracing::info!("redelivered event: the order is unchanged"),
                    }
                    match (stored, etag) {
                        // Effects an earlier attempt left pending run now.
                        (Some(record), Some(etag)) if !record.pending.is_empty() => (record, etag),
                        _ => return Ok(outcome),
                    }
                }
            };
            self.flush(&pk, record, etag).await?;
            return Ok(outcome);
        }
        Err(Failure::Transient(PortError::Unavailable(format!("order {pk}: {MAX_ATTEMPTS} write conflicts in a row"))))
    }

    async fn read(&self, pk: &str) -> Result<(Option<OrderRecord>, Option<Etag>), PortError> {
        let Some(d) = self.orders.read(pk, RECORD_ID).await? else { return Ok((None, None)) };
        let stored: StoredRecord = read_document(&d.body, &format!("order {pk}"))?;
        Ok((Some(stored.record), Some(d.etag)))
    }

    /// Writes the record under the version read (create when none): its new version, or None if
    /// another writer came first.
    async fn write(&self, pk: &str, record: &OrderRecord, etag: Option<&Etag>) -> Result<Option<Etag>, PortError> {
        let body = document(&RecordDocument { id: RECORD_ID, pk, state: record.state, record })?;
        let written = match etag {
            Some(etag) => self.orders.replace(pk, RECORD_ID, body, etag).await,
            None => self.orders.create(pk, RECORD_ID, body).await,
        };
        match written {
            Ok(etag) => Ok(Some(etag)),
            Err(PortError::PreconditionFailed | PortError::AlreadyExists) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs the record's pending effects, then takes them out of the record: under the version
    /// written, or, if another writer came in between, out of theirs (they are idempotent, so a
    /// writer that ran some of them too did no harm).
    async fn flush(&self, pk: &str, mut record: OrderRecord, mut etag: Etag) -> Result<(), PortError> {
        let ran = std::mem::take(&mut record.pending);
        if ran.is_empty() {
            return Ok(());
        }
        self.run(&ran).await?;
        for _ in 0..MAX_ATTEMPTS {
            if self.write(pk, &record, Some(&etag)).await?.is_some() {
                return Ok(());
            }
            let (Some(current), Some(current_etag)) = self.read(pk).await? else { return Ok(()) };
            record = current;
            record.pending.retain(|e| !ran.contains(e));
            etag = current_etag;
        }
        Err(PortError::Unavailable(format!("order {pk}: could not clear its pending effects")))
    }

    /// Effects in order; each is idempotent, so a retry may run them all again.
    async fn run(&self, effects: &[Effect]) -> Result<(), PortError> {
        for effect in effects {
            match effect {
                Effect::Publish { topic, key, id, payload } => {
                    let msg = OutboundMessage::new(topic.as_str(), key.as_str(), payload.as_bytes().to_vec())
                        .with_header("ce_id", id)
                        .with_header("content-type", "application/cloudevents+json");
                    self.bus.publish(msg).await?;
                }
                Effect::EmptyCart { customer_id, skus } => {
                    for sku in skus {
                        self.carts.remove(customer_id, sku).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl RecordHandler for OrderUpdater {
    type Done = Outcome;

    async fn process(&self, r: &MskRecord) -> Result<Outcome, Failure> {
        let (event_id, time, input) = read_record(r)?;
        let span = tracing::info_span!("record", %event_id, order_id = %input.order_id(), position = %r.position());
        self.apply(&event_id, time, input).instrument(span).await
    }

    fn publisher(&self) -> &dyn Publisher {
        self.bus.as_ref()
    }

    fn dead_letters(&self) -> &DeadLetterPolicy {
        &self.dead_letters
    }
}

/// The record as the event its topic carries: its CloudEvent id, time and data.
fn read_record(r: &MskRecord) -> Result<(String, DateTime<Utc>, Input), Failure> {
    use domain::cloudevent::decode;
    use domain::events::{FraudScored, OrderConfirmed, PaymentFailed, PaymentSucceeded};
    fn read<T: DomainEvent>(r: &MskRecord, input: fn(T) -> Input) -> Result<(String, DateTime<Utc>, Input), Failure> {
        let event = decode::<T>(&r.value)?;
        Ok((event.id, event.time, input(event.data)))
    }
    match r.topic.as_str() {
        OrderConfirmed::TOPIC => {
            let event = decode::<OrderConfirmed>(&r.value)?;
            event.data.check().map_err(|(code, reason)| Failure::Permanent(code, reason))?;
            Ok((event.id, event.time, Input::Confirmed(event.data)))
        }
        FraudScored::TOPIC => read::<FraudScored>(r, Input::Scored),
        PaymentSucceeded::TOPIC => read::<PaymentSucceeded>(r, Input::Succeeded),
        PaymentFailed::TOPIC => read::<PaymentFailed>(r, Input::Failed),
        other => {
            // What is not an event at all is said first, as for the topics it consumes.
            RawEvent::parse(&r.value)?;
            Err(Failure::Permanent("unexpected_topic", format!("order-updater does not consume {other:?}")))
        }
    }
}
