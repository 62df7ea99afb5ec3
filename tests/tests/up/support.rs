//! One `local up` estate for a test, and what the test reads of the emulators through the
//! services' own APIs (DynamoDB, S3, moto's SES record, the Pub/Sub emulator's REST API, Kafka).
//! Shared by up.rs and up_clouds.rs, each using part of it.
#![allow(dead_code)]
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use domain::cloudevent::{CloudEvent, DomainEvent, decode};
use domain::ports::{OutboundMessage, Publisher};
use local::up::msk::StartingPosition;
use local::up::{Running, UpOptions};
use orders::machine::OrderRecord;
use platform_aws::dynamodb::DynamoDocuments;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// One estate at a time in this process, whichever runner runs the tests (nextest runs each test
/// in its own process and groups them in `.config/nextest.toml`; `cargo test` runs them on threads).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The emulators a test's `up` started: stopped with the estate, or when it is dropped (a test
/// that panicked leaves nothing running).
struct Started {
    set: local::up::emulators::EmulatorSet,
    services: Vec<&'static str>,
}

impl Started {
    fn stop_now(&mut self) -> Result<(), String> {
        let services = std::mem::take(&mut self.services);
        self.set.stop(&services)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.stop_now();
    }
}

pub struct Estate {
    pub running: Running,
    _turn: tokio::sync::MutexGuard<'static, ()>,
    started: Started,
    run: String,
    kafka: kafka::KafkaPublisher,
    aws: aws_config::SdkConfig,
}

