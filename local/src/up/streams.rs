//! Lambda's DynamoDB Streams event source mapping, played on moto (which keeps a table's stream
//! but invokes nothing without Docker): the runner reads every shard of the table's stream with
//! the DynamoDB Streams API and sends the records in batches, in Lambda's stream event. A
//! `ReportBatchItemFailures` answer makes the shard resume at the first failed sequence number
//! (the records before it are done); a failed invocation fails the whole batch. A batch failing
//! with no progress is retried `retries` times; then a record of it goes to the on-failure queue
//! (Lambda's `DDBStreamBatchInfo`) and the shard moves past it.
use super::pool::Pool;
use super::stats::Stats;
use crate::runtime::api::Outcome;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// An attribute value as DynamoDB's JSON, the form Lambda's stream events use.
pub fn to_json(a: &AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::L(l) => json!({"L": l.iter().map(to_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": image(m)}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        other => json!({"unexpected": format!("{other:?}")}),
    }
}

pub fn image(m: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<Map<String, Value>>())
}

/// A stream record as a Lambda stream event's record.
pub fn lambda_record(r: &Record, stream_arn: &str) -> Value {
    let mut dynamodb = json!({"StreamViewType": "NEW_AND_OLD_IMAGES"});
    if let Some(change) = &r.dynamodb {
        dynamodb["ApproximateCreationDateTime"] = json!(change.approximate_creation_date_time.map(|t| t.secs()));
        dynamodb["Keys"] = json!(change.keys.as_ref().map(image));
        dynamodb["SequenceNumber"] = json!(change.sequence_number);
        dynamodb["SizeBytes"] = json!(change.size_bytes);
        if let Some(new) = &change.new_image {
            dynamodb["NewImage"] = image(new);
        }
        if let Some(old) = &change.old_image {
            dynamodb["OldImage"] = image(old);
        }
    }
    json!({
        "eventID": r.event_id, "eventName": r.event_name.as_ref().map(|n| n.as_str().to_string()),
        "eventVersion": r.event_version, "eventSource": "aws:dynamodb", "awsRegion": r.aws_region,
        "eventSourceARN": stream_arn, "dynamodb": dynamodb,
    })
}

fn sequence(r: &Record) -> String {
    r.dynamodb.as_ref().and_then(|d| d.sequence_number.clone()).unwrap_or_default()
}

/// The sequence number the shard resumes at after this outcome, if any failed: the lowest one
/// reported (sequence numbers are decimal; compared as numbers). A response with no failures
/// (none listed, `null`, no body) is a success; one that cannot be read, names a record not in
/// the batch, or an error fails the batch from its first record, as Lambda does.
pub fn first_failed(records: &[Record], outcome: &Outcome) -> Option<String> {
    let whole = records.first().map(sequence);
    let Outcome::Response(body) = outcome else { return whole };
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return whole };
    if value.is_null() || value["batchItemFailures"].is_null() {
        return None;
    }
    let Ok(response) = serde_json::from_value::<DynamoDbEventResponse>(value) else { return whole };
    let ids: Vec<String> = response.batch_item_failures.into_iter().filter_map(|f| f.item_identifier).collect();
    if !ids.iter().all(|id| records.iter().any(|r| sequence(r) == *id)) {
        return whole;
    }
    ids.into_iter().min_by(|a, b| (a.len(), a).cmp(&(b.len(), b)))
}

#[derive(Debug, Clone)]
pub struct StreamMapping {
    pub function: &'static str,
    pub function_arn: String,
    pub table: String,
    pub batch_size: usize,
    pub retries: u32,
    pub from_latest: bool,
    /// The pause before a failed batch is read again.
    pub retry_pause: Duration,
}

struct Shard {
    id: String,
    iterator: Option<String>,
    failing: Option<(String, u32)>,
}

pub struct StreamReader {
    mapping: StreamMapping,
    streams: aws_sdk_dynamodbstreams::Client,
    arn: String,
    shards: Vec<Shard>,
}

fn err(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what}: {e:?}")
}

