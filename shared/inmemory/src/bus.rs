use crate::Outage;
use async_trait::async_trait;
use domain::ports::{Delivery, OutboundMessage, PortError, Publisher};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

pub use domain::ports::BusRecord as Record;

#[derive(Default)]
struct State {
    topics: BTreeMap<String, Vec<Vec<Record>>>,
    /// (group, topic, partition) → next offset to read.
    committed: HashMap<(String, String, i32), i64>,
}

/// A Kafka-like bus: topics are created on first use with `partitions` partitions; the key picks
/// the partition with Kafka's own murmur2 partitioner, so per-key order holds as in production.
#[derive(Clone)]
pub struct Bus {
    state: Arc<Mutex<State>>,
    partitions: i32,
    pub outage: Arc<Outage>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(3)
    }
}

impl Bus {
    pub fn new(partitions: i32) -> Self {
        Bus { state: Arc::default(), partitions: partitions.max(1), outage: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn append(&self, msg: OutboundMessage, timestamp_ms: i64) -> Delivery {
        let mut st = self.lock();
        let parts = st.topics.entry(msg.topic.clone()).or_insert_with(|| vec![Vec::new(); self.partitions as usize]);
        let partition = kafka_partition(msg.key.as_bytes(), parts.len() as i32);
        let log = &mut parts[partition as usize];
        let offset = log.len() as i64;
        log.push(Record {
            topic: msg.topic,
            partition,
            offset,
            key: msg.key,
            payload: msg.payload,
            headers: msg.headers,
            timestamp_ms,
        });
        Delivery::Kafka { partition, offset }
    }

    /// Every record of a topic, partition by partition, in offset order.
    pub fn records(&self, topic: &str) -> Vec<Record> {
        self.lock().topics.get(topic).map(|ps| ps.iter().flatten().cloned().collect()).unwrap_or_default()
    }

    pub fn topics(&self) -> Vec<String> {
        self.lock().topics.keys().cloned().collect()
    }

    /// Up to `max` uncommitted records of `topics` for `group`, in offset order per partition.
    /// Nothing is committed: call `commit` once they are processed (at-least-once).
    pub fn poll(&self, group: &str, topics: &[&str], max: usize) -> Vec<Record> {
        let st = self.lock();
        let mut out = Vec::new();
        for topic in topics {
            let Some(parts) = st.topics.get(*topic) else { continue };
            for (p, log) in parts.iter().enumerate() {
                let from = st.committed.get(&(group.to_string(), topic.to_string(), p as i32)).copied().unwrap_or(0);
                for r in log.iter().skip(from as usize) {
                    if out.len() == max {
                        return out;
                    }
                    out.push(r.clone());
                }
            }
        }
        out
    }

    /// Commits past every record given (the highest offset + 1 per partition).
    pub fn commit(&self, group: &str, records: &[Record]) {
        let mut st = self.lock();
        for r in records {
            let k = (group.to_string(), r.topic.clone(), r.partition);
            let next = st.committed.get(&k).copied().unwrap_or(0).max(r.offset + 1);
            st.committed.insert(k, next);
        }
    }

    /// Moves `group` back to the start of every topic, as resetting a consumer group's offsets
    /// to the earliest does (or seeking a Pub/Sub subscription back): all is delivered again.
    pub fn reset(&self, group: &str) {
        self.lock().committed.retain(|(g, _, _), _| g != group);
    }

    pub fn lag(&self, group: &str, topic: &str) -> i64 {
        let st = self.lock();
        let Some(parts) = st.topics.get(topic) else { return 0 };
        parts
            .iter()
            .enumerate()
            .map(|(p, log)| {
                log.len() as i64
                    - st.committed.get(&(group.to_string(), topic.to_string(), p as i32)).copied().unwrap_or(0)
            })
            .sum()
    }
}

#[async_trait]
impl Publisher for Bus {
    async fn publish(&self, msg: OutboundMessage) -> Result<Delivery, PortError> {
        self.outage.check("bus publish")?;
        // As the broker: a record over `message.max.bytes` is refused (librdkafka:
        // MSG_SIZE_TOO_LARGE), never truncated. A retry cannot make it fit.
        let size =
            msg.payload.len() + msg.key.len() + msg.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(PortError::Rejected(format!(
                "message of {size} bytes is over the broker's {MAX_MESSAGE_BYTES}"
            )));
        }
        Ok(self.append(msg, chrono::Utc::now().timestamp_millis()))
    }
}

/// Kafka's default `message.max.bytes`.
pub const MAX_MESSAGE_BYTES: usize = 1_048_588;

/// Kafka's default partitioner for keyed records: `toPositive(murmur2(key)) % partitions`.
pub fn kafka_partition(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

/// murmur2 as in `org.apache.kafka.common.utils.Utils.murmur2` (seed 0x9747b28c).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ len as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= (tail[2] as u32) << 16;
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (tail[1] as u32) << 8;
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= tail[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioner_matches_kafka_reference_values() {
        // Values from Kafka's own UtilsTest / DefaultPartitionerTest.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58897971);
        assert_eq!(kafka_partition(b"foobar", 3), (murmur2(b"foobar") & 0x7fffffff) as i32 % 3);
    }

    #[tokio::test]
    async fn offsets_grow_per_partition_and_commits_resume() {
        let bus = Bus::new(2);
        for i in 0..6 {
            bus.publish(OutboundMessage::new("t", format!("k{}", i % 2), vec![i])).await.unwrap();
        }
        let all = bus.records("t");
        assert_eq!(all.len(), 6);
        for r in &all {
            assert_eq!(r.partition, kafka_partition(r.key.as_bytes(), 2));
        }
        let first = bus.poll("g", &["t"], 4);
        assert_eq!(first.len(), 4);
        bus.commit("g", &first);
        let rest = bus.poll("g", &["t"], 100);
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|r| !first.contains(r)));
        assert_eq!(bus.lag("g", "t"), 2);
        assert_eq!(bus.poll("other", &["t"], 100).len(), 6, "groups are independent");
        bus.commit("g", &rest);
        bus.commit("other", &first);
        assert!(bus.poll("g", &["t"], 100).is_empty());
        bus.reset("g");
        assert_eq!(bus.poll("g", &["t"], 100).len(), 6, "a reset group reads from the start");
        assert_eq!(bus.poll("other", &["t"], 100).len(), 2, "other groups keep their offsets");
    }

    #[tokio::test]
    async fn outage_fails_then_recovers() {
        let bus = Bus::default();
        bus.outage.fail_next(1);
        assert!(matches!(bus.publish(OutboundMessage::new("t", "k", vec![])).await, Err(PortError::Unavailable(_))));
        assert!(bus.publish(OutboundMessage::new("t", "k", vec![])).await.is_ok());
        assert_eq!(bus.records("t").len(), 1);
    }
}
