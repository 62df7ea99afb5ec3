//! Applies a sku's changes to its Cosmos document under optimistic concurrency: read (with
//! etag), apply the pure version rule, write conditionally; on a lost race, read again and
//! re-apply. A redelivered change is stale by version, so it writes nothing.
use domain::merch::MerchChange;
use domain::ports::{Documents, PortError, document, read_document};
use domain::projection::{Applied, Projection};

/// Conflicts beyond this many attempts are reported as transient: the host retries the batch.
pub const MAX_ATTEMPTS: usize = 8;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SkuResult {
    pub applied: usize,
    pub stale: usize,
    /// Lost etag races that were retried.
    pub conflicts: usize,
}

pub async fn apply_changes(docs: &dyn Documents, sku: &str, changes: &[&MerchChange]) -> Result<SkuResult, PortError> {
    let mut conflicts = 0;
    for _ in 0..MAX_ATTEMPTS {
        let stored = docs.read(sku, sku).await?;
        let (mut projection, etag) = match stored {
            Some(d) => (read_document::<Projection>(&d.body, &format!("projection {sku}"))?, Some(d.etag)),
            None => (Projection::empty(sku), None),
        };
        let mut result = SkuResult { conflicts, ..Default::default() };
        for c in changes {
            match projection.apply(c) {
                Applied::Changed => result.applied += 1,
                Applied::Stale => result.stale += 1,
            }
        }
        if result.applied == 0 {
            return Ok(result);
        }
        let written = match etag {
            Some(etag) => docs.replace(sku, sku, document(&projection)?, &etag).await,
            None => docs.create(sku, sku, document(&projection)?).await,
        };
        match written {
            Ok(_) => return Ok(result),
            // Someone wrote since we read: start over from their version.
            Err(PortError::PreconditionFailed | PortError::AlreadyExists) => conflicts += 1,
            Err(e) => return Err(e),
        }
    }
    Err(PortError::Unavailable(format!("{sku}: {MAX_ATTEMPTS} etag conflicts in a row")))
}
