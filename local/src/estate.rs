//! The whole estate in one process on the in-memory backends. Each function is its real HTTP
//! app; the estate plays the platforms around them: Pub/Sub pushing ERP records, the Functions
//! host polling Kafka for each Azure function app (commit only after success, retry with
//! RetryContext, publish the output bindings), Lambda's Kafka event source mapping for each
//! Lambda (partial batch responses), and the Kafka→Pub/Sub bridge feeding audit-sink.
use crate::functions_host::{self, FunctionJson, parse_function_json};
use crate::oneshot::post;
use crate::pubsub_push;
use audit_sink::AuditSink;
use aws_lambda_events::event::kafka::KafkaEvent;
use axum::Router;
use axum::http::StatusCode;
use cart_cleaner::CartCleaner;
use chrono::{DateTime, Utc};
use domain::events::topics;
use domain::ports::{OutboundMessage, Publisher};
use fraud_scorer::Scorer;
use fulfillment::Fulfillment;
use image_resizer::ImageResizer;
use inmemory::{Bus, InMemoryCarts, InMemoryDocuments, InMemoryImageTotals, InMemoryObjects, InMemoryS3, TestGateway};
use kafka_pubsub_bridge::Bridge;
use merch_normalizer::Normalizer;
use order_updater::OrderUpdater;
use payment_processor::PaymentProcessor;
use platform_aws::msk::KafkaBatchResponse;
use platform_azure::InvocationResponse;
use platform_gcp::PushGuard;
use projection_updater::Updater;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const AUDIT_BUCKET: &str = "estate-audit";
const ERP_SUBSCRIPTION: &str = "projects/local/subscriptions/erp-changes-merch-normalizer";
/// The push subscriptions on the mirrored topics, by the Cloud Run function they push to.
const PUSH_SUBSCRIPTIONS: [(&str, &[&str]); 3] = [
    (audit_sink::NAME, &topics::MIRRORED),
    (fulfillment::NAME, &[topics::ORDER_PAID]),
    (image_analytics::NAME, &[topics::PRODUCT_IMAGE_PROCESSED]),
];

/// Every function the estate runs, by name: `local invoke` takes these.
pub const FUNCTIONS: [&str; 11] = [
    merch_normalizer::NAME,
    projection_updater::NAME,
    audit_sink::NAME,
    fraud_scorer::NAME,
    order_updater::NAME,
    payment_processor::NAME,
    cart_cleaner::NAME,
    kafka_pubsub_bridge::NAME,
    fulfillment::NAME,
    image_analytics::NAME,
    image_resizer::NAME,
];
/// The local carts index is listed in small pages, so a few carts already take several.
const CART_PAGE_SIZE: u32 = 10;
/// How often the local event source mapping retries a failing batch before it gives up.
const LAMBDA_MAX_RETRIES: u32 = 5;

/// An Azure function app as the Functions host sees it: its custom handler and function folders.
#[derive(Clone)]
struct AzureApp {
    name: &'static str,
    router: Router,
    functions: Vec<(String, FunctionJson)>,
}

impl AzureApp {
    fn new(name: &'static str, router: Router, folders: &[(&str, &str)]) -> Self {
        let functions = folders.iter().map(|(folder, json)| (folder.to_string(), parse_function_json(json))).collect();
        AzureApp { name, router, functions }
    }
}

/// Counters per function: what went in, what came out, what was dead-lettered.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub pushes: u64,
    pub redeliveries: u64,
    pub invocations: u64,
    pub retries: u64,
    pub records_in: u64,
    pub dead_lettered: u64,
}

pub struct Estate {
    pub bus: Bus,
    pub objects: InMemoryObjects,
    /// projection-updater's container (merch/projections).
    pub docs: InMemoryDocuments,
    /// fraud-scorer's state container (checkout/fraud).
    pub fraud_docs: InMemoryDocuments,
    /// order-updater's DynamoDB tables.
    pub orders: InMemoryDocuments,
    pub carts: InMemoryCarts,
    pub order_updater: Arc<OrderUpdater>,
    /// payment-processor's idempotency records (DynamoDB) and the test gateway.
    pub payments: InMemoryDocuments,
    pub gateway: TestGateway,
    pub payment_processor: Arc<PaymentProcessor>,
    pub cart_cleaner: Arc<CartCleaner>,
    pub bridge: Arc<Bridge>,
    normalizer: Router,
    audit: Router,
    fulfillment: Router,
    image_analytics: Router,
    /// image-analytics' PostgreSQL tables.
    pub image_totals: InMemoryImageTotals,
    /// The product-image uploads bucket image-resizer reads, and writes its variants to.
    pub uploads: InMemoryS3,
    pub image_resizer: Arc<ImageResizer>,
    azure_apps: Vec<AzureApp>,
    pub stats: BTreeMap<&'static str, Stats>,
    invocation: AtomicU64,
}

