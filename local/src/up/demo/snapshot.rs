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

/// The topic's partitions as the broker has them: provisioned with `PARTITIONS`, but a topic a
/// client made first (auto-created) has the broker's default count, and every one is read.
fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, RunError> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(err(topic))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    let ids: Vec<i32> = found.map(|t| t.partitions().iter().map(|p| p.id()).collect()).unwrap_or_default();
    if ids.is_empty() {
        return Err(RunError(format!("kafka {topic}: no partitions")));
    }
    if ids.len() != PARTITIONS as usize {
        tracing::warn!(topic, partitions = ids.len(), provisioned = PARTITIONS, "a topic with another partition count");
    }
    Ok(ids)
}

fn ends(consumer: &BaseConsumer, topic: &str) -> Result<BTreeMap<i32, i64>, RunError> {
    partitions(consumer, topic)?
        .into_iter()
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

    /// `take`, off the async workers.
    pub async fn taken(kafka: &str, topics: &[&str]) -> Result<Marks, RunError> {
        let (kafka, topics): (String, Vec<String>) = (kafka.into(), topics.iter().map(|t| t.to_string()).collect());
        tokio::task::spawn_blocking(move || Marks::take(&kafka, &topics)).await.map_err(|e| RunError(e.to_string()))?
    }

    /// The run's records of `topic`: from its marks to the topic's end as it is now. Blocking.
    pub fn records_since(&self, kafka: &str, topic: &str) -> Result<Vec<BusRecord>, RunError> {
        let from = self.0.get(topic).ok_or_else(|| RunError(format!("{topic} was not marked at the start")))?;
        let consumer = consumer(kafka)?;
        let to = ends(&consumer, topic)?;
        let mut tpl = TopicPartitionList::new();
        let mut left: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, end) in &to {
            // A partition that came after the marks is read from its start.
            let start = from.get(p).copied().unwrap_or(0);
            if *end > start {
                tpl.add_partition_offset(topic, *p, Offset::Offset(start)).map_err(err(topic))?;
                left.insert(*p, *end);
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
            let record = match msg {
                Ok(m) => kafka::bus_record(&m),
                // A broker that answers late or drops a fetch: asked again, until the deadline.
                Err(e) => {
                    tracing::warn!(topic, error = %e, "reading back: trying again");
                    continue;
                }
            };
            let Some(end) = left.get(&record.partition).copied() else { continue };
            if record.offset + 1 >= end {
                left.remove(&record.partition);
            }
            // Only what was there when the read began: the end stays where it was asked.
            if record.offset < end {
                out.push(record);
            }
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

/// Every current object of an S3 bucket on moto, copied into the twin's `twin_bucket`.
pub async fn load_s3_bucket(
    store: &platform_aws::s3_store::S3Objects,
    bucket: &str,
    twin: &inmemory::InMemoryS3,
    twin_bucket: &str,
) -> Result<(), RunError> {
    use domain::ports::{NewObject, VersionedObjects};
    let failed = |what: &'static str| move |e: domain::ports::PortError| RunError(format!("{what} {bucket}: {e}"));
    for meta in store.list(bucket, "").await.map_err(failed("list"))? {
        let got = store.get(bucket, &meta.key, domain::ports::Revision::Current).await.map_err(failed("get from"))?;
        let Some((_, bytes)) = got else { continue };
        let content_type = meta.content_type.as_deref().unwrap_or("application/octet-stream");
        let object = NewObject { key: &meta.key, bytes, content_type, cache_control: None };
        twin.put_new(twin_bucket, object).await.map_err(failed("copy into the twin of"))?;
    }
    Ok(())
}
