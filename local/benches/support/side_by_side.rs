//! The one way the local benchmarks compare a function with its baseline: alternately, in one
//! run (these machines are shared and noisy, so only the ratio means something), medians of
//! ROUNDS rounds, the ratio against GOAL.
use std::time::{Duration, Instant};

pub const ROUNDS: usize = 31;
pub const GOAL: f64 = 0.70;

/// Whether the function `name` is to run: every one, unless the command line names one
/// (`cargo bench -p local --bench checkout -- order-updater`, to profile it alone).
pub fn selected(name: &str) -> bool {
    std::env::args().skip(1).find(|a| !a.starts_with('-')).is_none_or(|only| only == name)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `function` and `baseline` alternately (after one warm-up each), ROUNDS times each, and
/// reports the median rates of `records` records per run, and their ratio against GOAL. What
/// each run returns is dropped after its time is taken: a function hands back the fresh
/// in-memory state it ran against, whose teardown is the test fixture's, not the function's (a
/// deployed function's state lives in Cosmos DB or DynamoDB and is never dropped).
pub fn compare<R, S>(
    name: &str,
    what: &str,
    records: usize,
    mut function: impl FnMut() -> R,
    mut baseline: impl FnMut() -> S,
) {
    drop((function(), baseline()));
    let (mut f, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let kept = function();
        f.push(t.elapsed());
        drop(kept);
        let t = Instant::now();
        let kept = baseline();
        b.push(t.elapsed());
        drop(kept);
    }
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    let (fr, br) = (rate(median(f)), rate(median(b)));
    let ratio = fr / br;
    let verdict = if ratio >= GOAL { "met" } else { "NOT met" };
    println!(
        "{name:<20} {records} {what}, JSON logs at info: {fr:.0} rec/s | typed serde decode of the same bytes: \
         {br:.0} rec/s | ratio {ratio:.2} (goal >= {GOAL:.2}: {verdict})"
    );
}
