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

/// An Azure app's batch report, in the response's `Logs` that Application Insights ties to the
/// invocation, is one JSON object of fields; on stdout it is a line of fields too.
#[tokio::test]
async fn an_azure_apps_batch_report_is_fields_in_the_invocations_logs() {
    for (function, path, counted) in [
        (fraud_scorer::NAME, "azure/kafka-trigger/order-confirmed-batch.json", "scored"),
        (projection_updater::NAME, "azure/kafka-trigger/price-changed-batch.json", "applied"),
    ] {
        let logs = Logs::default();
        let _guard = logs.capture();
        let out = local::invoke::invoke(function, &fixture(path)).await.expect("invoked");
        let entries = out["response"]["body"]["Logs"].as_array().expect("the response's Logs");
        let report: Vec<Value> = entries
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e.as_str()?).ok())
            .filter(|e| e["message"] == "batch done")
            .collect();
        assert_eq!(report.len(), 1, "{function}: {entries:?}");
        assert_eq!(report[0]["records"], out["summary"]["records"], "{function}");
        assert!(report[0][counted].is_u64(), "{function}: {}", report[0]);
        let lines: Vec<Value> = logs.text().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        let done = lines.iter().find(|l| l["fields"]["message"] == "batch done").expect("a batch line");
        assert_eq!(done["fields"][counted], report[0][counted], "{function}: {done}");
    }
}
