use super::*;
use inmemory::InMemoryS3;
use serde_json::json;

/// The recorded batch (hand-checked, events/README.md): in hour 08, A200100 confirmed →
/// payment_requested, A200161 written in the layout before `state` was top-level, A200160
/// inserted; in hour 09, A200100 → paid, an INSERT without a new image, a TTL removal of A199001,
/// and an item that is not an order.
const FIXTURE: &str = include_str!("../../../../events/aws/dynamodb-stream/lake-archiver-order-changes.json");
const H08: &str = "raw/orders/dt=2026-11-21/hour=08/20261001T091244318-0000000000000004217300000000052840194761-0000000000000004217500000000052840196212";
const H09: &str = "raw/orders/dt=2026-11-21/hour=09/20261001T091244318-0000000000000004217600000000052840197003";

fn fixture() -> Event {
    serde_json::from_str(FIXTURE).expect("a DynamoDB Streams event")
}

fn archiver(lake: &InMemoryS3) -> LakeArchiver {
    LakeArchiver { lake: Arc::new(lake.clone()), bucket: "lake".into() }
}

async fn run(lake: &InMemoryS3, event: Event) -> StreamOutcome {
    archiver(lake).handle(event, &Invocation::one_minute()).await.expect("a stream batch")
}

async fn object(lake: &InMemoryS3, key: &str) -> Vec<u8> {
    let found = lake.get("lake", key, domain::ports::Revision::Current).await.expect("a read");
    found.unwrap_or_else(|| panic!("no object {key}")).1
}

/// Every row of every Parquet file in the lake, deduplicated on `seq` as readers do.
async fn rows_in(lake: &InMemoryS3) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for (_, meta) in lake.all().into_iter().filter(|(_, m)| m.key.ends_with(".parquet")) {
        for row in parquet_file::read(object(lake, &meta.key).await).expect("a Parquet file") {
            rows.insert(row.seq.clone(), row);
        }
    }
    rows
}

fn failures(out: &StreamOutcome) -> Vec<&str> {
    out.response.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_deref()).collect()
}

#[tokio::test]
async fn a_batch_becomes_one_parquet_file_per_hour_and_its_unreadable_records_one_dead_letter_object() {
    let lake = InMemoryS3::versioned();
    let out = run(&lake, fixture()).await;
    assert_eq!(failures(&out), Vec::<&str>::new());
    let h09_dead = format!(
        "raw/orders/dt=2026-11-21/hour=09/20261001T091244318-0000000000000004217600000000052840197003-{}.dead-letters.json",
        "0000000000000004217900000000052840198021"
    );
    let h09_rows = format!("{H09}-0000000000000004217800000000052840197690.parquet");
    assert_eq!(out.written, [format!("{H08}.parquet"), h09_rows.clone(), h09_dead.clone()]);
    assert_eq!((out.rows, out.dead_lettered), (5, 2));

    let rows: Vec<Row> = rows_in(&lake).await.into_values().collect();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (r.event_name.as_str(), r.order_id.as_str(), r.state.as_deref(), r.total_minor, r.customer_id.as_deref())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("MODIFY", "A200100", Some("payment_requested"), Some(4499), Some("C-77001")),
            ("MODIFY", "A200161", Some("held"), Some(20000), Some("C-90512")),
            ("INSERT", "A200160", Some("confirmed"), Some(5990), Some("C-77040")),
            ("MODIFY", "A200100", Some("paid"), Some(4499), Some("C-77001")),
            ("REMOVE", "A199001", None, None, None),
        ]
    );
    let first = &rows[0];
    assert_eq!(first.seq, "0000000000000004217300000000052840194761");
    assert_eq!((first.event_id.as_str(), first.currency.as_deref()), ("7c1f3e5a9b2d4f60a8e1c3b5d7f90a12", Some("EUR")));
    assert_eq!(first.change_time.to_rfc3339(), "2026-11-21T08:15:04+00:00");
    let image: serde_json::Value = serde_json::from_str(first.new_image.as_deref().expect("an image")).expect("JSON");
    assert_eq!(
        image["body"]["record"]["order"]["payment"],
        serde_json::json!({"card_bin_country": "DE", "billing_country": "DE"})
    );
    assert_eq!(rows[4].new_image, None);

    // Neither the token nor the fingerprint is in any object, however it was kept.
    for (_, meta) in lake.all() {
        let text = String::from_utf8_lossy(&object(&lake, &meta.key).await).to_string();
        for secret in ["tok_visa_4242", "tok_mc_5454", "fp_C-77001", "fp_C-77040", "payment_token"] {
            assert!(!text.contains(secret), "{secret} in {}", meta.key);
        }
    }
    let dead: serde_json::Value = serde_json::from_slice(&object(&lake, &h09_dead).await).expect("JSON");
    let reasons: Vec<_> =
        dead["records"].as_array().expect("records").iter().map(|r| r["reason_code"].as_str()).collect();
    assert_eq!(reasons, [Some("no_image"), Some("not_an_order")]);
    assert_eq!(dead["records"][0]["record"]["dynamodb"]["Keys"]["pk"]["S"], "A200162");
}

