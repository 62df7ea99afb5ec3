//! {{name}} (AWS Lambda, MSK event source mapping on `order.confirmed`): takes each confirmed
//! order (`OrderConfirmed`) of the batch; what it does with one goes where it says
//! `Your logic here`.
//!
//! The batch goes through `platform_aws::kafka_batch`, as every Kafka-triggered Lambda of the
//! estate does: a record that can never succeed (not base64, not an `order.confirmed` event, an
//! order that fails its checks, another topic's) is dead-lettered on `checkout.dlq` with its
//! reason code and counts as done; one that may succeed later (a store or the bus unavailable)
//! is failed in the partial batch response, and Lambda retries its partition from there.
use aws_lambda_events::event::kafka::KafkaEvent;
use domain::cloudevent::{CloudEvent, DomainEvent, decode};
use domain::dead_letter::DeadLetterPolicy;
use domain::events::{OrderConfirmed, topics};
use domain::ports::Publisher;
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::{self, BatchOutcome, Failure, RecordHandler};
use platform_aws::msk::MskRecord;
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "{{name}}";

pub struct {{Type}} {
    /// Kafka, where dead letters go.
    pub bus: Arc<dyn Publisher>,
    pub dead_letters: DeadLetterPolicy,
}

impl {{Type}} {
    pub fn new(bus: Arc<dyn Publisher>) -> Self {
        Self { bus, dead_letters: DeadLetterPolicy::new(NAME, topics::CHECKOUT_DLQ) }
    }

    /// One MSK batch: the partial batch response for Lambda, and what became of each record. An
    /// event that is not a Kafka batch (a misconfigured trigger) is an error.
    pub async fn handle(&self, event: KafkaEvent, invocation: &Invocation) -> Result<BatchOutcome<()>, EnvelopeError> {
        let out = kafka_batch::handle(self, event, invocation).await?;
        tracing::info!(done = out.done.len(), dead_lettered = out.dead_lettered, failed = out.failed, "batch done");
        Ok(out)
    }

    async fn confirmed(&self, order: &CloudEvent<OrderConfirmed>) -> Result<(), Failure> {
        // Your logic here: a store's `PortError` converts with `?` (unavailable: the record is
        // retried; refused for good: dead-lettered as `store_rejected`). Keep it idempotent:
        // Lambda delivers a record again after a failure, and producers retry.
        let o = &order.data;
        tracing::info!(total = %o.total, lines = o.lines.len(), ship_to = %o.ship_to_country, "order confirmed");
        Ok(())
    }
}

impl RecordHandler for {{Type}} {
    type Done = ();

    async fn process(&self, record: &MskRecord) -> Result<(), Failure> {
        if record.topic != OrderConfirmed::TOPIC {
            return Err(Failure::Permanent("unexpected_topic", format!("{NAME} does not consume {:?}", record.topic)));
        }
        let event = decode::<OrderConfirmed>(&record.value)?;
        event.data.check().map_err(|(code, reason)| Failure::Permanent(code, reason))?;
        let span = tracing::info_span!("record", event_id = %event.id, order_id = %event.data.order_id);
        self.confirmed(&event).instrument(span).await
    }

    fn publisher(&self) -> &dyn Publisher {
        self.bus.as_ref()
    }

    fn dead_letters(&self) -> &DeadLetterPolicy {
        &self.dead_letters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inmemory::Bus;
    use platform_aws::msk::KafkaBatchResponse;
    use platform_aws::msk_event::MskEvent;

    /// The recorded batch beside the other MSK fixtures: a confirmed order, then a payment event
    /// produced to `order.confirmed` by mistake.
    const FIXTURE: &str =
        include_str!(concat!("../../../../events/aws/msk/", env!("CARGO_PKG_NAME"), "-order-confirmed.json"));

    async fn run(bus: &Bus) -> BatchOutcome<()> {
        let MskEvent(event) = serde_json::from_str(FIXTURE).expect("an MSK event");
        let function = {{Type}}::new(Arc::new(bus.clone()));
        function.handle(event, &Invocation::one_minute()).await.expect("a Kafka batch")
    }

    #[tokio::test]
    async fn an_order_is_done_and_another_event_is_dead_lettered_with_its_reason() {
        let bus = Bus::new(1);
        let out = run(&bus).await;
        assert_eq!((out.done.len(), out.dead_lettered, out.failed), (1, 1, 0));
        let letters = bus.records(topics::CHECKOUT_DLQ);
        assert_eq!(letters.len(), 1);
        let letter: serde_json::Value = serde_json::from_slice(&letters[0].payload).expect("a dead letter");
        assert_eq!(letter["data"]["reason_code"], "unexpected_type");
        assert_eq!(letter["data"]["origin"], "kafka:order.confirmed/0@31881");
    }

    #[tokio::test]
    async fn a_dead_letter_that_cannot_be_published_fails_its_record_for_lambda_to_retry() {
        let bus = Bus::new(1);
        bus.outage.fail_next(1);
        let out = run(&bus).await;
        let mut retry = KafkaBatchResponse::default();
        retry.fail(topics::ORDER_CONFIRMED, 0, 31881);
        assert_eq!((out.done.len(), out.failed, out.response), (1, 1, retry));
        assert!(bus.records(topics::CHECKOUT_DLQ).is_empty());
    }
}
