//! What Lambda says about an invocation besides its event: when it will be stopped. Every
//! Lambda handler of the estate takes one (`main.rs` builds it from the runtime's context):
//! - a handler that holds something past its own run (payment-processor's lease on a payment
//!   id) checks that what it holds outlasts the invocation;
//! - a handler going through a batch starts no record with less time left than a record may
//!   take, and leaves the rest for Lambda's retry, rather than being stopped mid-record with the
//!   whole batch counted as failed.
//!
//! The time left is measured on the monotonic clock from when the invocation was built, so the
//! local runner (whose estate runs on a stepped clock) and tests build one the same way.
use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// When Lambda stops the invocation (its timeout from the start), on the clock it was built by.
    pub deadline: DateTime<Utc>,
    /// How long it had when built, and when that was.
    timeout: Duration,
    built: Instant,
}

impl Invocation {
    /// From the runtime's context: its deadline is milliseconds since the epoch.
    pub fn of(context: &lambda_runtime::Context) -> Self {
        let ms = i64::try_from(context.deadline).unwrap_or(i64::MAX);
        let deadline = DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let now = Utc::now();
        Invocation::lasting(now, deadline - now)
    }

    /// An invocation that may run for `timeout` from `now` (the local runner's, a test's).
    pub fn lasting(now: DateTime<Utc>, timeout: Duration) -> Self {
        Invocation { deadline: now + timeout, timeout, built: Instant::now() }
    }

    /// An invocation of `timeout` starting now on the wall clock (tests, one-off local runs).
    pub fn starting_now(timeout: Duration) -> Self {
        Invocation::lasting(Utc::now(), timeout)
    }

    /// A minute from now on the wall clock: what tests and one-off runs give a handler.
    pub fn one_minute() -> Self {
        Invocation::starting_now(Duration::seconds(60))
    }

    /// The time left (negative once past the deadline).
    pub fn remaining(&self) -> Duration {
        self.timeout - Duration::from_std(self.built.elapsed()).unwrap_or(Duration::MAX)
    }

    /// Whether there is less than `budget` left: a record that may take that long is not started.
    pub fn ends_within(&self, budget: Duration) -> bool {
        self.remaining() < budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_deadline_is_read_as_milliseconds_since_the_epoch() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = u64::try_from((Utc::now() + Duration::seconds(90)).timestamp_millis()).unwrap();
        let invocation = Invocation::of(&context);
        assert_eq!(invocation.deadline.timestamp_millis() as u64, context.deadline);
        let left = invocation.remaining();
        assert!(left <= Duration::seconds(90) && left > Duration::seconds(80), "{left}");
    }

    #[test]
    fn the_time_left_runs_down_from_the_timeout() {
        let invocation = Invocation::lasting(DateTime::UNIX_EPOCH, Duration::milliseconds(300));
        assert_eq!(invocation.deadline, DateTime::UNIX_EPOCH + Duration::milliseconds(300));
        assert!(!invocation.ends_within(Duration::milliseconds(100)));
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(invocation.ends_within(Duration::milliseconds(100)));
        assert!(Invocation::lasting(Utc::now(), Duration::seconds(-1)).remaining() < Duration::zero());
    }
}
