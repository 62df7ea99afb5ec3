//! lake-archiver on moto: orders written to a DynamoDB table with its stream, the stream read
//! back with the SDK and handed to the function as Lambda would, the Parquet files created in an
//! S3 bucket (If-None-Match), delivered again with the same and with other batch boundaries, and
//! read back: one row per change after deduplicating on `seq`, no payment secret in any.
use super::moto_stream::{lambda_record, records};
use domain::ports::{Documents, Revision, VersionedObjects};
use estate_tests::{emulator, fresh};
use lake_archiver::LakeArchiver;
use lake_archiver::parquet_file;
use orders::layout::{OPEN_ORDERS, TOP_LEVEL};
use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_orders_table};
use platform_aws::invocation::Invocation;
use platform_aws::s3_store::S3Objects;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn order(pk: &str, state: &str, at: &str) -> Value {
    json!({"id": "order", "pk": pk, "state": state, "changed_at": at, "record": {"order_id": pk, "state": state,
        "order": {"customer_id": "C-1", "total": {"amount_minor": 4499, "currency": "EUR"},
        "payment": {"token": "tok_visa_42", "card_fingerprint": "fp-42", "card_bin_country": "DE"}}}})
}

#[tokio::test]
async fn the_orders_stream_on_moto_lands_in_s3_as_parquet_once_per_change_and_redacted() {
    emulator("AWS_ENDPOINT_URL");
    let config = aws_config::load_from_env().await;
    let client = client_from_env().await;
    let table = fresh("it-lake-orders");
    create_orders_table(&client, &table, &OPEN_ORDERS).await.expect("orders table");
    let orders = DynamoDocuments::new(client.clone(), &table).with_top_level(&TOP_LEVEL);
    let etag =
        orders.create("A1", "order", order("A1", "confirmed", "2026-11-21T08:00:00.000Z").into()).await.expect("A1");
    orders.create("B2", "order", order("B2", "confirmed", "2026-11-21T08:00:01.000Z").into()).await.expect("B2");
    orders
        .replace("A1", "order", order("A1", "paid", "2026-11-21T08:00:02.000Z").into(), &etag)
        .await
        .expect("A1 paid");

    let (arn, on_moto) = records(&config, &client, &table).await;
    let lambda: Vec<Value> = on_moto.iter().map(|r| lambda_record(r, &arn)).collect();
    let event = |records: &[Value]| serde_json::from_value(json!({"Records": records})).expect("a stream event");

    let s3 = S3Objects::new(platform_aws::s3_store::client_from_env(&serve::Env::Process).await);
    let bucket = fresh("it-lake");
    let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "eu-west-1".into());
    s3.ensure_bucket(&bucket, &region).await.expect("the lake bucket");
    let s3 = Arc::new(s3);
    let function = LakeArchiver { lake: s3.clone(), bucket: bucket.clone() };
    let first = function.handle(event(&lambda), &Invocation::one_minute()).await.expect("a batch");
    assert_eq!((first.rows, first.dead_lettered, first.response.batch_item_failures.len()), (3, 0, 0));
    let again = function.handle(event(&lambda), &Invocation::one_minute()).await.expect("a batch");
    assert_eq!((again.written.len(), again.already), (0, first.written.clone()), "S3 refused the second create");
    // One record a batch: other boundaries, so other names (unless the first batch's hour split
    // already made a one-record file, which is then found there).
    let mut names: std::collections::BTreeSet<String> = first.written.iter().cloned().collect();
    for one in lambda.chunks(1) {
        let out = function.handle(event(one), &Invocation::one_minute()).await.expect("a batch");
        assert_eq!(out.written.len() + out.already.len(), 1);
        names.extend(out.written.into_iter().chain(out.already));
    }

    let listed = s3.list(&bucket, "raw/orders/").await.expect("list");
    assert_eq!(listed.iter().map(|m| m.key.clone()).collect::<std::collections::BTreeSet<_>>(), names);
    assert!(listed.len() > first.written.len(), "the files overlap");
    let mut rows = BTreeMap::new();
    for meta in &listed {
        let parts: Vec<&str> = meta.key.split('/').collect();
        assert!(
            parts[2].starts_with("dt=") && parts[3].starts_with("hour=") && parts[4].ends_with(".parquet"),
            "{}",
            meta.key
        );
        let (_, bytes) = s3.get(&bucket, &meta.key, Revision::Current).await.expect("get").expect("the object");
        for row in parquet_file::read(bytes).expect("a Parquet file") {
            assert_eq!(
                parts[2..4],
                [row.change_time.format("dt=%Y-%m-%d").to_string(), row.change_time.format("hour=%H").to_string()]
            );
            rows.insert(row.seq.clone(), row);
        }
    }
    let changes: Vec<_> =
        rows.values().map(|r| (r.event_name.as_str(), r.order_id.as_str(), r.state.as_deref())).collect();
    let mut sorted = changes.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [("INSERT", "A1", Some("confirmed")), ("INSERT", "B2", Some("confirmed")), ("MODIFY", "A1", Some("paid"))]
    );
    for row in rows.values() {
        assert_eq!((row.seq.len(), row.total_minor, row.customer_id.as_deref()), (40, Some(4499), Some("C-1")));
        let image = row.new_image.as_deref().expect("an image");
        assert!(
            !image.contains("tok_visa_42") && !image.contains("fp-42") && image.contains("card_bin_country"),
            "{image}"
        );
    }
}
