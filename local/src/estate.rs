//! The whole estate in one process on the in-memory backends. Each function is its real HTTP
//! app; the estate plays the platforms around them: Pub/Sub pushing ERP records, the Functions
//! host polling Kafka for each Azure function app (commit only after success, retry with
//! RetryContext, publish the output bindings), Lambda's Kafka event source mapping for each
//! Lambda (partial batch responses), and the Kafka→Pub/Sub bridge feeding audit-sink.
use crate::functions_host::{self, FunctionJson, parse_function_json};
use crate::oneshot::post;
use crate::pubsub_push;
use crate::registry::{FUNCTIONS, Host};
use aws_lambda_events::event::kafka::KafkaEvent;
use axum::Router;
use axum::http::StatusCode;
use cart_cleaner::CartCleaner;
use chrono::{DateTime, Utc};
use domain::events::topics;
use domain::ports::Publisher;
use image_resizer::ImageResizer;
use inmemory::stream::ChangeFeed;
use inmemory::{
    Bus, InMemoryCarts, InMemoryDocuments, InMemoryImageTotals, InMemoryObjects, InMemoryPubSub, InMemoryS3,
    TestGateway,
};
use kafka_pubsub_bridge::Bridge;
use order_sweeper::Sweeper;
use order_updater::OrderUpdater;
use orders::store::OrderStore;
use payment_processor::PaymentProcessor;
use platform_aws::msk::KafkaBatchResponse;
use platform_azure::InvocationResponse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod clock;
mod delivery;
mod streams;
pub use clock::SteppingClock;
pub use delivery::push_subscription;
pub use streams::stream_event;

pub const AUDIT_BUCKET: &str = "estate-audit";
/// The notifier's sender, in the domain the local SES has verified.
pub const SENDER_DOMAIN: &str = "shop.example.com";
pub const SENDER: &str = "orders@shop.example.com";
/// lake-archiver's bucket on this machine (`LAKE_BUCKET`'s local default).
pub const LAKE_BUCKET: &str = "lake";
const ERP_SUBSCRIPTION: &str = "projects/local/subscriptions/erp-changes-merch-normalizer";

/// The local carts index is listed in small pages, so a few carts already take several.
const CART_PAGE_SIZE: u32 = 10;
/// How often the local event source mapping retries a failing batch before it gives up.
pub const LAMBDA_MAX_RETRIES: u32 = 5;
/// The time the local mapping lets pass (on the estate's clock) before it retries a failing
/// batch: a lease held by a charge whose answer was lost (120 s) runs out within the retries, as
/// it does while Lambda keeps retrying the partition in the cloud.
pub const LAMBDA_RETRY_PAUSE: chrono::Duration = chrono::Duration::seconds(60);
/// The local Lambdas' timeout: each invocation's deadline is this far from its start, within
/// payment-processor's lease.
const LAMBDA_TIMEOUT: chrono::Duration = chrono::Duration::seconds(60);

/// An Azure function app as the Functions host sees it: its custom handler and function folders.
#[derive(Clone)]
struct AzureApp {
    name: &'static str,
    router: Router,
    functions: Vec<(String, FunctionJson)>,
}

