//! Every function of the estate, described once: its name, cloud, trigger, which recorded
//! fixtures under `events/` it takes, and how the local estate runs it ([`Host`]). `local invoke`
//! and `local fixtures` read it, and so do the fixture/golden tests (`function_for`); a function
//! added to the estate gets one entry here.
use crate::estate::Estate;
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::kafka::KafkaEvent;
use aws_lambda_events::event::s3::S3Event;
use platform_aws::invocation::Invocation;
use platform_aws::msk::KafkaBatchResponse;
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

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

/// How the local estate runs a function: a Lambda is handed its event and an invocation (as
/// the runtime hands them over); an HTTP app (Cloud Run push, Azure custom handler) is the
/// estate's router of that name.
#[derive(Clone, Copy)]
pub enum Host {
    /// A Lambda on an MSK event source mapping: its partial batch response.
    Msk(for<'a> fn(&'a Estate, KafkaEvent, Invocation) -> Answer<'a, Result<KafkaBatchResponse, HostError>>),
    /// A Lambda on S3 notifications: what became of each record.
    S3(for<'a> fn(&'a Estate, S3Event, Invocation) -> Answer<'a, Result<Value, HostError>>),
    /// A Lambda on an EventBridge schedule: its run's report.
    Schedule(for<'a> fn(&'a Estate, CloudWatchEvent, Invocation) -> Answer<'a, Result<Value, HostError>>),
    /// An HTTP app: `Estate::app(name)`.
    App,
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
            Trigger::Kafka => "a Functions host invocation of a Kafka trigger (Data, Metadata.sys.MethodName)",
            Trigger::PubSubPush => "a Pub/Sub push request (wrapped or unwrapped message, or an Eventarc CloudEvent)",
        }
    }
}

#[derive(Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub cloud: Cloud,
    pub trigger: Trigger,
    /// Its fixtures are the trigger's files whose names start with this; "" takes the files of
    /// its folders that no other function's prefix claims.
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

pub const FUNCTIONS: &[FunctionSpec] = &[
    spec("merch-normalizer", Cloud::Gcp, Trigger::PubSubPush, "", Host::App),
    spec("audit-sink", Cloud::Gcp, Trigger::PubSubPush, "audit-", Host::App),
    spec("fulfillment", Cloud::Gcp, Trigger::PubSubPush, "fulfillment-", Host::App),
    spec("image-analytics", Cloud::Gcp, Trigger::PubSubPush, "image-analytics-", Host::App),
    spec("projection-updater", Cloud::Azure, Trigger::Kafka, "", Host::App),
    spec("fraud-scorer", Cloud::Azure, Trigger::Kafka, "order-", Host::App),
    spec("order-updater", Cloud::Aws, Trigger::Msk, "order-updater-", Host::Msk(hosts::order_updater)),
    spec("payment-processor", Cloud::Aws, Trigger::Msk, "payment-processor-", Host::Msk(hosts::payment_processor)),
    spec("cart-cleaner", Cloud::Aws, Trigger::Msk, "cart-cleaner-", Host::Msk(hosts::cart_cleaner)),
    spec("kafka-pubsub-bridge", Cloud::Aws, Trigger::Msk, "kafka-pubsub-bridge-", Host::Msk(hosts::bridge)),
    spec("order-sweeper", Cloud::Aws, Trigger::Schedule, "order-sweeper-", Host::Schedule(hosts::order_sweeper)),
    spec("image-resizer", Cloud::Aws, Trigger::S3, "image-resizer-", Host::S3(hosts::image_resizer)),
];

/// The Lambdas' hosts: each hands its function the event and the invocation, over the estate's
/// stores, and says what came of it as Lambda's runtime would.
mod hosts {
    use super::{Answer, HostError};
    use crate::estate::Estate;
    use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
    use aws_lambda_events::event::kafka::KafkaEvent;
    use aws_lambda_events::event::s3::S3Event;
    use platform_aws::invocation::Invocation;
    use platform_aws::msk::KafkaBatchResponse;
    use serde_json::{Value, json};

    type Batch<'a> = Answer<'a, Result<KafkaBatchResponse, HostError>>;

    /// A Kafka handler's error is its envelope's: the batch is not a Kafka event.
    fn refused(e: impl std::fmt::Display) -> HostError {
        HostError::NotThisTrigger(e.to_string())
    }

    pub fn order_updater(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
        Box::pin(async move { e.order_updater.handle(event, &invocation).await.map(|(r, _)| r).map_err(refused) })
    }

    pub fn payment_processor(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
        Box::pin(async move {
            e.payment_processor.handle(event, &invocation).await.map(|(r, _)| r).map_err(|error| match error {
                payment_processor::InvocationError::Envelope(env) => refused(env),
                other => HostError::Failed(other.to_string()),
            })
        })
    }

    pub fn cart_cleaner(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
        Box::pin(
            async move { e.cart_cleaner.handle(event, &invocation).await.map(|out| out.response).map_err(refused) },
        )
    }

    pub fn bridge(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
        Box::pin(async move { e.bridge.handle(event, &invocation).await.map(|out| out.response).map_err(refused) })
    }

    pub fn image_resizer(e: &Estate, event: S3Event, invocation: Invocation) -> Answer<'_, Result<Value, HostError>> {
        Box::pin(async move {
            match e.image_resizer.handle(event, &invocation).await {
                Ok(outcomes) => Ok(json!({"outcomes": outcomes})),
                Err(error @ image_resizer::HandlerError::NotS3(_)) => Err(refused(error)),
                Err(other) => Err(HostError::Failed(other.to_string())),
            }
        })
    }

    pub fn order_sweeper(
        e: &Estate,
        event: CloudWatchEvent,
        invocation: Invocation,
    ) -> Answer<'_, Result<Value, HostError>> {
        Box::pin(async move {
            let report = e.order_sweeper.handle(event, &invocation).await.map_err(refused)?;
            Ok(json!({"report": report}))
        })
    }
}

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
        .find(|f| !f.fixture_prefix.is_empty() && name.starts_with(f.fixture_prefix))
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
        let named: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        let mut estate: Vec<&str> = crate::estate::BUILDS.to_vec();
        let mut sorted = named.clone();
        sorted.sort();
        estate.sort();
        assert_eq!(sorted, estate);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for f in FUNCTIONS {
            assert!(root.join(f.dir()).join("src/lib.rs").is_file(), "{}", f.dir());
            assert!(!fixtures_of(&root.join("events"), f.name).is_empty(), "{} has no fixture", f.name);
        }
        assert!(function("nope").is_err_and(|e| e.contains("known: merch-normalizer")));
    }
}