#[tokio::test]
async fn a_redelivered_batch_writes_nothing_and_one_with_other_boundaries_overlaps_without_new_rows() {
    let lake = InMemoryS3::versioned();
    let first = run(&lake, fixture()).await;
    let again = run(&lake, fixture()).await;
    assert_eq!((again.written.len(), again.already, again.rows), (0, first.written.clone(), 5));
    let before = rows_in(&lake).await;
    let mut event = fixture();
    let records = std::mem::take(&mut event.records);
    for pair in records.chunks(2) {
        let mut batch = fixture();
        batch.records = pair.to_vec();
        assert_eq!(failures(&run(&lake, batch).await), Vec::<&str>::new());
    }
    assert!(lake.all().len() > first.written.len(), "the other boundaries name other files");
    assert_eq!(rows_in(&lake).await, before, "deduplicated on seq, the rows are the same");
}

#[tokio::test]
async fn a_failed_write_reports_the_lowest_sequence_number_it_held_and_the_retry_completes_the_lake() {
    let lake = InMemoryS3::versioned();
    lake.outage.fail_after(1, 1);
    let out = run(&lake, fixture()).await;
    assert_eq!(failures(&out), ["4217600000000052840197003"]);
    assert_eq!(out.written, [format!("{H08}.parquet")]);
    // Lambda retries the shard from the failed record.
    let mut retry = fixture();
    retry.records.drain(..3);
    assert_eq!(failures(&run(&lake, retry).await), Vec::<&str>::new());
    assert_eq!(rows_in(&lake).await.len(), 5);
}

#[tokio::test]
async fn an_oversize_image_or_one_without_a_change_time_is_dead_lettered_and_the_rest_archived() {
    let lake = InMemoryS3::versioned();
    let mut event = fixture();
    event.records.truncate(3);
    let mut untimed = serde_json::to_value(&event.records[1]).expect("JSON");
    untimed["dynamodb"].as_object_mut().expect("a change").remove("ApproximateCreationDateTime");
    event.records[1] = serde_json::from_value(untimed).expect("a record");
    let mut big = serde_json::to_value(&event.records[2]).expect("JSON");
    big["dynamodb"]["NewImage"]["body"]["M"]["note"] =
        serde_json::json!({"S": "x".repeat(platform_aws::stream_image::MAX_ITEM_BYTES)});
    event.records[2] = serde_json::from_value(big).expect("a record");
    let out = run(&lake, event).await;
    assert_eq!((out.rows, out.dead_lettered, failures(&out)), (1, 2, Vec::<&str>::new()));
    let key = out.written.iter().find(|k| k.ends_with(".dead-letters.json")).expect("a dead-letter object");
    assert!(key.starts_with("raw/orders/dt=2026-11-21/hour=08/"), "the batch's hour, not 1970: {key}");
    let dead: serde_json::Value = serde_json::from_slice(&object(&lake, key).await).expect("JSON");
    assert_eq!(
        (&dead["records"][0]["reason_code"], &dead["records"][1]["reason_code"]),
        (&json!("no_change_time"), &json!("oversize"))
    );
}

#[tokio::test]
async fn other_bytes_under_a_taken_name_are_kept_beside_it_not_dropped() {
    let lake = InMemoryS3::versioned();
    let first = run(&lake, fixture()).await;
    // The same name with other records in it: sequence numbers that repeat across shards.
    let mut other = fixture();
    other.records[0].event_id = "ffff0000ffff0000ffff0000ffff0000".into();
    let again = run(&lake, other).await;
    let beside = format!("{H08}-ffff0000ffff0000ffff0000ffff0000.parquet");
    assert_eq!(again.written, std::slice::from_ref(&beside));
    assert_eq!(again.already.len(), first.written.len() - 1);
    let rows = parquet_file::read(object(&lake, &beside).await).expect("a Parquet file");
    assert_eq!(rows[0].event_id, "ffff0000ffff0000ffff0000ffff0000");
}

#[tokio::test]
async fn an_event_from_elsewhere_is_refused_whole() {
    let lake = InMemoryS3::versioned();
    let mut not_a_stream = fixture();
    not_a_stream.records[0].event_source_arn = Some("arn:aws:dynamodb:eu-west-1:123456789012:table/orders".into());
    let refused = archiver(&lake).handle(not_a_stream, &Invocation::one_minute()).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("is not a DynamoDB stream's")));
    let mut sqs = fixture();
    sqs.records[1].event_source = Some("aws:sqs".into());
    assert!(archiver(&lake).handle(sqs, &Invocation::one_minute()).await.is_err());
    assert_eq!(lake.all(), vec![]);
}
