//! `local up`: every function of the estate as its own process, the very binary that deploys,
//! on the emulators, triggered as its cloud triggers it.
//! - AWS: behind the runner's Lambda Runtime API, through the MSK event source mappings (`msk`),
//!   S3 notifications through SQS (`s3_uploads`), the sweeper's schedule (`schedule`) and the
//!   orders table's stream (`streams`); S3 and schedules invoke asynchronously (`async_invoke`).
//! - Azure: each function app's custom handler behind the runner's Functions host
//!   (`functions_host`), its Kafka triggers read from its function.json files.
//! - Cloud Run: each service on `PORT` (`cloud_run`), pushed to by the Pub/Sub emulator's push
//!   subscriptions through the runner's front end, which adds the OIDC token (`push`).
//!
//! What each function is given is `lambdas`' and `services`' tables; what it needs on the
//! emulators is made by `provision` and `pubsub_admin`.
pub mod async_invoke;
pub mod cli;
pub mod cloud_run;
pub mod dead_letters;
pub mod demo;
pub mod emulators;
pub mod fault_proxy;
pub mod functions_host;
pub mod http_functions;
pub mod http_process;
pub mod lambdas;
pub mod msk;
pub mod on_failure;
pub mod operate;
pub mod pool;
pub mod provision;
pub mod pubsub_admin;
pub mod push;
pub mod push_auth;
pub mod s3_uploads;
pub mod schedule;
pub mod services;
pub mod stats;
pub mod streams;
pub mod view;

use crate::gateway_service::GatewayService;
use crate::registry::{Cloud, FunctionSpec, Host};
use crate::runtime::api::Outcome;
use crate::runtime::process::FunctionConfig;
use async_invoke::AsyncInvoker;
use cloud_run::CloudRunService;
use emulators::Endpoints;
use functions_host::HostedApp;
use lambdas::{AWS_ENV, Lambda, Value};
use msk::{Mapping, StartingPosition};
use pool::Pool;
use provision::{Names, Queues};
use pubsub_admin::PubSubAdmin;
use push::PushFrontEnd;
use stats::Stats;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The functions of each flow (`--flows`), on every cloud; with none named, every function.
pub fn flow_functions(flow: &str) -> Result<&'static [&'static str], String> {
    Ok(match flow {
        "checkout" => &[
            fraud_scorer::NAME,
            order_updater::NAME,
            payment_processor::NAME,
            cart_cleaner::NAME,
            kafka_pubsub_bridge::NAME,
            order_sweeper::NAME,
            notifier::NAME,
            lake_archiver::NAME,
            fulfillment::NAME,
            audit_sink::NAME,
        ],
        "merch" => &[
            merch_normalizer::NAME,
            projection_updater::NAME,
            cart_cleaner::NAME,
            kafka_pubsub_bridge::NAME,
            audit_sink::NAME,
        ],
        "images" => &[image_resizer::NAME, kafka_pubsub_bridge::NAME, image_analytics::NAME, audit_sink::NAME],
        other => return Err(format!("unknown flow {other:?}; known: checkout, merch, images")),
    })
}

