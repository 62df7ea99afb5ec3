//! `local up`'s command: starts the estate's functions on the emulators, shows the live
//! view, and on Ctrl-C or SIGTERM stops every process it started (the function processes, and
//! the emulators it started itself; emulators that were running before are left running).
use super::msk::StartingPosition;
use super::{UpOptions, lambdas, view};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Which flows' functions, on every cloud: `checkout`, `merch`, `images` (comma-separated;
    /// default all).
    #[arg(long, value_delimiter = ',')]
    pub flows: Vec<String>,
    /// Functions by name, besides the flows' (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub functions: Vec<String>,
    /// Before every table, bucket, queue and consumer group of the run (lowercase, for S3).
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Where a new consumer group or stream reader starts: `trim-horizon` or `latest`.
    #[arg(long, default_value = "trim-horizon", value_parser = ["trim-horizon", "latest"])]
    pub starting_position: String,
    /// Processes of an AWS function (concurrency), e.g. `payment-processor=2`. Repeatable.
    #[arg(long = "concurrency", value_name = "FUNCTION=N")]
    pub concurrency: Vec<String>,
    /// A variable of a function, besides or instead of its table's, e.g.
    /// `notifier:NOTIFY_FROM=shop@example.org`. Repeatable.
    #[arg(long = "env", value_name = "FUNCTION:NAME=VALUE")]
    pub env: Vec<String>,
    /// The sweeper's schedule, in seconds (its rule is `rate(5 minutes)` deployed).
    #[arg(long, default_value_t = 300)]
    pub sweep_every: u64,
    /// Print what each function is given (the README's table) and exit.
    #[arg(long)]
    pub print_env: bool,
    /// Build the functions' binaries (as `up` does), print where they are, and exit.
    #[arg(long)]
    pub build_only: bool,
    /// Leave the emulators this run started running at the end.
    #[arg(long)]
    pub keep_emulators: bool,
}

fn options(args: &UpArgs) -> Result<UpOptions, String> {
    let mut concurrency = BTreeMap::new();
    for c in &args.concurrency {
        let (f, n) = c.split_once('=').ok_or_else(|| format!("--concurrency {c}: FUNCTION=N"))?;
        lambdas::lambda_of(f)?;
        let n: usize = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("--concurrency {c}: N is a count"))?;
        concurrency.insert(f.to_string(), n);
    }
    let mut env = Vec::new();
    for e in &args.env {
        let parsed = e.split_once(':').and_then(|(f, kv)| kv.split_once('=').map(|(k, v)| (f, k, v)));
        let (f, k, v) = parsed.ok_or_else(|| format!("--env {e}: FUNCTION:NAME=VALUE"))?;
        crate::registry::function(f)?;
        env.push((f.to_string(), k.to_string(), v.to_string()));
    }
    Ok(UpOptions {
        env,
        flows: args.flows.clone(),
        functions: args.functions.clone(),
        prefix: args.prefix.clone(),
        starting: if args.starting_position == "latest" {
            StartingPosition::Latest
        } else {
            StartingPosition::TrimHorizon
        },
        concurrency,
        sweep_every: Duration::from_secs(args.sweep_every.max(1)),
        log_dir: super::emulators::logs_dir(),
        ..UpOptions::default()
    })
}

/// Ctrl-C or SIGTERM, listened for from the start (a signal before `up` is ready stops it too,
/// cleanly, instead of killing it with its processes left behind).
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn listen() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    pub async fn received(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(args: UpArgs) -> ExitCode {
    if args.print_env {
        use super::services::{cloud_run_markdown, function_apps_markdown};
        print!("{}\n{}\n{}", lambdas::markdown(), cloud_run_markdown(), function_apps_markdown());
        return ExitCode::SUCCESS;
    }
    if args.build_only {
        let built = tokio::task::spawn_blocking(crate::runtime::build::functions).await;
        return match built.map_err(|e| e.to_string()).and_then(|b| b) {
            Ok(built) => {
                for (name, path) in built {
                    println!("{name} {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("local up: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match options(&args).and_then(|o| super::selected(&o).map(|_| o)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("local up: {e}");
            return ExitCode::from(2);
        }
    };
    let mut signals = match Signals::listen() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local up: cannot listen for Ctrl-C and SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("local up: starting the emulators, making what the functions need, building them…");
    let set = opts.emulators.clone();
    let (running, stop) = match super::up_until(opts, Some(&mut signals), args.keep_emulators).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("local up: {e}");
            return ExitCode::FAILURE;
        }
    };
    let functions: Vec<&'static str> = running.functions().collect();
    if let Some(dir) = super::emulators::logs_dir() {
        eprintln!("local up: the functions' logs are in {}/<function>.log", dir.display());
    }
    eprintln!(
        "local up: {} running on the emulators (Kafka {}, AWS {}, Pub/Sub {}); the payment gateway is served by the runner. Ctrl-C stops.",
        functions.join(", "),
        running.endpoints.kafka,
        running.endpoints.aws,
        running.endpoints.pubsub
    );
    let shown = tokio::spawn(view::run(functions, running.stats.clone()));
    signals.received().await;
    shown.abort();
    eprintln!("\nlocal up: stopping");
    running.stop().await;
    let stopped = tokio::task::spawn_blocking(move || set.stop(&stop)).await;
    match stopped.map_err(|e| e.to_string()).and_then(|s| s) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local up: {e}");
            ExitCode::FAILURE
        }
    }
}
