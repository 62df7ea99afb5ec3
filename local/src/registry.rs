//! Every function of the estate, described once: its name, cloud, trigger, which recorded
//! fixtures under `events/` it takes, and how the local estate runs it ([`Host`]). `local invoke`
//! and `local fixtures` read it, and so do the fixture/golden tests (`function_for`); a function
//! added to the estate gets one entry here.
use crate::estate::Estate;
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::dynamodb;
use aws_lambda_events::event::kafka::KafkaEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use axum::Router;
use domain::events::topics;
use platform_aws::invocation::Invocation;
use platform_aws::kafka_batch::BatchOutcome;
use platform_aws::msk::KafkaBatchResponse;
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

mod hosts;

/// A host's answer, awaited by the caller.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a Lambda host gave no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The event is not the trigger's (the invocation is refused as Lambda's runtime would).
    NotThisTrigger(String),
    /// The function took the event and failed the invocation as a whole (Lambda retries it).
    Failed(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::NotThisTrigger(detail) | HostError::Failed(detail) => f.write_str(detail),
        }
    }
}

/// A Kafka-triggered Lambda's answer: its partial batch response, and how many records it
/// dead-lettered (the mapping's counters).
#[derive(Debug, Clone, Default)]
pub struct MskAnswer {
    pub response: KafkaBatchResponse,
    pub dead_lettered: usize,
}

impl<D> From<BatchOutcome<D>> for MskAnswer {
    fn from(out: BatchOutcome<D>) -> Self {
        MskAnswer { response: out.response, dead_lettered: out.dead_lettered }
    }
}

/// A stream-triggered Lambda's answer: its `ReportBatchItemFailures` response (the first failed
/// sequence number) and how many records it dead-lettered.
#[derive(Debug, Clone, Default)]
pub struct StreamAnswer {
    pub response: DynamoDbEventResponse,
    pub dead_lettered: usize,
}

pub type MskHost = for<'a> fn(&'a Estate, KafkaEvent, Invocation) -> Answer<'a, Result<MskAnswer, HostError>>;
pub type S3Host = for<'a> fn(&'a Estate, S3Event, Invocation) -> Answer<'a, Result<Value, HostError>>;
pub type ScheduleHost = for<'a> fn(&'a Estate, CloudWatchEvent, Invocation) -> Answer<'a, Result<Value, HostError>>;
pub type StreamHost =
    for<'a> fn(&'a Estate, dynamodb::Event, Invocation) -> Answer<'a, Result<StreamAnswer, HostError>>;

/// How the local estate runs a function, and what feeds it. A Lambda is handed its event and an
/// invocation (as the runtime hands them over), building the function from the estate's stores;
/// an HTTP app (Cloud Run push, Azure custom handler) is built once when the estate starts.
#[derive(Clone, Copy)]
pub enum Host {
    /// A Lambda on MSK event source mappings, one per topic.
    Msk { topics: &'static [&'static str], run: MskHost },
    /// A Lambda on the uploads bucket's S3 notifications: what became of each record.
    S3 { run: S3Host },
    /// A Lambda on an EventBridge schedule: its run's report.
    Schedule { run: ScheduleHost },
    /// A Lambda on a DynamoDB table's stream (view `NEW_AND_OLD_IMAGES`).
    DynamoDbStream { table: &'static str, run: StreamHost },
    /// A Cloud Run service on Pub/Sub push subscriptions to the mirrors of these Kafka topics
    /// (the bridge mirrors them); none for one pushed to from elsewhere.
    Push { topics: &'static [&'static str], app: fn(&Estate) -> Router },
    /// An Azure function app: its function folders (`function.json` each) and custom handler.
    Functions { folders: &'static [(&'static str, &'static str)], app: fn(&Estate) -> Router },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
}

impl Cloud {
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }
}

/// What invokes a function, and the envelope it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Lambda's MSK event source mapping: a Kafka batch event (`eventSource: aws:kafka`).
    Msk,
    /// An S3 event notification to Lambda (`Records[].s3`).
    S3,
    /// An EventBridge schedule rule: a `Scheduled Event`.
    Schedule,
    /// Lambda's DynamoDB Streams event source mapping (`Records[].dynamodb`).
    DynamoDbStream,
    /// The Functions host's Kafka trigger, sent to a custom handler (`Data`, `Metadata.sys`).
    Kafka,
    /// A Pub/Sub push subscription to Cloud Run (wrapped, unwrapped, or Eventarc).
    PubSubPush,
}

