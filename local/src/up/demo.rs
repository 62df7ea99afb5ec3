//! `local demo --emulators`: the embedded demo's scenarios through `up`'s wiring. Every function
//! runs as its own process on the emulators, triggered as its cloud triggers it; the scenario's
//! input goes in where the cloud's would (ERP messages published to the run's `erp-changes`
//! topic on the Pub/Sub emulator, orders to Kafka, photos to the S3 bucket); when the run has
//! gone quiet, what the emulators hold is read back into the embedded estate's twins
//! (`snapshot`) and the embedded demo's own invariant checks run on it. The demo starts the
//! emulators it needs and stops them, with every process, at the end.
//!
//! Faults: the embedded demo breaks its twins on purpose at set points; here nothing is broken
//! on purpose (the fault suite, tests/tests/up_faults.rs, breaks the emulators under this same
//! wiring). What the embedded demo's checks about its faults need happens here as it happens on
//! a cloud: payment-processor's mapping gives up on requests whose charge is still leased and
//! order-sweeper's schedule settles them; an operator turns a mapping off and reprocesses a
//! stream (`up::operate`).
pub mod checkout;
pub mod images;
pub mod merch;
pub mod snapshot;

use super::cli::Signals;
use super::{Running, UpOptions, msk::StartingPosition, stats::Stats, view};
use crate::demo::Verdict;
use crate::estate::RunError;
use std::time::{Duration, Instant};

/// What the demo runs: which flows, how big, which seed.
#[derive(Debug, Clone)]
pub struct EmulatorDemoOptions {
    pub flows: Vec<String>,
    /// ERP records of the merch flow, orders of the checkout flow, uploads of the image flow.
    pub records: usize,
    pub orders: usize,
    pub photos: usize,
    pub seed: u64,
    /// The longest a flow may take to settle after its input is in.
    pub deadline: Duration,
}

/// One flow's outcome: its summary (the live view's lines of its functions and the invariants)
/// and its throughput end to end.
pub struct FlowReport {
    pub flow: &'static str,
    pub summary: String,
    pub holds: bool,
    /// Input events (pushes, orders, uploads) and the time from the first one in to the last
    /// function invocation the run made for them.
    pub events: usize,
    pub took: Duration,
}

impl FlowReport {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.took.as_secs_f64().max(1e-3)
    }
}

/// A failure of `what`, as the demo reports it.
fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> RunError + '_ {
    move |e| RunError(format!("{what}: {e}"))
}

/// The run went quiet when no function's counters changed for this long (longer than the push
/// subscriptions' longest backoff, so a redelivery still to come is waited for) and no mapping
/// is behind.
pub const QUIET: Duration = Duration::from_secs(12);

/// Waits until the run is quiet (no counter changed for `quiet`, no mapping behind), then checks; while the checks fail and the deadline is not
/// past, waits for the next quiet spell and checks again. At the deadline it checks once more,
/// quiet or not, so a run that never settles still says which invariant does not hold. Returns
/// the verdict and when the functions last did something.
pub async fn settle(
    stats: &Stats,
    quiet: Duration,
    deadline: Duration,
    progress: &mut dyn FnMut(String),
    mut check: impl AsyncFnMut() -> Result<Verdict, RunError>,
) -> Result<(Verdict, Instant), RunError> {
    let until = Instant::now() + deadline;
    let mut last = stats.snapshot();
    // The functions' last activity (the end of the run's work), and the start of the current
    // quiet spell (which a failed check starts again).
    let (mut active, mut quiet_since) = (Instant::now(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stats.snapshot();
        if now != last {
            (last, active, quiet_since) = (now, Instant::now(), Instant::now());
            continue;
        }
        let behind = last.values().any(|s| s.lag > 0);
        let past = Instant::now() > until;
        if (quiet_since.elapsed() < quiet || behind) && !past {
            continue;
        }
        let verdict = check().await?;
        if verdict.all_hold() || past {
            return Ok((verdict, active));
        }
        let failing: Vec<&str> = verdict.checks.iter().filter(|(_, ok)| !ok).map(|(what, _)| what.as_str()).collect();
        progress(format!("quiet, but not there yet: {}", failing.join("; ")));
        quiet_since = Instant::now();
    }
}

/// The run's summary of a flow: its functions' lines as the live view shows them, the
/// invariants, the throughput.
pub fn summary(
    flow: &str,
    running: &Running,
    functions: &[&str],
    verdict: &Verdict,
    report: (usize, Duration),
) -> String {
    let stats = running.stats.snapshot();
    let mut out = format!("\n{flow} flow on the emulators:\n");
    for f in functions {
        out += &view::line(f, &stats.get(f).cloned().unwrap_or_default());
        out += "\n";
    }
    let (events, took) = report;
    out += &format!(
        "\n{events} events in {:.1} s end to end: {:.0} events/s\n\ninvariants:\n",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64().max(1e-3)
    );
    for (what, ok) in &verdict.checks {
        out += &format!("  [{}] {what}\n", if *ok { "ok" } else { "FAILED" });
    }
    out
}

/// Starts the emulators and the flows' functions, runs each flow, and stops everything it
/// started, whatever happened.
pub async fn run(opts: &EmulatorDemoOptions, progress: &mut dyn FnMut(String)) -> Result<Vec<FlowReport>, RunError> {
    let stamp = chrono::Utc::now().timestamp_millis() % 100_000_000;
    let up_opts = UpOptions {
        flows: opts.flows.clone(),
        prefix: format!("demo{stamp}-"),
        // The topics are shared with earlier runs: this run reads what comes after its start.
        starting: StartingPosition::Latest,
        retry_pause: Duration::from_secs(1),
        log_dir: super::emulators::logs_dir(),
        ..UpOptions::default()
    };
    progress("local demo --emulators: starting the emulators, making what the functions need, building them…".into());
    // Ctrl-C or SIGTERM at any point stops what the demo started, as an error would.
    let mut signals = Signals::listen().map_err(|e| RunError(format!("cannot listen for Ctrl-C and SIGTERM: {e}")))?;
    let set = up_opts.emulators.clone();
    let (running, started) = super::up_until(up_opts, Some(&mut signals), false).await.map_err(RunError)?;
    let functions: Vec<&'static str> = running.functions().collect();
    progress(format!("running on the emulators: {}", functions.join(", ")));
    let shown = tokio::spawn(view::run(functions, running.stats.clone()));
    let mut reports = Vec::new();
    let mut outcome = Ok(());
    for flow in &opts.flows {
        let run_flow = async {
            match flow.as_str() {
                "merch" => merch::run(&running, opts, progress).await,
                "checkout" => checkout::run(&running, opts, progress).await,
                "images" => images::run(&running, opts, progress).await,
                other => Err(RunError(format!("unknown flow {other:?}"))),
            }
        };
        let report = tokio::select! {
            report = run_flow => report,
            _ = signals.received() => Err(RunError("interrupted".into())),
        };
        match report {
            Ok(r) => reports.push(r),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    shown.abort();
    progress("stopping the functions and the emulators this run started".into());
    running.stop().await;
    let stopped = tokio::task::spawn_blocking(move || set.stop(&started)).await.map_err(|e| RunError(e.to_string()))?;
    outcome?;
    stopped.map_err(RunError)?;
    Ok(reports)
}
