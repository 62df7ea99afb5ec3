//! Lambda's MSK event source mapping, played on the Kafka emulator: a consumer group per mapping
//! (one topic each), batches of up to `batch_size` records gathered for up to the batching
//! window, sent as MSK's event. The partial batch response is read as Lambda reads it: in each
//! partition the records before the lowest failed offset are done and committed, and reading
//! resumes at that offset; a failed invocation (an error, a timeout, a process that exited)
//! fails the whole batch. A batch that keeps failing without progress is retried `retries`
//! times; then its failed records go to the mapping's on-failure topic, each with the failure's
//! metadata in its headers, and the mapping moves past them.
//!
//! A new group starts at the starting position (`TRIM_HORIZON` or `LATEST`) and commits it at
//! once, so the position holds from the moment `up` says it is ready; a group that has
//! committed offsets resumes there (stopping and starting `up` loses nothing).
//!
//! A mapping can be turned off and on (`Enabled`), as `aws lambda update-event-source-mapping
//! --no-enabled` / `--enabled` does: off, it invokes nothing more and its group keeps its offsets.
use super::pool::Pool;
use super::stats::Stats;
use crate::lambda_host::{msk_event, settled};
use crate::runtime::api::Outcome;
use domain::ports::BusRecord;
use platform_aws::msk::KafkaBatchResponse;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A mapping's consumer group: the run's prefix, the function, the topic.
pub fn group_name(prefix: &str, function: &str, topic: &str) -> String {
    format!("{prefix}{function}-{topic}")
}

/// The offsets a group has committed on the topic, by partition (none: a new group).
pub fn group_offsets(bootstrap: &str, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, String> {
    let consumer = group_consumer(bootstrap, group)?;
    let mut wanted = TopicPartitionList::new();
    for p in 0..super::provision::PARTITIONS {
        wanted.add_partition(topic, p);
    }
    let committed =
        consumer.committed_offsets(wanted, Duration::from_secs(10)).map_err(|e| err("committed offsets", e))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// Sets a group's offsets on the topic, as `kafka-consumer-groups --reset-offsets` does: for a
/// group whose mapping is not running (it reads from there when it starts).
pub fn reset_group(bootstrap: &str, group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), String> {
    let consumer = group_consumer(bootstrap, group)?;
    consumer.commit(&list_of(topic, offsets)?, CommitMode::Sync).map_err(|e| err("reset", e))
}

fn group_consumer(bootstrap: &str, group: &str) -> Result<StreamConsumer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| err("kafka consumer", e))
}

/// The mapping's on-failure destination: a Kafka topic of the same cluster.
pub use super::on_failure::topic as on_failure_topic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub function: &'static str,
    pub topic: String,
    pub group: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub retries: u32,
    pub starting: StartingPosition,
    /// This poller's share of the partitions: (which, of how many pollers); `(0, 1)` is all.
    pub share: (usize, usize),
    /// The pause before a failed batch is read again.
    pub retry_pause: Duration,
}

/// Whether a mapping invokes its function (shared by the pollers of one mapping). On when made.
#[derive(Debug, Clone)]
pub struct Enabled(Arc<AtomicBool>);

impl Default for Enabled {
    fn default() -> Self {
        Enabled(Arc::new(AtomicBool::new(true)))
    }
}

