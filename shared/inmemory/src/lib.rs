//! In-memory implementations of every port, with the semantics of the real service: a bus with
//! partitions, offsets and consumer-group commits (Kafka); create-only objects (GCS/S3 with
//! `ifGenerationMatch=0`); documents with etags and conditional writes (Cosmos DB, DynamoDB);
//! carts listed by sku a page at a time (a DynamoDB table and its index).
//! They back the embedded local run and the fast tests.
mod bus;
mod carts;
mod documents;
mod objects;

pub use bus::{Bus, Record, kafka_partition};
pub use carts::InMemoryCarts;
pub use documents::InMemoryDocuments;
pub use objects::InMemoryObjects;

use std::sync::atomic::{AtomicU32, Ordering};

/// Makes the next `n` calls fail with `Unavailable`, like a service having a bad minute.
#[derive(Debug, Default)]
pub struct Outage(AtomicU32);

impl Outage {
    pub fn fail_next(&self, n: u32) {
        self.0.store(n, Ordering::SeqCst);
    }
    pub(crate) fn check(&self, what: &str) -> Result<(), domain::ports::PortError> {
        let taken = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match taken {
            Ok(_) => Err(domain::ports::PortError::Unavailable(format!("{what}: injected outage"))),
            Err(_) => Ok(()),
        }
    }
}
