//! Races on demand, for tests: a `VersionedObjects` that passes every call to the store it wraps
//! (the twin, or S3 itself on moto), makes another writer's change at a chosen point of the
//! caller's requests (right after its next HEAD, or its next put), and counts the bytes its reads
//! were sent.
use async_trait::async_trait;
use domain::ports::{NewObject, ObjectMeta, PortError, Revision, VersionedObjects};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Another writer's change to a key.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new upload at the key: S3's PUT over whatever is there (a delete, then a create, since
    /// the port writes create-only).
    Replace {
        bucket: String,
        key: String,
        bytes: Vec<u8>,
    },
    Delete {
        bucket: String,
        key: String,
    },
}

pub struct Interleaved {
    inner: Arc<dyn VersionedObjects>,
    after_head: Mutex<Vec<Change>>,
    after_put: Mutex<Vec<Change>>,
    bytes_read: AtomicU64,
}

impl Interleaved {
    pub fn new(inner: Arc<dyn VersionedObjects>) -> Self {
        Interleaved { inner, after_head: Mutex::default(), after_put: Mutex::default(), bytes_read: AtomicU64::new(0) }
    }

    /// Makes `change` once the next HEAD has been answered.
    pub fn after_next_head(&self, change: Change) {
        self.after_head.lock().unwrap_or_else(|p| p.into_inner()).push(change);
    }

    /// Makes `change` once the next create has been written.
    pub fn after_next_put(&self, change: Change) {
        self.after_put.lock().unwrap_or_else(|p| p.into_inner()).push(change);
    }

    /// Bytes of object bodies sent to the caller's reads so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::SeqCst)
    }

    async fn apply(&self, pending: &Mutex<Vec<Change>>) -> Result<(), PortError> {
        let changes = std::mem::take(&mut *pending.lock().unwrap_or_else(|p| p.into_inner()));
        for change in changes {
            match change {
                Change::Replace { bucket, key, bytes } => {
                    self.inner.delete(&bucket, &key).await?;
                    let object = NewObject { key: &key, bytes, content_type: "image/jpeg", cache_control: None };
                    self.inner.put_new(&bucket, object).await?;
                }
                Change::Delete { bucket, key } => self.inner.delete(&bucket, &key).await?,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl VersionedObjects for Interleaved {
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        revision: Revision<'_>,
    ) -> Result<Option<(ObjectMeta, Vec<u8>)>, PortError> {
        let read = self.inner.get(bucket, key, revision).await?;
        let sent = read.as_ref().map_or(0, |(_, bytes)| bytes.len() as u64);
        self.bytes_read.fetch_add(sent, Ordering::SeqCst);
        Ok(read)
    }

    async fn head(&self, bucket: &str, key: &str, revision: Revision<'_>) -> Result<Option<ObjectMeta>, PortError> {
        let head = self.inner.head(bucket, key, revision).await?;
        self.apply(&self.after_head).await?;
        Ok(head)
    }

    async fn put_new(&self, bucket: &str, object: NewObject<'_>) -> Result<ObjectMeta, PortError> {
        let put = self.inner.put_new(bucket, object).await?;
        self.apply(&self.after_put).await?;
        Ok(put)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), PortError> {
        self.inner.delete(bucket, key).await
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, PortError> {
        self.inner.list(bucket, prefix).await
    }
}