#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Empty: every function of the registry (unless `functions` names some).
    pub flows: Vec<String>,
    /// Functions by name, besides the flows'.
    pub functions: Vec<String>,
    /// Before every table, bucket, queue and consumer group of the run.
    pub prefix: String,
    /// Where a new consumer group or stream reader starts.
    pub starting: StartingPosition,
    /// Processes per function (default 1).
    pub concurrency: BTreeMap<String, usize>,
    /// The sweeper's schedule.
    pub sweep_every: Duration,
    /// The pause before a failed batch or asynchronous invocation is retried (Lambda backs off
    /// for up to a minute or two).
    pub retry_pause: Duration,
    /// Already-built binaries by name; the rest are built.
    pub binaries: BTreeMap<String, PathBuf>,
    /// Variables set on a function besides (or instead of) its table's: (function, name, value).
    pub env: Vec<(String, String, String)>,
    /// Each function's log (its processes' stdout and stderr) goes to `<dir>/<prefix><name>.log`;
    /// None: the runner's own stdout and stderr.
    pub log_dir: Option<PathBuf>,
    /// A fault proxy before each emulator but Kafka (`fault_proxy`), for tests of outages: the
    /// functions and the runner reach the emulators through them.
    pub proxies: bool,
    /// Which emulators `up` starts and runs on (default: the caller's, as `scripts/emulators.sh`
    /// and the environment name them).
    pub emulators: emulators::EmulatorSet,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            flows: Vec::new(),
            functions: Vec::new(),
            prefix: String::new(),
            starting: StartingPosition::TrimHorizon,
            concurrency: BTreeMap::new(),
            sweep_every: Duration::from_secs(300),
            retry_pause: Duration::from_secs(5),
            binaries: BTreeMap::new(),
            env: Vec::new(),
            log_dir: None,
            proxies: false,
            emulators: emulators::EmulatorSet::default(),
        }
    }
}

/// The functions `up` runs for these options, in the registry's order.
pub fn selected(opts: &UpOptions) -> Result<Vec<&'static FunctionSpec>, String> {
    let mut wanted: Vec<&str> = Vec::new();
    for flow in &opts.flows {
        wanted.extend(flow_functions(flow)?);
    }
    for f in &opts.functions {
        wanted.push(crate::registry::function(f)?.name);
    }
    Ok(crate::registry::FUNCTIONS.iter().filter(|f| wanted.is_empty() || wanted.contains(&f.name)).collect())
}

/// The estate's AWS functions, running.
pub struct Running {
    pub endpoints: Endpoints,
    pub names: Names,
    pub queues: Queues,
    pub stats: Arc<Stats>,
    pub gateway: GatewayService,
    opts: UpOptions,
    pub pubsub: PubSubAdmin,
    gateway_url: String,
    pools: BTreeMap<&'static str, Arc<Pool>>,
    apps: BTreeMap<&'static str, HostedApp>,
    services: BTreeMap<&'static str, CloudRunService>,
    push: Option<PushFrontEnd>,
    /// The push subscriptions this run points at its front end (paused when it stops).
    push_subscriptions: Vec<String>,
    proxies: BTreeMap<&'static str, fault_proxy::FaultProxy>,
    schedules: BTreeMap<&'static str, AsyncInvoker>,
    asynchronous: Vec<AsyncInvoker>,
    /// Each MSK mapping's switch, by function and topic (`operate`).
    mappings: BTreeMap<(&'static str, String), msk::Enabled>,
    /// Each DynamoDB stream mapping, as it was made (`operate` makes another like it).
    stream_mappings: BTreeMap<&'static str, streams::StreamMapping>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn pool(&self, function: &str) -> Option<&Arc<Pool>> {
        self.pools.get(function)
    }

    /// The options it was started with (a restart takes them again).
    pub fn options(&self) -> &UpOptions {
        &self.opts
    }

    /// An Azure function app of this run: its handler process and its folder as the host read it.
    pub fn app(&self, name: &str) -> Option<&HostedApp> {
        self.apps.get(name)
    }

    /// The fault proxy before an emulator (`moto`, `pubsub`, `cosmos`, `gcs`, `postgres`), when
    /// the run has them (`UpOptions::proxies`).
    pub fn proxy(&self, service: &str) -> Option<&fault_proxy::FaultProxy> {
        self.proxies.get(service)
    }

    /// A Cloud Run service of this run.
    pub fn service(&self, name: &str) -> Option<&CloudRunService> {
        self.services.get(name)
    }

    /// Where the runner's push front end takes a push subscription's messages (a push that did
    /// not come from the emulator, as Google's would carry it, goes there too).
    pub fn push_endpoint(&self, subscription: &str) -> Option<String> {
        let ours = self.push_subscriptions.iter().any(|s| s == subscription);
        self.push.as_ref().filter(|_| ours).map(|p| p.endpoint(subscription))
    }

