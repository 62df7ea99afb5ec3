//! In-memory implementations of every port, with the semantics of the real service: a bus with
//! partitions, offsets and consumer-group commits (Kafka); create-only objects (GCS/S3 with
//! `ifGenerationMatch=0`); documents with etags and conditional writes (Cosmos DB, DynamoDB);
//! carts listed by sku a page at a time (a DynamoDB table and its index); Pub/Sub over the bus,
//! refusing what Pub/Sub refuses. `Interleaved` makes another writer's change between a caller's
//! requests, for tests of races.
//! They back the embedded local run and the fast tests.
mod bus;
mod carts;
mod documents;
mod gateway;
mod image_totals;
mod interleaved;
mod mailer;
mod objects;
mod pubsub;
mod s3;
pub mod stream;

pub use bus::{Bus, Record, kafka_partition};
pub use carts::InMemoryCarts;
pub use documents::InMemoryDocuments;
pub use gateway::TestGateway;
pub use image_totals::InMemoryImageTotals;
pub use interleaved::{Change, Interleaved};
pub use mailer::{InMemoryMailer, SentEmail, well_formed};
pub use objects::InMemoryObjects;
pub use pubsub::InMemoryPubSub;
pub use s3::{InMemoryS3, etag_of};

use std::sync::atomic::{AtomicU32, Ordering};

/// Makes calls fail with `Unavailable`, like a service having a bad minute: the next `n`
/// (`fail_next`), or `n` after letting `ok` more through (`fail_after`, an outage part-way).
#[derive(Debug, Default)]
pub struct Outage {
    pass: AtomicU32,
    fail: AtomicU32,
}

impl Outage {
    pub fn fail_next(&self, n: u32) {
        self.fail_after(0, n);
    }
    pub fn fail_after(&self, ok: u32, n: u32) {
        self.pass.store(ok, Ordering::SeqCst);
        self.fail.store(n, Ordering::SeqCst);
    }
    pub(crate) fn check(&self, what: &str) -> Result<(), domain::ports::PortError> {
        let take = |a: &AtomicU32| a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if take(&self.pass) || !take(&self.fail) {
            return Ok(());
        }
        Err(domain::ports::PortError::Unavailable(format!("{what}: injected outage")))
    }
}
