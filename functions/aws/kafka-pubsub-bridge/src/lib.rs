//! kafka-pubsub-bridge (AWS Lambda, one MSK event source mapping per mirrored topic): publishes
//! each record to the Pub/Sub topic `mirror-<topic>` with google-cloud-pubsub, the record's
//! position as attributes (`kafka_topic`, `kafka_partition`, `kafka_offset`) and its key by
//! `domain::mirror`'s scheme: the ordering key and `kafka_key` when it fits Pub/Sub's 1,024
//! bytes, else ordered by `sha256:<hex>` and carried base64 in `kafka_key_b64_0`, `_1`, …
//! That is what audit-sink and fulfillment read. It replaces the Kafka Connect Pub/Sub sink
//! `infra/gcp` assumed.
//!
//! Pub/Sub unavailable fails the record in the partial batch response, and Lambda retries its
//! partition from there, so a partition is mirrored in order and nothing is skipped. A key too
//! long even for the scheme (`key_too_long`), or a message Pub/Sub refuses for good, is
//! dead-lettered to `checkout.dlq` on Kafka; a record of a dead-letter topic (`merch.dlq`,
//! `checkout.dlq`) that cannot be mirrored is parked on `dead-letters.parked`, which nothing
//! mirrors, so it never comes back. Redelivery republishes: consumers dedupe by the CloudEvent
//! id inside.
use aws_lambda_events::event::kafka::KafkaEvent;
use domain::dead_letter::{DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterPolicy};
use domain::events::topics::{self, MIRRORED, mirror_topic};
use domain::mirror;
use domain::ports::{Delivery, OutboundMessage, Publisher};
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::{self, BatchOutcome, Failure, RecordHandler};
use platform_aws::msk::MskRecord;
use platform_gcp::pubsub::attrs;
use serve::{ConfigError, Env};
use std::sync::Arc;

pub const NAME: &str = "kafka-pubsub-bridge";
/// Kafka's largest record: the bridge mirrors whatever the broker accepted (dead letters too).
pub const MAX_RECORD_BYTES: usize = 1_048_588;

pub struct Bridge {
    /// Pub/Sub, where records are mirrored.
    pub pubsub: Arc<dyn Publisher>,
    /// Kafka, where the dead letters of records Pub/Sub refuses go.
    pub kafka: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

/// `KAFKA_BOOTSTRAP_SERVERS` (required in Lambda), `DEAD_LETTER_MAX_PAYLOAD_BYTES`; Pub/Sub's
/// settings are `platform_gcp::pubsub::PubSubConfig`'s.
pub fn dead_letters_from_env(env: &Env) -> Result<DeadLetterPolicy, ConfigError> {
    let max = env.number("DEAD_LETTER_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)?;
    Ok(DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ).with_max_payload_bytes(max))
}

/// The Pub/Sub message for a Kafka record; a key too long to travel is `key_too_long`.
pub fn mirrored(r: &MskRecord) -> Result<OutboundMessage, Failure> {
    let key = r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
    let key = mirror::encode(&key).map_err(|e| Failure::Permanent("key_too_long", e.to_string()))?;
    let mut msg = OutboundMessage::new(mirror_topic(&r.topic), key.ordering_key, r.value.clone())
        .with_header(attrs::TOPIC, &r.topic)
        .with_header(attrs::PARTITION, r.partition.to_string())
        .with_header(attrs::OFFSET, r.offset.to_string());
    msg.headers.extend(key.attributes);
    Ok(msg)
}

impl Bridge {
    pub async fn handle(
        &self,
        event: KafkaEvent,
        invocation: &Invocation,
    ) -> Result<BatchOutcome<Delivery>, EnvelopeError> {
        let out = kafka_batch::handle(self, event, invocation).await?;
        tracing::info!(mirrored = out.done.len(), dead_lettered = out.dead_lettered, failed = out.failed, "batch done");
        Ok(out)
    }
}

impl RecordHandler for Bridge {
    type Done = Delivery;

    async fn process(&self, r: &MskRecord) -> Result<Delivery, Failure> {
        if !MIRRORED.contains(&r.topic.as_str()) {
            return Err(Failure::Permanent(
                "unexpected_topic",
                format!("{:?} is not a mirrored topic ({MIRRORED:?})", r.topic),
            ));
        }
        Ok(self.pubsub.publish(mirrored(r)?).await?)
    }

    fn max_record_bytes(&self) -> usize {
        MAX_RECORD_BYTES
    }

    fn publisher(&self) -> &dyn Publisher {
        self.kafka.as_ref()
    }

    fn dead_letters(&self) -> &DeadLetterPolicy {
        &self.dead_letters
    }
}
