use clap::{Parser, Subcommand};
use local::demo::{DemoOptions, run, summary};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "local", version, about = "Run the function estate on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the flows end to end on the embedded default and check their invariants.
    Demo {
        /// Which flows: `merch`, `checkout`, `images` (comma-separated; default all).
        #[arg(long, value_delimiter = ',')]
        flows: Vec<String>,
        /// ERP records of the merch flow.
        #[arg(long, default_value_t = 3000)]
        records: usize,
        /// Orders of the checkout flow.
        #[arg(long, default_value_t = 500)]
        orders: usize,
        /// Uploads of the image flow.
        #[arg(long, default_value_t = 60)]
        photos: usize,
        /// Seed of the random order, faults and redeliveries (a failing run is repeated with it).
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Records per projection-updater invocation (the host's maxBatchSize).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Write the checkout flow's data lake (lake-archiver's raw zone) to DIR/<bucket>/<key>
        /// and the orders' final states to DIR/orders-by-state.json, for other readers (DuckDB).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run the flows on the local emulators instead, every function as its own process
        /// (as `local up` runs them): started, checked and stopped by the demo.
        #[arg(long)]
        emulators: bool,
        /// With --emulators: the longest, in seconds, a flow may take to settle once its input
        /// is in.
        #[arg(long, default_value_t = 600)]
        settle_within: u64,
    },
    /// Run one function on one recorded trigger payload; print the response and every effect.
    Invoke {
        /// The function to run, by name (e.g. `order-updater`, `fraud-scorer`, `image-resizer`).
        function: String,
        /// A recorded trigger payload: an MSK, S3 or DynamoDB Streams event, a scheduled event, a
        /// Functions host invocation or a Pub/Sub push (recorded HTTP request or bare body). See
        /// events/.
        fixture: PathBuf,
        /// image-resizer: put FILE in the local bucket at KEY, the object key as stored (decoded,
        /// e.g. `uploads/SKU-1/front (1).jpg`), which an ObjectCreated record of the event must
        /// name; that record's eTag and size become the file's. Repeatable. Split at the last `=`.
        #[arg(long = "object", value_name = "KEY=FILE")]
        objects: Vec<local::invoke::ObjectFile>,
        /// Write every object the invocation wrote to DIR/<bucket>/<key> (the variants, for
        /// image-resizer).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Exit 3 when any record was dead-lettered (for scripts and CI); the output is the same.
        #[arg(long)]
        fail_on_dead_letter: bool,
        /// Start from the stores in FILE (orders, payments, projections, fraud_state, customers,
        /// notifications, carts, objects, uploads), as `--save-state` wrote them, instead of
        /// empty ones. Default: the fixture's own, `state/<fixture file>` beside it, if there is one.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Write the stores as the invocation left them to FILE, for the next `--state`.
        #[arg(long, value_name = "FILE")]
        save_state: Option<PathBuf>,
    },
    /// Add a function to the estate: its crate from the trigger's template, a fixture and its
    /// goldens, its registry entry. Then build and test it (the command prints how).
    New {
        /// The cloud it runs on: `aws`, `azure` or `gcp`.
        #[arg(value_parser = ["aws", "azure", "gcp"])]
        cloud: String,
        /// Its name, kebab-case (`order-notifier`): the crate, the binary and the deployed function.
        name: String,
        /// What invokes it: `msk`, `s3`, `schedule`, `dynamodb-stream` (aws), `kafka` (azure),
        /// `pubsub-push` (gcp).
        #[arg(long)]
        trigger: String,
    },
    /// List the recorded fixtures each function takes (from events/, by the function registry).
    Fixtures {
        /// Only this function's.
        function: Option<String>,
    },
    /// Republish a topic's audited events in [from, to) from GCS to Kafka (GCS_ENDPOINT,
    /// KAFKA_BOOTSTRAP_SERVERS, AUDIT_BUCKET from the environment).
    Replay {
        /// The audited Kafka topic (e.g. `merch.price-changed`).
        #[arg(long)]
        topic: String,
        /// Start of the window, inclusive (RFC 3339, e.g. 2026-11-20T00:00:00Z).
        #[arg(long)]
        from: chrono::DateTime<chrono::Utc>,
        /// End of the window, exclusive (RFC 3339).
        #[arg(long)]
        to: chrono::DateTime<chrono::Utc>,
        /// Where to republish; defaults to the audited topic itself.
        #[arg(long)]
        target_topic: Option<String>,
    },
    /// Run every function as its own process (its deployed binary) on the emulators, triggered as
    /// its cloud triggers it: Lambdas behind a local Runtime API, function apps behind a local
    /// Functions host, Cloud Run services behind authenticated Pub/Sub push. Ctrl-C stops.
    Up(local::up::cli::UpArgs),
    /// Write the JSON Schemas of the domain events to events/schemas/.
    Schemas {
        /// Where the schemas are written.
        #[arg(long, default_value = "events/schemas")]
        dir: PathBuf,
    },
}

/// `local demo --emulators`: each flow's summary and throughput; fails when a flow could not
/// run or an invariant did not hold.
async fn demo_on_emulators(opts: &local::up::demo::EmulatorDemoOptions) -> ExitCode {
    match local::up::demo::run(opts, &mut |line| eprintln!("{line}")).await {
        Ok(reports) => {
            for r in &reports {
                println!("{}", r.summary);
            }
            if reports.iter().all(|r| r.holds) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("local demo --emulators: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a demo flow's summary and says whether its invariants held; None (said on stderr)
/// when the flow could not run.
fn report(flow: &str, run: Result<(String, bool), local::estate::RunError>) -> Option<bool> {
    match run {
        Ok((summary, holds)) => {
            println!("{summary}");
            Some(holds)
        }
        Err(e) => {
            eprintln!("{flow} demo failed: {e}");
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Demo { emulators: true, .. } = cli.command
        && let Some(exit) = with_cosmos_client_env()
    {
        return exit;
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => {
            let exit = runtime.block_on(run_command(cli.command));
            // Done: tasks still unwinding (a mapping's lag asked in `block_in_place`) are not
            // polled again on a runtime whose timers are gone.
            runtime.shutdown_background();
            exit
        }
        Err(e) => {
            eprintln!("local: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The demo on the emulators reads the Cosmos emulator in-process, and the Cosmos SDK takes the
/// emulator's settings (its certificate, HTTP/1.1, JSON) from the environment only: when they are
/// not set, the demo runs itself again with them (its exit status is this one's). None: they are set.
fn with_cosmos_client_env() -> Option<ExitCode> {
    let vars = match local::up::emulators::EmulatorSet::default().cosmos_client_env() {
        Ok(vars) => vars,
        Err(e) => {
            eprintln!("local demo --emulators: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    if vars.iter().all(|(k, v)| std::env::var(k).is_ok_and(|set| set == *v)) {
        return None;
    }
    let again = std::env::current_exe().and_then(|exe| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let mut signals = local::up::cli::Signals::listen()?;
            let mut child = tokio::process::Command::new(exe).args(std::env::args_os().skip(1)).envs(vars).spawn()?;
            tokio::select! {
                status = child.wait() => status,
                _ = signals.received() => {
                    // Passed on, so the demo stops what it started (a terminal's Ctrl-C reaches
                    // it too; a SIGTERM to this process would not).
                    if let Some(id) = child.id() {
                        let _ = std::process::Command::new("kill").args(["-TERM", &id.to_string()]).status();
                    }
                    child.wait().await
                }
            }
        })
    });
    Some(match again {
        Ok(status) => status.code().and_then(|c| u8::try_from(c).ok()).map_or(ExitCode::FAILURE, ExitCode::from),
        Err(e) => {
            eprintln!("local demo --emulators: cannot run itself again: {e}");
            ExitCode::FAILURE
        }
    })
}

async fn run_command(command: Command) -> ExitCode {
    // The functions' log lines, off unless RUST_LOG asks, on stderr: stdout is the command's output.
    let filter = serve::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
    let _ = tracing::subscriber::set_global_default(serve::json_subscriber(filter, std::io::stderr));
    match command {
        Command::Demo { mut flows, records, orders, photos, seed, batch, out, emulators, settle_within } => {
            if flows.is_empty() {
                flows = ["merch", "checkout", "images"].map(String::from).to_vec();
            }
            if let Some(unknown) = flows.iter().find(|f| !["merch", "checkout", "images"].contains(&f.as_str())) {
                eprintln!("unknown flow {unknown:?}; known: merch, checkout, images");
                return ExitCode::from(2);
            }
            if emulators {
                let opts = local::up::demo::EmulatorDemoOptions {
                    flows,
                    records,
                    orders,
                    photos,
                    seed,
                    deadline: std::time::Duration::from_secs(settle_within),
                };
                return demo_on_emulators(&opts).await;
            }
            let wanted = |flow: &str| flows.iter().any(|f| f == flow);
            let mut all_hold = true;
            if wanted("merch") {
                let opts = DemoOptions { records, seed, batch: batch.max(1) };
                let run = run(&opts, &mut |line| eprintln!("{line}")).await;
                let Some(holds) = report("merch", run.map(|(e, s, v)| (summary(&e, &s, &v), v.all_hold()))) else {
                    return ExitCode::FAILURE;
                };
                all_hold &= holds;
            }
            if wanted("checkout") {
                let opts = local::checkout_demo::CheckoutOptions { orders, seed };
                let run = local::checkout_demo::run(&opts, &mut |line| eprintln!("{line}")).await;
                let run = run.and_then(|(e, v)| {
                    if let Some(dir) = &out {
                        let written = local::archived::write_out(&e, dir)?;
                        eprintln!("wrote {} files of the data lake to {}", written.len(), dir.display());
                    }
                    Ok((local::checkout_demo::summary(&e, &v), v.all_hold()))
                });
                let Some(holds) = report("checkout", run) else { return ExitCode::FAILURE };
                all_hold &= holds;
            }
            if wanted("images") {
                let opts = local::images_demo::ImageOptions { photos, seed };
                let run = local::images_demo::run(&opts, &mut |line| eprintln!("{line}")).await;
                let run = run.map(|(e, v)| (local::images_demo::summary(&e, &v), v.all_hold()));
                let Some(holds) = report("images", run) else { return ExitCode::FAILURE };
                all_hold &= holds;
            }
            if all_hold { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Up(args) => local::up::cli::run(args).await,
        Command::New { cloud, name, trigger } => {
            let plan = std::env::current_dir()
                .map_err(|e| local::scaffold::ScaffoldError::NoWorkspace(e.to_string()))
                .and_then(|cwd| local::scaffold::workspace_root(&cwd))
                .and_then(|root| local::scaffold::Plan::new(&root, &cloud, &name, &trigger));
            match plan.and_then(local::scaffold::Plan::write) {
                Ok(touched) => {
                    for file in touched {
                        println!("{file}");
                    }
                    eprintln!(
                        "{name} joined the estate. Build and test it:\n  cargo nextest run -p {name} -p local -p estate-tests -E 'not test(/^(emulators|up|up_clouds|up_faults)::/)'\nthen make it yours: docs/adding-a-function.md"
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("local new: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Invoke { function, fixture, objects, out, fail_on_dead_letter, state, save_state } => {
            let bytes = match std::fs::read(&fixture) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", fixture.display());
                    return ExitCode::from(2);
                }
            };
            // An S3 fixture's objects live beside it, in objects/<bucket>/<key>.
            let beside = fixture.parent().map(|dir| dir.join("objects"));
            // A fixture that needs stores to start from keeps them beside it, in state/.
            let state = state.or_else(|| local::registry::state_beside(&fixture));
            if let Some(file) = &state {
                eprintln!("starting from the stores in {}", file.display());
            }
            let options = local::invoke::InvokeOptions { beside, objects, out, state, save_state };
            match local::invoke::invoke_with(&function, &bytes, &options).await {
                Ok((out, written)) => {
                    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                    for path in written {
                        eprintln!("wrote {}", path.display());
                    }
                    let dead = out["summary"]["dead_lettered"].as_object().is_some_and(|d| !d.is_empty());
                    if fail_on_dead_letter && dead {
                        eprintln!("dead-lettered: {}", out["summary"]["dead_lettered"]);
                        return ExitCode::from(3);
                    }
                    ExitCode::SUCCESS
                }
                // The function ran and failed, or its output is lost: not a usage error (exit 1).
                Err(e @ (local::invoke::InvokeError::CannotWrite(_) | local::invoke::InvokeError::Failed { .. })) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("{}: {e}", fixture.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Fixtures { function } => {
            let Some(events) = local::registry::events_dir() else {
                eprintln!("no events/ folder here or above: run from the repository");
                return ExitCode::from(2);
            };
            let specs: Vec<&local::registry::FunctionSpec> = match function.as_deref().map(local::registry::function) {
                None => local::registry::FUNCTIONS.iter().collect(),
                Some(Ok(f)) => vec![f],
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            for spec in specs {
                println!("{} ({}, {}): {}", spec.name, spec.cloud.as_str(), spec.dir(), spec.trigger.envelope());
                for fixture in local::registry::fixtures_of(&events, spec.name) {
                    println!("  events/{fixture}");
                }
            }
            ExitCode::SUCCESS
        }
        Command::Replay { topic, from, to, target_topic } => {
            let env = serve::Env::Process;
            let sink = audit_sink::AuditSink::new(
                std::sync::Arc::new(platform_gcp::gcs::GcsObjects::from_env(&env)),
                audit_sink::bucket_from_env(&env),
            );
            let publisher = match kafka::KafkaPublisher::new(&kafka::bootstrap_from_env()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let target = target_topic.unwrap_or_else(|| topic.clone());
            match audit_sink::replay::replay(&sink, &publisher, &topic, from, to, &target).await {
                Ok(r) => {
                    println!(
                        "read {} objects, republished {} events to {target}, {} outside the range",
                        r.objects_read, r.republished, r.outside_range
                    );
                    for u in &r.unreadable {
                        eprintln!("unreadable: {u}");
                    }
                    if r.unreadable.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
                }
                Err(e) => {
                    eprintln!("replay failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Schemas { dir } => {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            for (name, text) in domain::schemas::all() {
                if let Err(e) = std::fs::write(dir.join(&name), text) {
                    eprintln!("{name}: {e}");
                    return ExitCode::FAILURE;
                }
                println!("wrote {}", dir.join(&name).display());
            }
            ExitCode::SUCCESS
        }
    }
}
