//! Every port against its real local emulator (scripts/emulators.sh): the Kafka publisher on
//! tansu, the Cosmos port on cosmosdb-server, the GCS port on fake-gcs-server, and Pub/Sub push
//! end to end through the Pub/Sub emulator into merch-normalizer. A missing emulator fails these
//! tests; they are never skipped.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::ports::{Delivery, Documents, JsonText, ObjectStore, OutboundMessage, PortError, Publisher, PutOutcome};
use estate_tests::{emulator, fixture, fresh};
use kafka::{KafkaPublisher, ensure_topics, read_topic};
use platform_aws::invocation::Invocation;
use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
use platform_gcp::gcs::GcsObjects;
use platform_gcp::push::{PushForm, from_http};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[path = "emulators/cosmos_stub.rs"]
mod cosmos_stub;
#[path = "emulators/image_analytics_pg.rs"]
mod image_analytics_pg;
#[path = "emulators/image_pipeline.rs"]
mod image_pipeline;
#[path = "emulators/lake.rs"]
mod lake;
#[path = "emulators/mail.rs"]
mod mail;
#[path = "emulators/moto_stream.rs"]
mod moto_stream;
#[path = "emulators/notifier_ses.rs"]
mod notifier_ses;
#[path = "emulators/order_stream.rs"]
mod order_stream;
#[path = "emulators/pubsub_bridge.rs"]
mod pubsub_bridge;

/// Reads until `expected` records arrived, or for `wait` when reading everything there is.
async fn read_for(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    wait: Duration,
) -> Vec<domain::ports::BusRecord> {
    let (b, t) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || read_topic(&b, &t, partitions, expected, wait))
        .await
        .expect("reader thread")
        .expect("read topic")
}

