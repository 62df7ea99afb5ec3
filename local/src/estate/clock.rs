//! The estate's clock for payment leases and Lambda deadlines.
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Starts at a fixed instant and moves one second each time it is read, so time passes (leases
/// run out) and every run reads the same times. Waiting moves it on at once instead of sleeping.
#[derive(Clone)]
pub struct SteppingClock {
    start: DateTime<Utc>,
    seconds: Arc<AtomicI64>,
}

impl Default for SteppingClock {
    fn default() -> Self {
        let start = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").map(|t| t.to_utc()).unwrap_or_default();
        SteppingClock { start, seconds: Arc::default() }
    }
}

impl SteppingClock {
    pub fn now(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.seconds.fetch_add(1, Ordering::SeqCst))
    }

    /// Lets `pause` pass.
    pub fn wait(&self, pause: Duration) {
        self.seconds.fetch_add(pause.num_seconds(), Ordering::SeqCst);
    }

    /// The clock as a function reads it (payment-processor's and order-updater's `Clock`).
    pub fn as_fn(&self) -> Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> {
        let clock = self.clone();
        Arc::new(move || clock.now())
    }
}
