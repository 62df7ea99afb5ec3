//! What `local up` gives each AWS function when it starts it as a process: memory, timeout, its
//! own variables, and the settings of what triggers it (the event source mappings' batch size,
//! batching window and retry limit; the asynchronous invocations' retries). The one place these
//! are written; the README's table is printed from it (`local up --print-env`), and a test keeps
//! the two the same. Deployed, Terraform sets the same variables (names, not values: the values
//! here point at the emulators).
use crate::registry::{self, Cloud, Host};
use std::time::Duration;

/// Where a variable's value comes from when `up` starts the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// As written.
    Fixed(&'static str),
    /// A DynamoDB table of the run: the name, after the run's prefix (`--prefix`).
    Table(&'static str),
    /// An S3 bucket of the run, after the run's prefix.
    Bucket(&'static str),
    /// The Kafka emulator's bootstrap servers.
    Kafka,
    /// The runner's payment gateway service.
    Gateway,
    /// The Pub/Sub emulator's host and port.
    PubSub,
    /// The GCS emulator's URL.
    Gcs,
    /// A GCS bucket of the run, after the run's prefix.
    GcsBucket(&'static str),
    /// The Cosmos DB emulator's URL.
    Cosmos,
    /// A Cosmos DB database of the run, after the run's prefix.
    CosmosDatabase(&'static str),
    /// PostgreSQL's URL, its certificate checked against the local CA.
    Postgres,
}

impl Value {
    pub fn describe(self) -> String {
        match self {
            Value::Fixed(v) => format!("`{v}`"),
            Value::Table(t) => format!("table `{t}` (after `--prefix`)"),
            Value::Bucket(b) => format!("bucket `{b}` (after `--prefix`)"),
            Value::Kafka => "the Kafka emulator".into(),
            Value::Gateway => "the runner's payment gateway".into(),
            Value::PubSub => "the Pub/Sub emulator".into(),
            Value::Gcs => "the GCS emulator".into(),
            Value::GcsBucket(b) => format!("GCS bucket `{b}` (after `--prefix`)"),
            Value::Cosmos => "the Cosmos DB emulator".into(),
            Value::CosmosDatabase(d) => format!("database `{d}` (after `--prefix`)"),
            Value::Postgres => "the local PostgreSQL (`sslmode=verify-ca`)".into(),
        }
    }
}

/// One AWS function as `up` deploys it.
#[derive(Debug, Clone, Copy)]
pub struct Lambda {
    pub name: &'static str,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub env: &'static [(&'static str, Value)],
    /// Event source mappings (Kafka, streams): records per batch at most.
    pub batch_size: usize,
    /// Event source mappings: how long a batch is gathered before it is sent.
    pub batching_window: Duration,
    /// Event source mappings: retries of a failing batch before its records go to the
    /// on-failure destination; asynchronous invocations (S3, schedules): Lambda's 2.
    pub retries: u32,
}

/// Every AWS function gets these: the AWS SDK pointed at moto with moto's test credentials.
pub const AWS_ENV: &[&str] =
    &["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_S3_FORCE_PATH_STYLE"];

const KAFKA: (&str, Value) = ("KAFKA_BOOTSTRAP_SERVERS", Value::Kafka);

const fn lambda(name: &'static str, timeout_s: u64, env: &'static [(&'static str, Value)]) -> Lambda {
    Lambda {
        name,
        memory_mb: 256,
        timeout: Duration::from_secs(timeout_s),
        env,
        batch_size: 100,
        batching_window: Duration::from_millis(500),
        retries: 5,
    }
}

/// order-sweeper's `SWEEP_AFTER_SECONDS` here: the least it takes.
pub const SWEEP_AFTER_SECONDS: u64 = 60;
/// The same, as the function's environment has it (a test holds the two together).
const SWEEP_AFTER: &str = "60";

#[rustfmt::skip]
pub const LAMBDAS: &[Lambda] = &[
    lambda(order_updater::NAME, 30, &[("ORDERS_TABLE", Value::Table("orders")), ("CARTS_TABLE", Value::Table("carts")), KAFKA]),
    // The lease on a payment outlives the invocation (the function refuses to start otherwise):
    // 30 s, the least it takes, so a crashed attempt's payment is charged again soon.
    lambda(payment_processor::NAME, 25, &[("PAYMENTS_TABLE", Value::Table("payments")), ("ORDERS_TABLE", Value::Table("orders")), KAFKA,
        ("PAYMENT_GATEWAY", Value::Fixed("http")), ("PAYMENT_GATEWAY_URL", Value::Gateway), ("PAYMENT_LEASE_SECONDS", Value::Fixed("30"))]),
    lambda(cart_cleaner::NAME, 60, &[("CARTS_TABLE", Value::Table("carts")), KAFKA]),
    lambda(kafka_pubsub_bridge::NAME, 30, &[KAFKA, ("GOOGLE_CLOUD_PROJECT", Value::Fixed("local")), ("PUBSUB_EMULATOR_HOST", Value::PubSub)]),
    Lambda { retries: 2, ..lambda(order_sweeper::NAME, 120, &[("ORDERS_TABLE", Value::Table("orders")), ("CARTS_TABLE", Value::Table("carts")), KAFKA,
        ("SWEEP_AFTER_SECONDS", Value::Fixed(SWEEP_AFTER))]) },
    Lambda { retries: 2, memory_mb: 1024, ..lambda(image_resizer::NAME, 60, &[("PROCESSED_BUCKET", Value::Bucket("processed")), KAFKA]) },
    lambda(notifier::NAME, 60, &[("CUSTOMERS_TABLE", Value::Table("customers")), ("NOTIFICATIONS_TABLE", Value::Table("notifications")),
        ("NOTIFY_FROM", Value::Fixed("orders@shop.example.com")), KAFKA]),
    lambda(lake_archiver::NAME, 60, &[("LAKE_BUCKET", Value::Bucket("lake"))]),
    // `local new` adds its deployments above this line.
];

/// The deployment of an AWS function of the registry; a function without one is an error.
pub fn lambda_of(name: &str) -> Result<&'static Lambda, String> {
    LAMBDAS.iter().find(|l| l.name == name).ok_or_else(|| {
        format!("{name} has no deployment in local/src/up/lambdas.rs (every AWS function of the registry needs one)")
    })
}

/// The registry's AWS functions, in its order.
pub fn aws_functions() -> impl Iterator<Item = &'static registry::FunctionSpec> {
    registry::FUNCTIONS.iter().filter(|f| f.cloud == Cloud::Aws)
}

fn trigger_of(f: &registry::FunctionSpec, l: &Lambda) -> String {
    let window = l.batching_window.as_millis();
    match f.host {
        Host::Msk { topics, .. } => format!(
            "MSK: {} (batch {}, window {window} ms, {} retries, then `{}`)",
            topics.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
            l.batch_size,
            l.retries,
            super::msk::on_failure_topic(f.name)
        ),
        Host::S3 { .. } => {
            format!("S3 → SQS: uploads bucket (async, {} retries, then the on-failure queue)", l.retries)
        }
        Host::Schedule { .. } => format!("EventBridge schedule (async, {} retries; `--sweep-every`)", l.retries),
        Host::DynamoDbStream { table, .. } => {
            format!("DynamoDB stream of `{table}` (batch {}, {} retries)", l.batch_size, l.retries)
        }
        _ => "—".into(),
    }
}

/// The README's table: one row per AWS function (what Lambda and the runner add to all of them
/// is said below it, in the README).
pub fn markdown() -> String {
    let mut out = String::from("| function | memory, timeout | trigger | its variables |\n|---|---|---|---|\n");
    for f in aws_functions() {
        let Ok(l) = lambda_of(f.name) else { continue };
        let vars: Vec<String> = l.env.iter().map(|(k, v)| format!("`{k}` = {}", v.describe())).collect();
        out.push_str(&format!(
            "| {} | {} MB, {} s | {} | {} |\n",
            f.name,
            l.memory_mb,
            l.timeout.as_secs(),
            trigger_of(f, l),
            vars.join("<br>")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweepers_wait_is_the_same_as_number_and_as_text() {
        assert_eq!(SWEEP_AFTER.parse::<u64>(), Ok(SWEEP_AFTER_SECONDS));
    }

    #[test]
    fn every_aws_function_of_the_registry_has_one_deployment() {
        for f in aws_functions() {
            assert!(lambda_of(f.name).is_ok(), "{} has no deployment", f.name);
        }
        for l in LAMBDAS {
            let spec = registry::function(l.name).expect("a registry function");
            assert_eq!(spec.cloud, Cloud::Aws, "{}", l.name);
        }
        assert!(lambda_of("nope").is_err_and(|e| e.contains("no deployment")));
    }

    #[test]
    fn the_readme_lists_what_each_function_gets() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
        let table = format!("{}<!-- `local new` adds its Lambda's row above this line. -->\n", markdown());
        assert!(
            readme.contains(&table),
            "README.md's table of what `local up` gives each function is not `local up --print-env`'s:\n{table}"
        );
        let process = crate::runtime::process::FunctionConfig {
            name: "f".into(),
            binary: "f".into(),
            timeout: std::time::Duration::from_secs(1),
            memory_mb: 128,
            region: "r".into(),
            env: Vec::new(),
            log: None,
        };
        let lambdas_own = process.lambda_env("127.0.0.1:1").into_iter().map(|(k, _)| k);
        let said_below = readme.split(&table).nth(1).and_then(|after| after.split("\n\n").next()).unwrap_or_default();
        for var in AWS_ENV
            .iter()
            .map(|v| v.to_string())
            .chain(lambdas_own.filter(|k| !k.contains("LOG") && !k.contains("DEFAULT") && !k.contains("EXECUTION")))
        {
            assert!(
                said_below.contains(&format!("`{var}`")),
                "the README's note below the table misses {var}: {said_below}"
            );
        }
    }
}
