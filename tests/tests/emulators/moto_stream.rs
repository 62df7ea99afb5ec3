//! A table's stream on moto read with the AWS SDK (DynamoDB Streams), and its records in the
//! JSON Lambda hands a stream function: what a local runner does where Lambda's event source
//! mapping cannot run.
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{Map, Value, json};

/// An attribute value as DynamoDB's JSON, the form the twin's images and Lambda's events use.
pub fn to_json(a: &AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::L(l) => json!({"L": l.iter().map(to_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": image(m)}),
        other => json!({"unexpected": format!("{other:?}")}),
    }
}

pub fn image(m: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<Map<String, Value>>())
}

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

/// A record as a Lambda stream event's record.
pub fn lambda_record(r: &Record, stream_arn: &str) -> Value {
    let change = r.dynamodb.as_ref().expect("the change");
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change.approximate_creation_date_time.map(|t| t.secs()),
        "Keys": change.keys.as_ref().map(image),
        "SequenceNumber": change.sequence_number,
        "SizeBytes": change.size_bytes,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = &change.new_image {
        dynamodb["NewImage"] = image(new);
    }
    if let Some(old) = &change.old_image {
        dynamodb["OldImage"] = image(old);
    }
    json!({
        "eventID": r.event_id, "eventName": r.event_name.as_ref().map(|n| n.as_str().to_string()),
        "eventVersion": r.event_version, "eventSource": "aws:dynamodb", "awsRegion": r.aws_region,
        "eventSourceARN": stream_arn, "dynamodb": dynamodb,
    })
}
