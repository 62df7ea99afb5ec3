//! order-updater (AWS Lambda, MSK event source mapping on `order.confirmed`, `fraud.scored`,
//! `payment.succeeded` and `payment.failed`): keeps each order's state machine (`machine.rs`) in
//! DynamoDB under conditional writes, and acts on its transitions: `payment.requested` when an
//! order is approved, `order.paid` and the bought skus out of the cart when it is paid.
//!
//! Per record, in (topic, partition, offset) order: read the order's record, apply the event,
//! write under the version read (a lost race reads again), then run the effects. A record that
//! can never apply (not a CloudEvent of its topic's type, a value that is not base64) is
//! dead-lettered on `checkout.dlq`. A store or bus that is unavailable fails the record in the
//! partial batch response: Lambda retries its partition from that offset (the records after it
//! in the partition are left for that retry), and a redelivered event re-runs its effects.
pub mod machine;
#[cfg(test)]
mod testing;

use aws_lambda_events::event::kafka::KafkaEvent;
use domain::cloudevent::{DomainEvent, RawEvent};
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy, Rejected};
use domain::events::topics;
use domain::ports::{Carts, Documents, OutboundMessage, PortError, Publisher};
use machine::{Effect, Input, OrderRecord, Outcome};
use platform_aws::EnvelopeError;
use platform_aws::msk::{self, KafkaBatchResponse, MskRecord, Undecodable};
use serde_json::json;
use serve::{ConfigError, Env};
use std::collections::BTreeSet;
use std::sync::Arc;

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

/// Why one record did not go through.
enum Failure {
    /// Never will: dead-letter it with a reason code.
    Permanent(&'static str, String),
    /// Might on a retry: fail it in the batch response.
    Transient(PortError),
}

impl From<PortError> for Failure {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Rejected(reason) => Failure::Permanent("store_rejected", reason),
            other => Failure::Transient(other),
        }
    }
}

pub struct OrderUpdater {
    pub orders: Arc<dyn Documents>,
    pub carts: Arc<dyn Carts>,
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

impl OrderUpdater {
    /// One MSK batch: the partial batch response Lambda reads, and what happened. An event that
    /// is not a Kafka batch (a misconfigured trigger) is an error: the invocation fails loudly.
    pub async fn handle(&self, event: KafkaEvent) -> Result<(KafkaBatchResponse, BatchReport), EnvelopeError> {
        let mut response = KafkaBatchResponse::default();
        let mut report = BatchReport::default();
        let mut failed: BTreeSet<(String, i64)> = BTreeSet::new();
        for record in msk::records_of(event)? {
            report.records += 1;
            let (topic, partition, offset) = match &record {
                Ok(r) => (r.topic.clone(), r.partition, r.offset),
                Err(u) => (u.topic.clone(), u.partition, u.offset),
            };
            if failed.contains(&(topic.clone(), partition)) {
                report.failed += 1;
                continue;
            }
            let outcome = match &record {
                Ok(r) => self.process(r).await,
                Err(u) => Err(Failure::Permanent(u.error.code(), u.error.to_string())),
            };
            let dead_letter = match outcome {
                Ok(Outcome::Changed { .. }) => {
                    report.changed += 1;
                    continue;
                }
                Ok(Outcome::Redelivery { .. }) => {
                    report.redelivered += 1;
                    continue;
                }
                Ok(Outcome::Ignored { .. }) => {
                    report.ignored += 1;
                    continue;
                }
                Err(Failure::Permanent(code, reason)) => self.dead_letter(&record, code, reason).await,
                Err(Failure::Transient(e)) => Err(e),
            };
            match dead_letter {
                Ok(()) => report.dead_lettered += 1,
                Err(e) => {
                    tracing::warn!(%topic, partition, offset, error = %e, "record failed; Lambda retries its partition from here");
                    response.fail(&topic, partition, offset);
                    failed.insert((topic, partition));
                    report.failed += 1;
                }
            }
        }
        tracing::info!(?report, "batch done");
        Ok((response, report))
    }

