//! What `local up` gives each Cloud Run service and Azure function app when it starts it as a
//! process: its own variables, what pushes to it (Cloud Run) and the Pub/Sub topics it publishes
//! to. The one place these are written, beside `lambdas` for the AWS functions; the README's
//! tables are printed from here (`local up --print-env`) and a test keeps them the same.
use super::lambdas::Value;
use crate::registry::{self, Cloud, Host};
use domain::events::topics;
use std::time::Duration;

/// A Cloud Run service as `up` deploys it.
#[derive(Debug, Clone, Copy)]
pub struct CloudRun {
    pub name: &'static str,
    pub env: &'static [(&'static str, Value)],
    /// Pub/Sub topics of the run (after its prefix) pushed to it, besides the mirrors of the
    /// Kafka topics the registry names.
    pub pushed_from: &'static [&'static str],
    /// Pub/Sub topics it publishes to (made, each with a pull subscription to read them by).
    pub publishes: &'static [&'static str],
}

/// An Azure function app as `up` deploys it (its triggers are its function.json files).
#[derive(Debug, Clone, Copy)]
pub struct FunctionApp {
    pub name: &'static str,
    pub env: &'static [(&'static str, Value)],
}

/// The push subscriptions' settings, one set for all: Pub/Sub's least attempts before
/// dead-lettering and a short backoff, so a local run settles in seconds (Terraform's are 20
/// attempts, 5 s to 300 s).
pub const ACK_DEADLINE: Duration = Duration::from_secs(30);
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_DELIVERY_ATTEMPTS: u32 = 5;
/// The identity the push tokens are minted for (`PUSH_SERVICE_ACCOUNT` of every service).
pub const PUSHER: &str = "pubsub-push@local-estate.iam.gserviceaccount.com";

const PROJECT: (&str, Value) = ("GOOGLE_CLOUD_PROJECT", Value::Fixed("local"));
const PUBSUB: (&str, Value) = ("PUBSUB_EMULATOR_HOST", Value::PubSub);

#[rustfmt::skip]
pub const CLOUD_RUN: &[CloudRun] = &[
    CloudRun { name: merch_normalizer::NAME, env: &[("KAFKA_BOOTSTRAP_SERVERS", Value::Kafka)], pushed_from: &["erp-changes"], publishes: &[] },
    CloudRun { name: audit_sink::NAME, env: &[("AUDIT_BUCKET", Value::GcsBucket("audit")), ("GCS_ENDPOINT", Value::Gcs), PROJECT], pushed_from: &[], publishes: &[] },
    CloudRun { name: fulfillment::NAME, env: &[PROJECT, PUBSUB], pushed_from: &[],
        publishes: &[topics::ACCOUNTING_ENTRIES, topics::WAREHOUSE_DISPATCH, topics::CHECKOUT_DLQ, topics::PARKED] },
    CloudRun { name: image_analytics::NAME, env: &[("DATABASE_URL", Value::Postgres), PROJECT, PUBSUB], pushed_from: &[],
        publishes: &[topics::IMAGES_DLQ, topics::PARKED] },
    // `local new` adds its Cloud Run services above this line.
];

#[rustfmt::skip]
pub const FUNCTION_APPS: &[FunctionApp] = &[
    FunctionApp { name: projection_updater::NAME, env: &[("KAFKA_BOOTSTRAP_SERVERS", Value::Kafka), ("COSMOS_ENDPOINT", Value::Cosmos),
        ("COSMOS_DATABASE", Value::CosmosDatabase("merch")), ("COSMOS_CREATE_IF_MISSING", Value::Fixed("true"))] },
    FunctionApp { name: fraud_scorer::NAME, env: &[("KAFKA_BOOTSTRAP_SERVERS", Value::Kafka), ("COSMOS_ENDPOINT", Value::Cosmos),
        ("COSMOS_DATABASE", Value::CosmosDatabase(fraud_scorer::COSMOS_DATABASE)), ("COSMOS_CREATE_IF_MISSING", Value::Fixed("true"))] },
    // `local new` adds its function apps above this line.
];

pub fn cloud_run_of(name: &str) -> Result<&'static CloudRun, String> {
    CLOUD_RUN.iter().find(|s| s.name == name).ok_or_else(|| {
        format!(
            "{name} has no deployment in local/src/up/services.rs (every Cloud Run function of the registry needs one)"
        )
    })
}

pub fn function_app_of(name: &str) -> Result<&'static FunctionApp, String> {
    FUNCTION_APPS.iter().find(|s| s.name == name).ok_or_else(|| {
        format!(
            "{name} has no deployment in local/src/up/services.rs (every Azure function app of the registry needs one)"
        )
    })
}

