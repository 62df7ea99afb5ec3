use crate::Outage;
use async_trait::async_trait;
use domain::ports::{NewObject, ObjectMeta, PortError, Revision, VersionedObjects};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One version of a key; a delete in a versioned bucket is a version that is a delete marker.
#[derive(Clone)]
struct Version {
    meta: ObjectMeta,
    bytes: Vec<u8>,
    delete_marker: bool,
}

type Buckets = BTreeMap<String, BTreeMap<String, Vec<Version>>>;

/// S3 in memory, with S3's semantics: MD5 entity tags, a version id per write when the bucket
/// is versioned (none otherwise), `If-None-Match: *` puts that fail on an existing key, deletes
/// that leave a delete marker in a versioned bucket, reads of a given version, and `If-Match`
/// reads refused (412) when the current object has another tag.
#[derive(Clone)]
pub struct InMemoryS3 {
    buckets: Arc<Mutex<Buckets>>,
    versioned: bool,
    counter: Arc<AtomicU64>,
    pub outage: Arc<Outage>,
}

impl InMemoryS3 {
    pub fn versioned() -> Self {
        InMemoryS3 { buckets: Arc::default(), versioned: true, counter: Arc::default(), outage: Arc::default() }
    }

    pub fn unversioned() -> Self {
        InMemoryS3 { versioned: false, ..Self::versioned() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every current object of every bucket, as (bucket, metadata) in key order: what a run
    /// left behind, for reports.
    pub fn all(&self) -> Vec<(String, ObjectMeta)> {
        let buckets = self.lock();
        let current = |(bucket, keys): (&String, &BTreeMap<String, Vec<Version>>)| {
            let live = keys.values().filter_map(|v| v.last().filter(|v| !v.delete_marker));
            live.map(|v| (bucket.clone(), v.meta.clone())).collect::<Vec<_>>()
        };
        buckets.iter().flat_map(current).collect()
    }

    /// As `all`, with each object's bytes: what a run left behind, for reports and exports.
    pub fn all_with_bytes(&self) -> Vec<(String, ObjectMeta, Vec<u8>)> {
        let buckets = self.lock();
        let mut out = Vec::new();
        for (bucket, keys) in buckets.iter() {
            for v in keys.values().filter_map(|v| v.last().filter(|v| !v.delete_marker)) {
                out.push((bucket.clone(), v.meta.clone(), v.bytes.clone()));
            }
        }
        out
    }

    /// The version a read asks for, as S3 finds it: a delete marker is no object, and an
    /// `If-Match` on a current object with another tag is 412.
    fn find(&self, bucket: &str, key: &str, revision: Revision<'_>) -> Result<Option<Version>, PortError> {
        let buckets = self.lock();
        let Some(versions) = buckets.get(bucket).and_then(|b| b.get(key)) else { return Ok(None) };
        let found = match revision {
            Revision::Version(id) => versions.iter().find(|v| v.meta.version_id.as_deref() == Some(id)),
            Revision::Current | Revision::Etag(_) => versions.last(),
        };
        let Some(found) = found.filter(|v| !v.delete_marker) else { return Ok(None) };
        match revision {
            Revision::Etag(tag) if found.meta.etag != tag.trim_matches('"') => Err(PortError::PreconditionFailed),
            _ => Ok(Some(found.clone())),
        }
    }

    fn next_version(&self) -> Option<String> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        self.versioned.then(|| format!("v{n:031}"))
    }
}

/// S3's entity tag of a single-part upload: the hex MD5 of the bytes.
pub fn etag_of(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl VersionedObjects for InMemoryS3 {
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        revision: Revision<'_>,
    ) -> Result<Option<(ObjectMeta, Vec<u8>)>, PortError> {
        self.outage.check("s3 get")?;
        Ok(self.find(bucket, key, revision)?.map(|v| (v.meta, v.bytes)))
    }

    async fn head(&self, bucket: &str, key: &str, revision: Revision<'_>) -> Result<Option<ObjectMeta>, PortError> {
        self.outage.check("s3 head")?;
        Ok(self.find(bucket, key, revision)?.map(|v| v.meta))
    }

    async fn put_new(&self, bucket: &str, object: NewObject<'_>) -> Result<ObjectMeta, PortError> {
        self.outage.check("s3 put")?;
        let version_id = self.next_version();
        let mut buckets = self.lock();
        let versions = buckets.entry(bucket.to_string()).or_default().entry(object.key.to_string()).or_default();
        if versions.last().is_some_and(|v| !v.delete_marker) {
            return Err(PortError::AlreadyExists);
        }
        let meta = ObjectMeta {
            key: object.key.to_string(),
            size: object.bytes.len() as u64,
            etag: etag_of(&object.bytes),
            version_id,
            content_type: Some(object.content_type.to_string()),
            cache_control: object.cache_control.map(str::to_string),
        };
        if !self.versioned {
            versions.clear();
        }
        versions.push(Version { meta: meta.clone(), bytes: object.bytes, delete_marker: false });
        Ok(meta)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), PortError> {
        self.outage.check("s3 delete")?;
        let version_id = self.next_version();
        let mut buckets = self.lock();
        let Some(versions) = buckets.get_mut(bucket).and_then(|b| b.get_mut(key)) else { return Ok(()) };
        if !self.versioned {
            versions.clear();
        } else if versions.last().is_some_and(|v| !v.delete_marker) {
            let meta = ObjectMeta {
                key: key.to_string(),
                size: 0,
                etag: String::new(),
                version_id,
                content_type: None,
                cache_control: None,
            };
            versions.push(Version { meta, bytes: Vec::new(), delete_marker: true });
        }
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>, PortError> {
        self.outage.check("s3 list")?;
        let buckets = self.lock();
        let Some(keys) = buckets.get(bucket) else { return Ok(Vec::new()) };
        Ok(keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, versions)| versions.last().filter(|v| !v.delete_marker))
            .map(|v| ObjectMeta { version_id: None, content_type: None, cache_control: None, ..v.meta.clone() })
            .collect())
    }
}
