//! {{name}} (AWS Lambda, S3 event notifications): for each object created, reads what the bucket
//! holds under its key now (size and content type, a HEAD through the `VersionedObjects` port)
//! and answers what became of each record; what it does with an object goes where it says
//! `Your logic here`.
//!
//! - Keys arrive form-encoded (`+` for a space) and are decoded first; one that does not decode
//!   is `unreadable`, with its reason code, and the rest of the event goes on.
//! - An object no longer there is `gone` (its removal has an event of its own); a removal, or any
//!   other event, is `skipped`.
//! - S3 unavailable fails the invocation: S3 invokes asynchronously, so Lambda retries the whole
//!   event (twice by default), then sends it to the on-failure destination. Whatever is done per
//!   object must be safe to do again.
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use domain::ports::{PortError, Revision, VersionedObjects};
use platform_aws::invocation::Invocation;
use platform_aws::s3::decode_key;
use serde::Serialize;
use std::sync::Arc;
use tracing::Instrument;

pub const NAME: &str = "{{name}}";
/// What one record may take (a HEAD, well under a second): none is started with less left.
pub const RECORD_BUDGET: chrono::Duration = chrono::Duration::seconds(5);

pub struct {{Type}} {
    /// The buckets the notifications come from.
    pub objects: Arc<dyn VersionedObjects>,
}

/// What became of one record: the invocation's response (S3 reads none; `local invoke` and
/// `cargo lambda invoke` show it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The object as the bucket holds it now.
    Read { bucket: String, key: String, size: u64, content_type: Option<String> },
    /// Not there any more: deleted since the event.
    Gone { bucket: String, key: String },
    /// Not a creation: nothing to read.
    Skipped { event_name: String },
    /// A key that does not decode: no retry would read it.
    Unreadable { reason_code: &'static str, reason: String },
}

/// Why the invocation fails (and Lambda retries the event).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("not an S3 notification: {0}")]
    NotS3(String),
    /// S3 unavailable, or refusing the function's role: a retry may read it.
    #[error("{0}")]
    Storage(#[from] PortError),
    #[error("{left} of {records} records not started: {left_ms} ms of the invocation left")]
    OutOfTime { records: usize, left: usize, left_ms: i64 },
}

impl {{Type}} {
    pub async fn handle(&self, event: S3Event, invocation: &Invocation) -> Result<Vec<Outcome>, HandlerError> {
        if let Some(other) = event.records.iter().find(|r| r.event_source.as_deref() != Some("aws:s3")) {
            return Err(HandlerError::NotS3(format!("eventSource {:?}", other.event_source)));
        }
        if event.records.is_empty() {
            return Err(HandlerError::NotS3("no records".into()));
        }
        let mut outcomes = Vec::with_capacity(event.records.len());
        for (i, record) in event.records.iter().enumerate() {
            if invocation.ends_within(RECORD_BUDGET) {
                let (records, left_ms) = (event.records.len(), invocation.remaining().num_milliseconds());
                let error = HandlerError::OutOfTime { records, left: records - i, left_ms };
                tracing::warn!(%error, "stopped before the deadline; Lambda retries the event");
                return Err(error);
            }
            let event_name = record.event_name.as_deref().unwrap_or_default();
            let span = tracing::info_span!("record", event = event_name, key = record.s3.object.key.as_deref());
            outcomes.push(self.record(record).instrument(span).await?);
        }
        let count = |of: fn(&Outcome) -> bool| outcomes.iter().filter(|o| of(o)).count();
        tracing::info!(
            records = outcomes.len(),
            read = count(|o| matches!(o, Outcome::Read { .. })),
            gone = count(|o| matches!(o, Outcome::Gone { .. })),
            skipped = count(|o| matches!(o, Outcome::Skipped { .. })),
            unreadable = count(|o| matches!(o, Outcome::Unreadable { .. })),
            "batch done"
        );
        Ok(outcomes)
    }

    async fn record(&self, record: &S3EventRecord) -> Result<Outcome, PortError> {
        let event_name = record.event_name.clone().unwrap_or_default();
        if !event_name.starts_with("ObjectCreated:") {
            return Ok(Outcome::Skipped { event_name });
        }
        let bucket = record.s3.bucket.name.clone().unwrap_or_default();
        let key = match decode_key(record.s3.object.key.as_deref().unwrap_or_default()) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(reason_code = e.code(), reason = %e, "the key does not decode");
                return Ok(Outcome::Unreadable { reason_code: e.code(), reason: e.to_string() });
            }
        };
        let Some(object) = self.objects.head(&bucket, &key, Revision::Current).await? else {
            tracing::info!("gone since the event");
            return Ok(Outcome::Gone { bucket, key });
        };
        // Your logic here: `self.objects.get(&bucket, &key, Revision::Etag(&object.etag))` reads
        // the bytes of exactly the object this HEAD saw (412, `PreconditionFailed`, if it was
        // replaced in between). Write results create-only, so a retried event changes nothing.
        tracing::info!(size = object.size, content_type = object.content_type.as_deref(), "object read");
        Ok(Outcome::Read { bucket, key, size: object.size, content_type: object.content_type })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ports::NewObject;
    use inmemory::InMemoryS3;

    /// The recorded notification beside the other S3 fixtures: a photo put under `uploads/`
    /// (its key form-encoded), and another photo removed.
    const FIXTURE: &str = include_str!(concat!("../../../../events/aws/s3/", env!("CARGO_PKG_NAME"), "-upload.json"));
    const BUCKET: &str = "acme-product-media";
    const KEY: &str = "uploads/TSH-001-BLK-M/front (1).jpg";

    async fn run(s3: &InMemoryS3) -> Result<Vec<Outcome>, HandlerError> {
        let event: S3Event = serde_json::from_str(FIXTURE).expect("an S3 notification");
        let function = {{Type}} { objects: Arc::new(s3.clone()) };
        function.handle(event, &Invocation::one_minute()).await
    }

    #[tokio::test]
    async fn a_created_object_is_read_or_gone_and_a_removal_is_skipped() {
        let s3 = InMemoryS3::unversioned();
        let photo = NewObject { key: KEY, bytes: vec![0xff; 2048], content_type: "image/jpeg", cache_control: None };
        s3.put_new(BUCKET, photo).await.expect("put");
        let (bucket, key) = (BUCKET.to_string(), KEY.to_string());
        let skipped = Outcome::Skipped { event_name: "ObjectRemoved:Delete".into() };
        let read = Outcome::Read { bucket, key, size: 2048, content_type: Some("image/jpeg".into()) };
        assert_eq!(run(&s3).await.expect("handled"), [read, skipped.clone()]);
        s3.delete(BUCKET, KEY).await.expect("deleted");
        let gone = Outcome::Gone { bucket: BUCKET.into(), key: KEY.into() };
        assert_eq!(run(&s3).await.expect("handled"), [gone, skipped]);
    }

    #[tokio::test]
    async fn s3_unavailable_fails_the_invocation_for_lambda_to_retry() {
        let s3 = InMemoryS3::unversioned();
        s3.outage.fail_next(1);
        assert!(matches!(run(&s3).await, Err(HandlerError::Storage(PortError::Unavailable(_)))));
    }
}
