//! The Azure Functions host, played for one function app on the Kafka emulator (Core Tools cannot
//! be installed here). It reads the app's folder as the host does — `host.json`, and every
//! function folder's `function.json` — starts the custom handler with
//! `FUNCTIONS_CUSTOMHANDLER_PORT` and the app settings (started again if it exits), and runs each
//! function's Kafka trigger:
//! - a consumer group per trigger (`consumerGroup`, after the run's prefix) reading its topic;
//! - batches of up to `maxBatchSize` records (cardinality many; one record for one) of what has
//!   arrived, sent as `POST /<function>` with `{Data, Metadata}`;
//! - a failed invocation (non-2xx, no answer, past `functionTimeout`) retried as the function's
//!   retry policy says, with `RetryContext` in the metadata; once `maxRetryCount` retries have
//!   failed the host moves past the batch, as the Kafka extension does. The functions dead-letter
//!   what they can on their last attempt; a batch whose last attempt fails whole (the handler
//!   down, Kafka refusing its outputs) is recorded by the local host on `<app>.on-failure`, with
//!   the failure in the headers, before it moves on — in Azure it would be dropped;
//! - the response's `Outputs` produced to Kafka through the output bindings before the offsets
//!   are committed; an output the broker refuses fails the invocation, which is retried.
use super::http_process::{HttpProcess, HttpProcessConfig, free_port};
use super::msk::{Mapping, Positioned, StartingPosition};
use super::stats::Stats;
use crate::functions_host::config::{FunctionApp, FunctionJson, resolve_setting};
use crate::functions_host::{kafka_trigger_request, output_messages};
use domain::ports::{BusRecord, Publisher};
use platform_azure::{InvocationRequest, InvocationResponse};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What the host is given for an app.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub name: &'static str,
    /// The app's folder: host.json and its function folders.
    pub dir: PathBuf,
    pub binary: PathBuf,
    /// The app settings (the handler's environment; `%NAME%` in bindings reads them).
    pub settings: Vec<(String, String)>,
    pub log: Option<PathBuf>,
    /// Before each consumer group.
    pub prefix: String,
    pub starting: StartingPosition,
}

/// An app running: its handler process and its triggers.
pub struct HostedApp {
    pub name: &'static str,
    pub handler: Arc<HttpProcess>,
    pub app: FunctionApp,
    tasks: Vec<JoinHandle<()>>,
}

/// How long the host gathers what has arrived after a batch's first record: the extension hands
/// a function what its consumer has fetched, it does not wait for a batch to fill.
const GATHER: Duration = Duration::from_millis(20);

/// Where the local host records a batch it gave up on (see the module's comment).
pub use super::on_failure::topic as on_failure_topic;

/// The consumer group of an app function's trigger in this run.
pub fn group_name(prefix: &str, f: &FunctionJson) -> String {
    format!("{prefix}{}", f.consumer_group)
}

impl HostedApp {
    pub async fn start(config: AppConfig, stats: Arc<Stats>) -> Result<HostedApp, String> {
        let app = FunctionApp::load(&config.dir)?;
        let built = config.binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if built != app.host.executable {
            return Err(format!(
                "{}: host.json starts {:?}, the built handler is {built:?}",
                config.name, app.host.executable
            ));
        }
        let port = free_port().map_err(|e| e.to_string())?;
        let mut env = config.settings.clone();
        env.extend([
            ("FUNCTIONS_CUSTOMHANDLER_PORT".to_string(), port.to_string()),
            ("FUNCTIONS_WORKER_RUNTIME".into(), "custom".into()),
            ("WEBSITE_SITE_NAME".into(), config.name.into()),
            ("AzureWebJobsScriptRoot".into(), config.dir.display().to_string()),
        ]);
        let process = HttpProcessConfig {
            name: config.name.into(),
            binary: config.binary.clone(),
            env,
            port,
            log: config.log.clone(),
        };
        let handler = Arc::new(HttpProcess::start(process).await?);
        let invocations = Arc::new(AtomicU64::new(0));
        // Built before the triggers start: a start that fails half-way drops it, which stops them.
        let mut hosted = HostedApp { name: config.name, handler: handler.clone(), app: app.clone(), tasks: Vec::new() };
        for (function, f) in &app.functions {
            let brokers = resolve_setting(&f.broker_list, &config.settings).map_err(|e| format!("{function}: {e}"))?;
            let mapping = Mapping {
                function: config.name,
                topic: f.trigger_topic.clone(),
                group: group_name(&config.prefix, f),
                batch_size: if f.many { app.host.max_batch_size } else { 1 },
                batching_window: GATHER,
                retries: f.max_retry_count,
                starting: config.starting,
                share: (0, 1),
                retry_pause: Duration::ZERO,
            };
            let positioned = super::msk::position(mapping, &brokers).await?;
            let outputs = kafka::KafkaPublisher::new(&brokers).map_err(|e| format!("{function}: a producer: {e}"))?;
            let trigger = Trigger {
                app: config.name,
                function: function.clone(),
                json: f.clone(),
                timeout: app.host.function_timeout,
                handler: handler.clone(),
                client: reqwest::Client::new(),
                outputs,
                stats: stats.clone(),
                invocations: invocations.clone(),
            };
            hosted.tasks.push(tokio::spawn(trigger.run(positioned)));
        }
        Ok(hosted)
    }

