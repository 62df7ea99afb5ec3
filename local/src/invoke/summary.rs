//! The one summary `local invoke` gives for every function, whatever its trigger: how many
//! records came, how many went through, were dead-lettered (by reason code), failed, and will be
//! delivered again. Dead letters are counted where they land (the dead-letter topics and the
//! parked topic), so a function's own bookkeeping cannot disagree with what an operator sees.
use aws_lambda_events::event::dynamodb;
use aws_lambda_events::event::kafka::KafkaEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use domain::events::topics;
use inmemory::Record;
use platform_aws::msk::KafkaBatchResponse;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the trigger (a Kafka batch's, an S3 notification's, a Functions host
    /// invocation's; one Pub/Sub message; one scheduled event).
    pub records: usize,
    /// Went through: handled, or found already handled, or skipped by rule.
    pub done: usize,
    /// Dead-lettered (or parked), by reason code.
    pub dead_lettered: BTreeMap<String, usize>,
    /// Could not be handled now and were not dead-lettered: reported failed to the platform.
    pub failed: usize,
    /// Delivered again by the platform: the failed records and, in a Kafka batch, the records
    /// after each in its partition (Lambda resumes a partition from its failed offset).
    pub retried: usize,
}

/// What happened to the records, as the platform sees it.
pub enum Fate<'a> {
    /// The invocation succeeded (nothing failed).
    Succeeded,
    /// It failed as a whole: every record comes again.
    FailedWhole,
    /// A Kafka batch and its partial response.
    Partial { batch: &'a KafkaEvent, response: &'a KafkaBatchResponse },
    /// A stream batch (one shard's records, in order) and its `ReportBatchItemFailures`.
    Stream { batch: &'a dynamodb::Event, response: &'a DynamoDbEventResponse },
}

impl Summary {
    /// The summary of `records` records whose fate is `fate`; `published` is what the
    /// invocation published.
    pub fn of(records: usize, fate: &Fate<'_>, published: &[Record]) -> Summary {
        let mut dead_lettered = BTreeMap::new();
        for r in
            published.iter().filter(|r| topics::DEAD_LETTERS.contains(&r.topic.as_str()) || r.topic == topics::PARKED)
        {
            let letter: Value = serde_json::from_slice(&r.payload).unwrap_or_default();
            let code = letter["data"]["reason_code"].as_str().unwrap_or("unreadable_dead_letter").to_string();
            *dead_lettered.entry(code).or_insert(0) += 1;
        }
        let (failed, retried) = match fate {
            Fate::Succeeded => (0, 0),
            Fate::FailedWhole => (records, records),
            Fate::Partial { batch, response } => {
                let failed = response.batch_item_failures.len();
                // Lambda resumes the failed partition from the failed offset.
                let from = |f: &platform_aws::msk::KafkaBatchItemFailure| {
                    let at = &f.item_identifier;
                    batch.records.get(&at.partition).map_or(1, |p| p.iter().filter(|r| r.offset >= at.offset).count())
                };
                (failed, response.batch_item_failures.iter().map(from).sum())
            }
            Fate::Stream { batch, response } => {
                // Lambda retries the shard from the first failed sequence number: it and every
                // record after it come again.
                let failed: Vec<&str> =
                    response.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_deref()).collect();
                let first = batch
                    .records
                    .iter()
                    .position(|r| r.change.sequence_number.as_deref().is_some_and(|n| failed.contains(&n)));
                (failed.len(), first.map_or(0, |at| batch.records.len() - at))
            }
        };
        let dead: usize = dead_lettered.values().sum();
        Summary { records, done: records.saturating_sub(dead + retried), dead_lettered, failed, retried }
    }

    /// With dead letters that landed elsewhere than a topic (lake-archiver's dead-letter
    /// objects), by reason code: each counts as dead-lettered, not done.
    pub fn with_dead_letters(mut self, codes: impl IntoIterator<Item = String>) -> Summary {
        for code in codes {
            *self.dead_lettered.entry(code).or_insert(0) += 1;
            self.done = self.done.saturating_sub(1);
        }
        self
    }
}

/// The records of a Kafka batch.
pub fn kafka_records(event: &KafkaEvent) -> usize {
    event.records.values().map(Vec::len).sum()
}

/// The records of a Functions host invocation: the longest array among its input bindings
/// (a Kafka trigger with cardinality many), else one.
pub fn host_records(data: &Value) -> usize {
    // The host may send a binding's array as JSON text.
    let length = |v: &Value| match v {
        Value::Array(a) => Some(a.len()),
        Value::String(s) => serde_json::from_str::<Vec<Value>>(s).ok().map(|a| a.len()),
        _ => None,
    };
    data.as_object().into_iter().flat_map(|m| m.values()).filter_map(length).max().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn letter(topic: &str, code: &str) -> Record {
        let payload =
            json!({"type": "com.shop.dead-letter.v1", "data": {"reason_code": code}}).to_string().into_bytes();
        Record {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: "k".into(),
            payload,
            headers: vec![],
            timestamp_ms: 0,
        }
    }

    #[test]
    fn a_partial_batch_retries_each_failed_partition_from_its_offset() {
        let event: KafkaEvent = serde_json::from_value(json!({"eventSource": "aws:kafka", "records": {
            "t-0": [{"topic": "t", "partition": 0, "offset": 5, "timestamp": 0, "timestampType": "CREATE_TIME", "headers": []},
                    {"topic": "t", "partition": 0, "offset": 6, "timestamp": 0, "timestampType": "CREATE_TIME", "headers": []},
                    {"topic": "t", "partition": 0, "offset": 7, "timestamp": 0, "timestampType": "CREATE_TIME", "headers": []}],
            "t-1": [{"topic": "t", "partition": 1, "offset": 1, "timestamp": 0, "timestampType": "CREATE_TIME", "headers": []}]}}))
        .expect("a Kafka event");
        let mut response = KafkaBatchResponse::default();
        response.fail("t", 0, 6);
        let published = [letter(topics::CHECKOUT_DLQ, "wrong_schema"), letter("payment.succeeded", "x")];
        let summary =
            Summary::of(kafka_records(&event), &Fate::Partial { batch: &event, response: &response }, &published);
        let want = Summary {
            records: 4,
            done: 1,
            dead_lettered: BTreeMap::from([("wrong_schema".to_string(), 1)]),
            failed: 1,
            retried: 2,
        };
        assert_eq!(summary, want);
    }

    #[test]
    fn a_whole_failure_retries_every_record_and_parked_letters_count() {
        let published = [letter(topics::PARKED, "key_too_long")];
        let summary = Summary::of(3, &Fate::FailedWhole, &published);
        assert_eq!((summary.done, summary.failed, summary.retried), (0, 3, 3));
        assert_eq!(summary.dead_lettered.get("key_too_long"), Some(&1));
        assert_eq!(host_records(&json!({"events": [1, 2, 3], "other": "x"})), 3);
        assert_eq!(host_records(&json!({"message": {"data": "x"}})), 1);
        assert_eq!(host_records(&json!({"events": "[{}, {}]"})), 2);
    }
}