impl StreamReader {
    /// Finds the table's stream and takes an iterator on each shard at the starting position.
    pub async fn open(mapping: StreamMapping, config: &aws_config::SdkConfig) -> Result<StreamReader, String> {
        let dynamodb = aws_sdk_dynamodb::Client::new(config);
        let table =
            dynamodb.describe_table().table_name(&mapping.table).send().await.map_err(|e| err("describe_table", e))?;
        let arn = table
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| format!("table {} has no stream", mapping.table))?;
        let streams = aws_sdk_dynamodbstreams::Client::new(config);
        let described =
            streams.describe_stream().stream_arn(&arn).send().await.map_err(|e| err("describe_stream", e))?;
        let kind = if mapping.from_latest { ShardIteratorType::Latest } else { ShardIteratorType::TrimHorizon };
        let mut shards = Vec::new();
        for s in described.stream_description.and_then(|d| d.shards).unwrap_or_default() {
            let id = s.shard_id.unwrap_or_default();
            let iterator = iterator(&streams, &arn, &id, kind.clone(), None).await?;
            shards.push(Shard { id, iterator: Some(iterator), failing: None });
        }
        Ok(StreamReader { mapping, streams, arn, shards })
    }

    /// Reads and delivers until the task is stopped.
    pub async fn run(mut self, pool: Arc<Pool>, stats: Arc<Stats>, sqs: aws_sdk_sqs::Client, on_failure_queue: String) {
        loop {
            let mut delivered = false;
            for i in 0..self.shards.len() {
                match self.step(i, &pool, &stats, &sqs, &on_failure_queue).await {
                    Ok(d) => delivered |= d,
                    Err(e) => tracing::warn!(function = self.mapping.function, error = %e, "stream"),
                }
            }
            if !delivered {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    /// Reads and delivers until a pass over every shard finds nothing new: a mapping made to
    /// reprocess the stream (`operate`), run to its end. Fails after `GIVE_UP` passes in a row
    /// that met errors.
    pub async fn until_caught_up(
        mut self,
        pool: &Pool,
        stats: &Stats,
        sqs: &aws_sdk_sqs::Client,
        on_failure_queue: &str,
    ) -> Result<(), String> {
        const GIVE_UP: u32 = 20;
        let mut failed_passes = 0;
        loop {
            let (mut delivered, mut failed) = (false, None);
            for i in 0..self.shards.len() {
                match self.step(i, pool, stats, sqs, on_failure_queue).await {
                    Ok(d) => delivered |= d,
                    Err(e) => failed = Some(e),
                }
            }
            match failed {
                None if !delivered => return Ok(()),
                None => failed_passes = 0,
                Some(e) => {
                    failed_passes += 1;
                    if failed_passes >= GIVE_UP {
                        return Err(format!("{}: the stream could not be read: {e}", self.mapping.function));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    /// One batch of shard `i`, if it has records: whether it had.
    async fn step(
        &mut self,
        i: usize,
        pool: &Pool,
        stats: &Stats,
        sqs: &aws_sdk_sqs::Client,
        on_failure_queue: &str,
    ) -> Result<bool, String> {
        let function = self.mapping.function;
        let Some(it) = self.shards[i].iterator.clone() else { return Ok(false) };
        let got = self
            .streams
            .get_records()
            .shard_iterator(it)
            .limit(self.mapping.batch_size as i32)
            .send()
            .await
            .map_err(|e| err("get_records", e))?;
        let records = got.records.unwrap_or_default();
        if records.is_empty() {
            self.shards[i].iterator = got.next_shard_iterator;
            stats.lag(function, &self.shards[i].id, 0);
            return Ok(false);
        }
        let event = json!({"Records": records.iter().map(|r| lambda_record(r, &self.arn)).collect::<Vec<_>>()});
        let outcome = pool.invoke(event.to_string().into_bytes()).await;
        let failed = first_failed(&records, &outcome);
        let Some(failed) = failed else {
            self.shards[i].iterator = got.next_shard_iterator;
            self.shards[i].failing = None;
            return Ok(true);
        };
        let attempts = match self.shards[i].failing.take() {
            Some((seq, n)) if seq == failed => n + 1,
            _ => 1,
        };
        let (kind, at) = if attempts <= self.mapping.retries {
            stats.retried(function);
            self.shards[i].failing = Some((failed.clone(), attempts));
            tokio::time::sleep(self.mapping.retry_pause).await;
            (ShardIteratorType::AtSequenceNumber, failed)
        } else {
            let last = records.last().map(sequence).unwrap_or_default();
            let info = json!({
                "requestContext": {"functionArn": self.mapping.function_arn, "condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
                "version": "1.0", "timestamp": chrono::Utc::now().to_rfc3339(),
                "DDBStreamBatchInfo": {"shardId": self.shards[i].id, "startSequenceNumber": failed, "endSequenceNumber": last,
                    "batchSize": records.len(), "streamArn": self.arn},
            });
            let sent = sqs.send_message().queue_url(on_failure_queue).message_body(info.to_string()).send().await;
            sent.map_err(|e| err("on-failure queue", e))?;
            stats.sent_on_failure(function, 1);
            (ShardIteratorType::AfterSequenceNumber, last)
        };
        let shard = self.shards[i].id.clone();
        self.shards[i].iterator = Some(iterator(&self.streams, &self.arn, &shard, kind, Some(at)).await?);
        Ok(true)
    }
}

async fn iterator(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
    shard: &str,
    kind: ShardIteratorType,
    sequence: Option<String>,
) -> Result<String, String> {
    let got = streams
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .set_sequence_number(sequence)
        .send()
        .await
        .map_err(|e| err("get_shard_iterator", e))?;
    got.shard_iterator.ok_or_else(|| "no shard iterator".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::StreamRecord;

    fn record(seq: &str) -> Record {
        Record::builder().dynamodb(StreamRecord::builder().sequence_number(seq).build()).build()
    }

    fn answered(body: &str) -> Outcome {
        Outcome::Response(body.as_bytes().to_vec())
    }

    #[test]
    fn a_shard_resumes_at_the_lowest_failed_sequence_number() {
        let batch = [record("900"), record("1000"), record("1100")];
        for whole in ["", "null", "{}", r#"{"batchItemFailures": []}"#] {
            assert_eq!(first_failed(&batch, &answered(whole)), None, "{whole:?} is a success");
        }
        let two = r#"{"batchItemFailures": [{"itemIdentifier": "1100"}, {"itemIdentifier": "1000"}]}"#;
        assert_eq!(first_failed(&batch, &answered(two)).as_deref(), Some("1000"), "numerically, not as text");
        let stranger = r#"{"batchItemFailures": [{"itemIdentifier": "5"}]}"#;
        assert_eq!(first_failed(&batch, &answered(stranger)).as_deref(), Some("900"), "not in the batch: all of it");
        assert_eq!(first_failed(&batch, &answered("{oops")).as_deref(), Some("900"));
        assert_eq!(first_failed(&batch, &Outcome::TimedOut).as_deref(), Some("900"));
    }
}
