//! lake-archiver (AWS Lambda, DynamoDB Streams event source mapping on the `orders` table, view
//! `NEW_AND_OLD_IMAGES`): every change of every order into the data lake's raw zone, redacted.
//!
//! Each batch becomes Parquet (`parquet_file`, schema `orders_raw` v1, one row per change, `row`)
//! at `s3://<LAKE_BUCKET>/raw/orders/dt=<yyyy-mm-dd>/hour=<hh>/<stream>-<first seq>-<last seq>.parquet`,
//! one file per hour of the changes' approximate creation times (a batch that straddles an hour
//! makes two). Writes are create-only: a redelivered batch with the same boundaries finds its file
//! there and writes nothing; one with other boundaries writes files that overlap earlier ones,
//! so readers dedupe on `seq`. Lambda's event names no shard, so `<stream>` is the stream's label
//! (sequence numbers are unique within a stream).
//!
//! A record that cannot be a row (no new image on INSERT or MODIFY, an image that is not an
//! order's, oversize, an unknown event name) goes, redacted and with its reason, into a JSON
//! dead-letter object beside the hour's file (`….dead-letters.json`), and the batch goes on. A
//! write that fails reports the lowest sequence number of what it held as the batch item
//! failure (`ReportBatchItemFailures`): Lambda retries the shard from there.
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use domain::ports::{NewObject, PortError, Revision, VersionedObjects};
use platform_aws::EnvelopeError;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::RECORD_BUDGET;
use row::{Row, Unreadable};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub mod parquet_file;
pub mod row;

pub const NAME: &str = "lake-archiver";
/// The table whose stream this reads.
pub const TABLE: &str = "orders";
/// Where in the lake bucket the orders' changes go.
pub const PREFIX: &str = "raw/orders";

pub struct LakeArchiver {
    pub lake: Arc<dyn VersionedObjects>,
    /// The lake's bucket (`LAKE_BUCKET`).
    pub bucket: String,
}

/// `LAKE_BUCKET`: required in Lambda; `lake` on this machine.
#[derive(Debug, Clone)]
pub struct Config {
    pub bucket: String,
}

impl Config {
    pub fn from_env(env: &serve::Env) -> Result<Self, serve::ConfigError> {
        Ok(Config { bucket: env.required_in_cloud("LAKE_BUCKET", env.on_lambda(), "lake")? })
    }
}

/// The response for Lambda, and what the batch wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOutcome {
    pub response: DynamoDbEventResponse,
    /// Changes written as rows (in files written now or found written before).
    pub rows: usize,
    /// Keys of the objects this invocation created.
    pub written: Vec<String>,
    /// Keys of objects that were already there (a redelivery).
    pub already: Vec<String>,
    /// Records written to a dead-letter object.
    pub dead_lettered: usize,
}

/// A record that cannot be a row, as its dead-letter object keeps it.
#[derive(Debug, Clone, Serialize)]
struct DeadRecord {
    event_id: String,
    sequence_number: String,
    reason_code: &'static str,
    reason: String,
    /// The record as Lambda delivered it, without payment secrets.
    record: serde_json::Value,
}

/// One hour's share of a batch.
#[derive(Default)]
struct Hour {
    rows: Vec<Row>,
    dead: Vec<DeadRecord>,
}

impl Hour {
    /// The padded sequence numbers of what it holds, lowest first.
    fn seqs(&self) -> Vec<Option<String>> {
        let dead = self.dead.iter().map(|d| row::padded(&d.sequence_number));
        let mut seqs: Vec<Option<String>> = self.rows.iter().map(|r| Some(r.seq.clone())).chain(dead).collect();
        seqs.sort();
        seqs
    }

    /// What a failed write of this hour reports: its lowest sequence number as the stream gave it
    /// (an unreadable one first, which fails the whole batch, as Lambda does with one it does not know).
    fn first_sequence_number(&self) -> String {
        let rows = self.rows.iter().map(|r| (Some(r.seq.clone()), r.sequence_number.clone()));
        let dead = self.dead.iter().map(|d| (row::padded(&d.sequence_number), d.sequence_number.clone()));
        rows.chain(dead).min().map(|(_, s)| s).unwrap_or_default()
    }
}

