//! What the emulators hold after a run, read back through their own APIs into the embedded
//! estate's in-memory twins, so the embedded demo's invariant checks run on it unchanged. The
//! Kafka topics are shared by every run on the emulators: a run's records are those after the
//! end offsets marked when it started.
use crate::estate::RunError;
use crate::up::provision::PARTITIONS;
use domain::ports::{BusRecord, ObjectStore, OutboundMessage, Publisher};
use futures::StreamExt;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn err(what: &str) -> impl Fn(rdkafka::error::KafkaError) -> RunError + '_ {
    move |e| RunError(format!("kafka {what}: {e}"))
}

fn consumer(kafka: &str) -> Result<BaseConsumer, RunError> {
    ClientConfig::new()
        .set("bootstrap.servers", kafka)
        .set("group.id", "local-demo-reader")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(err("consumer"))
}

fn ends(consumer: &BaseConsumer, topic: &str) -> Result<BTreeMap<i32, i64>, RunError> {
    (0..PARTITIONS)
        .map(|p| {
            let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).map_err(err(topic))?;
            Ok((p, high))
        })
        .collect()
}

/// Reads in flight at once, reading back.
pub const IN_FLIGHT: usize = 16;

/// Where each topic's partitions ended when the run started.
#[derive(Debug, Clone, Default)]
pub struct Marks(BTreeMap<String, BTreeMap<i32, i64>>);

impl Marks {
    /// Blocking (the Kafka client's calls are): call off the async workers.
    pub fn take(kafka: &str, topics: &[String]) -> Result<Marks, RunError> {
        let consumer = consumer(kafka)?;
        let marks = topics.iter().map(|t| Ok((t.clone(), ends(&consumer, t)?))).collect::<Result<_, RunError>>()?;
        Ok(Marks(marks))
    }

    /// The run's records of `topic`: from its marks to the topic's end as it is now. Blocking.
    pub fn records_since(&self, kafka: &str, topic: &str) -> Result<Vec<BusRecord>, RunError> {
        let from = self.0.get(topic).ok_or_else(|| RunError(format!("{topic} was not marked at the start")))?;
        let consumer = consumer(kafka)?;
        let to = ends(&consumer, topic)?;
        let mut tpl = TopicPartitionList::new();
        let mut left: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, start) in from {
            let end = to.get(p).copied().unwrap_or(*start);
            if end > *start {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*start)).map_err(err(topic))?;
                left.insert(*p, end);
            }
        }
        let mut out = Vec::new();
        if left.is_empty() {
            return Ok(out);
        }
        consumer.assign(&tpl).map_err(err(topic))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !left.is_empty() {
            if Instant::now() > deadline {
                return Err(RunError(format!("{topic}: partitions {left:?} were not read to their end in 60 s")));
            }
            let Some(msg) = consumer.poll(Duration::from_millis(200)) else { continue };
            let record = kafka::bus_record(&msg.map_err(err(topic))?);
            if left.get(&record.partition).is_some_and(|end| record.offset + 1 >= *end) {
                left.remove(&record.partition);
            }
            out.push(record);
        }
        Ok(out)
    }
}

/// The run's records of these topics published to the twin bus, each under its own topic.
pub async fn load_topics(bus: &inmemory::Bus, kafka: &str, marks: &Marks, topics: &[&str]) -> Result<usize, RunError> {
    let mut loaded = 0;
    for topic in topics {
        let (kafka, marks, name) = (kafka.to_string(), marks.clone(), topic.to_string());
        let records = tokio::task::spawn_blocking(move || marks.records_since(&kafka, &name))
            .await
            .map_err(|e| RunError(e.to_string()))??;
        for r in records {
            let mut msg = OutboundMessage::new(*topic, r.key, r.payload);
            msg.headers = r.headers;
            bus.publish(msg).await.map_err(|e| RunError(format!("{topic}: {e}")))?;
            loaded += 1;
        }
    }
    Ok(loaded)
}

/// An object read back: its name, content type and bytes.
type Fetched = (String, String, Vec<u8>);

/// Every object of a GCS emulator bucket copied into a twin bucket, under the same names.
pub async fn load_gcs(
    into: &inmemory::InMemoryObjects,
    gcs: &str,
    bucket: &str,
    twin_bucket: &str,
) -> Result<usize, RunError> {
    let source = platform_gcp::gcs::GcsObjects::emulator(gcs);
    let listed = source.list(bucket, "").await.map_err(|e| RunError(format!("gs://{bucket}: {e}")))?;
    let source = &source;
    let fetched: Vec<Result<Fetched, RunError>> = futures::stream::iter(listed)
        .map(|o| async move {
            let bytes =
                source.get(bucket, &o.key).await.map_err(|e| RunError(format!("gs://{bucket}/{}: {e}", o.key)))?;
            let bytes = bytes.ok_or_else(|| RunError(format!("gs://{bucket}/{} listed but gone", o.key)))?;
            Ok((o.key, o.content_type, bytes))
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let count = fetched.len();
    for f in fetched {
        let (key, content_type, bytes) = f?;
        into.put_if_absent(twin_bucket, &key, bytes, &content_type)
            .await
            .map_err(|e| RunError(format!("the twin bucket: {e}")))?;
    }
    Ok(count)
}
