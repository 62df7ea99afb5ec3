//! kafka-pubsub-bridge and fulfillment with google-cloud-pubsub against the Pub/Sub emulator: an
//! `order.paid` record from an MSK batch is mirrored to `mirror-order-paid` (ordering key and
//! kafka_* attributes), pushed by the emulator to fulfillment, which publishes the ledger entry
//! and the dispatch request to their topics.
use super::PubsubEmulator;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::events::topics;
use estate_tests::{emulator, fresh};
use platform_aws::invocation::Invocation;
use platform_gcp::pubsub::{PubSubConfig, PubSubPublisher};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

impl PubsubEmulator {
    /// Up to 10 messages of a pull subscription, acknowledged.
    async fn pull(&self, subscription: &str) -> Vec<Value> {
        let url = format!("{}/v1/projects/{}/subscriptions/{subscription}:pull", self.base, self.project);
        let resp: Value = self
            .http
            .post(&url)
            .json(&json!({"maxMessages": 10}))
            .send()
            .await
            .expect("pull")
            .json()
            .await
            .expect("json");
        let received = resp["receivedMessages"].as_array().cloned().unwrap_or_default();
        let ack_ids: Vec<Value> = received.iter().map(|m| m["ackId"].clone()).collect();
        if !ack_ids.is_empty() {
            let ack = format!("{}/v1/projects/{}/subscriptions/{subscription}:acknowledge", self.base, self.project);
            self.http.post(&ack).json(&json!({"ackIds": ack_ids})).send().await.expect("ack");
        }
        received.into_iter().map(|m| m["message"].clone()).collect()
    }

    /// Pulls until a message matches, for up to 30 s.
    async fn wait_for(&self, subscription: &str, matches: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..60 {
            if let Some(m) = self.pull(subscription).await.into_iter().find(&matches) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("no matching message on {subscription} within 30 s");
    }
}

fn data(m: &Value) -> Value {
    let bytes = STANDARD.decode(m["data"].as_str().unwrap_or_default()).expect("base64");
    serde_json::from_slice(&bytes).expect("JSON data")
}

/// The emulator's REST side (subscriptions, pulls) and a publisher to it, in project `estate-it`.
fn connect() -> (PubsubEmulator, Arc<PubSubPublisher>) {
    let host = emulator("PUBSUB_EMULATOR_HOST");
    let project = "estate-it";
    let rest = PubsubEmulator { http: reqwest::Client::new(), base: format!("http://{host}"), project: project.into() };
    let config = PubSubConfig {
        project: project.into(),
        emulator: Some(format!("http://{host}")),
        timeout: Duration::from_secs(20),
    };
    (rest, Arc::new(PubSubPublisher::new(config)))
}

/// The bridge publishing to `pubsub`, its dead letters to a bus of its own.
fn bridge(pubsub: &Arc<PubSubPublisher>) -> kafka_pubsub_bridge::Bridge {
    kafka_pubsub_bridge::Bridge {
        pubsub: pubsub.clone(),
        kafka: Arc::new(inmemory::Bus::new(1)),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(kafka_pubsub_bridge::NAME, topics::CHECKOUT_DLQ),
    }
}

#[tokio::test]
async fn an_order_paid_record_is_mirrored_pushed_to_fulfillment_and_booked() {
    let (rest, pubsub) = connect();
    let project = rest.project.clone();
    let mirror = topics::mirror_topic(topics::ORDER_PAID);
    for topic in [mirror.as_str(), topics::ACCOUNTING_ENTRIES, topics::WAREHOUSE_DISPATCH, topics::CHECKOUT_DLQ] {
        pubsub.ensure_topic(topic).await.expect("topic");
        pubsub.ensure_topic(topic).await.expect("an existing topic is fine");
    }
    let path = |t: &str| format!("projects/{project}/topics/{t}");
    let (mirrored, entries) = (fresh("it-mirror-pull"), fresh("it-entries-pull"));
    rest.put(&format!("subscriptions/{mirrored}"), json!({"topic": path(&mirror)})).await;
    rest.put(&format!("subscriptions/{entries}"), json!({"topic": path(topics::ACCOUNTING_ENTRIES)})).await;

    let f = Arc::new(fulfillment::Fulfillment {
        pubsub: pubsub.clone(),
        dead_letters: domain::dead_letter::DeadLetterPolicy::new(fulfillment::NAME, topics::CHECKOUT_DLQ),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, fulfillment::app(f, &platform_gcp::PushGuard::local())).await });
    let push = json!({"topic": path(&mirror), "pushConfig": {"pushEndpoint": format!("http://127.0.0.1:{port}/")}});
    rest.put(&format!("subscriptions/{}", fresh("it-fulfillment-push")), push).await;

