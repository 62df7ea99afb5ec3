//! What Lambda says about an invocation besides its event: when it will be stopped. A handler
//! that holds something past its own run (payment-processor's lease on a payment id) checks that
//! what it holds outlasts the invocation. `main.rs` builds one from the runtime's context; the
//! local runner and tests build one from their clock.
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    /// When Lambda stops the invocation (its timeout from the start).
    pub deadline: DateTime<Utc>,
}

impl Invocation {
    /// From the runtime's context: its deadline is milliseconds since the epoch.
    pub fn of(context: &lambda_runtime::Context) -> Self {
        let ms = i64::try_from(context.deadline).unwrap_or(i64::MAX);
        Invocation { deadline: DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC) }
    }

    /// An invocation that may run for `timeout` from `now` (the local runner's, a test's).
    pub fn lasting(now: DateTime<Utc>, timeout: Duration) -> Self {
        Invocation { deadline: now + timeout }
    }

    /// The time left at `now` (negative once past the deadline).
    pub fn remaining(&self, now: DateTime<Utc>) -> Duration {
        self.deadline - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_deadline_is_read_as_milliseconds_since_the_epoch() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 1_800_000_123_456;
        let invocation = Invocation::of(&context);
        assert_eq!(invocation.deadline.to_rfc3339(), "2027-01-15T08:02:03.456+00:00");
        let started = invocation.deadline - Duration::seconds(90);
        assert_eq!(invocation.remaining(started), Duration::seconds(90));
        assert_eq!(Invocation::lasting(started, Duration::seconds(90)), invocation);
    }
}