impl AzureApp {
    fn new(name: &'static str, router: Router, folders: &[(&'static str, &'static str)]) -> Self {
        // Compiled in from the app's folders; a unit test parses each, so this never fails at run.
        let parse = |json| parse_function_json(json).unwrap_or_else(|e| panic!("{name}: function.json: {e}"));
        let functions = folders.iter().map(|(folder, json)| (folder.to_string(), parse(json))).collect();
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
    /// Records an event source mapping committed past once its retries were spent.
    pub skipped: u64,
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
    /// notifier's customers table, its notification records, and SES.
    pub customers: InMemoryDocuments,
    pub notifications: InMemoryDocuments,
    pub mailer: inmemory::InMemoryMailer,
    /// lake-archiver's bucket, the data lake (versioned, as the deployed one is).
    pub lake: InMemoryS3,
    /// The orders table's stream, and where each stream mapping has read it to, by shard.
    pub orders_stream: ChangeFeed,
    stream_checkpoints: BTreeMap<(&'static str, usize), String>,
    pub carts: InMemoryCarts,
    pub order_updater: Arc<OrderUpdater>,
    /// order-sweeper, on the same tables (the orders table answers its index).
    pub order_sweeper: Arc<Sweeper>,
    /// Whether an event source mapping whose retries are spent commits past the failing record
    /// (a mapping with `MaximumRetryAttempts`, as the checkout demo runs them) instead of
    /// stopping the run (the default mapping, which retries until the record expires).
    pub commit_past_exhausted: bool,
    /// payment-processor's idempotency records (DynamoDB) and the test gateway.
    pub payments: InMemoryDocuments,
    pub gateway: TestGateway,
    pub payment_processor: Arc<PaymentProcessor>,
    /// The clock of payment-processor's leases and of the local Lambdas' deadlines.
    pub clock: SteppingClock,
    pub cart_cleaner: Arc<CartCleaner>,
    pub bridge: Arc<Bridge>,
    /// The Cloud Run services, by name (built from the registry when the estate starts).
    cloud_run: BTreeMap<&'static str, Router>,
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
        let fraud_docs = InMemoryDocuments::default();
        let clock = SteppingClock::default();
        // The orders table's stream (NEW_AND_OLD_IMAGES), its items laid out as in DynamoDB.
        let orders_stream = ChangeFeed::with_clock(clock.as_fn());
        let orders = InMemoryDocuments::default().with_stream(orders_stream.clone(), &orders::layout::TOP_LEVEL);
        let carts = InMemoryCarts::default();
        // SES, with the shop's sending domain verified.
        let mailer = inmemory::InMemoryMailer::default();
        mailer.verify(SENDER_DOMAIN);
        let order_store = || OrderStore {
            orders: Arc::new(orders.clone()),
            carts: Arc::new(carts.clone()),
            bus: Arc::new(bus.clone()),
        };
        let order_updater = Arc::new(OrderUpdater {
            // Its own clock, as before the estate had one: order times stay those of the goldens.
            clock: SteppingClock::default().as_fn(),
            store: order_store(),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(order_updater::NAME, topics::CHECKOUT_DLQ),
        });
        let order_sweeper = Arc::new(Sweeper {
            store: order_store(),
            index: Arc::new(orders.clone()),
            rules: order_sweeper::Rules::default(),
        });
        let (payments, gateway) = (InMemoryDocuments::default(), TestGateway::default());
        let payment_processor = Arc::new(PaymentProcessor {
            clock: clock.as_fn(),
            payments: Arc::new(payments.clone()),
            orders: Arc::new(orders.clone()),
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
        // Pub/Sub is played by its twin over the bus, which refuses what Pub/Sub refuses: the
        // bridge publishes under the `mirror-…` names.
        let pubsub = Arc::new(InMemoryPubSub::new(bus.clone()));
        let bridge = Arc::new(Bridge {
            pubsub: pubsub.clone(),
            kafka: Arc::new(bus.clone()),
            dead_letters: domain::dead_letter::DeadLetterPolicy::new(kafka_pubsub_bridge::NAME, topics::CHECKOUT_DLQ),
        });
        let image_totals = InMemoryImageTotals::default();
        // The uploads bucket: unversioned on a laptop, so S3 events name objects by etag alone.
        let uploads = InMemoryS3::unversioned();
        let image_resizer = Arc::new(ImageResizer {
            objects: Arc::new(uploads.clone()),
            bus: Arc::new(bus.clone()),
            settings: image_resizer::Settings::local(),
        });
        let mut estate = Estate {
            uploads,
            image_resizer,
            image_totals,
            bridge,
            cloud_run: BTreeMap::new(),
            cart_cleaner,
            orders,
            orders_stream,
            lake: InMemoryS3::versioned(),
            stream_checkpoints: BTreeMap::new(),
            customers: InMemoryDocuments::default(),
            notifications: InMemoryDocuments::default(),
            mailer,
            carts,
            order_updater,
            order_sweeper,
            commit_past_exhausted: false,
            payments,
            gateway,
            payment_processor,
            clock,
            azure_apps: Vec::new(),
            bus,
            objects,
            docs,
            fraud_docs,
            stats: BTreeMap::new(),
            invocation: AtomicU64::new(0),
        };
        // The HTTP apps, as the registry builds them over these stores.
        for f in FUNCTIONS {
            match f.host {
                Host::Push { app, .. } => {
                    let router = app(&estate);
                    estate.cloud_run.insert(f.name, router);
                }
                Host::Functions { folders, app } => {
                    let router = app(&estate);
                    estate.azure_apps.push(AzureApp::new(f.name, router, folders));
                }
                _ => {}
            }
        }
        estate
    }

    /// The HTTP app of a function, by name.
    pub fn app(&self, function: &str) -> Option<&Router> {
        let azure = || self.azure_apps.iter().find(|a| a.name == function).map(|a| &a.router);
        self.cloud_run.get(function).or_else(azure)
    }

    /// Invokes a Kafka-triggered Lambda with an event as its runtime would (through the
    /// registry's host): its partial batch response.
    pub async fn invoke_lambda(&self, function: &str, event: KafkaEvent) -> Result<KafkaBatchResponse, String> {
        match crate::registry::function(function)?.host {
            Host::Msk { run, .. } => {
                run(self, event, self.lambda_invocation()).await.map(|a| a.response).map_err(|e| e.to_string())
            }
            _ => Err(format!("{function} is not a Kafka-triggered Lambda of the estate")),
        }
    }

    /// The function folders of an Azure function app (the routes the host POSTs to).
    pub fn azure_function_folders(&self, app: &str) -> Vec<String> {
        let app = self.azure_apps.iter().find(|a| a.name == app);
        app.map(|a| a.functions.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default()
    }

    /// Output bindings (name → topic) of one function folder of an app (two apps may both have
    /// a folder of one name, as two Function Apps may).
    pub fn azure_outputs(&self, app: &str, function_folder: &str) -> Vec<(String, String)> {
        self.azure_apps
            .iter()
            .filter(|a| a.name == app)
            .flat_map(|a| &a.functions)
            .find(|(n, _)| n == function_folder)
            .map(|(_, f)| f.outputs.clone())
            .unwrap_or_default()
    }

    /// A Lambda invocation starting now on the estate's clock, with the local timeout.
    pub fn lambda_invocation(&self) -> platform_aws::invocation::Invocation {
        platform_aws::invocation::Invocation::lasting(self.clock.now(), LAMBDA_TIMEOUT)
    }

    pub fn stat(&mut self, f: &'static str) -> &mut Stats {
        self.stats.entry(f).or_default()
    }
}

/// Why a local run stopped: a platform step the real cloud would also have failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);
