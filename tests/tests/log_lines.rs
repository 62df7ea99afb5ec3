//! What an operator reads: a batch's report as fields, and every line logged while a Kafka
//! record is handled naming that record: by its event id where the function has one, else by
//! its place in Kafka (`kafka_batch`'s record span).
use estate_tests::{Logs, fixture};
use local::estate::Estate;
use serde_json::Value;

#[tokio::test]
async fn a_kafka_lambdas_lines_name_their_record_and_its_report_is_fields() {
    let estate = Estate::new();
    let logs = Logs::default();
    let _guard = logs.capture();
    let event = serde_json::from_slice(&fixture("aws/msk/order-updater-confirmed.json")).expect("an MSK event");
    estate.invoke_lambda(order_updater::NAME, event).await.expect("a Kafka batch");
    let lines: Vec<Value> = logs.text().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();

    let changed: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "order changed").collect();
    assert!(!changed.is_empty(), "{lines:?}");
    for line in changed {
        // order-updater's own record span: the event's id and its place in Kafka.
        assert!(line["span"]["event_id"].as_str().is_some_and(|id| id.starts_with("order-")), "{line}");
    }
    let done = lines.iter().find(|l| l["fields"]["message"] == "batch done").expect("a batch report");
    let fields = &done["fields"];
    assert_eq!(
        (fields["records"].as_u64(), fields["changed"].as_u64(), fields["dead_lettered"].as_u64()),
        (Some(5), Some(2), Some(2)),
        "{done}"
    );
    assert!(!done.to_string().contains("BatchReport"), "no Debug text: {done}");
}

/// Every line but the batch's report names the one record it is about.
#[tokio::test]
async fn every_line_about_a_record_names_it() {
    for (function, path) in [
        (kafka_pubsub_bridge::NAME, "aws/msk/kafka-pubsub-bridge-order-paid.json"),
        (cart_cleaner::NAME, "aws/msk/cart-cleaner-product-deleted.json"),
        (order_updater::NAME, "aws/msk/order-updater-fraud-scored.json"),
    ] {
        let estate = Estate::new();
        let logs = Logs::default();
        let _guard = logs.capture();
        let event = serde_json::from_slice(&fixture(path)).expect("an MSK event");
        estate.invoke_lambda(function, event).await.expect("a Kafka batch");
        let lines: Vec<Value> = logs.text().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        assert!(lines.len() >= 2, "{path}: {lines:?}");
        for line in lines.iter().filter(|l| l["fields"]["message"] != "batch done") {
            let names = [&line["span"]["event_id"], &line["span"]["origin"], &line["fields"]["origin"]];
            assert_eq!(names.iter().filter(|n| n.is_string()).count().min(1), 1, "{path}: {line}");
        }
    }
}

#[tokio::test]
async fn image_resizer_reports_its_batch_as_fields() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let objects = estate_tests::repo_root().join("events/aws/s3/objects");
    local::invoke::invoke_with_objects(
        image_resizer::NAME,
        &fixture("aws/s3/image-resizer-upload.json"),
        Some(&objects),
    )
    .await
    .expect("invoked");
    let lines: Vec<Value> = logs.text().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let done = lines.iter().find(|l| l["fields"]["message"] == "batch done").expect("a batch report");
    assert_eq!(
        (done["fields"]["records"].as_u64(), done["fields"]["processed"].as_u64()),
        (Some(1), Some(1)),
        "{done}"
    );
}