impl Enabled {
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    async fn until_on(&self) {
        while !self.is_on() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A mapping whose group has its positions: ready to run.
pub struct Positioned {
    mapping: Mapping,
    consumer: StreamConsumer,
    positions: BTreeMap<i32, i64>,
    bootstrap: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Joins the mapping's group: its committed offsets, or the starting position committed now.
pub async fn position(mapping: Mapping, bootstrap: &str) -> Result<Positioned, String> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer = group_consumer(&bootstrap, &mapping.group)?;
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(Some(&mapping.topic), timeout).map_err(|e| err("metadata", e))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .filter(|p| (*p as usize) % mapping.share.1.max(1) == mapping.share.0)
            .collect();
        if partitions.is_empty() {
            return Err(format!("topic {} has no partitions (does it exist?)", mapping.topic));
        }
        let mut wanted = TopicPartitionList::new();
        for p in &partitions {
            wanted.add_partition(&mapping.topic, *p);
        }
        let committed = consumer.committed_offsets(wanted, timeout).map_err(|e| err("committed offsets", e))?;
        let mut positions = BTreeMap::new();
        for p in &partitions {
            let at = committed.find_partition(&mapping.topic, *p).map(|e| e.offset());
            let offset = match at {
                Some(Offset::Offset(o)) => o,
                _ => {
                    let (low, high) =
                        consumer.fetch_watermarks(&mapping.topic, *p, timeout).map_err(|e| err("watermarks", e))?;
                    if mapping.starting == StartingPosition::Latest { high } else { low }
                }
            };
            positions.insert(*p, offset);
        }
        let list = list_of(&mapping.topic, &positions)?;
        consumer.commit(&list, CommitMode::Sync).map_err(|e| err("commit the starting position", e))?;
        consumer.assign(&list).map_err(|e| err("assign", e))?;
        Ok(Positioned { mapping, consumer, positions, bootstrap })
    })
    .await
    .map_err(|e| err("positioning", e))?
}

fn list_of(topic: &str, positions: &BTreeMap<i32, i64>) -> Result<TopicPartitionList, String> {
    let mut list = TopicPartitionList::new();
    for (p, o) in positions {
        list.add_partition_offset(topic, *p, Offset::Offset(*o)).map_err(|e| err("offsets", e))?;
    }
    Ok(list)
}

