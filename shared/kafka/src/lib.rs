//! The Kafka publisher port over rdkafka (bundled librdkafka): MSK / Confluent in the cloud,
//! any Kafka-protocol broker locally.
use async_trait::async_trait;
use domain::ports::{BusRecord, Delivery, OutboundMessage, PortError, Publisher};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

/// Environment: `KAFKA_BOOTSTRAP_SERVERS` (default `127.0.0.1:9092`).
pub fn bootstrap_from_env() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    timeout: Duration,
}

impl KafkaPublisher {
    pub fn new(bootstrap: &str) -> Result<Self, PortError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            // Acknowledged by all in-sync replicas, no duplicates from producer retries.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // Java's partitioner (murmur2), not librdkafka's CRC32 default: a key lands on the same
            // partition whichever client produced it, and the in-memory bus agrees.
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", "15000")
            .set("linger.ms", "5")
            .create()
            .map_err(|e| PortError::Unavailable(format!("kafka producer: {e}")))?;
        Ok(KafkaPublisher { producer, timeout: Duration::from_secs(15) })
    }
}

fn classify(e: &KafkaError) -> PortError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) | Some(RDKafkaErrorCode::InvalidMessage) => {
            PortError::Rejected(e.to_string())
        }
        _ => PortError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &msg.headers {
            headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        let record = FutureRecord::to(&msg.topic).key(&msg.key).payload(&msg.payload).headers(headers);
        match self.producer.send(record, self.timeout).await {
            Ok(d) => Ok(Delivery::Kafka { partition: d.partition, offset: d.offset }),
            Err((e, _)) => Err(classify(&e)),
        }
    }
}

/// Creates topics that do not exist yet (an existing topic is fine).
pub async fn ensure_topics(bootstrap: &str, topics: &[&str], partitions: i32) -> Result<(), PortError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| PortError::Unavailable(format!("kafka admin: {e}")))?;
    let new: Vec<NewTopic> = topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1))).collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics(&new, &opts).await.map_err(|e| classify(&e))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(PortError::Unavailable(format!("create topic {t}: {code}"))),
        }
    }
    Ok(())
}

/// A consumed message as the estate's record: key and header values as text (lossy), the
/// timestamp in milliseconds (0 when the broker gave none).
pub fn bus_record<M: Message>(msg: &M) -> BusRecord {
    let headers = msg
        .headers()
        .map(|h| {
            h.iter()
                .map(|x| (x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned()))
                .collect()
        })
        .unwrap_or_default();
    BusRecord {
        timestamp_ms: msg.timestamp().to_millis().unwrap_or(0),
        topic: msg.topic().to_string(),
        partition: msg.partition(),
        offset: msg.offset(),
        key: String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned(),
        payload: msg.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived or the
/// timeout passed. Uses partition assignment, not a group, so it needs no coordinator.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> Result<Vec<BusRecord>, PortError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "estate-reader")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| PortError::Unavailable(format!("kafka consumer: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).map_err(|e| classify(&e))?;
    }
    consumer.assign(&tpl).map_err(|e| classify(&e))?;
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < expected && std::time::Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else { continue };
        let msg = msg.map_err(|e| classify(&e))?;
        out.push(bus_record(&msg));
    }
    Ok(out)
}
