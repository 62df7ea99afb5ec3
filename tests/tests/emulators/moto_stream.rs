//! A table's stream on moto read with the AWS SDK (DynamoDB Streams); its records in the JSON
//! Lambda hands a stream function are `local up`'s (`local::up::streams`), which plays the
//! event source mapping Lambda cannot run here.
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

pub use local::up::streams::{image, lambda_record};

/// The table's stream ARN and every record of every shard, from the trim horizon, shard by shard.
pub async fn records(
    config: &aws_config::SdkConfig,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> (String, Vec<Record>) {
    let described = client.describe_table().table_name(table).send().await.expect("describe_table");
    let arn = described.table.and_then(|t| t.latest_stream_arn).expect("the table has a stream");
    let streams = aws_sdk_dynamodbstreams::Client::new(config);
    let shards = streams.describe_stream().stream_arn(&arn).send().await.expect("describe_stream");
    let description = shards.stream_description.expect("a description");
    assert_eq!(description.stream_view_type.map(|v| v.as_str().to_string()).as_deref(), Some("NEW_AND_OLD_IMAGES"));
    let mut all = Vec::new();
    for shard in description.shards.unwrap_or_default() {
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.unwrap_or_default())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("get_shard_iterator")
            .shard_iterator
            .expect("an iterator");
        let records = streams.get_records().shard_iterator(iterator).send().await.expect("get_records");
        all.extend(records.records.unwrap_or_default());
    }
    (arn, all)
}
