//! order-updater (AWS Lambda, MSK event source mapping on `order.confirmed`, `fraud.scored`,
//! `payment.succeeded` and `payment.failed`): keeps each order's state machine
//! (`orders::machine`, shared with order-sweeper) in DynamoDB under conditional writes, and acts
//! on its transitions: `payment.requested` when an order is approved, `order.paid` and the bought
//! skus out of the cart when it is paid. Each change is stamped with the function's clock
//! (`changed_at`), which is what order-sweeper's index sorts by.
//!
//! Per record (the batch rules are `platform_aws::kafka_batch`'s): read the order's record, apply
//! the event, write under the version read (a lost race reads again), then run the effects. A
//! record that can never apply (not a CloudEvent of its topic's type, a value that is not
//! base64) is dead-lettered on `checkout.dlq`. A store or bus that is unavailable fails the
//! record in the partial batch response, Lambda retries its partition from there, and the
//! redelivered event runs the effects still pending (the record is an outbox, see `machine.rs`).
pub use orders::machine;

use aws_lambda_events::event::kafka::KafkaEvent;
use chrono::{DateTime, Utc};
use domain::cloudevent::{DomainEvent, RawEvent};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::topics;
use domain::ports::PortError;
use machine::{Input, Outcome};
use orders::store::{MAX_ATTEMPTS, OrderStore, unmarked};
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::{self, Failure, RecordHandler};
use platform_aws::msk::{KafkaBatchResponse, MskRecord};
use serve::{ConfigError, Env};
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "order-updater";
/// The topics of its event source mappings.
pub const TOPICS: [&str; 4] =
    [topics::ORDER_CONFIRMED, topics::FRAUD_SCORED, topics::PAYMENT_SUCCEEDED, topics::PAYMENT_FAILED];
pub use orders::layout::RECORD_ID;

/// Where the function reads the time it stamps on a change (`changed_at`): `Utc::now` when
/// deployed; the local runner uses a clock that steps, so its outputs are the same every run.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

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

pub struct OrderUpdater {
    pub clock: Clock,
    /// The orders table (laid out by `orders::layout`), the carts, the bus.
    pub store: OrderStore,
    pub dead_letters: DeadLetterPolicy,
}

impl OrderUpdater {
    /// One MSK batch: the partial batch response Lambda reads, and what happened.
    pub async fn handle(
        &self,
        event: KafkaEvent,
        invocation: &Invocation,
    ) -> Result<(KafkaBatchResponse, BatchReport), EnvelopeError> {
        let out = kafka_batch::handle(self, event, invocation).await?;
        let count = |kind: fn(&Outcome) -> bool| out.done.iter().filter(|o| kind(o)).count();
        let report = BatchReport {
            records: out.done.len() + out.dead_lettered + out.failed,
            changed: count(|o| matches!(o, Outcome::Changed { .. })),
            redelivered: count(|o| matches!(o, Outcome::Redelivery)),
            ignored: count(|o| matches!(o, Outcome::Ignored { .. })),
            dead_lettered: out.dead_lettered,
            failed: out.failed,
        };
        let BatchReport { records, changed, redelivered, ignored, dead_lettered, failed } = report;
        tracing::info!(records, changed, redelivered, ignored, dead_lettered, failed, "batch done");
        Ok((out.response, report))
    }

    /// Read the order's record, apply the event, write under the version read (a lost race
    /// reads again), then run what is pending and write the record again without it.
    async fn apply(&self, event_id: &str, time: DateTime<Utc>, input: Input) -> Result<Outcome, Failure> {
        let pk = input.order_id().to_string();
        for _ in 0..MAX_ATTEMPTS {
            let (stored, etag) = self.store.read(&pk).await?;
            let mut outcome = machine::apply(stored.clone(), event_id, time, &input);
            if let Outcome::Changed { record, .. } = &mut outcome {
                record.changed((self.clock)());
            }
            let (record, etag) = match &outcome {
                Outcome::Changed { record, note } => match self.store.write(record, etag.as_ref()).await? {
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
            self.store.flush(record, etag, &unmarked).await?;
            return Ok(outcome);
        }
        Err(Failure::Transient(PortError::Unavailable(format!("order {pk}: {MAX_ATTEMPTS} write conflicts in a row"))))
    }
}

impl RecordHandler for OrderUpdater {
    type Done = Outcome;

    async fn process(&self, r: &MskRecord) -> Result<Outcome, Failure> {
        let (event_id, time, input) = read_record(r)?;
        let span = tracing::info_span!("record", %event_id, order_id = %input.order_id(), position = %r.position());
        self.apply(&event_id, time, input).instrument(span).await
    }

    fn publisher(&self) -> &dyn domain::ports::Publisher {
        self.store.bus.as_ref()
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
