//! The notification record of one (order, kind): DynamoDB item `pk = <order id>#<kind>`,
//! `id = "notification"`, created before SES is called and finished after. SES has no
//! idempotency key, so the record is what keeps a redelivered change from sending again.
//!
//! - `sending`: an attempt holds the record until `lease_until`. One that knows it sent nothing
//!   (SES throttled or refused the call) releases it at once; one whose answer was lost, or that
//!   died, keeps it until the lease runs out. The next attempt after that takes the record over
//!   under its version and sends again: the one case that may send twice, logged as a possible
//!   duplicate.
//! - `sent` (with SES's message id), `rejected` (SES refused the address for good): done; a
//!   redelivery sends nothing. A change with no customer, no address or an opt-out writes no
//!   record: nothing was sent, and a redelivery after the customer signs up may send.
use crate::render::Kind;
use chrono::{DateTime, Duration, Utc};
use domain::ports::{Documents, Etag, PortError, document, read_document};
use serde::{Deserialize, Serialize};

pub const RECORD_ID: &str = "notification";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Sending {
        lease_until: DateTime<Utc>,
        attempts: u32,
        /// The last attempt knows it sent nothing: taking the record over is no duplicate.
        #[serde(default)]
        sent_nothing: bool,
    },
    Sent {
        message_id: String,
        sent_at: DateTime<Utc>,
    },
    Rejected {
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    pk: String,
    #[serde(flatten)]
    state: State,
}

/// What an attempt may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Send; the record is held under `etag` until the lease runs out.
    Send { etag: Etag, attempt: u32, possible_duplicate: bool },
    /// Another attempt holds the record: fail the stream record, Lambda retries it later.
    Held { until: DateTime<Utc> },
    /// Done before: nothing to send.
    Done(State),
}

pub fn key(order_id: &str, kind: Kind) -> String {
    format!("{order_id}#{}", kind.as_str())
}

fn body(pk: &str, state: State) -> Result<domain::ports::JsonText, PortError> {
    document(&Stored { id: RECORD_ID.into(), pk: pk.into(), state })
}

/// Takes the record for an attempt at `now`, holding it for `lease`.
pub async fn claim(store: &dyn Documents, pk: &str, now: DateTime<Utc>, lease: Duration) -> Result<Claim, PortError> {
    let first = State::Sending { lease_until: now + lease, attempts: 1, sent_nothing: false };
    match store.create(pk, RECORD_ID, body(pk, first)?).await {
        Ok(etag) => return Ok(Claim::Send { etag, attempt: 1, possible_duplicate: false }),
        Err(PortError::AlreadyExists) => {}
        Err(e) => return Err(e),
    }
    let Some(found) = store.read(pk, RECORD_ID).await? else {
        return Err(PortError::Unavailable(format!("notification {pk} exists and cannot be read yet")));
    };
    let stored: Stored = read_document(&found.body, &format!("notification {pk}"))?;
    match stored.state {
        State::Sending { lease_until, .. } if lease_until > now => Ok(Claim::Held { until: lease_until }),
        State::Sending { attempts, sent_nothing, .. } => {
            let next = State::Sending { lease_until: now + lease, attempts: attempts + 1, sent_nothing: false };
            match store.replace(pk, RECORD_ID, body(pk, next)?, &found.etag).await {
                Ok(etag) => Ok(Claim::Send { etag, attempt: attempts + 1, possible_duplicate: !sent_nothing }),
                // Another attempt took it over first.
                Err(PortError::PreconditionFailed) => Ok(Claim::Held { until: now + lease }),
                Err(e) => Err(e),
            }
        }
        done => Ok(Claim::Done(done)),
    }
}

/// Ends the attempt holding `etag` with `state`: done (`sent`, `rejected`), or
/// `sending` released at `now` when it knows it sent nothing.
pub async fn finish(store: &dyn Documents, pk: &str, etag: &Etag, state: State) -> Result<(), PortError> {
    store.replace(pk, RECORD_ID, body(pk, state)?, etag).await.map(|_| ())
}

/// As `finish`, trying again (twice) while the table is unavailable: for a state that must not
/// be lost, such as `sent` after the e-mail went.
pub async fn finish_retrying(store: &dyn Documents, pk: &str, etag: &Etag, state: State) -> Result<(), PortError> {
    let mut tries = 0;
    loop {
        match finish(store, pk, etag, state.clone()).await {
            Err(PortError::Unavailable(_)) if tries < 2 => tries += 1,
            done => return done,
        }
    }
}

/// The `sending` state of an attempt that sent nothing: the next one may send at once.
pub fn released(now: DateTime<Utc>, attempt: u32) -> State {
    State::Sending { lease_until: now, attempts: attempt, sent_nothing: true }
}

/// The state of a record, if there is one (for tests and the demo's invariants).
pub async fn read(store: &dyn Documents, pk: &str) -> Result<Option<State>, PortError> {
    let Some(found) = store.read(pk, RECORD_ID).await? else { return Ok(None) };
    read_document::<Stored>(&found.body, &format!("notification {pk}")).map(|s| Some(s.state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use inmemory::InMemoryDocuments;

    fn at(minutes: i64) -> DateTime<Utc> {
        "2026-11-21T08:00:00Z".parse::<DateTime<Utc>>().expect("time") + Duration::minutes(minutes)
    }

    #[tokio::test]
    async fn a_sent_notification_is_never_sent_again() {
        let store = InMemoryDocuments::default();
        let pk = key("A200100", Kind::Paid);
        let Claim::Send { etag, attempt: 1, possible_duplicate: false } =
            claim(&store, &pk, at(0), Duration::minutes(2)).await.expect("claim")
        else {
            panic!("the first attempt sends")
        };
        let sent = State::Sent { message_id: "m-1".into(), sent_at: at(0) };
        finish(&store, &pk, &etag, sent.clone()).await.expect("finished");
        assert_eq!(claim(&store, &pk, at(60), Duration::minutes(2)).await, Ok(Claim::Done(sent)));
    }

    #[tokio::test]
    async fn a_held_record_waits_for_its_lease_and_then_is_sent_again_as_a_possible_duplicate() {
        let store = InMemoryDocuments::default();
        let pk = key("A200101", Kind::Held);
        let lease = Duration::minutes(2);
        assert!(matches!(claim(&store, &pk, at(0), lease).await, Ok(Claim::Send { attempt: 1, .. })));
        // The first attempt's answer was lost: its record stays `sending` until the lease ends.
        assert_eq!(claim(&store, &pk, at(1), lease).await, Ok(Claim::Held { until: at(2) }));
        let again = claim(&store, &pk, at(3), lease).await.expect("claim");
        assert!(matches!(again, Claim::Send { attempt: 2, possible_duplicate: true, .. }), "{again:?}");
    }

    #[tokio::test]
    async fn an_attempt_that_sent_nothing_lets_the_next_send_at_once_and_no_duplicate() {
        let store = InMemoryDocuments::default();
        let pk = key("A200102", Kind::PaymentFailed);
        let lease = Duration::minutes(2);
        let Ok(Claim::Send { etag, .. }) = claim(&store, &pk, at(0), lease).await else { panic!("sends") };
        finish(&store, &pk, &etag, released(at(0), 1)).await.expect("released");
        let next = claim(&store, &pk, at(0) + Duration::seconds(1), lease).await.expect("claim");
        assert!(matches!(next, Claim::Send { attempt: 2, possible_duplicate: false, .. }), "{next:?}");
        assert!(matches!(read(&store, &pk).await, Ok(Some(State::Sending { attempts: 2, .. }))));
    }
}
