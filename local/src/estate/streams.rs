//! Lambda's event source mappings on DynamoDB streams: each mapping reads every shard of its
//! table's stream in order, in batches after its checkpoint. A `ReportBatchItemFailures` answer
//! moves the checkpoint to just before the first failed record, so that record and the ones
//! after it come again in the next batch (bounded here, as the Kafka mappings' retries are).
use super::*;
use crate::registry::StreamHost;
use aws_lambda_events::event::dynamodb;
use inmemory::stream::{ChangeRecord, SHARDS};
use platform_aws::invocation::Invocation;

/// The local orders table, as its stream records name it.
const ORDERS_TABLE_ARN: &str = "arn:aws:dynamodb:eu-west-1:000000000000:table/orders";
const STREAM_LABEL: &str = "2026-01-01T00:00:00.000";

/// The event Lambda hands a stream function for these records.
pub fn stream_event(records: &[ChangeRecord]) -> Result<dynamodb::Event, RunError> {
    let records: Vec<serde_json::Value> = records.iter().map(|r| r.to_lambda(ORDERS_TABLE_ARN, STREAM_LABEL)).collect();
    serde_json::from_value(serde_json::json!({ "Records": records }))
        .map_err(|e| RunError(format!("a stream record the SDK's type does not read: {e}")))
}

impl Estate {
    /// The stream of a table of the estate; only the orders table has one.
    fn stream_of(&self, table: &str) -> Result<&ChangeFeed, RunError> {
        match table {
            "orders" => Ok(&self.orders_stream),
            other => Err(RunError(format!("the local estate has no stream on table {other:?}; it has one on orders"))),
        }
    }

    /// Delivers the table's stream to `function` until it has read all of it.
    pub async fn run_stream(
        &mut self,
        function: &'static str,
        table: &str,
        run: StreamHost,
        max_batch: usize,
    ) -> Result<(), RunError> {
        let feed = self.stream_of(table)?.clone();
        for shard in 0..SHARDS {
            let mut retries = 0;
            loop {
                let after = self.stream_checkpoints.get(&(function, shard)).cloned();
                let batch = feed.after(shard, after.as_deref(), max_batch.max(1));
                let Some(last) = batch.last() else { break };
                let invocation = Invocation::lasting(self.clock.now(), LAMBDA_TIMEOUT);
                let answer = run(self, stream_event(&batch)?, invocation)
                    .await
                    .map_err(|e| RunError(format!("{function}: {e}")))?;
                let failed = answer.response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()).min();
                // Read up to the record before the first failure; an identifier that is not in
                // the batch fails it whole, as Lambda does.
                let done = match &failed {
                    None => batch.len(),
                    Some(seq) => batch.iter().position(|r| &r.sequence_number == seq).unwrap_or(0),
                };
                let stat = self.stat(function);
                stat.invocations += 1;
                stat.dead_lettered += answer.dead_lettered as u64;
                stat.records_in += done as u64;
                let checkpoint = match done {
                    0 => after,
                    n if n == batch.len() => Some(last.sequence_number.clone()),
                    n => Some(batch[n - 1].sequence_number.clone()),
                };
                if let Some(seq) = checkpoint {
                    self.stream_checkpoints.insert((function, shard), seq);
                }
                if failed.is_none() || done > 0 {
                    retries = 0;
                }
                if failed.is_none() {
                    continue;
                }
                retries += 1;
                self.stat(function).retries += 1;
                self.clock.wait(LAMBDA_RETRY_PAUSE);
                if retries > LAMBDA_MAX_RETRIES {
                    return Err(RunError(format!(
                        "{function}: shard {shard} of the {table} stream still failing after {LAMBDA_MAX_RETRIES} retries"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Moves a stream mapping back to the trim horizon of every shard: the whole stream is
    /// delivered again (a new mapping, or one whose starting position was reset).
    pub fn reset_stream(&mut self, function: &str) {
        self.stream_checkpoints.retain(|(f, _), _| *f != function);
    }
}
