//! The orders table's stream on moto (DynamoDB Streams, `NEW_AND_OLD_IMAGES`), read with the AWS
//! SDK: the same writes through the DynamoDB adapter and through the in-memory twin give the same
//! records (event names, keys, old and new images), in the same order per key.
use super::moto_stream::{image, records};
use domain::ports::Documents;
use estate_tests::{emulator, fresh};
use inmemory::stream::ChangeFeed;
use orders::layout::{OPEN_ORDERS, TOP_LEVEL};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_orders_table};
use serde_json::{Value, json};

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

    let (_, on_moto) = records(&config, &client, &table).await;
    let mut on_moto: Vec<Value> = on_moto
        .iter()
        .map(|r| {
            let change = r.dynamodb.as_ref().expect("the change");
            json!({
                "event": r.event_name.as_ref().map(|n| n.as_str().to_string()),
                "keys": change.keys.as_ref().map(image),
                "old": change.old_image.as_ref().map(image),
                "new": change.new_image.as_ref().map(image),
            })
        })
        .collect();
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