    /// Every function of this run, AWS first.
    pub fn functions(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.pools.keys().chain(self.apps.keys()).chain(self.services.keys()).copied()
    }

    /// Runs a scheduled function now, as its rule would (asynchronously: retried, then the
    /// on-failure queue), and waits for the outcome.
    pub async fn run_schedule(&self, function: &str) -> Result<Outcome, String> {
        let invoker = self
            .schedules
            .get(function)
            .ok_or_else(|| format!("{function} is not a scheduled function of this run"))?;
        Ok(invoker.invoke_and_wait(schedule::event(&format!("{function}-schedule"), &self.endpoints.region)).await)
    }

    /// Stops the triggers and every function process it started.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for invoker in &self.asynchronous {
            invoker.stop();
        }
        for subscription in &self.push_subscriptions {
            if let Err(e) = self.pubsub.pause_push(subscription).await {
                tracing::warn!(subscription, error = %e, "the push subscription was not paused");
            }
        }
        if let Some(push) = &self.push {
            push.stop();
        }
        let stopping: Vec<_> =
            self.pools.values().cloned().map(|p| tokio::spawn(async move { p.stop().await })).collect();
        for app in self.apps.values() {
            app.stop().await;
        }
        for service in self.services.values() {
            service.stop().await;
        }
        for s in stopping {
            let _ = s.await;
        }
    }
}