impl Positioned {
    /// The next batch: waits for a first record, then gathers for the batching window or until
    /// the batch is full. Records before a partition's position (fetched before a rewind) are
    /// not read again here.
    async fn gather(&mut self, stats: &Stats) -> Vec<BusRecord> {
        let mut batch = Vec::new();
        let first = loop {
            match tokio::time::timeout(Duration::from_secs(1), self.consumer.recv()).await {
                Ok(Ok(m)) if m.offset() >= self.positions.get(&m.partition()).copied().unwrap_or(0) => {
                    break kafka::bus_record(&m);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(function = self.mapping.function, error = %e, "kafka"),
                Err(_) => self.report_lag(stats),
            }
        };
        batch.push(first);
        let until = tokio::time::Instant::now() + self.mapping.batching_window;
        while batch.len() < self.mapping.batch_size {
            match tokio::time::timeout_at(until, self.consumer.recv()).await {
                Ok(Ok(m)) if m.offset() >= self.positions.get(&m.partition()).copied().unwrap_or(0) => {
                    batch.push(kafka::bus_record(&m))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // One batch reads each partition forward from its position: a record of a partition
        // after a gap (fetched before a rewind) waits for the next batch.
        let mut next = self.positions.clone();
        batch.retain(|r| {
            let at = next.entry(r.partition).or_insert(r.offset);
            let keep = r.offset == *at;
            if keep {
                *at += 1;
            }
            keep
        });
        batch
    }

    fn report_lag(&self, stats: &Stats) {
        // Asking the broker blocks (up to half a second a partition, longer while it stalls):
        // off the runtime's worker, so other tasks run meanwhile.
        let lag = tokio::task::block_in_place(|| {
            let mut lag = 0;
            for (p, at) in &self.positions {
                let asked = self.consumer.fetch_watermarks(&self.mapping.topic, *p, Duration::from_millis(500));
                if let Ok((_, high)) = asked {
                    lag += (high - at).max(0);
                }
            }
            lag
        });
        stats.lag(self.mapping.function, &self.mapping.topic, lag);
    }

    /// Moves the positions as the response says, commits them, and rewinds the consumer where a
    /// partition resumes before what it has fetched. Returns the records not done.
    fn settle(&mut self, batch: &[BusRecord], done: &[BusRecord]) -> Vec<BusRecord> {
        let mut rewind = false;
        let mut by_partition: BTreeMap<i32, Vec<&BusRecord>> = BTreeMap::new();
        for r in batch {
            by_partition.entry(r.partition).or_default().push(r);
        }
        let mut left = Vec::new();
        for (p, records) in by_partition {
            let finished = records.iter().filter(|r| done.contains(r)).count();
            let next = records.first().map(|r| r.offset).unwrap_or(0) + finished as i64;
            let last = records.last().map(|r| r.offset + 1).unwrap_or(next);
            rewind |= next < last;
            self.positions.insert(p, next);
            left.extend(records[finished..].iter().map(|r| (*r).clone()));
        }
        self.commit(rewind);
        left
    }

    /// The next batch, for a host other than Lambda's reading the group (the Functions host's
    /// Kafka trigger): as a mapping gathers it.
    pub async fn next_batch(&mut self, stats: &Stats) -> Vec<BusRecord> {
        self.gather(stats).await
    }

    /// The whole batch is done with: the positions move past it and are committed.
    pub fn done_with(&mut self, batch: &[BusRecord]) {
        self.settle(batch, batch);
    }

    /// Moves past `records` (sent to the on-failure destination).
    fn skip(&mut self, records: &[BusRecord]) {
        for r in records {
            let at = self.positions.entry(r.partition).or_insert(0);
            *at = (*at).max(r.offset + 1);
        }
        self.commit(true)
    }

    /// Commits the positions (the group resumes there after a restart) and, when a partition
    /// moved back or jumped, reads on from them. The positions held here are what the mapping
    /// reads from whether or not a commit went through: a failed commit costs a redelivery
    /// after a restart, never a record.
    fn commit(&mut self, reassign: bool) {
        let function = self.mapping.function;
        let Ok(list) = list_of(&self.mapping.topic, &self.positions) else { return };
        if reassign && let Err(e) = self.consumer.assign(&list) {
            tracing::error!(function, error = %e, "the mapping could not move its consumer");
        }
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            tracing::warn!(function, error = %e, "the mapping's offsets were not committed");
        }
    }

    /// The event Lambda sends for the batch, naming this cluster.
    fn event(&self, batch: &[BusRecord]) -> Vec<u8> {
        let mut event = msk_event(batch);
        event.bootstrap_servers = Some(self.bootstrap.clone());
        event.event_source_arn = Some(format!("arn:aws:kafka:local:000000000000:cluster/local/{}", self.bootstrap));
        serde_json::to_vec(&event).unwrap_or_default()
    }

    /// Runs the mapping until the task is stopped; while `enabled` is off it invokes nothing.
    pub async fn run(mut self, pool: Arc<Pool>, stats: Arc<Stats>, enabled: Enabled) {
        let Ok(on_failure) = kafka::KafkaPublisher::new(&self.bootstrap) else {
            tracing::error!(function = self.mapping.function, "no producer for the on-failure topic");
            return;
        };
        let function = self.mapping.function;
        let mut failing: Option<(Vec<(i32, i64)>, u32)> = None;
        loop {
            enabled.until_on().await;
            let batch = self.gather(&stats).await;
            if !enabled.is_on() {
                // Turned off while the batch was gathered: read again from the positions once on.
                self.commit(true);
                continue;
            }
            let outcome = pool.invoke(self.event(&batch)).await;
            let left = self.settle(&batch, &done_of(&batch, &outcome));
            if left.is_empty() {
                failing = None;
                continue;
            }
            let heads: Vec<(i32, i64)> = first_per_partition(&left);
            for (partition, offset) in &heads {
                stats.resumed_at(function, &self.mapping.topic, *partition, *offset);
            }
            let attempts = match failing.take() {
                Some((before, n)) if before == heads => n + 1,
                _ => 1,
            };
            if attempts <= self.mapping.retries {
                stats.retried(function);
                failing = Some((heads, attempts));
                tokio::time::sleep(self.mapping.retry_pause).await;
                continue;
            }
            self.send_on_failure(&on_failure, &left, &outcome, attempts).await;
            stats.sent_on_failure(function, left.len() as u64);
            self.skip(&left);
        }
    }

    /// Each record the mapping gives up on goes to the on-failure topic as it was (key, value,
    /// headers) with the failure in headers; a destination that refuses is tried again until it
    /// takes them all (the mapping waits: it never moves past a record it has not recorded).
    async fn send_on_failure(&self, to: &kafka::KafkaPublisher, left: &[BusRecord], outcome: &Outcome, attempts: u32) {
        let function = self.mapping.function;
        let condition = match outcome {
            Outcome::Response(_) => "RetryAttemptsExhausted (partial batch response)",
            Outcome::TimedOut => "RetryAttemptsExhausted (timed out)",
            _ => "RetryAttemptsExhausted (function error)",
        };
        let why = [
            ("lambda-function", function.to_string()),
            ("lambda-condition", condition.to_string()),
            ("lambda-approximate-invoke-count", attempts.to_string()),
        ];
        super::on_failure::keep(to, function, left, &why, self.mapping.retry_pause.max(Duration::from_secs(1))).await;
        tracing::warn!(function, records = left.len(), condition, "records sent to the on-failure destination");
    }
}

/// The records of the batch Lambda takes as done after this outcome. A response with no
/// failures (none listed, an empty list, `null`, no body) is the whole batch; one Lambda cannot
/// read, or naming a record that is not in the batch, fails it whole, as does an error.
pub fn done_of(batch: &[BusRecord], outcome: &Outcome) -> Vec<BusRecord> {
    let Outcome::Response(body) = outcome else { return Vec::new() };
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return Vec::new(),
        }
    };
    let failures = &value["batchItemFailures"];
    if failures.is_null() || failures.as_array().is_some_and(Vec::is_empty) {
        return batch.to_vec();
    }
    let Ok(response) = serde_json::from_value::<KafkaBatchResponse>(value) else { return Vec::new() };
    let in_batch = |id: &platform_aws::msk::KafkaItemIdentifier| {
        batch.iter().any(|r| format!("{}-{}", r.topic, r.partition) == id.partition && r.offset == id.offset)
    };
    if !response.batch_item_failures.iter().all(|f| in_batch(&f.item_identifier)) {
        return Vec::new();
    }
    settled(batch, &response)
}

fn first_per_partition(left: &[BusRecord]) -> Vec<(i32, i64)> {
    let mut heads: BTreeMap<i32, i64> = BTreeMap::new();
    for r in left {
        let at = heads.entry(r.partition).or_insert(r.offset);
        *at = (*at).min(r.offset);
    }
    heads.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> BusRecord {
        BusRecord {
            topic: "t".into(),
            partition,
            offset,
            key: "k".into(),
            payload: b"{}".to_vec(),
            headers: vec![],
            timestamp_ms: 0,
        }
    }

    fn answered(body: &str) -> Outcome {
        Outcome::Response(body.as_bytes().to_vec())
    }

    #[test]
    fn what_a_response_settles_is_what_lambda_takes_as_done() {
        let batch = vec![record(0, 5), record(0, 6), record(0, 7), record(1, 2)];
        for whole in ["", "null", "{}", r#"{"batchItemFailures": []}"#, r#"{"batchItemFailures": null}"#] {
            assert_eq!(done_of(&batch, &answered(whole)), batch, "{whole:?} is a success");
        }
        let partial = r#"{"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 6}}]}"#;
        assert_eq!(done_of(&batch, &answered(partial)), vec![record(0, 5), record(1, 2)]);
        let stranger = r#"{"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 99}}]}"#;
        assert!(done_of(&batch, &answered(stranger)).is_empty(), "a record not in the batch fails it whole");
        assert!(done_of(&batch, &answered("{not json")).is_empty());
        assert!(done_of(&batch, &answered(r#"{"batchItemFailures": [{"itemIdentifier": "t-0@6"}]}"#)).is_empty());
        assert!(done_of(&batch, &Outcome::TimedOut).is_empty());
        assert!(done_of(&batch, &Outcome::Error { error_type: None, body: vec![] }).is_empty());
    }
}