impl Default for Estate {
    fn default() -> Self {
        Self::new()
    }
}

impl Estate {
    pub fn new() -> Self {
        let bus = Bus::new(3);
        let objects = InMemoryObjects::default();
        let docs = InMemoryDocuments::default();
        let normalizer = Arc::new(Normalizer::new(Arc::new(bus.clone()), merch_normalizer::Config::default()));
        let fraud_docs = InMemoryDocuments::default();
        let updater = Arc::new(Updater::new(Arc::new(docs.clone())));
        let audit = Arc::new(AuditSink::new(Arc::new(objects.clone()), AUDIT_BUCKET));
        // Each custom handler's body limit as deployed: its host.json batch size, the
        // environment's record size.
        let env = serve::Env::Process;
        let updater_limit = projection_updater::max_body_bytes(&env).unwrap_or(usize::MAX);
        // The embedded default scores with the default model (see fraud_scorer::model).
        let scorer = Arc::new(Scorer::new(Arc::new(fraud_docs.clone()), fraud_scorer::Config::default()));
        let scorer_limit = fraud_scorer::max_body_bytes(&env).unwrap_or(usize::MAX);
        let azure_apps = vec![
            AzureApp::new(
                projection_updater::NAME,
                projection_updater::app(updater, updater_limit),
                &projection_updater::FUNCTIONS,
            ),
            AzureApp::new(fraud_scorer::NAME, fraud_scorer::app(scorer, scorer_limit), &fraud_scorer::FUNCTIONS),
        ];
        let (orders, carts) = (InMemoryDocuments::default(), InMemoryCarts::default());
        let order_updater = Arc::new(OrderUpdater {
            orders: Arc::new(orders.clone()),
            carts: Arc::new(carts.clone()),
            bus: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(order_updater::NAME, topics::CHECKOUT_DLQ),
        });
        let (payments, gateway) = (InMemoryDocuments::default(), TestGateway::default());
        let payment_processor = Arc::new(PaymentProcessor {
            clock: stepping_clock(),
            payments: Arc::new(payments.clone()),
            gateway: Arc::new(gateway.clone()),
            bus: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(payment_processor::NAME, topics::CHECKOUT_DLQ),
            rules: payment_processor::Rules::default(),
        });
        let cart_cleaner = Arc::new(CartCleaner {
            carts: Arc::new(carts.clone()),
            bus: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(cart_cleaner::NAME, topics::CHECKOUT_DLQ),
            page_size: CART_PAGE_SIZE,
        });
        // Pub/Sub is played by the bus too: the bridge publishes under the `mirror-…` names, and
        // fulfillment's ledger entries and dispatches land on their Pub/Sub topic names.
        let bridge = Arc::new(Bridge {
            pubsub: Arc::new(bus.clone()),
            kafka: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(kafka_pubsub_bridge::NAME, topics::CHECKOUT_DLQ),
        });
        let fulfillment = Arc::new(Fulfillment {
            pubsub: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(fulfillment::NAME, topics::CHECKOUT_DLQ),
        });
        let image_totals = InMemoryImageTotals::default();
        let analytics = Arc::new(image_analytics::ImageAnalytics {
            totals: Arc::new(image_totals.clone()),
            pubsub: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(image_analytics::NAME, topics::IMAGES_DLQ),
        });
        // The uploads bucket: unversioned on a laptop, so S3 events name objects by etag alone.
        let uploads = InMemoryS3::unversioned();
        let image_resizer = Arc::new(ImageResizer {
            objects: Arc::new(uploads.clone()),
            bus: Arc::new(bus.clone()),
            settings: image_resizer::Settings::local(),
        });
        Estate {
            uploads,
            image_resizer,
            image_analytics: image_analytics::app(analytics, &PushGuard::local()),
            image_totals,
            bridge,
            fulfillment: fulfillment::app(fulfillment, &PushGuard::local()),
            cart_cleaner,
            orders,
            carts,
            order_updater,
            payments,
            gateway,
            payment_processor,
            normalizer: merch_normalizer::app(normalizer, &PushGuard::local()),
            audit: audit_sink::app(audit, &PushGuard::local()),
            azure_apps,
            bus,
            objects,
            docs,
            fraud_docs,
            stats: BTreeMap::new(),
            invocation: AtomicU64::new(0),
        }
    }

