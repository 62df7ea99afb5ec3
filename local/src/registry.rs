//! Every function of the estate, described once: its name, cloud, trigger and which recorded
//! fixtures under `events/` it takes. `local invoke` and `local fixtures` read it, and so do the
//! fixture/golden tests (`function_for`); a function added to the estate gets one entry here.
use std::path::{Path, PathBuf};

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

#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub cloud: Cloud,
    pub trigger: Trigger,
    /// Its fixtures are the trigger's files whose names start with this; "" takes the files of
    /// its folders that no other function's prefix claims.
    pub fixture_prefix: &'static str,
}

impl FunctionSpec {
    /// Where its code is, from the repository's root.
    pub fn dir(&self) -> String {
        format!("functions/{}/{}", self.cloud.as_str(), self.name)
    }
}

const fn spec(name: &'static str, cloud: Cloud, trigger: Trigger, fixture_prefix: &'static str) -> FunctionSpec {
    FunctionSpec { name, cloud, trigger, fixture_prefix }
}

pub const FUNCTIONS: &[FunctionSpec] = &[
    spec("merch-normalizer", Cloud::Gcp, Trigger::PubSubPush, ""),
    spec("audit-sink", Cloud::Gcp, Trigger::PubSubPush, "audit-"),
    spec("fulfillment", Cloud::Gcp, Trigger::PubSubPush, "fulfillment-"),
    spec("image-analytics", Cloud::Gcp, Trigger::PubSubPush, "image-analytics-"),
    spec("projection-updater", Cloud::Azure, Trigger::Kafka, ""),
    spec("fraud-scorer", Cloud::Azure, Trigger::Kafka, "order-"),
    spec("order-updater", Cloud::Aws, Trigger::Msk, "order-updater-"),
    spec("payment-processor", Cloud::Aws, Trigger::Msk, "payment-processor-"),
    spec("cart-cleaner", Cloud::Aws, Trigger::Msk, "cart-cleaner-"),
    spec("kafka-pubsub-bridge", Cloud::Aws, Trigger::Msk, "kafka-pubsub-bridge-"),
    spec("order-sweeper", Cloud::Aws, Trigger::Schedule, "order-sweeper-"),
    spec("image-resizer", Cloud::Aws, Trigger::S3, "image-resizer-"),
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