    pub async fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.handler.stop().await;
    }
}

impl Drop for HostedApp {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Trigger {
    app: &'static str,
    function: String,
    json: FunctionJson,
    timeout: Duration,
    handler: Arc<HttpProcess>,
    client: reqwest::Client,
    outputs: kafka::KafkaPublisher,
    stats: Arc<Stats>,
    invocations: Arc<AtomicU64>,
}

impl Trigger {
    async fn run(self, mut positioned: Positioned) {
        loop {
            let batch = positioned.next_batch(&self.stats).await;
            let mut retry = 0;
            loop {
                let started = Instant::now();
                let outcome = self.invoke(&batch, retry).await;
                self.stats.invoked(self.app, started.elapsed(), outcome.is_err());
                let Err(e) = outcome else { break };
                if retry >= self.json.max_retry_count {
                    tracing::error!(app = self.app, function = self.function, error = %e, records = batch.len(),
                        first = ?batch.first().map(|r| (r.partition, r.offset)), "retries exhausted: the batch goes to the on-failure topic");
                    self.record_on_failure(&batch, &e, retry).await;
                    self.stats.sent_on_failure(self.app, batch.len() as u64);
                    break;
                }
                retry += 1;
                tracing::warn!(app = self.app, function = self.function, error = %e, retry, "invocation failed: retrying");
                self.stats.retried(self.app);
                tokio::time::sleep(self.json.retry.pause(retry)).await;
            }
            positioned.done_with(&batch);
        }
    }

    /// Each record of a batch given up on goes to `<app>.on-failure` as it was, with the failure
    /// in its headers; a refused send is tried again until it goes through (the host never moves
    /// past a record it has not recorded).
    async fn record_on_failure(&self, batch: &[BusRecord], error: &str, retries: u32) {
        let why = [
            ("functions-function", self.function.clone()),
            ("functions-condition", "RetryAttemptsExhausted".to_string()),
            ("functions-error", error.chars().take(500).collect::<String>()),
            ("functions-retry-count", retries.to_string()),
        ];
        super::on_failure::keep(&self.outputs, self.app, batch, &why, Duration::from_secs(1)).await;
    }

    /// One invocation of the handler, and its outputs produced.
    async fn invoke(&self, batch: &[BusRecord], retry: u32) -> Result<(), String> {
        let n = self.invocations.fetch_add(1, Ordering::SeqCst);
        let context = (retry > 0).then_some((retry, self.json.max_retry_count));
        let request = kafka_trigger_request(&self.function, &self.json.trigger_name, batch, context, n);
        let response = invoke_handler(&self.client, &self.handler.url, &self.function, &request, self.timeout).await?;
        for line in &response.logs {
            tracing::info!(app = self.app, function = self.function, "{line}");
        }
        for (binding, msg) in output_messages(&response, &self.json.outputs)? {
            self.outputs.publish(msg).await.map_err(|e| format!("output binding {binding}: {e}"))?;
        }
        Ok(())
    }
}

/// The host's call of a custom handler: `POST <handler>/<function>` with the invocation, and the
/// answer read as an invocation response; non-2xx, no answer in time or an unreadable answer is
/// a failed invocation.
pub async fn invoke_handler(
    client: &reqwest::Client,
    handler: &str,
    function: &str,
    request: &InvocationRequest,
    timeout: Duration,
) -> Result<InvocationResponse, String> {
    let url = format!("{handler}/{function}");
    let answer = client.post(&url).json(request).timeout(timeout).send().await;
    let answer = answer.map_err(|e| format!("the handler did not answer: {e}"))?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(|e| format!("the handler's answer: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "the handler answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("the handler's answer is not an invocation response: {e}"))
}
