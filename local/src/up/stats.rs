//! What `up`'s live view shows of each function: invocations, failures (errors, timeouts,
//! processes that exited), retries, its dead letters, what went to an on-failure destination, latency
//! percentiles over the latest invocations, and the consumer lag of its mappings.
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Latencies kept per function for the percentiles.
const KEPT: usize = 2_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionStats {
    pub invocations: u64,
    pub failures: u64,
    pub retries: u64,
    /// Records the function itself dead-lettered (on a dead-letter topic).
    pub dead_letters: u64,
    /// Records or invocations the runner gave up on (the on-failure destinations).
    pub on_failure: u64,
    /// Records behind the newest, summed over the function's mappings (Kafka) or shards.
    pub lag: i64,
    latencies: VecDeque<Duration>,
}

impl FunctionStats {
    /// The latency below which `q` (0..=1) of the kept invocations finished.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let mut sorted: Vec<Duration> = self.latencies.iter().copied().collect();
        sorted.sort();
        let last = sorted.len().checked_sub(1)?;
        sorted.get(((last as f64) * q).round() as usize).copied()
    }
}

/// Where a mapping resumed reading after a failure: (function, topic, partition, offset).
pub type Resumed = (&'static str, String, i32, i64);

#[derive(Default)]
pub struct Stats {
    by_function: Mutex<BTreeMap<&'static str, FunctionStats>>,
    lags: Mutex<BTreeMap<(&'static str, String), i64>>,
    resumed: Mutex<VecDeque<Resumed>>,
}

impl Stats {
    fn with(&self, function: &'static str, f: impl FnOnce(&mut FunctionStats)) {
        f(self.by_function.lock().unwrap_or_else(|p| p.into_inner()).entry(function).or_default());
    }

    pub fn invoked(&self, function: &'static str, took: Duration, failed: bool) {
        self.with(function, |s| {
            s.invocations += 1;
            s.failures += failed as u64;
            if s.latencies.len() == KEPT {
                s.latencies.pop_front();
            }
            s.latencies.push_back(took);
        });
    }

    pub fn retried(&self, function: &'static str) {
        self.with(function, |s| s.retries += 1);
    }

    /// A Kafka mapping resumes a partition at `offset` after a failed or partly failed batch.
    pub fn resumed_at(&self, function: &'static str, topic: &str, partition: i32, offset: i64) {
        let mut resumed = self.resumed.lock().unwrap_or_else(|p| p.into_inner());
        if resumed.len() == KEPT {
            resumed.pop_front();
        }
        resumed.push_back((function, topic.to_string(), partition, offset));
    }

    /// The latest resumptions, oldest first.
    pub fn resumptions(&self) -> Vec<Resumed> {
        self.resumed.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    pub fn dead_lettered(&self, function: &'static str) {
        self.with(function, |s| s.dead_letters += 1);
    }

    pub fn sent_on_failure(&self, function: &'static str, records: u64) {
        self.with(function, |s| s.on_failure += records);
    }

    /// The lag of one of the function's sources (a mapping's topic, a stream).
    pub fn lag(&self, function: &'static str, source: &str, lag: i64) {
        let total = {
            let mut lags = self.lags.lock().unwrap_or_else(|p| p.into_inner());
            lags.insert((function, source.to_string()), lag);
            lags.iter().filter(|((f, _), _)| *f == function).map(|(_, l)| *l).sum()
        };
        self.with(function, |s| s.lag = total);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, FunctionStats> {
        self.by_function.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_of_the_latest_invocations_and_lag_sums_the_sources() {
        let stats = Stats::default();
        for ms in 1..=100 {
            stats.invoked("f", Duration::from_millis(ms), ms % 10 == 0);
        }
        stats.lag("f", "a", 3);
        stats.lag("f", "b", 4);
        stats.lag("f", "a", 1);
        let f = &stats.snapshot()["f"];
        assert_eq!((f.invocations, f.failures, f.lag), (100, 10, 5));
        assert_eq!(f.percentile(0.5), Some(Duration::from_millis(51)));
        assert_eq!(f.percentile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(FunctionStats::default().percentile(0.5), None);
    }
}