    /// The HTTP app of a function, by name.
    pub fn app(&self, function: &str) -> Option<&Router> {
        match function {
            merch_normalizer::NAME => Some(&self.normalizer),
            audit_sink::NAME => Some(&self.audit),
            fulfillment::NAME => Some(&self.fulfillment),
            image_analytics::NAME => Some(&self.image_analytics),
            _ => self.azure_apps.iter().find(|a| a.name == function).map(|a| &a.router),
        }
    }

    /// True for a function that runs on AWS Lambda (invoked with an event, not over HTTP).
    pub fn is_lambda(&self, function: &str) -> bool {
        [
            order_updater::NAME,
            payment_processor::NAME,
            cart_cleaner::NAME,
            kafka_pubsub_bridge::NAME,
            image_resizer::NAME,
        ]
        .contains(&function)
    }

    /// Invokes a Lambda with an event as its runtime would: its partial batch response and a
    /// one-line report of what it did.
    pub async fn invoke_lambda(
        &self,
        function: &str,
        event: KafkaEvent,
    ) -> Result<(KafkaBatchResponse, String), String> {
        match function {
            order_updater::NAME => {
                let (response, report) = self.order_updater.handle(event).await.map_err(|e| e.to_string())?;
                Ok((response, format!("{report:?}")))
            }
            payment_processor::NAME => {
                let (response, out) = self.payment_processor.handle(event).await.map_err(|e| e.to_string())?;
                let report = format!("done {:?}, dead-lettered {}, failed {}", out.done, out.dead_lettered, out.failed);
                Ok((response, report))
            }
            cart_cleaner::NAME => {
                let out = self.cart_cleaner.handle(event).await.map_err(|e| e.to_string())?;
                let report = format!("done {:?}, dead-lettered {}, failed {}", out.done, out.dead_lettered, out.failed);
                Ok((out.response, report))
            }
            kafka_pubsub_bridge::NAME => {
                let out = self.bridge.handle(event).await.map_err(|e| e.to_string())?;
                let report =
                    format!("mirrored {}, dead-lettered {}, failed {}", out.done.len(), out.dead_lettered, out.failed);
                Ok((out.response, report))
            }
            other => Err(format!("{other} is not a Lambda of the estate")),
        }
    }

    /// True for a function that runs as an Azure Functions custom handler.
    pub fn is_azure_app(&self, function: &str) -> bool {
        self.azure_apps.iter().any(|a| a.name == function)
    }

