//! How every Lambda of the estate on a Kafka event source mapping goes through its batch, so they
//! all keep the same rules:
//! - records in (topic, partition, offset) order, each processed alone; one over 64 KiB is
//!   `oversize`;
//! - a record that can never succeed (undecodable, wrong type, refused for good) is dead-lettered
//!   on the function's dead-letter topic and counts as done; one read from a topic of dead letters
//!   is parked on `dead-letters.parked` instead, with an error log, so a dead letter never loops;
//! - a record that may succeed later (a store or the bus unavailable), or whose dead letter could
//!   not be published, is failed in the partial batch response, and the rest of its partition is
//!   left alone: Lambda resumes the partition from that offset, so those records come again;
//! - no record is started with less of the invocation left than one may take
//!   ([`RecordHandler::record_budget`]): it and the rest of the batch are failed the same way, so
//!   Lambda resumes there, instead of stopping the invocation mid-record and failing it whole.
use crate::EnvelopeError;
use crate::invocation::Invocation;
use crate::msk::{self, KafkaBatchResponse, MskRecord, Undecodable};
use aws_lambda_events::event::kafka::KafkaEvent;
use domain::dead_letter::{DeadLetterPolicy, Rejected};
use domain::events::topics;
use domain::ports::{OutboundMessage, PortError, Publisher};
use std::collections::BTreeSet;
use std::future::Future;
use tracing::Instrument;

/// The checkout flow's largest record: an order of 100 lines is well under it.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Why one record did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Never will: dead-letter it with a reason code.
    Permanent(&'static str, String),
    /// Might on a retry: fail it in the batch response.
    Transient(PortError),
}

impl From<PortError> for Failure {
    /// A store's or the bus's refusal of the record itself is permanent; the rest is transient.
    fn from(e: PortError) -> Self {
        match e {
            PortError::Rejected(reason) => Failure::Permanent("store_rejected", reason),
            other => Failure::Transient(other),
        }
    }
}

impl From<domain::cloudevent::DecodeError> for Failure {
    fn from(e: domain::cloudevent::DecodeError) -> Self {
        Failure::Permanent(e.code(), e.to_string())
    }
}

/// What one record of the checkout flow may take: a few calls, each well under a second.
pub const RECORD_BUDGET: chrono::Duration = chrono::Duration::seconds(5);

/// One Lambda's handling of one record, and where its dead letters go.
pub trait RecordHandler: Sync {
    /// What a record that went through came to, for the batch's report.
    type Done: Send;
    fn process(&self, record: &MskRecord) -> impl Future<Output = Result<Self::Done, Failure>> + Send;
    /// Records over this are `oversize` (the checkout flow's 64 KiB unless a handler says more).
    fn max_record_bytes(&self) -> usize {
        MAX_RECORD_BYTES
    }
    /// The longest one record may take (its calls' timeouts and retries): a record is not
    /// started with less of the invocation left.
    fn record_budget(&self) -> chrono::Duration {
        RECORD_BUDGET
    }
    fn publisher(&self) -> &dyn Publisher;
    fn dead_letters(&self) -> &DeadLetterPolicy;
}

/// The partial batch response for Lambda, and what became of each record.
#[derive(Debug)]
pub struct BatchOutcome<D> {
    pub response: KafkaBatchResponse,
    pub done: Vec<D>,
    pub dead_lettered: usize,
    /// Failed or left for Lambda's retry of their partition.
    pub failed: usize,
}

/// Runs the handler over the batch. An event that is not a Kafka batch (a misconfigured
/// trigger) is an error, so the invocation fails loudly instead of reading as empty.
pub async fn handle<H: RecordHandler>(
    handler: &H,
    event: KafkaEvent,
    invocation: &Invocation,
) -> Result<BatchOutcome<H::Done>, EnvelopeError> {
    let mut out =
        BatchOutcome { response: KafkaBatchResponse::default(), done: Vec::new(), dead_lettered: 0, failed: 0 };
    let mut failed_partitions: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut out_of_time = false;
    for record in msk::records_of(event)? {
        let (topic, partition, offset) = match &record {
            Ok(r) => (r.topic.clone(), r.partition, r.offset),
            Err(u) => (u.topic.clone(), u.partition, u.offset),
        };
        if failed_partitions.contains(&(topic.clone(), partition)) {
            out.failed += 1;
            continue;
        }
        if out_of_time || invocation.ends_within(handler.record_budget()) {
            if !out_of_time {
                let (left_ms, budget_ms) =
                    (invocation.remaining().num_milliseconds(), handler.record_budget().num_milliseconds());
                tracing::warn!(%topic, partition, offset, left_ms, budget_ms,
                    "too little of the invocation left for another record; Lambda retries from here");
                out_of_time = true;
            }
            out.response.fail(&topic, partition, offset);
            failed_partitions.insert((topic, partition));
            out.failed += 1;
            continue;
        }
        let result = match &record {
            Ok(r) if r.value.len() > handler.max_record_bytes() => {
                let reason =
                    format!("record is {} bytes, over the {}-byte limit", r.value.len(), handler.max_record_bytes());
                Err(Failure::Permanent("oversize", reason))
            }
            // Every line logged while a record is handled names it by its place in Kafka.
            Ok(r) => {
                let span = tracing::info_span!("record", origin = %format_args!("kafka:{topic}/{partition}@{offset}"));
                handler.process(r).instrument(span).await
            }
            Err(u) => Err(Failure::Permanent(u.error.code(), u.error.to_string())),
        };
        let error = match result {
            Ok(done) => {
                out.done.push(done);
                continue;
            }
            Err(Failure::Permanent(code, reason)) => {
                let message = dead_letter(handler.dead_letters(), &record, code, reason);
                match handler.publisher().publish(message).await {
                    Ok(_) => {
                        out.dead_lettered += 1;
                        continue;
                    }
                    Err(e) => e,
                }
            }
            Err(Failure::Transient(e)) => e,
        };
        tracing::warn!(%topic, partition, offset, error = %error, "record failed; Lambda retries its partition from here");
        out.response.fail(&topic, partition, offset);
        failed_partitions.insert((topic, partition));
        out.failed += 1;
    }
    Ok(out)
}

/// The dead letter of a record: placed by its topic, partition and offset, timed by its Kafka
/// timestamp (so a redelivery gives the same one), keeping its value as it came. On the policy's
/// topic, or parked when the record came from a topic of dead letters.
pub fn dead_letter(
    policy: &DeadLetterPolicy,
    record: &Result<MskRecord, Undecodable>,
    code: &str,
    reason: String,
) -> OutboundMessage {
    let (topic, origin, payload, key, time) = match record {
        Ok(r) => (
            &r.topic,
            format!("kafka:{}/{}@{}", r.topic, r.partition, r.offset),
            r.value.as_slice(),
            r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
            r.timestamp,
        ),
        Err(u) => (
            &u.topic,
            format!("kafka:{}/{}@{}", u.topic, u.partition, u.offset),
            u.raw_value.as_bytes(),
            None,
            u.timestamp,
        ),
    };
    if policy.parks(Some(topic)) {
        tracing::error!(%origin, reason_code = code, %reason, parked_on = topics::PARKED,
            "a dead letter cannot be handled; parked");
    } else {
        tracing::warn!(%origin, reason_code = code, %reason, "record dead-lettered");
    }
    policy.message_from(Some(topic), Rejected { code, reason, origin, payload, key }, time)
}