/// The Pub/Sub topics pushed to a Cloud Run function: the mirrors of its registry topics, and
/// its own sources after the run's prefix.
pub fn push_topics(name: &str, prefix: &str) -> Result<Vec<String>, String> {
    let spec = registry::function(name)?;
    let Host::Push { topics: kafka_topics, .. } = spec.host else { return Err(format!("{name} is not pushed to")) };
    let service = cloud_run_of(name)?;
    let mut all: Vec<String> = kafka_topics.iter().map(|t| topics::mirror_topic(t)).collect();
    all.extend(service.pushed_from.iter().map(|t| format!("{prefix}{t}")));
    Ok(all)
}

/// A push subscription's name: its topic and the function, as Terraform names them.
pub fn subscription_name(prefix: &str, topic: &str, function: &str) -> String {
    format!("{prefix}{}-{function}", topic.strip_prefix(prefix).unwrap_or(topic))
}

/// Where a push subscription's undeliverable messages go.
pub fn undeliverable_topic(subscription: &str) -> String {
    format!("{subscription}-undeliverable")
}

fn vars(env: &[(&str, Value)]) -> String {
    env.iter().map(|(k, v)| format!("`{k}` = {}", v.describe())).collect::<Vec<_>>().join("<br>")
}

/// The README's table of the Cloud Run services (`local new` adds rows above its mark).
pub fn cloud_run_markdown() -> String {
    let mut out = String::from(
        "| Cloud Run service | pushed from (Pub/Sub) | publishes to (Pub/Sub) | its variables |\n|---|---|---|---|\n",
    );
    let quoted = |t: &[String]| match t.is_empty() {
        true => "—".to_string(),
        false => t.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
    };
    for f in registry::FUNCTIONS.iter().filter(|f| f.cloud == Cloud::Gcp) {
        let Ok(s) = cloud_run_of(f.name) else { continue };
        let from = push_topics(f.name, "").unwrap_or_default();
        let publishes: Vec<String> = s.publishes.iter().map(|t| t.to_string()).collect();
        out.push_str(&format!("| {} | {} | {} | {} |\n", f.name, quoted(&from), quoted(&publishes), vars(s.env)));
    }
    out
}

/// The README's table of the function apps (`local new` adds rows above its mark).
pub fn function_apps_markdown() -> String {
    let mut out = String::from("| function app | functions (topic → outputs) | its variables |\n|---|---|---|\n");
    for f in registry::FUNCTIONS.iter().filter(|f| f.cloud == Cloud::Azure) {
        let (Ok(app), Host::Functions { folders, .. }) = (function_app_of(f.name), f.host) else { continue };
        let functions: Vec<String> = folders
            .iter()
            .filter_map(|(folder, json)| {
                let j = crate::functions_host::parse_function_json(json).ok()?;
                let outs: Vec<String> = j.outputs.iter().map(|(_, t)| format!("`{t}`")).collect();
                Some(format!("{folder}: `{}` → {}", j.trigger_topic, outs.join(", ")))
            })
            .collect();
        out.push_str(&format!("| {} | {} | {} |\n", f.name, functions.join("<br>"), vars(app.env)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_run_and_azure_function_of_the_registry_has_one_deployment() {
        for f in registry::FUNCTIONS {
            match f.cloud {
                Cloud::Gcp => assert!(cloud_run_of(f.name).is_ok(), "{}", f.name),
                Cloud::Azure => assert!(function_app_of(f.name).is_ok(), "{}", f.name),
                Cloud::Aws => {}
            }
        }
        let clouds =
            CLOUD_RUN.iter().map(|s| (s.name, Cloud::Gcp)).chain(FUNCTION_APPS.iter().map(|a| (a.name, Cloud::Azure)));
        for (name, cloud) in clouds {
            assert_eq!(registry::function(name).expect("in the registry").cloud, cloud, "{name}");
        }
        assert_eq!(push_topics(merch_normalizer::NAME, "it1-").expect("pushed"), ["it1-erp-changes"]);
        assert_eq!(push_topics(fulfillment::NAME, "it1-").expect("pushed"), ["mirror-order-paid"]);
        assert_eq!(
            subscription_name("it1-", "it1-erp-changes", "merch-normalizer"),
            "it1-erp-changes-merch-normalizer"
        );
        assert_eq!(subscription_name("it1-", "mirror-order-paid", "fulfillment"), "it1-mirror-order-paid-fulfillment");
    }

    #[test]
    fn the_readme_lists_what_each_service_and_app_gets() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
        let cloud_run =
            format!("{}<!-- `local new` adds its Cloud Run service's row above this line. -->\n", cloud_run_markdown());
        let apps =
            format!("{}<!-- `local new` adds its function app's row above this line. -->\n", function_apps_markdown());
        for table in [cloud_run, apps] {
            assert!(readme.contains(&table), "README.md's table is not `local up --print-env`'s:\n{table}");
        }
    }
}