    async fn process(&self, r: &MskRecord) -> Result<Outcome, Failure> {
        let (event_id, time, input) = decode(r)?;
        let span =
            tracing::info_span!("record", event_id = %event_id, order_id = %input.order_id(), position = %r.position());
        let _enter = span.enter();
        let pk = input.order_id().to_string();
        for _ in 0..MAX_ATTEMPTS {
            let stored = self.orders.read(&pk, RECORD_ID).await?;
            let (record, etag) = match stored {
                Some(d) => {
                    let record: OrderRecord = serde_json::from_value(d.body["record"].clone())
                        .map_err(|e| PortError::Rejected(format!("stored order {pk}: {e}")))?;
                    (Some(record), Some(d.etag))
                }
                None => (None, None),
            };
            let outcome = machine::apply(record, &event_id, time, input.clone());
            match &outcome {
                Outcome::Changed { record, effects, note } => {
                    let body = json!({"id": RECORD_ID, "pk": pk, "state": record.state, "record": record});
                    let written = match &etag {
                        Some(etag) => self.orders.replace(&pk, RECORD_ID, body, etag).await,
                        None => self.orders.create(&pk, body).await,
                    };
                    match written {
                        Ok(_) => {}
                        Err(PortError::PreconditionFailed | PortError::AlreadyExists) => continue,
                        Err(e) => return Err(e.into()),
                    }
                    tracing::info!(state = ?record.state, note, "order changed");
                    self.run(effects).await?;
                }
                Outcome::Redelivery { effects } => {
                    tracing::info!("redelivered event: state unchanged, its effects run again");
                    self.run(effects).await?;
                }
                Outcome::Ignored { note } => tracing::info!(note, "event changes nothing"),
            }
            return Ok(outcome);
        }
        Err(Failure::Transient(PortError::Unavailable(format!("order {pk}: {MAX_ATTEMPTS} write conflicts in a row"))))
    }

    /// Effects in order; each is idempotent, so a retry may run them all again.
    async fn run(&self, effects: &[Effect]) -> Result<(), PortError> {
        for effect in effects {
            match effect {
                Effect::Publish { topic, key, payload } => {
                    let id = serde_json::from_str::<serde_json::Value>(payload)
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_string))
                        .unwrap_or_default();
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

    async fn dead_letter(
        &self,
        record: &Result<MskRecord, Undecodable>,
        code: &str,
        reason: String,
    ) -> Result<(), PortError> {
        let (origin, payload, key, time) = match record {
            Ok(r) => (
                format!("kafka:{}/{}@{}", r.topic, r.partition, r.offset),
                r.value.as_slice(),
                r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
                r.timestamp,
            ),
            // The value could not be decoded: the dead letter keeps it as it came.
            Err(u) => {
                (format!("kafka:{}/{}@{}", u.topic, u.partition, u.offset), u.raw_value.as_bytes(), None, u.timestamp)
            }
        };
        tracing::warn!(%origin, reason_code = code, %reason, "record dead-lettered");
        let msg = self.dead_letters.message(Rejected { code, reason, origin, payload, key }, time);
        self.bus.publish(msg).await.map(|_| ())
    }
}

/// The record as the event its topic carries: its CloudEvent id, time and data.
fn decode(r: &MskRecord) -> Result<(String, chrono::DateTime<chrono::Utc>, Input), Failure> {
    use domain::events::{FraudScored, OrderConfirmed, PaymentFailed, PaymentSucceeded};
    let bad = |e: domain::cloudevent::DecodeError| Failure::Permanent(e.code(), e.to_string());
    let raw = RawEvent::parse(&r.value).map_err(bad)?;
    let (id, time) = (raw.id.clone(), raw.time);
    let input = match r.topic.as_str() {
        OrderConfirmed::TOPIC => Input::Confirmed(raw.into_event::<OrderConfirmed>().map_err(bad)?.data),
        FraudScored::TOPIC => Input::Scored(raw.into_event::<FraudScored>().map_err(bad)?.data),
        PaymentSucceeded::TOPIC => Input::Succeeded(raw.into_event::<PaymentSucceeded>().map_err(bad)?.data),
        PaymentFailed::TOPIC => Input::Failed(raw.into_event::<PaymentFailed>().map_err(bad)?.data),
        other => {
            return Err(Failure::Permanent("unexpected_topic", format!("order-updater does not consume {other:?}")));
        }
    };
    Ok((id, time, input))
}