impl Drop for Running {
    /// A run dropped without `stop` (a start that failed half-way, a panic) leaves no trigger
    /// running; its processes die with their handles.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A variable's value in this run.
fn setting(value: Value, endpoints: &Endpoints, names: &Names, gateway_url: &str) -> String {
    match value {
        Value::Fixed(s) => s.to_string(),
        Value::Table(t) => names.table(t),
        Value::Bucket(b) | Value::GcsBucket(b) => names.bucket(b),
        Value::Kafka => endpoints.kafka.clone(),
        Value::Gateway => gateway_url.to_string(),
        Value::PubSub => endpoints.pubsub.clone(),
        Value::Gcs => endpoints.gcs.clone(),
        Value::Cosmos => endpoints.cosmos.clone(),
        Value::CosmosDatabase(d) => format!("{}{d}", names.prefix),
        Value::Postgres => endpoints.database_url.clone(),
    }
}

fn env_of(lambda: &Lambda, endpoints: &Endpoints, names: &Names, gateway_url: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = AWS_ENV
        .iter()
        .map(|k| {
            let v = match *k {
                "AWS_ENDPOINT_URL" => endpoints.aws.clone(),
                "AWS_ACCESS_KEY_ID" => endpoints.aws_key_id.clone(),
                "AWS_SECRET_ACCESS_KEY" => endpoints.aws_secret.clone(),
                _ => "true".into(), // AWS_S3_FORCE_PATH_STYLE: moto serves buckets by path
            };
            (k.to_string(), v)
        })
        .collect();
    env.extend(lambda.env.iter().map(|(k, v)| (k.to_string(), setting(*v, endpoints, names, gateway_url))));
    env
}

/// The function's variables with the run's own for it in place of (or beside) the table's.
fn with_overrides(
    mut env: Vec<(String, String)>,
    function: &str,
    overrides: &[(String, String, String)],
) -> Vec<(String, String)> {
    for (_, name, value) in overrides.iter().filter(|(f, _, _)| f == function) {
        env.retain(|(k, _)| k != name);
        env.push((name.clone(), value.clone()));
    }
    env
}

/// Starts the emulators `up` needs (keeping running ones) and then the estate on them; also
/// says which emulators it started (to stop at the end).
pub async fn up(opts: UpOptions) -> Result<(Running, Vec<&'static str>), String> {
    up_until(opts, None, false).await
}

/// `up`, stopped cleanly by a signal that comes while it starts (Ctrl-C, SIGTERM): the
/// processes started so far die with their handles, and the emulators it started are stopped
/// (kept with `keep_emulators`, as they are when the start fails).
pub async fn up_until(
    opts: UpOptions,
    mut signals: Option<&mut cli::Signals>,
    keep_emulators: bool,
) -> Result<(Running, Vec<&'static str>), String> {
    async fn signalled(signals: &mut Option<&mut cli::Signals>) {
        match signals {
            Some(s) => s.received().await,
            None => std::future::pending().await,
        }
    }
    let set = opts.emulators.clone();
    let starting = set.clone();
    let (endpoints, started) = tokio::select! {
        s = tokio::task::spawn_blocking(move || starting.start()) => s.map_err(|e| e.to_string())??,
        _ = signalled(&mut signals) => {
            return Err("interrupted while the emulators started (stop them with scripts/emulators.sh stop)".into())
        }
    };
    let running = tokio::select! {
        running = start(opts, endpoints) => running,
        _ = signalled(&mut signals) => Err("interrupted while starting".into()),
    };
    let stop = if keep_emulators { Vec::new() } else { started };
    match running {
        Ok(running) => Ok((running, stop)),
        Err(e) => {
            let _ = tokio::task::spawn_blocking(move || set.stop(&stop)).await;
            Err(e)
        }
    }
}

/// Starts the estate's AWS functions on emulators that are running at `endpoints`: makes what
/// they need, builds their binaries, starts their processes and triggers. Returns when every
/// trigger is in place (a mapping's starting position is fixed by then).
pub async fn start(opts: UpOptions, endpoints: Endpoints) -> Result<Running, String> {
    let functions = selected(&opts)?;
    let (endpoints, proxies) = match opts.proxies {
        true => fault_proxy::proxied(&endpoints).await?,
        false => (endpoints, BTreeMap::new()),
    };
    let names = Names { prefix: opts.prefix.clone() };
    let queues = provision::provision(&endpoints, &names).await?;
    let mut binaries = opts.binaries.clone();
    let missing: Vec<&'static str> = functions.iter().map(|f| f.name).filter(|n| !binaries.contains_key(*n)).collect();
    if !missing.is_empty() {
        let built =
            tokio::task::spawn_blocking(crate::runtime::build::functions).await.map_err(|e| e.to_string())??;
        binaries.extend(built);
    }
    let gateway = GatewayService::new(inmemory::TestGateway::default());
    let gateway_url = gateway.serve().await.map_err(|e| format!("the payment gateway service: {e}"))?;
    let aws = endpoints.aws_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    if let Some(dir) = &opts.log_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let stats = Arc::new(Stats::default());
    let names_of: Vec<&'static str> = functions.iter().map(|f| f.name).collect();
    let watching = dead_letters::watch(endpoints.kafka.clone(), names_of, stats.clone()).await?;
    let mut running = Running {
        endpoints: endpoints.clone(),
        names: names.clone(),
        queues: queues.clone(),
        stats: stats.clone(),
        gateway,
        pubsub: PubSubAdmin::new(&endpoints.pubsub, "local"),
        opts: opts.clone(),
        gateway_url: gateway_url.clone(),
        pools: BTreeMap::new(),
        apps: BTreeMap::new(),
        services: BTreeMap::new(),
        push: None,
        push_subscriptions: Vec::new(),
        proxies,
        schedules: BTreeMap::new(),
        asynchronous: Vec::new(),
        mappings: BTreeMap::new(),
        stream_mappings: BTreeMap::new(),
        tasks: Vec::new(),
    };
    running.tasks.push(tokio::spawn(watching));
    for f in functions {
        let binary = binaries.get(f.name).cloned().ok_or_else(|| format!("no binary for {}", f.name))?;
        match f.cloud {
            Cloud::Azure => {
                running.start_function_app(f.name, binary).await?;
                continue;
            }
            Cloud::Gcp => {
                running.start_cloud_run(f.name, binary).await?;
                continue;
            }
            Cloud::Aws => {}
        }
        let lambda = lambdas::lambda_of(f.name)?;
        let config = FunctionConfig {
            name: f.name.to_string(),
            binary,
            timeout: lambda.timeout,
            memory_mb: lambda.memory_mb,
            region: endpoints.region.clone(),
            env: with_overrides(env_of(lambda, &endpoints, &names, &gateway_url), f.name, &opts.env),
            log: opts.log_dir.as_ref().map(|d| d.join(format!("{}{}.log", opts.prefix, f.name))),
        };
        let arn = config.arn();
        let concurrency = opts.concurrency.get(f.name).copied().unwrap_or(1).max(1);
        let pool = Pool::start(f.name, config, concurrency, stats.clone())
            .await
            .map_err(|e| format!("{}: the process did not start: {e}", f.name))?;
        let pool = Arc::new(pool);
        running.pools.insert(f.name, pool.clone());
        let invoker = AsyncInvoker {
            tasks: Arc::default(),
            pool: pool.clone(),
            stats: stats.clone(),
            sqs: sqs.clone(),
            on_failure_queue: queues.on_failure.clone(),
            function_arn: arn,
            retries: lambda.retries,
            pause: opts.retry_pause,
        };
        running.asynchronous.push(invoker.clone());
        match f.host {
            Host::Msk { topics, .. } => {
                // Lambda invokes one batch of a partition at a time and scales by partitions:
                // with n processes, n pollers share the group, each its share of the partitions.
                let pollers = concurrency.min(provision::PARTITIONS as usize);
                for topic in topics.iter() {
                    running.mappings.insert((f.name, topic.to_string()), msk::Enabled::default());
                }
                for (topic, share) in topics.iter().flat_map(|t| (0..pollers).map(move |i| (t, (i, pollers)))) {
                    let mapping = Mapping {
                        function: f.name,
                        topic: topic.to_string(),
                        group: msk::group_name(&opts.prefix, f.name, topic),
                        batch_size: lambda.batch_size,
                        batching_window: lambda.batching_window,
                        retries: lambda.retries,
                        starting: opts.starting,
                        share,
                        retry_pause: opts.retry_pause,
                    };
                    let positioned = msk::position(mapping, &endpoints.kafka).await?;
                    let enabled = running.mappings[&(f.name, topic.to_string())].clone();
                    running.tasks.push(tokio::spawn(positioned.run(pool.clone(), stats.clone(), enabled)));
                }
            }
            Host::S3 { .. } => {
                let task = s3_uploads::run(sqs.clone(), queues.uploads.clone(), invoker);
                running.tasks.push(tokio::spawn(task));
            }
            Host::Schedule { .. } => {
                let task = schedule::run(
                    format!("{}-schedule", f.name),
                    endpoints.region.clone(),
                    opts.sweep_every,
                    invoker.clone(),
                );
                running.tasks.push(tokio::spawn(task));
                running.schedules.insert(f.name, invoker);
            }
            Host::DynamoDbStream { table, .. } => {
                let mapping = streams::StreamMapping {
                    function: f.name,
                    function_arn: invoker.function_arn.clone(),
                    table: names.table(table),
                    batch_size: lambda.batch_size,
                    retries: lambda.retries,
                    from_latest: opts.starting == StartingPosition::Latest,
                    retry_pause: opts.retry_pause,
                };
                running.stream_mappings.insert(f.name, mapping.clone());
                let reader = streams::StreamReader::open(mapping, &aws).await?;
                let task = reader.run(pool.clone(), stats.clone(), sqs.clone(), queues.on_failure.clone());
                running.tasks.push(tokio::spawn(task));
            }
            Host::Push { .. } | Host::Functions { .. } => {}
        }
    }
    Ok(running)
}
