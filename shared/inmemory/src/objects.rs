use crate::Outage;
use async_trait::async_trait;
use domain::ports::{ObjectInfo, ObjectStore, PortError, PutOutcome};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Buckets of immutable objects. `put_if_absent` is GCS's `ifGenerationMatch=0`: the first write
/// wins, a second one to the same name changes nothing.
/// (bucket, key) → (bytes, content type)
type Objects = BTreeMap<(String, String), (Vec<u8>, String)>;

#[derive(Clone, Default)]
pub struct InMemoryObjects {
    objects: Arc<Mutex<Objects>>,
    pub outage: Arc<Outage>,
}

impl InMemoryObjects {
    pub fn all(&self) -> Vec<ObjectInfo> {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        objects.iter().map(|((b, k), (bytes, ct))| info(b, k, bytes, ct)).collect()
    }
}

fn info(bucket: &str, key: &str, bytes: &[u8], content_type: &str) -> ObjectInfo {
    ObjectInfo { bucket: bucket.into(), key: key.into(), size: bytes.len() as u64, content_type: content_type.into() }
}

#[async_trait]
impl ObjectStore for InMemoryObjects {
    async fn put_if_absent(&self, bucket: &str, key: &str, bytes: Vec<u8>, ct: &str) -> Result<PutOutcome, PortError> {
        self.outage.check("object put")?;
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (bucket.to_string(), key.to_string());
        if objects.contains_key(&slot) {
            return Ok(PutOutcome::AlreadyExisted);
        }
        objects.insert(slot, (bytes, ct.to_string()));
        Ok(PutOutcome::Created)
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.outage.check("object get")?;
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        Ok(objects.get(&(bucket.to_string(), key.to_string())).map(|(b, _)| b.clone()))
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, PortError> {
        self.outage.check("object list")?;
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        Ok(objects
            .range((bucket.to_string(), prefix.to_string())..)
            .take_while(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((b, k), (bytes, ct))| info(b, k, bytes, ct))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_write_wins_and_list_is_by_prefix() {
        let s = InMemoryObjects::default();
        assert_eq!(s.put_if_absent("b", "a/1", b"one".to_vec(), "text/plain").await, Ok(PutOutcome::Created));
        assert_eq!(s.put_if_absent("b", "a/1", b"two".to_vec(), "text/plain").await, Ok(PutOutcome::AlreadyExisted));
        s.put_if_absent("b", "a/2", b"x".to_vec(), "text/plain").await.unwrap();
        s.put_if_absent("b", "b/1", b"x".to_vec(), "text/plain").await.unwrap();
        s.put_if_absent("c", "a/3", b"x".to_vec(), "text/plain").await.unwrap();
        assert_eq!(s.get("b", "a/1").await.unwrap().as_deref(), Some(&b"one"[..]));
        let keys: Vec<String> = s.list("b", "a/").await.unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["a/1", "a/2"]);
        assert_eq!(s.get("b", "zz").await.unwrap(), None);
    }
}