    /// The function folders of an Azure function app (the routes the host POSTs to).
    pub fn azure_function_folders(&self, app: &str) -> Vec<String> {
        let app = self.azure_apps.iter().find(|a| a.name == app);
        app.map(|a| a.functions.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default()
    }

    /// Output bindings (name → topic) of one function folder (folder names are unique in the estate).
    pub fn azure_outputs(&self, function_folder: &str) -> Vec<(String, String)> {
        self.azure_apps
            .iter()
            .flat_map(|a| &a.functions)
            .find(|(n, _)| n == function_folder)
            .map(|(_, f)| f.outputs.clone())
            .unwrap_or_default()
    }

    pub fn stat(&mut self, f: &'static str) -> &mut Stats {
        self.stats.entry(f).or_default()
    }

    /// Pub/Sub pushes one ERP message to merch-normalizer, redelivering on a non-2xx answer as
    /// Pub/Sub does (bounded here; Pub/Sub would hand it to the subscription's dead-letter topic).
    pub async fn push_erp(
        &mut self,
        data: &[u8],
        attrs: BTreeMap<String, String>,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> StatusCode {
        let body = pubsub_push::push_body(data, attrs, message_id, at, ERP_SUBSCRIPTION);
        self.push_raw(merch_normalizer::NAME, body).await
    }

    /// Pushes a ready-made body (an envelope that may be broken) to a Cloud Run function.
    pub async fn push_raw(&mut self, function: &'static str, body: Vec<u8>) -> StatusCode {
        let Some(app) = self.app(function).cloned() else { return StatusCode::NOT_FOUND };
        self.stat(function).pushes += 1;
        for _ in 0..5 {
            let (status, _) =
                post(&app, "/", &[("content-type".into(), "application/json".into())], body.clone()).await;
            if status.is_success() {
                return status;
            }
            self.stat(function).redeliveries += 1;
        }
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The Functions host for projection-updater.
    pub async fn run_projection_updater(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_azure_app(projection_updater::NAME, max_batch).await
    }

    /// The Functions host for fraud-scorer.
    pub async fn run_fraud_scorer(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_azure_app(fraud_scorer::NAME, max_batch).await
    }

    /// The Functions host: for each function of an app, polls its topic in batches (the app's
    /// name is its consumer group), invokes, publishes output bindings, and commits only after a
    /// successful invocation; a failed one is retried with RetryContext up to the function's
    /// `maxRetryCount`.
    pub async fn run_azure_app(&mut self, app: &'static str, max_batch: usize) -> Result<(), RunError> {
        let Some(AzureApp { router, functions, .. }) = self.azure_apps.iter().find(|a| a.name == app).cloned() else {
            return Err(RunError(format!("{app} is not an Azure function app of the estate")));
        };
        for (name, function) in functions {
            let FunctionJson { trigger_topic: topic, trigger_name, outputs, max_retry_count: max_retry } = function;
            loop {
                let batch = self.bus.poll(app, &[topic.as_str()], max_batch);
                if batch.is_empty() {
                    break;
                }
                let mut attempt = 0;
                let resp = loop {
                    let n = self.invocation.fetch_add(1, Ordering::SeqCst);
                    let retry = (attempt > 0).then_some((attempt, max_retry));
                    let req = functions_host::kafka_trigger_request(&name, &trigger_name, &batch, retry, n);
                    let body = serde_json::to_vec(&req).unwrap_or_default();
                    let headers = [("content-type".to_string(), "application/json".to_string())];
                    let (status, bytes) = post(&router, &format!("/{name}"), &headers, body).await;
                    self.stat(app).invocations += 1;
                    if status.is_success() {
                        break serde_json::from_slice::<InvocationResponse>(&bytes).unwrap_or_default();
                    }
                    if attempt >= max_retry {
                        return Err(RunError(format!("{name}: invocation failed after {attempt} retries")));
                    }
                    attempt += 1;
                    self.stat(app).retries += 1;
                };
                self.publish_outputs(app, &resp, &outputs).await?;
                self.stat(app).records_in += batch.len() as u64;
                self.bus.commit(app, &batch);
            }
        }
        Ok(())
    }

    /// Lambda's event source mappings for order-updater (one per topic, as MSK's are).
    pub async fn run_order_updater(&mut self, max_batch: usize) -> Result<(), RunError> {
        self.run_order_updater_in(&order_updater::TOPICS, max_batch).await
    }

    /// order-updater's mappings, run in the order given: they are independent, so which topic's
    /// batch comes first is anyone's guess (a decision may arrive before its order).
    pub async fn run_order_updater_in(&mut self, topics: &[&str], max_batch: usize) -> Result<(), RunError> {
        let updater = self.order_updater.clone();
        self.run_lambda(order_updater::NAME, topics, max_batch, move |event| {
            let updater = updater.clone();
            async move {
                updater.handle(event).await.map(|(r, report)| (r, report.dead_lettered)).map_err(|e| e.to_string())
            }
        })
        .await
    }

    /// Lambda's event source mapping for payment-processor.
    pub async fn run_payment_processor(&mut self, max_batch: usize) -> Result<(), RunError> {
        let processor = self.payment_processor.clone();
        self.run_lambda(payment_processor::NAME, &[topics::PAYMENT_REQUESTED], max_batch, move |event| {
            let processor = processor.clone();
            async move { processor.handle(event).await.map(|(r, out)| (r, out.dead_lettered)).map_err(|e| e.to_string()) }
        })
        .await
    }

    /// Lambda's event source mapping for cart-cleaner.
    pub async fn run_cart_cleaner(&mut self, max_batch: usize) -> Result<(), RunError> {
        let cleaner = self.cart_cleaner.clone();
        self.run_lambda(cart_cleaner::NAME, &[topics::PRODUCT_DELETED], max_batch, move |event| {
            let cleaner = cleaner.clone();
            async move {
                cleaner.handle(event).await.map(|out| (out.response, out.dead_lettered)).map_err(|e| e.to_string())
            }
        })
        .await
    }

    /// An event source mapping per topic: polls it in batches, invokes, commits what the partial
    /// batch response settles, and retries the rest (bounded; then the run stops with an error,
    /// where Lambda would hand the batch to the mapping's on-failure destination).
    async fn run_lambda<F, Fut>(
        &mut self,
        function: &'static str,
        topics: &[&str],
        max_batch: usize,
        invoke: F,
    ) -> Result<(), RunError>
    where
        F: Fn(KafkaEvent) -> Fut,
        Fut: Future<Output = Result<(KafkaBatchResponse, usize), String>>,
    {
        for topic in topics {
            let mut retries = 0;
            loop {
                let batch = self.bus.poll(function, &[topic], max_batch);
                if batch.is_empty() {
                    break;
                }
                let (response, dead_lettered) = invoke(crate::lambda_host::msk_event(&batch))
                    .await
                    .map_err(|e| RunError(format!("{function}: {e}")))?;
                let settled = crate::lambda_host::settled(&batch, &response);
                let stat = self.stat(function);
                stat.invocations += 1;
                stat.dead_lettered += dead_lettered as u64;
                stat.records_in += settled.len() as u64;
                self.bus.commit(function, &settled);
                if response.batch_item_failures.is_empty() {
                    retries = 0;
                    continue;
                }
                retries += 1;
                self.stat(function).retries += 1;
                if retries > LAMBDA_MAX_RETRIES {
                    return Err(RunError(format!(
                        "{function}: {topic} batch still failing after {LAMBDA_MAX_RETRIES} retries"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The host's publishing of an invocation's Kafka output bindings.
    pub async fn publish_outputs(
        &mut self,
        app: &'static str,
        resp: &InvocationResponse,
        outputs: &[(String, String)],
    ) -> Result<(), RunError> {
        for (binding, topic) in outputs {
            let Some(serde_json::Value::Array(items)) = resp.outputs.get(binding) else { continue };
            for item in items {
                let key = item["Key"].as_str().unwrap_or_default();
                let value = item["Value"].as_str().unwrap_or_default().as_bytes().to_vec();
                self.bus
                    .publish(OutboundMessage::new(topic.as_str(), key, value))
                    .await
                    .map_err(|e| RunError(format!("output binding {binding}: {e}")))?;
                if topic.ends_with(".dlq") {
                    self.stat(app).dead_lettered += 1;
                }
            }
        }
        Ok(())
    }

    /// kafka-pubsub-bridge's event source mappings (one per mirrored topic), publishing to the
    /// in-memory Pub/Sub (the bus, under the `mirror-…` topic names), then Pub/Sub's push
    /// subscriptions delivering what was mirrored to audit-sink, fulfillment and image-analytics.
    pub async fn run_mirror(&mut self, max_batch: usize) -> Result<(), RunError> {
        let bridge = self.bridge.clone();
        self.run_lambda(kafka_pubsub_bridge::NAME, &topics::MIRRORED, max_batch, move |event| {
            let bridge = bridge.clone();
            async move { bridge.handle(event).await.map(|out| (out.response, out.dead_lettered)).map_err(|e| e.to_string()) }
        })
        .await?;
        for (subscriber, kafka_topics) in PUSH_SUBSCRIPTIONS {
            for kafka_topic in kafka_topics {
                self.run_push_subscription(subscriber, &topics::mirror_topic(kafka_topic), max_batch).await?;
            }
        }
        Ok(())
    }

    /// One push subscription: every new message of a Pub/Sub topic pushed to its Cloud Run
    /// function, redelivered while it answers non-2xx (bounded, see `push_raw`).
    async fn run_push_subscription(
        &mut self,
        function: &'static str,
        topic: &str,
        max_batch: usize,
    ) -> Result<(), RunError> {
        let subscription = format!("{topic}-{function}");
        loop {
            let batch = self.bus.poll(&subscription, &[topic], max_batch);
            if batch.is_empty() {
                return Ok(());
            }
            for r in &batch {
                let status = self.push_raw(function, pubsub_push::pushed_from_bus(r, &subscription)).await;
                if !status.is_success() {
                    return Err(RunError(format!("{function} refused {}/{}@{}", r.topic, r.partition, r.offset)));
                }
                self.stat(function).records_in += 1;
            }
            self.bus.commit(&subscription, &batch);
        }
    }
}

/// A clock that starts at a fixed instant and moves one second each time it is read: time
/// passes (leases run out), and every run reads the same times, so outputs can be compared.
fn stepping_clock() -> payment_processor::Clock {
    let start = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    let ticks = Arc::new(AtomicU64::new(0));
    Arc::new(move || start + chrono::Duration::seconds(ticks.fetch_add(1, Ordering::SeqCst) as i64))
}

/// Why a local run stopped: a platform step the real cloud would also have failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);