/// Waits (up to 90 s) until `read` gives what `done` wants, and returns it.
pub async fn eventually<T: std::fmt::Debug, F: Future<Output = T>>(
    what: &str,
    mut read: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let until = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got = read().await;
        if done(&got) {
            return got;
        }
        assert!(std::time::Instant::now() < until, "waited 90 s for {what}; last: {got:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A document of a Cosmos container of this run (its database is `<prefix><database>`), read
/// from the Cosmos emulator; None when it (or its container) is not there.
pub async fn cosmos_read(estate: &Estate, database: &str, container: &str, pk_path: &str, id: &str) -> Option<Value> {
    use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
    let database = format!("{}{database}", estate.running.names.prefix);
    let config = CosmosConfig {
        endpoint: estate.running.endpoints.cosmos.clone(),
        ..CosmosConfig::from_env(&serve::Env::Process, &database, container).expect("emulator settings")
    };
    let docs = CosmosDocuments::connect(&config, pk_path, false).await.ok()?;
    use domain::ports::Documents;
    docs.read(id, id).await.ok().flatten().map(|d| d.body.to_value())
}

/// A recorded fixture's upload: `front (1).jpg` is a photo, `back.jpg` one cut short.
pub fn upload_fixture(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/aws/s3/objects/acme-product-media/uploads/TSH-001-BLK-M");
    std::fs::read(format!("{dir}/{name}")).expect("the fixture's image")
}

impl Estate {
    /// `local up` for these flows and functions, with a fresh prefix, starting at the topics' ends.
    pub async fn up(flows: &[&str], functions: &[&str], concurrency: &[(&str, usize)]) -> Estate {
        Self::with(|o| {
            o.flows = flows.iter().map(|s| s.to_string()).collect();
            o.functions = functions.iter().map(|s| s.to_string()).collect();
            o.concurrency = concurrency.iter().map(|(f, n)| (f.to_string(), *n)).collect();
        })
        .await
    }

    /// As `up`, with the options as `tweak` leaves them.
    pub async fn with(tweak: impl FnOnce(&mut UpOptions)) -> Estate {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
        let run = format!("{}{}", std::process::id(), nanos % 1_000_000);
        let mut opts = UpOptions {
            prefix: format!("it{run}-"),
            starting: StartingPosition::Latest,
            retry_pause: Duration::from_millis(300),
            log_dir: Some(std::env::temp_dir().join("estate-up-logs")),
            ..UpOptions::default()
        };
        tweak(&mut opts);
        let turn = ONE_AT_A_TIME.lock().await;
        let set = opts.emulators.clone();
        let (running, services) = local::up::up(opts).await.expect("local up started");
        let started = Started { set, services };
        let kafka = kafka::KafkaPublisher::new(&running.endpoints.kafka).expect("a producer");
        let aws = running.endpoints.aws_config().await;
        Estate { running, _turn: turn, started, run, kafka, aws }
    }

    /// The committed offsets of a mapping's consumer group.
    pub async fn group_offsets(&self, function: &str, topic: &str) -> BTreeMap<i32, i64> {
        let group = local::up::msk::group_name(&self.running.options().prefix, function, topic);
        let (kafka, topic) = (self.running.endpoints.kafka.clone(), topic.to_string());
        let read = move || local::up::msk::group_offsets(&kafka, &group, &topic);
        tokio::task::spawn_blocking(read).await.expect("join").expect("the group's offsets")
    }

    /// Stops the functions, moves these mappings' groups back to the offsets given, and starts
    /// the same estate again (its tables, buckets and groups): the mappings deliver again what
    /// they had delivered since those offsets.
    pub async fn restart_from(mut self, offsets: &[(&str, &str, BTreeMap<i32, i64>)]) -> Estate {
        let opts = self.running.options().clone();
        let endpoints = self.running.endpoints.clone();
        self.running.stop().await;
        for (function, topic, at) in offsets {
            let group = local::up::msk::group_name(&opts.prefix, function, topic);
            local::up::msk::reset_group(&endpoints.kafka, &group, topic, at).expect("the group reset");
        }
        self.running = local::up::start(opts, endpoints).await.expect("local up started again");
        self
    }

    pub async fn stop(self) {
        self.running.stop().await;
        let mut started = self.started;
        tokio::task::spawn_blocking(move || started.stop_now()).await.expect("join").expect("stopped");
    }

    /// An id of this run.
    pub fn id(&self, name: &str) -> String {
        format!("{name}-{}", self.run)
    }

    /// `n` order ids whose events (keyed by order id) land on the same partition.
    pub fn ids_on_one_partition(&self, name: &str, n: usize) -> Vec<String> {
        let partitions = local::up::provision::PARTITIONS;
        (0..)
            .map(|i| self.id(&format!("{name}-{i}")))
            .filter(|id| inmemory::kafka_partition(id.as_bytes(), partitions) == 0)
            .take(n)
            .collect()
    }

    pub fn event<T: DomainEvent>(&self, id: String, data: T) -> CloudEvent<T> {
        CloudEvent::new(id, "/tests/up", Utc::now(), data)
    }

    pub async fn publish<T: DomainEvent>(&self, e: &CloudEvent<T>) {
        self.publish_keyed(e, "").await
    }

    /// Published under its key with `suffix` after it (another partition, most likely).
    pub async fn publish_keyed<T: DomainEvent>(&self, e: &CloudEvent<T>, suffix: &str) {
        let msg =
            OutboundMessage::new(T::TOPIC, format!("{}{suffix}", e.key()), e.to_json()).with_header("ce_id", &e.id);
        self.kafka.publish(msg).await.expect("published");
    }

    pub fn invocations(&self, function: &str) -> u64 {
        self.running.stats.snapshot().get(function).map(|s| s.invocations).unwrap_or(0)
    }

    fn table(&self, name: &str) -> DynamoDocuments {
        DynamoDocuments::new(aws_sdk_dynamodb::Client::new(&self.aws), self.running.names.table(name))
            .with_top_level(&orders::layout::TOP_LEVEL)
    }

    pub async fn order(&self, order: &str) -> Option<OrderRecord> {
        orders::store::read_record(&self.table("orders"), order).await.expect("the orders table").0
    }

    /// Waits for the order to be paid.
    pub async fn paid(&self, order: &str) -> OrderRecord {
        let paid = |r: &Option<OrderRecord>| r.as_ref().is_some_and(|r| r.state == orders::machine::OrderState::Paid);
        eventually(&format!("order {order} paid"), || self.order(order), paid).await.expect("paid")
    }

    /// A customer notifier writes to.
    pub async fn sign_up(&self, id: &str, email: &str) {
        let c = notifier::Customer {
            id: notifier::CUSTOMER_ID.into(),
            pk: id.to_string(),
            name: "Ana".into(),
            email: Some(email.into()),
            locale: Some("en".into()),
            opted_out: false,
        };
        let body = domain::ports::document(&c).expect("json");
        use domain::ports::Documents;
        self.table("customers").create(id, notifier::CUSTOMER_ID, body).await.expect("the customer");
    }

    /// The raw e-mails moto's SES took whose text mentions `text`.
    pub async fn emails_about(&self, text: &str) -> Vec<String> {
        let url = format!("{}/moto-api/data.json", self.running.endpoints.aws);
        let data: Value = reqwest::get(url).await.expect("moto's API").json().await.expect("JSON");
        let sent = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
        let about = |raw: &&str| notifier::render::decoded_parts(raw).iter().any(|part| part.contains(text));
        sent.iter().filter_map(|m| m["raw_data"].as_str()).filter(about).map(str::to_string).collect()
    }

    async fn keys(&self, bucket: &str) -> Vec<String> {
        let s3 = local::up::emulators::s3_client(&self.aws);
        let listed = s3.list_objects_v2().bucket(self.running.names.bucket(bucket)).send().await.expect("list");
        listed.contents.unwrap_or_default().into_iter().filter_map(|o| o.key).collect()
    }

    pub async fn lake_files(&self) -> Vec<String> {
        self.keys("lake").await
    }

    pub async fn processed_files(&self) -> Vec<String> {
        self.keys("processed").await
    }

    pub async fn upload(&self, key: &str, bytes: &[u8]) {
        let s3 = local::up::emulators::s3_client(&self.aws);
        let put = s3.put_object().bucket(self.running.names.uploads()).key(key).content_type("image/jpeg");
        put.body(ByteStream::from(bytes.to_vec())).send().await.expect("uploaded");
    }

    fn pubsub(&self, path: &str) -> String {
        format!("http://{}/v1/projects/local/{path}", self.running.endpoints.pubsub)
    }

    /// A pull subscription of this run to a Pub/Sub topic.
    pub async fn subscribe(&self, topic: &str) -> String {
        let name = format!("it{}-{topic}", self.run);
        let body = json!({"topic": format!("projects/local/topics/{topic}")});
        let made = reqwest::Client::new().put(self.pubsub(&format!("subscriptions/{name}"))).json(&body).send().await;
        assert!(made.expect("the Pub/Sub emulator").status().is_success());
        name
    }

    /// The messages' data (decoded) pulled from the subscription.
    pub async fn pull(&self, subscription: &str) -> Vec<String> {
        let url = self.pubsub(&format!("subscriptions/{subscription}:pull"));
        let got = reqwest::Client::new().post(url).json(&json!({"maxMessages": 100})).send().await.expect("pull");
        let got: Value = got.json().await.expect("JSON");
        use base64::Engine;
        let data = got["receivedMessages"].as_array().cloned().unwrap_or_default();
        data.iter()
            .filter_map(|m| m["message"]["data"].as_str())
            .filter_map(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .map(|d| String::from_utf8_lossy(&d).into_owned())
            .collect()
    }

    pub async fn records(&self, topic: &str) -> Vec<domain::ports::BusRecord> {
        let (kafka, topic, partitions) =
            (self.running.endpoints.kafka.clone(), topic.to_string(), local::up::provision::PARTITIONS);
        let read = move || kafka::read_topic(&kafka, &topic, partitions, usize::MAX, Duration::from_secs(2));
        tokio::task::spawn_blocking(read).await.expect("join").expect("read")
    }

    /// The records of a topic whose payload mentions `text`.
    pub async fn records_mentioning(&self, topic: &str, text: &str) -> Vec<domain::ports::BusRecord> {
        self.records(topic).await.into_iter().filter(|r| String::from_utf8_lossy(&r.payload).contains(text)).collect()
    }

    /// The names of a GCS bucket's objects (the run's bucket `name`) under `prefix`.
    pub async fn gcs_objects(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let bucket = self.running.names.bucket(bucket);
        let url = format!("{}/storage/v1/b/{bucket}/o", self.running.endpoints.gcs);
        let got = reqwest::Client::new().get(url).query(&[("prefix", prefix)]).send().await.expect("the GCS emulator");
        let listed: Value = got.json().await.expect("JSON");
        let items = listed["items"].as_array().cloned().unwrap_or_default();
        items.iter().filter_map(|o| o["name"].as_str().map(str::to_string)).collect()
    }

    /// The records of a topic under this key.
    pub async fn records_about(&self, topic: &str, key: &str) -> Vec<domain::ports::BusRecord> {
        self.records(topic).await.into_iter().filter(|r| r.key == key).collect()
    }

    /// The invocation records on the run's on-failure queue.
    pub async fn on_failure_queue(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.aws);
        let got =
            sqs.receive_message().queue_url(&self.running.queues.on_failure).max_number_of_messages(10).send().await;
        let messages = got.expect("the on-failure queue").messages.unwrap_or_default();
        messages.iter().filter_map(|m| serde_json::from_str(m.body.as_deref()?).ok()).collect()
    }

    /// The events of the topic about these orders.
    pub async fn read_events<T: DomainEvent + serde::de::DeserializeOwned>(
        &self,
        topic: &str,
        orders: &[String],
    ) -> Vec<T> {
        let ours = |r: &domain::ports::BusRecord| orders.contains(&r.key);
        let records = self.records(topic).await;
        records.iter().filter(|r| ours(r)).filter_map(|r| decode::<T>(&r.payload).ok()).map(|e| e.data).collect()
    }

    /// Where each payment request about these orders is, by payment id.
    pub async fn offsets_of(&self, topic: &str, orders: &[String]) -> BTreeMap<String, (i32, i64)> {
        let mut out = BTreeMap::new();
        for r in self.records(topic).await.into_iter().filter(|r| orders.contains(&r.key)) {
            if let Ok(e) = decode::<domain::events::PaymentRequested>(&r.payload) {
                out.insert(e.data.payment_id, (r.partition, r.offset));
            }
        }
        out
    }
}