async fn read(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> Vec<domain::ports::BusRecord> {
    read_for(bootstrap, topic, partitions, expected, Duration::from_secs(30)).await
}

#[tokio::test]
async fn kafka_publisher_acks_and_partitions_like_every_kafka_client() {
    let bootstrap = emulator("KAFKA_BOOTSTRAP_SERVERS");
    let topic = fresh("it-kafka");
    ensure_topics(&bootstrap, &[&topic], 3).await.expect("topic");
    ensure_topics(&bootstrap, &[&topic], 3).await.expect("creating an existing topic is fine");
    let publisher = KafkaPublisher::new(&bootstrap).expect("producer");
    let mut last_offset = [-1i64; 3];
    for i in 0..30 {
        let key = format!("SKU-{}", i % 7);
        let d = publisher
            .publish(
                OutboundMessage::new(&topic, key.clone(), format!("{{\"n\":{i}}}").into_bytes())
                    .with_header("ce_id", format!("e{i}")),
            )
            .await
            .expect("acknowledged");
        let Delivery::Kafka { partition, offset } = d else { panic!("a Kafka delivery: {d:?}") };
        assert_eq!(partition, inmemory::kafka_partition(key.as_bytes(), 3), "murmur2 placement for {key}");
        assert!(offset > last_offset[partition as usize], "offsets grow per partition");
        last_offset[partition as usize] = offset;
    }
    let records = read(&bootstrap, &topic, 3, 30).await;
    assert_eq!(records.len(), 30);
    for r in &records {
        let n: Value = serde_json::from_slice(&r.payload).expect("payload");
        let i = n["n"].as_u64().expect("n");
        assert_eq!(r.key, format!("SKU-{}", i % 7));
        assert_eq!(r.headers, [("ce_id".to_string(), format!("e{i}"))]);
    }
}

#[tokio::test]
async fn cosmos_port_keeps_etag_semantics_and_serves_projection_updater() {
    let contract = CosmosConfig {
        endpoint: emulator("COSMOS_ENDPOINT"),
        database: fresh("it-contract"),
        container: "documents".into(),
        ..CosmosConfig::from_env(&serve::Env::Process, "merch", "projections").expect("emulator settings")
    };
    estate_tests::contracts::documents(&CosmosDocuments::connect(&contract, "/pk", true).await.expect("Cosmos")).await;

    let config = CosmosConfig {
        endpoint: emulator("COSMOS_ENDPOINT"),
        database: fresh("it-db"),
        container: "projections".into(),
        ..CosmosConfig::from_env(&serve::Env::Process, "merch", "projections").expect("emulator settings")
    };
    let docs = CosmosDocuments::connect(&config, "/sku", true).await.expect("Cosmos emulator");
    let body = |n: i64| JsonText::from(json!({"id": "SKU-1", "sku": "SKU-1", "n": n}));
    let e1 = docs.create("SKU-1", "SKU-1", body(1)).await.expect("create");
    assert_eq!(docs.create("SKU-1", "SKU-1", body(0)).await, Err(PortError::AlreadyExists));
    let read = docs.read("SKU-1", "SKU-1").await.expect("read").expect("found");
    assert_eq!((read.body.to_value()["n"].as_i64(), &read.etag), (Some(1), &e1));
    let e2 = docs.replace("SKU-1", "SKU-1", body(2), &e1).await.expect("replace");
    assert_ne!(e1, e2);
    assert_eq!(
        docs.replace("SKU-1", "SKU-1", body(3), &e1).await,
        Err(PortError::PreconditionFailed),
        "a stale etag must not overwrite"
    );
    assert_eq!(docs.read("SKU-1", "nope").await.expect("read"), None);

    let updater = projection_updater::Updater::new(Arc::new(docs));
    let req = serde_json::from_slice(&fixture("azure/kafka-trigger/price-changed-batch.json")).expect("request");
    let (status, _, report) = updater.handle(&req).await;
    assert_eq!((status.as_u16(), report.applied, report.stale, report.dead_lettered), (200, 1, 2, 1));
    let (_, _, again) = updater.handle(&req).await;
    assert_eq!((again.applied, again.stale), (0, 3), "redelivery changes nothing");
    let stored = updater.docs.read("TSH-001-BLK-M", "TSH-001-BLK-M").await.expect("read").expect("projection");
    let stored = stored.body.to_value();
    assert_eq!(stored["prices"]["EU"]["version"], 184480);
    assert_eq!(stored["prices"]["EU"]["amount_minor"], 2149);
}

#[tokio::test]
async fn fraud_scorer_keeps_its_state_and_first_verdicts_in_cosmos() {
    let config = CosmosConfig {
        endpoint: emulator("COSMOS_ENDPOINT"),
        database: fresh("it-checkout"),
        container: fraud_scorer::COSMOS_CONTAINER.into(),
        ..CosmosConfig::from_env(&serve::Env::Process, "checkout", "fraud").expect("emulator settings")
    };
    let docs =
        CosmosDocuments::connect(&config, fraud_scorer::PARTITION_KEY_PATH, true).await.expect("Cosmos emulator");
    let scorer = fraud_scorer::Scorer::new(Arc::new(docs), fraud_scorer::Config::default());
    let req = serde_json::from_slice(&fixture("azure/kafka-trigger/order-confirmed-batch.json")).expect("request");
    let (status, first, report) = scorer.handle(&req).await;
    assert_eq!((status.as_u16(), report.scored, report.redelivered, report.dead_lettered), (200, 4, 1, 1));
    let (_, again, report) = scorer.handle(&req).await;
    assert_eq!((report.scored, report.redelivered), (0, 5), "a redelivered batch re-emits every stored verdict");
    assert_eq!(first.outputs["scores"], again.outputs["scores"], "byte for byte");
    let card = fraud_scorer::state::HistoryKey::card("fp_77ab03e5c1");
    let history = fraud_scorer::state::read_history(scorer.docs.as_ref(), &card).await.expect("read");
    let ids: Vec<&str> = history.orders.iter().map(|p| p.order_id.as_str()).collect();
    assert_eq!(ids, ["A100242", "A100241"], "the card's orders, latest first, each once");
}

#[tokio::test]
async fn dynamodb_keeps_the_documents_and_carts_contracts_on_moto() {
    emulator("AWS_ENDPOINT_URL");
    let client = platform_aws::dynamodb::client_from_env().await;
    let (orders, carts) = (fresh("it-orders"), fresh("it-carts"));
    platform_aws::dynamodb::create_documents_table(&client, &orders).await.expect("orders table");
    platform_aws::dynamodb::create_documents_table(&client, &orders).await.expect("creating it again is fine");
    platform_aws::dynamodb::create_carts_table(&client, &carts).await.expect("carts table");
    estate_tests::contracts::documents(&platform_aws::dynamodb::DynamoDocuments::new(client.clone(), &orders)).await;
    estate_tests::contracts::carts(&platform_aws::dynamodb::DynamoCarts::new(client.clone(), &carts)).await;
    let missing = platform_aws::dynamodb::DynamoDocuments::new(client, fresh("it-no-such-table"));
    let err = missing.read("A-1", "order").await.expect_err("no table");
    assert!(err.is_transient(), "a missing table is the deployment's state, not the record's: {err}");
}

#[tokio::test]
async fn order_updater_keeps_its_state_machine_in_dynamodb_on_moto() {
    use orders::layout::{OPEN_ORDERS, TOP_LEVEL};
    use platform_aws::dynamodb::{
        DynamoCarts, DynamoDocuments, client_from_env, create_carts_table, create_orders_table,
    };
    emulator("AWS_ENDPOINT_URL");
    let client = client_from_env().await;
    let (orders, carts) = (fresh("it-orders"), fresh("it-carts"));
    create_orders_table(&client, &orders, &OPEN_ORDERS).await.expect("orders table");
    create_carts_table(&client, &carts).await.expect("carts table");
    let bus = inmemory::Bus::new(3);
    let updater = order_updater::OrderUpdater {
        clock: Arc::new(chrono::Utc::now),
        store: orders::store::OrderStore {
            orders: Arc::new(DynamoDocuments::new(client.clone(), &orders).with_top_level(&TOP_LEVEL)),
            carts: Arc::new(DynamoCarts::new(client.clone(), &carts)),
            bus: Arc::new(bus.clone()),
        },
        dead_letters: domain::dead_letter::DeadLetterPolicy::new("order-updater", "checkout.dlq"),
    };
    let event = || serde_json::from_slice(&fixture("aws/msk/order-updater-confirmed.json")).expect("MSK event");
    let (response, first) = updater.handle(event(), &Invocation::one_minute()).await.expect("a Kafka batch");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((first.changed, first.redelivered, first.dead_lettered), (2, 1, 2));
    let (_, again) = updater.handle(event(), &Invocation::one_minute()).await.expect("a Kafka batch");
    assert_eq!((again.changed, again.redelivered), (0, 3), "a redelivered batch changes no order");
    let stored = updater.store.orders.read("A200100", order_updater::RECORD_ID).await.expect("read").expect("order");
    assert_eq!(stored.body.to_value()["state"], "confirmed");
    assert_eq!(stored.etag.0, "1", "written once");

    // The item as the table and its stream readers see it: the layout's attributes on top.
    use aws_sdk_dynamodb::types::AttributeValue;
    use domain::ports::DocumentIndex;
    let item = client
        .get_item()
        .table_name(&orders)
        .key("pk", AttributeValue::S("A200100".into()))
        .key("id", AttributeValue::S("order".into()))
        .send()
        .await
        .expect("get_item")
        .item
        .expect("item");
    assert_eq!(item.get("state"), Some(&AttributeValue::S("confirmed".into())));
    let shard = orders::layout::shard_of("A200100").to_string();
    assert_eq!(item.get("open_shard"), Some(&AttributeValue::S(shard.clone())));
    assert!(matches!(item.get("changed_at"), Some(AttributeValue::S(t)) if t.ends_with('Z') && t.len() == 24));
    let body = item.get("body").and_then(|b| b.as_m().ok()).expect("body");
    assert!(!body.contains_key("state") && body.contains_key("record"), "state lives on top");

    // The sweeper's sparse index on moto: the open order is listed under its shard once due.
    let index = DynamoDocuments::new(client, &orders).with_top_level(&TOP_LEVEL);
    let listed = index.at_most(&OPEN_ORDERS, &shard, "9999", 10).await.expect("query");
    assert!(listed.iter().any(|e| e.partition_key == "A200100" && e.id == "order"), "{listed:?}");
    assert!(index.at_most(&OPEN_ORDERS, &shard, "2000", 10).await.expect("query").is_empty(), "not due yet");
}

/// The sparse index contract (only documents with both keys, by hash, in range order, up to a
/// bound) on DynamoDB: moto's global secondary index answers as the in-memory twin does.
#[tokio::test]
async fn dynamodb_answers_the_sparse_index_query_as_the_twin_does_on_moto() {
    use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_indexed_documents_table};
    emulator("AWS_ENDPOINT_URL");
    let client = client_from_env().await;
    let table = fresh("it-indexed");
    let index = estate_tests::contracts::SPARSE;
    create_indexed_documents_table(&client, &table, &index).await.expect("table");
    let docs = DynamoDocuments::new(client, &table).with_top_level(&["shard", "due"]);
    estate_tests::contracts::sparse_index(&docs, &docs).await;
}