impl Trigger {
    /// The folders of `events/` that hold this trigger's recorded payloads.
    pub fn folders(self) -> &'static [&'static str] {
        match self {
            Trigger::Msk => &["aws/msk"],
            Trigger::S3 => &["aws/s3"],
            Trigger::Schedule => &["aws/eventbridge"],
            Trigger::DynamoDbStream => &["aws/dynamodb-stream"],
            Trigger::Kafka => &["azure/kafka-trigger"],
            Trigger::PubSubPush => &["gcp/pubsub-push", "gcp/pubsub-push-unwrapped", "gcp/eventarc"],
        }
    }

    /// The envelope, as a user would name it.
    pub fn envelope(self) -> &'static str {
        match self {
            Trigger::Msk => "an MSK event (Lambda's Kafka batch: eventSource aws:kafka, records by topic-partition)",
            Trigger::S3 => "an S3 event notification (Records[].s3.bucket/object)",
            Trigger::Schedule => "an EventBridge Scheduled Event (source aws.events)",
            Trigger::DynamoDbStream => "a DynamoDB Streams event (Records[].dynamodb with Keys, NewImage, OldImage)",
            Trigger::Kafka => "a Functions host invocation of a Kafka trigger (Data, Metadata.sys.MethodName)",
            Trigger::PubSubPush => "a Pub/Sub push request (wrapped or unwrapped message, or an Eventarc CloudEvent)",
        }
    }

    /// The name `local new --trigger` takes, and the cloud it runs on.
    pub fn by_name(name: &str) -> Option<(Trigger, Cloud)> {
        Some(match name {
            "msk" => (Trigger::Msk, Cloud::Aws),
            "s3" => (Trigger::S3, Cloud::Aws),
            "schedule" => (Trigger::Schedule, Cloud::Aws),
            "dynamodb-stream" => (Trigger::DynamoDbStream, Cloud::Aws),
            "kafka" => (Trigger::Kafka, Cloud::Azure),
            "pubsub-push" => (Trigger::PubSubPush, Cloud::Gcp),
            _ => return None,
        })
    }
}

#[derive(Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub cloud: Cloud,
    pub trigger: Trigger,
    /// Its fixtures are the trigger's files whose names start with this (the longest prefix
    /// that fits wins); "" takes the files of its folders that no other function's prefix claims.
    pub fixture_prefix: &'static str,
    pub host: Host,
}

impl FunctionSpec {
    /// Where its code is, from the repository's root.
    pub fn dir(&self) -> String {
        format!("functions/{}/{}", self.cloud.as_str(), self.name)
    }
}

const fn spec(
    name: &'static str,
    cloud: Cloud,
    trigger: Trigger,
    fixture_prefix: &'static str,
    host: Host,
) -> FunctionSpec {
    FunctionSpec { name, cloud, trigger, fixture_prefix, host }
}

use Cloud::{Aws, Azure, Gcp};

#[rustfmt::skip]
pub const FUNCTIONS: &[FunctionSpec] = &[
    spec("merch-normalizer", Gcp, Trigger::PubSubPush, "", Host::Push { topics: &[], app: hosts::merch_normalizer }),
    spec("audit-sink", Gcp, Trigger::PubSubPush, "audit-", Host::Push { topics: &topics::MIRRORED, app: hosts::audit_sink }),
    spec("fulfillment", Gcp, Trigger::PubSubPush, "fulfillment-", Host::Push { topics: &[topics::ORDER_PAID], app: hosts::fulfillment }),
    spec("image-analytics", Gcp, Trigger::PubSubPush, "image-analytics-", Host::Push { topics: &[topics::PRODUCT_IMAGE_PROCESSED], app: hosts::image_analytics }),
    spec("projection-updater", Azure, Trigger::Kafka, "", Host::Functions { folders: &projection_updater::FUNCTIONS, app: hosts::projection_updater }),
    spec("fraud-scorer", Azure, Trigger::Kafka, "order-", Host::Functions { folders: &fraud_scorer::FUNCTIONS, app: hosts::fraud_scorer }),
    spec("order-updater", Aws, Trigger::Msk, "order-updater-", Host::Msk { topics: &order_updater::TOPICS, run: hosts::order_updater }),
    spec("payment-processor", Aws, Trigger::Msk, "payment-processor-", Host::Msk { topics: &[topics::PAYMENT_REQUESTED], run: hosts::payment_processor }),
    spec("cart-cleaner", Aws, Trigger::Msk, "cart-cleaner-", Host::Msk { topics: &[topics::PRODUCT_DELETED], run: hosts::cart_cleaner }),
    spec("kafka-pubsub-bridge", Aws, Trigger::Msk, "kafka-pubsub-bridge-", Host::Msk { topics: &topics::MIRRORED, run: hosts::bridge }),
    spec("order-sweeper", Aws, Trigger::Schedule, "order-sweeper-", Host::Schedule { run: hosts::order_sweeper }),
    spec("image-resizer", Aws, Trigger::S3, "image-resizer-", Host::S3 { run: hosts::image_resizer }),
    spec("notifier", Cloud::Aws, Trigger::DynamoDbStream, "notifier-", Host::DynamoDbStream { table: notifier::TABLE, run: hosts::notifier }),
    spec("lake-archiver", Cloud::Aws, Trigger::DynamoDbStream, "lake-archiver-", Host::DynamoDbStream { table: lake_archiver::TABLE, run: hosts::lake_archiver }),
    // `local new` adds its entries above this line.
];

