//! What an operator does to a running estate's triggers, played on `up`'s: turning an MSK event
//! source mapping off and on (`aws lambda update-event-source-mapping --no-enabled` /
//! `--enabled`), and reprocessing a DynamoDB stream with a second mapping from `TRIM_HORIZON`
//! (`aws lambda create-event-source-mapping --starting-position TRIM_HORIZON`). The demo uses
//! them as the embedded demo reorders and redelivers.
use super::Running;
use super::streams::StreamReader;

impl Running {
    /// Turns `function`'s mapping on `topic` off or on. Off, it invokes nothing more (a batch it
    /// was gathering is read again once on) and its consumer group keeps its offsets.
    pub fn enable_mapping(&self, function: &str, topic: &str, on: bool) -> Result<(), String> {
        let enabled = self
            .mappings
            .iter()
            .find(|((f, t), _)| *f == function && t == topic)
            .map(|(_, enabled)| enabled)
            .ok_or_else(|| format!("{function} has no event source mapping on {topic} in this run"))?;
        enabled.set(on);
        Ok(())
    }

    /// Every change `function`'s DynamoDB stream holds delivered to it again, from the start of
    /// every shard, in batches of `batch_size`, by a mapping of its own beside the running one
    /// (same retries and on-failure destination); returns when that mapping has caught up.
    pub async fn reprocess_stream(&self, function: &str, batch_size: usize) -> Result<(), String> {
        let mapping = self
            .stream_mappings
            .get(function)
            .ok_or_else(|| format!("{function} has no DynamoDB stream mapping in this run"))?;
        let pool = self.pool(function).ok_or_else(|| format!("{function} is not running"))?;
        let mapping = super::streams::StreamMapping { batch_size, from_latest: false, ..mapping.clone() };
        let aws = self.endpoints.aws_config().await;
        let reader = StreamReader::open(mapping, &aws).await?;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        reader.until_caught_up(pool, &self.stats, &sqs, &self.queues.on_failure).await
    }
}