    // An order.paid record as Lambda hands it to the bridge.
    let order = fresh("P").replace('-', "_");
    let paid = json!({"specversion": "1.0", "id": format!("order-paid-{order}"), "source": "/aws/order-updater",
        "type": "com.shop.order.paid.v1", "time": "2026-11-21T10:00:00Z", "datacontenttype": "application/json",
        "data": {"order_id": order, "customer_id": "C-1", "ship_to_country": "DE", "payment_id": format!("pay-{order}"),
                 "total": {"amount_minor": 4499, "currency": "EUR"},
                 "lines": [{"sku": "TSH-001", "quantity": 2, "unit_price": {"amount_minor": 2000, "currency": "EUR"}},
                           {"sku": "MUG-220", "quantity": 1, "unit_price": {"amount_minor": 499, "currency": "EUR"}}]}});
    let event = json!({"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:eu-west-1:0:cluster/c/x", "records": {
        "order.paid-1": [{"topic": "order.paid", "partition": 1, "offset": 77, "timestamp": 1795250000000i64,
            "timestampType": "CREATE_TIME", "key": STANDARD.encode(&order), "value": STANDARD.encode(paid.to_string()),
            "headers": []}]}});
    let out = bridge(&pubsub)
        .handle(serde_json::from_value(event).expect("MSK event"), &Invocation::one_minute())
        .await
        .expect("a Kafka batch");
    assert!(out.response.batch_item_failures.is_empty() && out.done.len() == 1, "{:?}", out.response);

    let m = rest.wait_for(&mirrored, |m| data(m)["data"]["order_id"] == order.as_str()).await;
    assert_eq!(m["orderingKey"], order.as_str(), "the Kafka key orders the mirror");
    let a = &m["attributes"];
    assert_eq!(
        (&a["kafka_topic"], &a["kafka_partition"], &a["kafka_offset"], &a["kafka_key"]),
        (&json!("order.paid"), &json!("1"), &json!("77"), &json!(order))
    );
    let entry = rest.wait_for(&entries, |m| data(m)["data"]["order_id"] == order.as_str()).await;
    let entry = data(&entry);
    assert_eq!(entry["id"], format!("ledger-entry-{order}"));
    assert_eq!(
        (entry["data"]["amount"]["amount_minor"].as_i64(), entry["data"]["debit_account"].as_str()),
        (Some(4499), Some(fulfillment::DEBIT_ACCOUNT))
    );
}

/// A key over Pub/Sub's 1,024 bytes through the real client and the emulator: ordered by its hash,
/// carried in base64 pieces, put back whole from the attributes the emulator delivers. (The
/// emulator takes any key, so the refusal itself is tested on the in-memory twin.)
#[tokio::test]
async fn a_2_kb_key_is_mirrored_by_its_hash_and_its_pieces_give_it_back_whole() {
    let (rest, pubsub) = connect();
    let project = rest.project.clone();
    let mirror = topics::mirror_topic(topics::PRICE_CHANGED);
    pubsub.ensure_topic(&mirror).await.expect("topic");
    let pull = fresh("it-long-key-pull");
    rest.put(&format!("subscriptions/{pull}"), json!({"topic": format!("projects/{project}/topics/{mirror}")})).await;

    let key = format!("{}-", fresh("K")).repeat(2048).chars().take(2048).collect::<String>();
    let event = json!({"eventSource": "aws:kafka", "records": {"merch.price-changed-0": [{"topic": "merch.price-changed",
        "partition": 0, "offset": 5, "timestamp": 1795250000000i64, "timestampType": "CREATE_TIME",
        "key": STANDARD.encode(&key), "value": STANDARD.encode(br#"{"id":"long-key"}"#), "headers": []}]}});
    let out = bridge(&pubsub)
        .handle(serde_json::from_value(event).expect("MSK event"), &Invocation::one_minute())
        .await
        .expect("a Kafka batch");
    assert_eq!((out.done.len(), out.dead_lettered, out.failed), (1, 0, 0));

    let m = rest.wait_for(&pull, |m| m["attributes"]["kafka_offset"] == "5").await;
    assert_eq!(m["orderingKey"], domain::mirror::long_key_ordering(&key));
    let attributes: std::collections::BTreeMap<String, String> =
        serde_json::from_value(m["attributes"].clone()).expect("attributes");
    assert_eq!(attributes.keys().filter(|k| k.starts_with("kafka_key_b64_")).count(), 3);
    assert_eq!(domain::mirror::decode(&attributes), Ok(Some(key)), "the key, whole");
}