impl LakeArchiver {
    /// One stream batch. An event that is not one (a misconfigured trigger) is an error.
    pub async fn handle(&self, event: Event, invocation: &Invocation) -> Result<StreamOutcome, EnvelopeError> {
        if let Some(other) = event.records.iter().find(|r| r.event_source.as_deref() != Some("aws:dynamodb")) {
            let detail = format!("eventSource is {:?}, not \"aws:dynamodb\"", other.event_source);
            return Err(EnvelopeError::NotThisTrigger { trigger: "DynamoDB Streams", detail });
        }
        let mut out = StreamOutcome::default();
        let Some(first) = event.records.first() else { return Ok(out) };
        let stream = stream_name(first)?;
        let mut hours: BTreeMap<DateTime<Utc>, Hour> = BTreeMap::new();
        // A record without a change time (read as the epoch) is dead-lettered in the batch's first hour.
        let timed = |r: &&EventRecord| r.change.approximate_creation_date_time.timestamp() != 0;
        let first_time = event.records.iter().filter(timed).map(|r| r.change.approximate_creation_date_time).min();
        for record in &event.records {
            let time = Some(record.change.approximate_creation_date_time).filter(|t| t.timestamp() != 0);
            let hour = hours.entry(hour_of(time.or(first_time).unwrap_or_default())).or_default();
            match row::read(record) {
                Ok(row) => hour.rows.push(row),
                Err(Unreadable { code, reason }) => {
                    let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
                    let event_id = record.event_id.clone();
                    tracing::warn!(%event_id, %sequence_number, reason_code = code, %reason, "record dead-lettered");
                    let redacted = orders::redact::redacted(record);
                    hour.dead.push(DeadRecord {
                        event_id,
                        sequence_number,
                        reason_code: code,
                        reason,
                        record: redacted,
                    });
                }
            }
        }
        let mut failed: Vec<(Option<String>, String)> = Vec::new();
        for (start, hour) in &hours {
            let written = if invocation.ends_within(RECORD_BUDGET) {
                Err(PortError::Unavailable("too little of the invocation left for another write".into()))
            } else {
                self.write_hour(&stream, *start, hour, &mut out).await
            };
            if let Err(e) = written {
                let first = hour.first_sequence_number();
                tracing::warn!(error = %e, hour = %start, sequence_number = %first, "write failed; Lambda retries the shard from here");
                failed.push((row::padded(&first), first));
            }
        }
        if let Some((_, first)) = failed.into_iter().min() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(first);
            out.response.batch_item_failures.push(failure);
        }
        let (records, rows, files, dead_lettered) =
            (event.records.len(), out.rows, out.written.len(), out.dead_lettered);
        tracing::info!(records, rows, files, already = out.already.len(), dead_lettered, "batch done");
        Ok(out)
    }

    /// The hour's rows as a Parquet file and its unreadable records as a dead-letter object.
    async fn write_hour(
        &self,
        stream: &str,
        start: DateTime<Utc>,
        hour: &Hour,
        out: &mut StreamOutcome,
    ) -> Result<(), PortError> {
        let folder = format!("{PREFIX}/{}", start.format("dt=%Y-%m-%d/hour=%H"));
        let seqs = || hour.rows.iter().map(|r| &r.seq);
        if let (Some(first), Some(last)) = (seqs().min(), seqs().max()) {
            let name = format!("{folder}/{stream}-{first}-{last}");
            let bytes = parquet_file::write(&hour.rows)
                .map_err(|e| PortError::Rejected(format!("the rows do not make a Parquet file: {e}")))?;
            let object = Named { name: &name, ext: "parquet", first_event: &hour.rows[0].event_id };
            self.create(object, bytes, "application/vnd.apache.parquet", out).await?;
            out.rows += hour.rows.len();
        }
        if !hour.dead.is_empty() {
            let seqs: Vec<String> = hour.seqs().into_iter().flatten().collect();
            let name = match (seqs.first(), seqs.last()) {
                (Some(first), Some(last)) => format!("{stream}-{first}-{last}"),
                _ => format!("{stream}-{}", hour.dead[0].event_id),
            };
            let name = format!("{folder}/{name}");
            let letter = serde_json::json!({
                "schema": "orders_raw_dead_letters/1", "function": NAME, "stream": stream, "records": hour.dead,
            });
            let bytes = serde_json::to_vec_pretty(&letter).unwrap_or_default();
            let object = Named { name: &name, ext: "dead-letters.json", first_event: &hour.dead[0].event_id };
            self.create(object, bytes, "application/json", out).await?;
            out.dead_lettered += hour.dead.len();
        }
        Ok(())
    }

    /// Creates the object. One already there under its name holds the same records (a name says
    /// which: a redelivery), and then nothing is written. If its bytes differ all the same (a
    /// newer writer's encoding, or sequence numbers that repeat across shards), these are kept
    /// too, under the name with the first record's event id: nothing is dropped; readers dedupe.
    async fn create(
        &self,
        object: Named<'_>,
        bytes: Vec<u8>,
        content_type: &str,
        out: &mut StreamOutcome,
    ) -> Result<(), PortError> {
        let key = format!("{}.{}", object.name, object.ext);
        let new = |key, bytes| NewObject { key, bytes, content_type, cache_control: None };
        match self.lake.put_new(&self.bucket, new(&key, bytes.clone())).await {
            Ok(_) => out.written.push(key),
            Err(PortError::AlreadyExists) => {
                let there = self.lake.get(&self.bucket, &key, Revision::Current).await?;
                if there.is_some_and(|(_, b)| b == bytes) {
                    tracing::info!(%key, "already archived (a redelivery): nothing written");
                    out.already.push(key);
                    return Ok(());
                }
                let tag: String = object.first_event.chars().filter(char::is_ascii_alphanumeric).collect();
                let other = format!("{}-{tag}.{}", object.name, object.ext);
                tracing::warn!(%key, %other, "another object under this name: written beside it");
                match self.lake.put_new(&self.bucket, new(&other, bytes)).await {
                    Ok(_) => out.written.push(other),
                    Err(PortError::AlreadyExists) => out.already.push(other),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// An object's name without its extension, the extension, and the event id that tells it from
/// another of the same name.
#[derive(Clone, Copy)]
struct Named<'a> {
    name: &'a str,
    ext: &'a str,
    first_event: &'a str,
}

/// The hour a change time falls in.
fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// The stream's label from the record's `eventSourceARN` (`…:table/orders/stream/<label>`), as
/// file-name characters: `2026-01-01T00:00:00.000` → `20260101T000000000`.
fn stream_name(record: &EventRecord) -> Result<String, EnvelopeError> {
    let arn = record.event_source_arn.as_deref().unwrap_or_default();
    let label = arn.split_once("/stream/").map(|(_, label)| label).unwrap_or_default();
    let name: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
    if name.is_empty() {
        let detail = format!("eventSourceARN {arn:?} is not a DynamoDB stream's (…:table/<table>/stream/<label>)");
        return Err(EnvelopeError::NotThisTrigger { trigger: "DynamoDB Streams", detail });
    }
    Ok(name)
}

#[cfg(test)]
mod tests;
