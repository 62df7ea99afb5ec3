use crate::Bus;
use async_trait::async_trait;
use domain::ports::{Delivery, OutboundMessage, PortError, Publisher};

/// Pub/Sub in memory, over the bus: a message lands on the bus under its Pub/Sub topic name,
/// placed by its ordering key (so per-key order holds, as with ordering enabled), where the
/// local push subscriptions read it. It refuses what Pub/Sub refuses (`domain::pubsub`'s limits:
/// ordering key, attributes, size) the way the service does, for good (INVALID_ARGUMENT, which
/// `platform_gcp::pubsub` reports as `Rejected`), and takes messages up to Pub/Sub's 10 MB
/// rather than Kafka's 1 MB. The Pub/Sub emulator checks none of these limits: this twin is
/// where the estate's tests meet them.
#[derive(Clone)]
pub struct InMemoryPubSub {
    pub bus: Bus,
}

impl InMemoryPubSub {
    pub fn new(bus: Bus) -> Self {
        InMemoryPubSub { bus }
    }
}

#[async_trait]
impl Publisher for InMemoryPubSub {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        self.bus.outage.check("pubsub publish")?;
        if let Some(why) = domain::pubsub::refusal(&msg) {
            return Err(PortError::Rejected(format!("pubsub {}: INVALID_ARGUMENT: {why}", msg.topic)));
        }
        let topic = msg.topic.clone();
        match self.bus.append(msg, chrono::Utc::now().timestamp_millis()) {
            // The id the local push subscriptions give the message (`local::pubsub_push`).
            Delivery::Kafka { partition, offset } => {
                Ok(Delivery::PubSub { message_id: format!("{topic}-{partition}-{offset}") })
            }
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takes_what_pubsub_takes_and_refuses_the_rest_for_good() {
        let pubsub = InMemoryPubSub::new(Bus::new(3));
        let ok = OutboundMessage::new("mirror-t", "k".repeat(1024), vec![1; 2_000_000]).with_header("a", "v");
        let delivered = pubsub.publish(ok).await.expect("a 2 MB message with a 1,024-byte key");
        let r = &pubsub.bus.records("mirror-t")[0];
        assert_eq!(delivered, Delivery::PubSub { message_id: format!("mirror-t-{}-0", r.partition) });
        let long = OutboundMessage::new("mirror-t", "k".repeat(1025), b"x".to_vec());
        assert!(matches!(pubsub.publish(long).await, Err(PortError::Rejected(e)) if e.contains("INVALID_ARGUMENT")));
        let value = OutboundMessage::new("mirror-t", "k", b"x".to_vec()).with_header("kafka_key", "v".repeat(1025));
        assert!(matches!(pubsub.publish(value).await, Err(PortError::Rejected(_))));
        assert_eq!(pubsub.bus.records("mirror-t").len(), 1, "nothing refused was kept");
        pubsub.bus.outage.fail_next(1);
        let again = OutboundMessage::new("mirror-t", "k", b"x".to_vec());
        assert!(matches!(pubsub.publish(again).await, Err(PortError::Unavailable(_))));
    }
}
