//! The orders table's stream on moto (DynamoDB Streams, `NEW_AND_OLD_IMAGES`), read with the AWS
//! SDK: the same writes through the DynamoDB adapter and through the in-memory twin give the same
//! records (event names, keys, old and new images), in the same order per key.
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use domain::ports::Documents;
use estate_tests::{emulator, fresh};
use inmemory::stream::ChangeFeed;
use orders::layout::{OPEN_ORDERS, TOP_LEVEL};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_orders_table};
use serde_json::{Map, Value, json};

/// An attribute value as DynamoDB's JSON, the form the twin's images and Lambda's events use.
fn to_json(a: &AttributeValue) -> Value {
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

fn image(m: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<Map<String, Value>>())
}

fn order(pk: &str, state: &str, at: &str) -> Value {
    json!({"id": "order", "pk": pk, "state": state, "changed_at": at, "record": {"order_id": pk, "n": 1.5, "lines": [], "note": null}})
}

#[tokio::test]
async fn the_orders_streams_records_on_moto_are_the_twins() {
    emulator("AWS_ENDPOINT_URL");
    let config = aws_config::load_from_env().await;
    let client = client_from_env().await;
    let table = fresh("it-orders-stream");
    create_orders_table(&client, &table, &OPEN_ORDERS).await.expect("orders table");
    let dynamo = DynamoDocuments::new(client.clone(), &table).with_top_level(&TOP_LEVEL);
    let feed = ChangeFeed::default();
    let twin = inmemory::InMemoryDocuments::default().with_stream(feed.clone(), &TOP_LEVEL);
    for docs in [&dynamo as &dyn Documents, &twin] {
        let etag = docs
            .create("A1", "order", order("A1", "confirmed", "2026-11-21T08:00:00.000Z").into())
            .await
            .expect("create");
        docs.create("B2", "order", order("B2", "confirmed", "2026-11-21T08:00:01.000Z").into()).await.expect("create");
        docs.replace("A1", "order", order("A1", "paid", "2026-11-21T08:00:02.000Z").into(), &etag)
            .await
            .expect("replace");
    }

    let described = client.describe_table().table_name(&table).send().await.expect("describe_table");
    let arn = described.table.and_then(|t| t.latest_stream_arn).expect("the table has a stream");
    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let shards = streams.describe_stream().stream_arn(&arn).send().await.expect("describe_stream");
    let description = shards.stream_description.expect("a description");
    assert_eq!(description.stream_view_type.map(|v| v.as_str().to_string()).as_deref(), Some("NEW_AND_OLD_IMAGES"));
    let mut on_moto = Vec::new();
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
        for r in records.records.unwrap_or_default() {
            let change = r.dynamodb.expect("the change");
            on_moto.push(json!({
                "event": r.event_name.map(|n| n.as_str().to_string()),
                "keys": change.keys.as_ref().map(image),
                "old": change.old_image.as_ref().map(image),
                "new": change.new_image.as_ref().map(image),
            }));
        }
    }
    let mut on_twin: Vec<Value> = feed
        .all()
        .into_iter()
        .map(|r| json!({"event": r.event_name, "keys": r.keys, "old": r.old_image, "new": r.new_image}))
        .collect();
    // One key's records keep their order on both; across keys (shards) the order is open.
    let by_key = |v: &Value| v["keys"]["pk"]["S"].as_str().unwrap_or_default().to_string();
    on_moto.sort_by_key(by_key);
    on_twin.sort_by_key(by_key);
    assert_eq!(on_moto, on_twin);
    assert_eq!(on_twin.len(), 3);
}
