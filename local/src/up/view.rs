//! The live view of `up`: a line per function (invocations, failures, retries, its dead
//! letters, what went to an on-failure destination, p50/p99 latency over the latest invocations, consumer lag),
//! redrawn in place with indicatif on a terminal, and printed as plain lines every few seconds,
//! when something changed, when stdout is not a terminal (a log, CI).
use super::stats::{FunctionStats, Stats};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0)).unwrap_or_else(|| "-".into())
}

/// One function's line.
pub fn line(function: &str, s: &FunctionStats) -> String {
    format!(
        "{function:<20} invocations {:>6}  failures {:>4}  retries {:>4}  dead letters {:>4}  on-failure {:>4}  p50 {:>7} ms  p99 {:>7} ms  lag {:>5}",
        s.invocations,
        s.failures,
        s.retries,
        s.dead_letters,
        s.on_failure,
        ms(s.percentile(0.5)),
        ms(s.percentile(0.99)),
        s.lag
    )
}

/// Shows the functions' lines until the task is stopped.
pub async fn run(functions: Vec<&'static str>, stats: Arc<Stats>) {
    if std::io::stdout().is_terminal() {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let style =
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
        let lines: Vec<(&str, ProgressBar)> =
            functions.iter().map(|f| (*f, bars.add(ProgressBar::new_spinner().with_style(style.clone())))).collect();
        loop {
            let now = stats.snapshot();
            for (f, bar) in &lines {
                bar.set_message(line(f, &now.get(f).cloned().unwrap_or_default()));
                bar.tick();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let mut shown: BTreeMap<&str, FunctionStats> = BTreeMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = stats.snapshot();
        for f in &functions {
            let s = now.get(f).cloned().unwrap_or_default();
            if shown.get(f) != Some(&s) {
                println!("{}", line(f, &s));
                shown.insert(f, s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_the_function_did() {
        let stats = Stats::default();
        stats.invoked("payment-processor", Duration::from_millis(12), false);
        stats.invoked("payment-processor", Duration::from_millis(30), true);
        stats.retried("payment-processor");
        stats.dead_lettered("payment-processor");
        let s = &stats.snapshot()["payment-processor"];
        let l = line("payment-processor", s);
        assert!(l.contains("invocations      2") && l.contains("failures    1") && l.contains("retries    1"), "{l}");
        assert!(l.contains("dead letters    1  on-failure    0"), "{l}");
        assert!(l.contains("p99    30.0 ms"), "{l}");
        assert!(line("x", &FunctionStats::default()).contains("p50       - ms"));
    }
}
