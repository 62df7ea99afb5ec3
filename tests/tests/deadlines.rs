//! A Lambda on a Kafka mapping starts no record with less of its invocation left than a record
//! may take (`kafka_batch::RECORD_BUDGET`): it fails that record and the rest of the batch in the
//! partial batch response, one failure per partition at its first record not started, so Lambda
//! resumes each partition there instead of timing the invocation out mid-record.
use async_trait::async_trait;
use domain::dead_letter::DeadLetterPolicy;
use domain::events::topics;
use domain::ports::{Delivery, OutboundMessage, PortError, Publisher};
use inmemory::{Bus, Record};
use kafka_pubsub_bridge::Bridge;
use local::lambda_host::msk_event;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::RECORD_BUDGET;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Pub/Sub that takes `pause` to acknowledge each message.
struct SlowPubSub {
    bus: Bus,
    pause: Duration,
}

#[async_trait]
impl Publisher for SlowPubSub {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        tokio::time::sleep(self.pause).await;
        self.bus.publish(msg).await
    }
}

fn record(partition: i32, offset: i64) -> Record {
    let event = json!({"specversion": "1.0", "id": format!("e-{partition}-{offset}"), "source": "/gcp/merch-normalizer",
        "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:00:00Z", "datacontenttype": "application/json",
        "data": {"sku": "TSH-001", "region": "EU", "price": {"amount_minor": 1999, "currency": "EUR"},
                 "version": offset, "erp_system": "sap-eu", "effective_at": "2026-11-20T09:00:00Z"}});
    Record {
        topic: topics::PRICE_CHANGED.into(),
        partition,
        offset,
        key: format!("K{partition}"),
        payload: event.to_string().into_bytes(),
        headers: vec![],
        timestamp_ms: 1_795_165_200_000,
    }
}

fn bridge(pause: Duration) -> (Bridge, Bus) {
    let (pubsub, kafka) = (Bus::new(1), Bus::new(3));
    let bridge = Bridge {
        pubsub: Arc::new(SlowPubSub { bus: pubsub.clone(), pause }),
        kafka: Arc::new(kafka),
        dead_letters: DeadLetterPolicy::new(kafka_pubsub_bridge::NAME, topics::CHECKOUT_DLQ),
    };
    (bridge, pubsub)
}

fn failures(response: &platform_aws::msk::KafkaBatchResponse) -> Vec<(String, i64)> {
    response
        .batch_item_failures
        .iter()
        .map(|f| (f.item_identifier.partition.clone(), f.item_identifier.offset))
        .collect()
}

#[tokio::test]
async fn a_batch_stops_where_the_time_runs_short_and_each_partition_resumes_there() {
    let (bridge, pubsub) = bridge(Duration::from_millis(600));
    let batch = msk_event(&[record(0, 10), record(0, 11), record(1, 20), record(1, 21)]);
    // Time for the first record and not much more: after it, less than a record's budget is left.
    let invocation = Invocation::starting_now(RECORD_BUDGET + chrono::Duration::milliseconds(400));
    let out = bridge.handle(batch, &invocation).await.expect("a Kafka batch");
    assert_eq!((out.done.len(), out.dead_lettered, out.failed), (1, 0, 3));
    let want = [("merch.price-changed-0".to_string(), 11), ("merch.price-changed-1".to_string(), 20)];
    assert_eq!(failures(&out.response), want);
    assert_eq!(pubsub.records(&topics::mirror_topic(topics::PRICE_CHANGED)).len(), 1, "only the first mirrored");
}

#[tokio::test]
async fn an_invocation_already_short_of_time_starts_nothing() {
    let (bridge, pubsub) = bridge(Duration::ZERO);
    let batch = msk_event(&[record(0, 10), record(1, 20)]);
    let out = bridge.handle(batch, &Invocation::starting_now(chrono::Duration::seconds(1))).await.expect("a batch");
    assert_eq!((out.done.len(), out.failed), (0, 2));
    assert_eq!(
        failures(&out.response),
        [("merch.price-changed-0".to_string(), 10), ("merch.price-changed-1".to_string(), 20)]
    );
    assert!(pubsub.records(&topics::mirror_topic(topics::PRICE_CHANGED)).is_empty());
    // With the time it needs, the same batch goes through.
    let out =
        bridge.handle(msk_event(&[record(0, 10), record(1, 20)]), &Invocation::one_minute()).await.expect("batch");
    assert_eq!((out.done.len(), out.failed), (2, 0));
}
