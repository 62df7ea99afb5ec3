//! `local up`'s command: starts the estate's AWS functions on the emulators, shows the live
//! view, and on Ctrl-C or SIGTERM stops every process it started (the function processes, and
//! the emulators it started itself; emulators that were running before are left running).
use super::msk::StartingPosition;
use super::{UpOptions, lambdas, view};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Which flows' AWS functions: `checkout`, `merch`, `images` (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub flows: Vec<String>,
    /// AWS functions by name, besides the flows' (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub functions: Vec<String>,
    /// Before every table, bucket, queue and consumer group of the run (lowercase, for S3).
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Where a new consumer group or stream reader starts: `trim-horizon` or `latest`.
    #[arg(long, default_value = "trim-horizon", value_parser = ["trim-horizon", "latest"])]
    pub starting_position: String,
    /// Processes of a function (concurrency), e.g. `payment-processor=2`. Repeatable.
    #[arg(long = "concurrency", value_name = "FUNCTION=N")]
    pub concurrency: Vec<String>,
    /// The sweeper's schedule, in seconds (its rule is `rate(5 minutes)` deployed).
    #[arg(long, default_value_t = 300)]
    pub sweep_every: u64,
    /// Print what each function is given (the README's table) and exit.
    #[arg(long)]
    pub print_env: bool,
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
    Ok(UpOptions {
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

async fn signalled() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run(args: UpArgs) -> ExitCode {
    if args.print_env {
        print!("{}", lambdas::markdown());
        return ExitCode::SUCCESS;
    }
    let opts = match options(&args).and_then(|o| super::selected(&o).map(|_| o)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("local up: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("local up: starting the emulators, making what the functions need, building them…");
    let (running, started) = match super::up(opts).await {
        Ok(up) => up,
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
    signalled().await;
    shown.abort();
    eprintln!("\nlocal up: stopping");
    running.stop().await;
    let stop: Vec<&'static str> = if args.keep_emulators { Vec::new() } else { started };
    match tokio::task::spawn_blocking(move || super::emulators::stop(&stop)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("local up: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("local up: {e}");
            ExitCode::FAILURE
        }
    }
}