#[tokio::test]
async fn payment_processor_charges_once_with_its_idempotency_records_in_dynamodb_on_moto() {
    use platform_aws::dynamodb::{DynamoDocuments, client_from_env, create_documents_table, create_orders_table};
    emulator("AWS_ENDPOINT_URL");
    let client = client_from_env().await;
    let (payments, orders) = (fresh("it-payments"), fresh("it-orders"));
    create_documents_table(&client, &payments).await.expect("payments table");
    create_orders_table(&client, &orders, &orders::layout::OPEN_ORDERS).await.expect("orders table");
    let orders = Arc::new(DynamoDocuments::new(client.clone(), &orders).with_top_level(&orders::layout::TOP_LEVEL));
    let (bus, gateway, clock) =
        (inmemory::Bus::new(3), inmemory::TestGateway::default(), local::estate::SteppingClock::default());
    let processor = payment_processor::PaymentProcessor {
        clock: clock.as_fn(),
        payments: Arc::new(DynamoDocuments::new(client, &payments)),
        orders: orders.clone(),
        gateway: Arc::new(gateway.clone()),
        bus: Arc::new(bus.clone()),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new("payment-processor", "checkout.dlq"),
        rules: payment_processor::Rules::default(),
    };
    let fixture_event = || -> Value {
        serde_json::from_slice(&fixture("aws/msk/payment-processor-requested.json")).expect("MSK event")
    };
    // The orders that asked for the fixture's payments, as order-updater wrote them (all but
    // A200108, whose request then names an order that does not exist).
    for request in requests_of(&fixture_event()).into_iter().filter(|r| r.order_id.as_str() != "A200108") {
        orders::store::write_record(orders.as_ref(), &orders::testing::awaiting_payment(&request), None)
            .await
            .expect("order");
    }
    let deliver = |event: Value| {
        let invocation = Invocation::lasting(clock.now(), chrono::Duration::seconds(60));
        let processor = &processor;
        async move {
            processor
                .handle(serde_json::from_value(event).expect("MSK event"), &invocation)
                .await
                .expect("a Kafka batch")
        }
    };
    let (first, out) = deliver(fixture_event()).await;
    assert_eq!(
        (first.batch_item_failures.len(), out.dead_lettered, out.failed),
        (1, 1, 2),
        "tok_timeout failed its record"
    );
    let (second, _) = deliver(fixture_event()).await;
    assert_eq!(second.batch_item_failures.len(), 1, "the timed-out charge holds its payment until the lease runs out");
    clock.wait(chrono::Duration::seconds(120));
    let (third, out) = deliver(fixture_event()).await;
    assert!(third.batch_item_failures.is_empty(), "{third:?}");
    assert_eq!(out.done.len(), 3);
    assert_eq!(gateway.charges_for("pay-A200108"), 0, "its order does not exist: unknown_order");
    for id in ["pay-A200100", "pay-A200105", "pay-A200107"] {
        assert_eq!(gateway.charges_for(id), 1, "{id} charged once over three deliveries and a timeout");
    }
    // The record keeps what was asked (the token only as its fingerprint), as DynamoDB stores it.
    let stored = processor.payments.read("pay-A200107", "payment").await.expect("read").expect("record").body;
    let stored = stored.to_value();
    assert_eq!((stored["state"].as_str(), stored["attempts"].as_u64()), (Some("finished"), Some(2)));
    assert_eq!(stored["order_id"], "A200107");
    assert_eq!(stored["amount"], json!({"amount_minor": 7800, "currency": "EUR"}));
    assert_eq!(stored["token_sha256"], payment_processor::attempt::token_fingerprint("tok_timeout").as_str());
    assert_eq!(stored["requested_at"], "2026-11-21T08:16:43Z");
    let record: payment_processor::attempt::PaymentRecord =
        serde_json::from_value(stored.clone()).expect("the stored record reads back");
    assert_eq!(record.asked.amount.amount_minor, 7800);

    // The same payment id asked for another amount: dead-lettered, not charged, record unchanged.
    let mut event = fixture_event();
    let records = event["records"]["payment.requested-0"].as_array_mut().expect("partition 0");
    let mut request: Value =
        serde_json::from_slice(&STANDARD.decode(records[0]["value"].as_str().expect("value")).expect("base64"))
            .expect("json");
    request["data"]["amount"]["amount_minor"] = 9_999.into();
    records[0]["value"] = STANDARD.encode(request.to_string()).into();
    records[0]["offset"] = 4_413.into();
    records.truncate(1);
    event["records"].as_object_mut().expect("records").retain(|k, _| k == "payment.requested-0");
    let (response, out) = deliver(event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((out.done.len(), out.dead_lettered), (0, 1));
    assert_eq!(gateway.charges_for("pay-A200100"), 1);
    // A first request whose amount is not its order's total: refused before any charge.
    let mut wrong = requests_of(&fixture_event()).remove(0);
    wrong.order_id = domain::values::OrderId::parse("A200109").expect("id");
    wrong.payment_id = "pay-A200109".into();
    let mut order = orders::testing::awaiting_payment(&wrong);
    order.order.as_mut().expect("confirmed").total.amount_minor += 1;
    orders::store::write_record(orders.as_ref(), &order, None).await.expect("order");
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-21T08:16:44Z").expect("time").to_utc();
    let wrong = domain::cloudevent::CloudEvent::new("payment-requested-A200109", "/aws/order-updater", at, wrong);
    let record = inmemory::Record {
        topic: "payment.requested".into(),
        partition: 2,
        offset: 1,
        key: "A200109".into(),
        payload: wrong.to_json(),
        headers: vec![],
        timestamp_ms: at.timestamp_millis(),
    };
    let (_, out) = deliver(serde_json::to_value(local::lambda_host::msk_event(&[record])).expect("json")).await;
    assert_eq!((out.done.len(), out.dead_lettered), (0, 1));
    assert_eq!(gateway.charges_for("pay-A200109"), 0, "a wrong amount is never charged");
    assert!(processor.payments.read("pay-A200109", "payment").await.expect("read").is_none(), "nor stored");
    let stored = processor.payments.read("pay-A200100", "payment").await.expect("read").expect("record").body;
    assert_eq!(stored.to_value()["amount"]["amount_minor"], 4499);
    let dead = bus.records("checkout.dlq");
    let mut codes: Vec<Option<String>> = dead
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.payload).expect("json")["data"]["reason_code"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    codes.sort();
    let expected = [
        "missing_payment_token",
        "missing_payment_token",
        "missing_payment_token",
        "order_mismatch",
        "payment_mismatch",
        "unknown_order",
    ];
    assert_eq!(codes, expected.map(|c| Some(c.to_string())));
}

#[tokio::test]
async fn s3_keeps_the_versioned_objects_contract_on_moto() {
    emulator("AWS_ENDPOINT_URL");
    let s3 =
        platform_aws::s3_store::S3Objects::new(platform_aws::s3_store::client_from_env(&serve::Env::Process).await);
    let bucket = fresh("it-images");
    s3.ensure_versioned_bucket(&bucket, "eu-west-1").await.expect("bucket");
    s3.ensure_versioned_bucket(&bucket, "eu-west-1").await.expect("an existing bucket is fine");
    estate_tests::contracts::versioned_objects(&s3, &bucket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn image_totals_count_each_event_once_in_postgres() {
    use domain::ports::{Counted, ImageCount, ImageTotals};
    use image_analytics::postgres::PostgresTotals;
    let url = emulator("DATABASE_URL");
    let first = PostgresTotals::connect(&url).await.expect("PostgreSQL");
    let totals = Arc::new(PostgresTotals::connect(&url).await.expect("migrations run again harmlessly"));
    drop(first);
    // A window of this run's own, so earlier runs against the same server do not show.
    let minute = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos()
        % 500_000) as i64;
    let window: chrono::DateTime<chrono::Utc> =
        "2099-01-01T00:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().expect("time")
            + chrono::Duration::minutes(minute);
    let id = fresh("img-event");
    // The same event three times at once (Pub/Sub redelivering while the first is in flight).
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let (totals, id) = (totals.clone(), id.clone());
            tokio::spawn(async move {
                let image = ImageCount {
                    event_id: &id,
                    window_start: window,
                    size_label: "thumb",
                    format: "jpeg",
                    bytes: 4_096,
                };
                totals.count(image).await.expect("counted")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in racers {
        outcomes.push(r.await.expect("ran"));
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Counted::Added).count(), 1, "{outcomes:?}");
    let other = fresh("img-event");
    let webp = ImageCount { event_id: &other, window_start: window, size_label: "thumb", format: "webp", bytes: 1_000 };
    assert_eq!(totals.count(webp).await.expect("counted"), Counted::Added);
    let mine: Vec<(String, u64, u64)> = totals
        .totals()
        .await
        .expect("totals")
        .into_iter()
        .filter(|t| t.window_start == window)
        .map(|t| (t.format, t.bytes, t.images))
        .collect();
    assert_eq!(mine, [("jpeg".to_string(), 4_096, 1), ("webp".to_string(), 1_000, 1)]);
}

#[tokio::test]
async fn gcs_port_is_create_only_and_audit_log_replays_to_kafka() {
    let gcs = Arc::new(GcsObjects::emulator(&emulator("GCS_ENDPOINT")));
    let bucket = fresh("it-audit");
    gcs.ensure_bucket("local", &bucket).await.expect("bucket");
    gcs.ensure_bucket("local", &bucket).await.expect("an existing bucket is fine");
    let key = "audit/topic=t/dt=2026-11-20/a b%2F=c.ndjson";
    assert_eq!(
        gcs.put_if_absent(&bucket, key, b"first\n".to_vec(), "application/x-ndjson").await,
        Ok(PutOutcome::Created)
    );
    assert_eq!(
        gcs.put_if_absent(&bucket, key, b"second\n".to_vec(), "application/x-ndjson").await,
        Ok(PutOutcome::AlreadyExisted)
    );
    assert_eq!(gcs.get(&bucket, key).await.expect("get").as_deref(), Some(&b"first\n"[..]));
    assert_eq!(gcs.get(&bucket, "audit/missing").await.expect("get"), None);
    gcs.put_if_absent(&bucket, "other/x", b"x".to_vec(), "text/plain").await.expect("put");
    let listed = gcs.list(&bucket, "audit/").await.expect("list");
    assert_eq!(listed.iter().map(|o| (o.key.as_str(), o.size)).collect::<Vec<_>>(), [(key, 6)]);

    let sink = audit_sink::AuditSink::new(gcs.clone(), bucket.clone());
    let push = fixture("gcp/pubsub-push/audit-price-changed.json");
    let msg = from_http(&Default::default(), &push).expect("push");
    let (name, first) = sink.handle(&msg).await.expect("audited");
    let (_, second) = sink.handle(&msg).await.expect("redelivery");
    assert_eq!((first, second), (PutOutcome::Created, PutOutcome::AlreadyExisted));
    assert_eq!(name, "audit/topic=merch.price-changed/dt=2026-11-20/erp-sap-eu-184467.ndjson");

    let bootstrap = emulator("KAFKA_BOOTSTRAP_SERVERS");
    let target = fresh("it-replay");
    ensure_topics(&bootstrap, &[&target], 1).await.expect("topic");
    let publisher = KafkaPublisher::new(&bootstrap).expect("producer");
    let from = "2026-11-20T00:00:00Z".parse().expect("time");
    let to = "2026-11-21T00:00:00Z".parse().expect("time");
    let report =
        audit_sink::replay::replay(&sink, &publisher, "merch.price-changed", from, to, &target).await.expect("replay");
    assert_eq!((report.objects_read, report.republished), (1, 1));
    let replayed = read(&bootstrap, &target, 1, 1).await;
    let event: Value = serde_json::from_slice(&replayed[0].payload).expect("event");
    assert_eq!((replayed[0].key.as_str(), event["id"].as_str()), ("TSH-001-BLK-M", Some("erp-sap-eu-184467")));
}

/// The Pub/Sub emulator's REST API (the same resources as gcloud and the client libraries use).
struct PubsubEmulator {
    http: reqwest::Client,
    base: String,
    project: String,
}

impl PubsubEmulator {
    async fn put(&self, path: &str, body: Value) {
        let url = format!("{}/v1/projects/{}/{path}", self.base, self.project);
        let resp = self.http.put(&url).json(&body).send().await.expect("emulator reachable");
        assert!(resp.status().is_success(), "PUT {path}: {}", resp.text().await.unwrap_or_default());
    }
    async fn publish(&self, topic: &str, data: &[u8], format: &str) -> String {
        let url = format!("{}/v1/projects/{}/topics/{topic}:publish", self.base, self.project);
        let body = json!({"messages": [{"data": STANDARD.encode(data), "attributes": {"format": format}}]});
        let resp: Value = self.http.post(&url).json(&body).send().await.expect("publish").json().await.expect("ids");
        resp["messageIds"][0].as_str().expect("message id").to_string()
    }
}

#[tokio::test]
async fn pubsub_push_through_the_emulator_reaches_kafka_via_merch_normalizer() {
    let bootstrap = emulator("KAFKA_BOOTSTRAP_SERVERS");
    let pubsub = PubsubEmulator {
        http: reqwest::Client::new(),
        base: format!("http://{}", emulator("PUBSUB_EMULATOR_HOST")),
        project: "estate-it".into(),
    };
    let dlq = fresh("it-merch-dlq");
    ensure_topics(&bootstrap, &["merch.price-changed", "merch.inventory-changed", &dlq], 3).await.expect("topics");
    let publisher = Arc::new(KafkaPublisher::new(&bootstrap).expect("producer"));
    let config = merch_normalizer::Config {
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(merch_normalizer::NAME, dlq.clone()),
        ..Default::default()
    };
    let normalizer = Arc::new(merch_normalizer::Normalizer::new(publisher, config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        axum::serve(listener, merch_normalizer::app(normalizer, &platform_gcp::PushGuard::local())).await
    });

    let topic = fresh("erp-changes");
    pubsub.put(&format!("topics/{topic}"), json!({})).await;
    let endpoint = format!("http://127.0.0.1:{port}/");
    let topic_path = format!("projects/{}/topics/{topic}", pubsub.project);
    pubsub
        .put(
            &format!("subscriptions/{}", fresh("wrapped")),
            json!({"topic": topic_path, "pushConfig": {"pushEndpoint": endpoint}}),
        )
        .await;

    let seq =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(1);
    let good = json!({"recordType": "PRICE", "erpSystem": "sap-eu", "sequence": seq, "sku": "tsh-001-blk-m", "region": "EU",
                      "price": "19.99", "currency": "EUR", "validFrom": "2026-11-20T09:15:02Z"});
    pubsub.publish(&topic, good.to_string().as_bytes(), "erp-json").await;
    let bad_id = pubsub.publish(&topic, b"PRC,as400-us,5,SKU-1,US,1.00,USD-X,20261120090000", "erp-csv").await;

    let want = format!("erp-sap-eu-{seq}");
    let mut found = None;
    for _ in 0..15 {
        let records = read_for(&bootstrap, "merch.price-changed", 3, usize::MAX, Duration::from_secs(2)).await;
        found = records
            .into_iter()
            .find(|r| serde_json::from_slice::<Value>(&r.payload).is_ok_and(|v| v["id"] == want.as_str()));
        if found.is_some() {
            break;
        }
    }
    let record = found.expect("the pushed ERP record reached Kafka as a canonical event");
    assert_eq!(record.key, "TSH-001-BLK-M");
    let dead = read(&bootstrap, &dlq, 3, 1).await;
    let dl: Value = serde_json::from_slice(&dead.first().expect("a dead letter").payload).expect("CloudEvent");
    assert_eq!(
        (dl["data"]["reason_code"].as_str(), dl["data"]["origin"].as_str()),
        (Some("unknown_currency"), Some(format!("pubsub:{bad_id}").as_str()))
    );
}

#[tokio::test]
async fn unwrapped_push_from_the_emulator_is_read_with_its_metadata() {
    let pubsub = PubsubEmulator {
        http: reqwest::Client::new(),
        base: format!("http://{}", emulator("PUBSUB_EMULATOR_HOST")),
        project: "estate-it".into(),
    };
    // A capture endpoint: the request exactly as the emulator pushes it.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(axum::http::HeaderMap, Vec<u8>)>(4);
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body.to_vec())).await;
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let topic = fresh("erp-unwrapped");
    pubsub.put(&format!("topics/{topic}"), json!({})).await;
    let sub = fresh("unwrapped");
    pubsub
        .put(
            &format!("subscriptions/{sub}"),
            json!({"topic": format!("projects/{}/topics/{topic}", pubsub.project),
                   "pushConfig": {"pushEndpoint": format!("http://127.0.0.1:{port}/"), "noWrapper": {"writeMetadata": true}}}),
        )
        .await;
    let id = pubsub.publish(&topic, b"STK,as400-us,42,SKU-1,WH-NYC-2,5,,20261120090000", "erp-csv").await;
    let (headers, body) =
        tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("pushed in time").expect("pushed");
    let msg = from_http(&headers, &body).expect("an unwrapped push");
    assert_eq!(msg.form, PushForm::Unwrapped);
    assert_eq!(msg.message_id, id);
    assert_eq!(msg.attributes.get("format").map(String::as_str), Some("erp-csv"));
    assert_eq!(msg.subscription.as_deref(), Some(format!("projects/{}/subscriptions/{sub}", pubsub.project).as_str()));
    assert_eq!(msg.data.as_deref().ok(), Some(&b"STK,as400-us,42,SKU-1,WH-NYC-2,5,,20261120090000"[..]));
}

#[tokio::test]
async fn local_replay_republishes_the_range_from_gcs_to_kafka() {
    let (gcs_endpoint, bootstrap) = (emulator("GCS_ENDPOINT"), emulator("KAFKA_BOOTSTRAP_SERVERS"));
    let gcs = Arc::new(GcsObjects::emulator(&gcs_endpoint));
    let bucket = fresh("it-replay-cli");
    gcs.ensure_bucket("local", &bucket).await.expect("bucket");
    let sink = audit_sink::AuditSink::new(gcs, bucket.clone());
    for (id, time) in [("erp-sap-eu-1", "2026-11-20T10:00:00Z"), ("erp-sap-eu-2", "2026-11-22T10:00:00Z")] {
        let event = json!({"specversion": "1.0", "id": id, "source": "/gcp/merch-normalizer", "type": "com.shop.merch.price-changed.v1",
                           "time": time, "datacontenttype": "application/json", "data": {}});
        let push = json!({"message": {"data": STANDARD.encode(event.to_string()), "messageId": id, "publishTime": time,
                          "attributes": {"kafka_topic": "merch.price-changed", "kafka_key": "SKU-1"}}, "subscription": "s"});
        let msg = from_http(&Default::default(), push.to_string().as_bytes()).expect("push");
        sink.handle(&msg).await.expect("audited");
    }
    let target = fresh("it-replay-cli-target");
    ensure_topics(&bootstrap, &[&target], 1).await.expect("topic");
    let out = tokio::process::Command::new(estate_tests::local_binary())
        .args([
            "replay",
            "--topic",
            "merch.price-changed",
            "--from",
            "2026-11-20T00:00:00Z",
            "--to",
            "2026-11-21T00:00:00Z",
        ])
        .args(["--target-topic", &target])
        .env("AUDIT_BUCKET", &bucket)
        .env("GCS_ENDPOINT", &gcs_endpoint)
        .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .output()
        .await
        .expect("local runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("republished 1 events"), "{stdout}");
    let records = read(&bootstrap, &target, 1, 1).await;
    let event: Value = serde_json::from_slice(&records[0].payload).expect("event");
    assert_eq!((records[0].key.as_str(), event["id"].as_str()), ("SKU-1", Some("erp-sap-eu-1")));
}

/// The payment requests of an MSK event, as order-updater published them.
fn requests_of(event: &Value) -> Vec<domain::events::PaymentRequested> {
    let records = event["records"].as_object().expect("records").values().flat_map(|p| p.as_array().expect("records"));
    records
        .map(|r| {
            let bytes = STANDARD.decode(r["value"].as_str().expect("value")).expect("base64");
            serde_json::from_slice::<domain::cloudevent::CloudEvent<domain::events::PaymentRequested>>(&bytes)
                .expect("a payment request")
                .data
        })
        .collect()
}