/// The function of that name; the error names them all.
pub fn function(name: &str) -> Result<&'static FunctionSpec, String> {
    FUNCTIONS.iter().find(|f| f.name == name).ok_or_else(|| {
        let known: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        format!("unknown function {name:?}; known: {}", known.join(", "))
    })
}

/// Which function takes the fixture at `path` (relative to `events/`, e.g. `aws/msk/x.json`):
/// a function whose prefix the name starts with, else the one taking its folder's other files.
/// Kafka batches named by no function (e.g. `aws/msk/order-confirmed-batch.json`) are decoded
/// only.
pub fn function_for(path: &str) -> Option<&'static str> {
    let (folder, name) = path.rsplit_once('/')?;
    let here = || FUNCTIONS.iter().filter(move |f| f.trigger.folders().contains(&folder));
    here()
        .filter(|f| !f.fixture_prefix.is_empty() && name.starts_with(f.fixture_prefix))
        .max_by_key(|f| f.fixture_prefix.len())
        .or_else(|| here().find(|f| f.fixture_prefix.is_empty()))
        .map(|f| f.name)
}

/// The fixtures `function` takes, relative to `events/`, in name order.
pub fn fixtures_of(events: &Path, function: &str) -> Vec<String> {
    let Ok(spec) = self::function(function) else { return Vec::new() };
    let mut out = Vec::new();
    for folder in spec.trigger.folders() {
        let files = std::fs::read_dir(events.join(folder)).into_iter().flatten().flatten().map(|e| e.path());
        for path in files.filter(|p| p.extension().is_some_and(|x| x == "json")) {
            let rel = format!("{folder}/{}", path.file_name().unwrap_or_default().to_string_lossy());
            if function_for(&rel) == Some(function) {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// The stores a fixture starts from, when it keeps them beside itself: `state/<its file name>`
/// in its folder (a `--state` file; notifier's fixtures need their customers).
pub fn state_beside(fixture: &Path) -> Option<PathBuf> {
    let state = fixture.parent()?.join("state").join(fixture.file_name()?);
    state.is_file().then_some(state)
}

/// `events/` under the repository root, found from the working directory upwards.
pub fn events_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|d| d.join("events")).find(|d| d.join("aws").is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fixture_goes_to_the_function_its_folder_and_name_say() {
        assert_eq!(function_for("aws/msk/order-updater-confirmed.json"), Some("order-updater"));
        assert_eq!(function_for("aws/msk/order-confirmed-batch.json"), None, "decoded only");
        assert_eq!(function_for("azure/kafka-trigger/order-confirmed-batch.json"), Some("fraud-scorer"));
        assert_eq!(function_for("azure/kafka-trigger/price-changed-batch.json"), Some("projection-updater"));
        assert_eq!(function_for("gcp/pubsub-push/audit-price-changed.json"), Some("audit-sink"));
        assert_eq!(function_for("gcp/eventarc/erp-stock-csv.json"), Some("merch-normalizer"));
        assert_eq!(function_for("aws/s3/object-created-put.json"), None);
        assert_eq!(function_for("aws/sqs/batch.json"), None);
    }

    #[test]
    fn every_function_of_the_estate_has_an_entry_and_its_folder() {
        let crates = ["functions/aws", "functions/azure", "functions/gcp"].map(|d| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(d);
            let names = std::fs::read_dir(dir).into_iter().flatten().flatten();
            names.map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>()
        });
        let mut on_disk: Vec<String> = crates.concat();
        let mut named: Vec<String> = FUNCTIONS.iter().map(|f| f.name.to_string()).collect();
        on_disk.sort();
        named.sort();
        assert_eq!(named, on_disk, "each crate under functions/ has one registry entry");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for f in FUNCTIONS {
            assert!(root.join(f.dir()).join("src/lib.rs").is_file(), "{}", f.dir());
            assert!(!fixtures_of(&root.join("events"), f.name).is_empty(), "{} has no fixture", f.name);
        }
        assert!(function("nope").is_err_and(|e| e.contains("known: merch-normalizer")));
    }
}
