//! image-resizer (AWS Lambda, S3 event notifications from the uploads bucket): each photo put
//! under `uploads/<sku>/` becomes three web variants (`large` 1600, `medium` 640, `thumb` 160 px
//! on the longest side; JPEG, and WebP when `IMAGE_FORMATS` asks) at immutable keys, each
//! announced on `product-images.processed`. Removing an upload removes its variants.
//!
//! - The header is read first and every limit checked from it (`limits.rs`) before a pixel is
//!   decoded; a JPEG is decoded once, at the DCT scale that still covers `large` (`decode.rs`),
//!   and each variant made from the next larger (`variants.rs`).
//! - Bad input (a bomb, a truncated file, HEIC, a non-image, a bad key) is dead-lettered on
//!   `images.dlq` with its reason code, and the invocation succeeds. S3 or Kafka unavailable is
//!   returned as an error: Lambda retries the event, then sends it to the on-failure destination.
//! - At-least-once: the same object version gives the same keys, bytes and event ids, and the
//!   variants are written create-only.
pub mod colour;
pub mod decode;
pub mod error;
pub mod keys;
pub mod limits;
pub mod pixels;
pub mod probe;
mod settings;
pub mod variants;

pub use settings::Settings;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use domain::cloudevent::CloudEvent;
use domain::dead_letter::{Rejected, sha256_hex};
use domain::events::ProductImageProcessed;
use domain::ports::{NewObject, ObjectMeta, PortError, Publisher, Revision, VersionedObjects};
use error::ImageError;
use keys::Upload;
use platform_aws::invocation::Invocation;
use std::sync::Arc;
use tracing::Instrument;
use variants::Variant;

pub const NAME: &str = "image-resizer";
pub const SOURCE: &str = "/aws/image-resizer";
/// Variant keys never change content, so caches keep them for a year.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub struct ImageResizer {
    pub objects: Arc<dyn VersionedObjects>,
    pub bus: Arc<dyn Publisher>,
    pub settings: Settings,
}

/// What became of one S3 record (the invocation's response, for `cargo lambda invoke`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Processed(Vec<ProductImageProcessed>),
    /// An upload's variants removed (how many objects).
    Removed(usize),
    Skipped(&'static str),
    DeadLettered(&'static str),
    /// The upload was removed (or, without versions, replaced) while its variants were written:
    /// they were deleted again (how many). The events published stand: the bytes were produced.
    Withdrawn {
        published: Vec<ProductImageProcessed>,
        deleted: usize,
    },
}

/// Why the invocation fails (and Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("not an S3 notification: {0}")]
    NotS3(String),
    #[error("{0}")]
    Unavailable(#[from] PortError),
    /// Too little of the invocation left to resize another upload: Lambda retries the event
    /// (what was done is done again, idempotently) rather than stopping it mid-write.
    #[error(
        "{left} of {records} records not started: {left_ms} ms of the invocation left, under the {budget_ms} ms one may take"
    )]
    OutOfTime { records: usize, left: usize, left_ms: i64, budget_ms: i64 },
}

/// What resizing one upload may take at `MAX_IMAGE_BYTES`: a HEAD, a GET, three encodes and PUTs.
pub const RECORD_BUDGET: chrono::Duration = chrono::Duration::seconds(10);

/// The upload being processed: its event, where it is, and its current version.
struct Source<'a> {
    record: &'a S3EventRecord,
    bucket: &'a str,
    key: &'a str,
    upload: &'a Upload,
    meta: ObjectMeta,
    /// Where its variants go.
    prefix: String,
}

/// How to read exactly the object a HEAD saw: by its version, or without versions by its etag.
fn revision_of(head: &ObjectMeta) -> Revision<'_> {
    match &head.version_id {
        Some(version) => Revision::Version(version),
        None => Revision::Etag(&head.etag),
    }
}

enum Failure {
    Bad(ImageError),
    Transient(PortError),
}

impl From<ImageError> for Failure {
    fn from(e: ImageError) -> Self {
        Failure::Bad(e)
    }
}

impl From<PortError> for Failure {
    fn from(e: PortError) -> Self {
        Failure::Transient(e)
    }
}

impl ImageResizer {
    pub async fn handle(&self, event: S3Event, invocation: &Invocation) -> Result<Vec<Outcome>, HandlerError> {
        if event.records.is_empty() {
            return Err(HandlerError::NotS3("no records".into()));
        }
        let mut outcomes = Vec::with_capacity(event.records.len());
        for (i, record) in event.records.iter().enumerate() {
            if invocation.ends_within(RECORD_BUDGET) {
                let (records, left) = (event.records.len(), event.records.len() - i);
                let (left_ms, budget_ms) =
                    (invocation.remaining().num_milliseconds(), RECORD_BUDGET.num_milliseconds());
                let error = HandlerError::OutOfTime { records, left, left_ms, budget_ms };
                tracing::warn!(%error, "stopped before the deadline; Lambda retries the event");
                return Err(error);
            }
            if record.event_source.as_deref() != Some("aws:s3") {
                return Err(HandlerError::NotS3(format!("eventSource {:?}", record.event_source)));
            }
            let key = record.s3.object.key.as_deref().unwrap_or_default();
            let span = tracing::info_span!("record", event = record.event_name.as_deref().unwrap_or_default(), key);
            let outcome = match self.record(record).instrument(span.clone()).await {
                Ok(outcome) => outcome,
                Err(Failure::Transient(e)) => return Err(e.into()),
                Err(Failure::Bad(e)) => self.dead_letter(record, e).instrument(span).await?,
            };
            outcomes.push(outcome);
        }
        let count = |of: fn(&Outcome) -> bool| outcomes.iter().filter(|o| of(o)).count();
        tracing::info!(
            records = outcomes.len(),
            processed = count(|o| matches!(o, Outcome::Processed(_))),
            removed = count(|o| matches!(o, Outcome::Removed(_))),
            skipped = count(|o| matches!(o, Outcome::Skipped(_))),
            dead_lettered = count(|o| matches!(o, Outcome::DeadLettered(_))),
            withdrawn = count(|o| matches!(o, Outcome::Withdrawn { .. })),
            "batch done"
        );
        Ok(outcomes)
    }

    async fn record(&self, record: &S3EventRecord) -> Result<Outcome, Failure> {
        let raw = record.s3.object.key.as_deref().unwrap_or_default();
        // Decoded before the prefix is read: S3 leaves `/` as it is, but a form-encoder may
        // write it `%2F` (moto does). A key that does not decode is only ours if it says so.
        let key = match keys::decode_event_key(raw) {
            Ok(key) => key,
            Err(_) if !raw.starts_with(keys::UPLOADS) => String::new(),
            Err(e) => return Err(e.into()),
        };
        if !key.starts_with(keys::UPLOADS) {
            tracing::info!(key = raw, "not under uploads/: skipped");
            return Ok(Outcome::Skipped("outside_uploads"));
        }
        let Some(upload) = Upload::parse(&key)? else { return Ok(Outcome::Skipped("outside_uploads")) };
        let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
        match record.event_name.as_deref().unwrap_or_default() {
            name if name.starts_with("ObjectCreated:") => self.created(record, bucket, &key, &upload).await,
            name if name.starts_with("ObjectRemoved:") => self.removed(bucket, &upload).await,
            other => Err(ImageError::UnsupportedEvent(other.to_string()).into()),
        }
    }

    async fn created(&self, record: &S3EventRecord, bucket: &str, key: &str, up: &Upload) -> Result<Outcome, Failure> {
        let named = &record.s3.object;
        if let Some(size) = named.size {
            self.settings.limits.check_size(size.max(0) as u64)?;
        }
        // Processed only if the version the event names is still the current one: if it was
        // replaced or deleted since, that change has its own event, which does the work. The
        // head comes first, so nothing is downloaded before it is known to be wanted and small.
        let Some(current) = self.objects.head(bucket, key, Revision::Current).await? else {
            tracing::info!("gone since the event: skipped");
            return Ok(Outcome::Skipped("gone"));
        };
        let is_named = match (&named.version_id, &named.e_tag) {
            (Some(v), _) if !v.is_empty() => current.version_id.as_deref() == Some(v.as_str()),
            (_, Some(tag)) => current.etag == tag.trim_matches('"'),
            _ => true,
        };
        if !is_named {
            tracing::info!(current_etag = %current.etag, "replaced since the event: skipped");
            return Ok(Outcome::Skipped("replaced"));
        }
        self.settings.limits.check_size(current.size)?;
        // Exactly what the HEAD saw and checked is read: its version, or without versions the
        // object only while it keeps that etag (`If-Match`), so a replacement put between the two
        // requests is refused (412) before a byte of it is sent, however large it is.
        let (meta, bytes) = match self.objects.get(bucket, key, revision_of(&current)).await {
            Ok(Some(read)) => read,
            Ok(None) => {
                tracing::info!("gone while read: skipped");
                return Ok(Outcome::Skipped("gone"));
            }
            Err(PortError::PreconditionFailed) => {
                tracing::info!("replaced while read: skipped");
                return Ok(Outcome::Skipped("replaced"));
            }
            Err(e) => return Err(e.into()),
        };
        let (limits, encodings) = (self.settings.limits, self.settings.encodings.clone());
        // Decoding and encoding are CPU work: off the async threads.
        let made = tokio::task::spawn_blocking(move || {
            let header = probe::probe(&bytes)?;
            let plan = limits.plan(&header)?;
            variants::make(decode::decode(&bytes, &header, &plan, &limits)?, &encodings)
        })
        .await
        // A panic is a bug to see (in tests, a failure), not an image to dead-letter quietly.
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let source = Source { record, bucket, key, upload: up, prefix: up.variant_prefix(&meta.etag)?, meta };
        let mut events = Vec::with_capacity(made.len());
        for variant in made {
            events.push(self.store(&source, variant).await?);
        }
        // Removed while its variants were written: the removal's own event may have found none
        // of them yet, so they are deleted here. If the removal comes after this check, its
        // event's listing sees them. The events stand: the bytes were produced.
        if !self.still_there(bucket, key, &source.meta).await? {
            let target = self.settings.processed_bucket.as_deref().unwrap_or(bucket);
            for e in &events {
                self.objects.delete(target, &e.object_key).await?;
            }
            tracing::info!(deleted = events.len(), "upload removed while its variants were written: deleted them");
            return Ok(Outcome::Withdrawn { deleted: events.len(), published: events });
        }
        let prefix = source.prefix;
        tracing::info!(variants = events.len(), %prefix, "variants stored and announced");
        Ok(Outcome::Processed(events))
    }

    /// Whether the version just processed is still the upload: not deleted (a delete marker, or
    /// the version itself), and without versions not replaced either (its bytes went with it).
    async fn still_there(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> Result<bool, PortError> {
        let Some(version) = &meta.version_id else {
            return match self.objects.head(bucket, key, Revision::Etag(&meta.etag)).await {
                Ok(found) => Ok(found.is_some()),
                Err(PortError::PreconditionFailed) => Ok(false),
                Err(e) => Err(e),
            };
        };
        match self.objects.head(bucket, key, Revision::Current).await? {
            None => Ok(false),
            Some(current) if current.version_id.as_ref() == Some(version) => Ok(true),
            // Replaced: the version stays readable, and so do its variants, unless it was deleted.
            Some(_) => Ok(self.objects.head(bucket, key, Revision::Version(version)).await?.is_some()),
        }
    }

    async fn store(&self, source: &Source<'_>, v: Variant) -> Result<ProductImageProcessed, Failure> {
        let Source { record, bucket, key, upload: up, meta, prefix } = source;
        let object_key = format!("{prefix}{}.{}", v.label, v.encoding.extension());
        let target = self.settings.processed_bucket.as_deref().unwrap_or(bucket);
        let (mut size, mut sha256) = (v.bytes.len() as u64, sha256_hex(&v.bytes));
        let object = NewObject {
            key: &object_key,
            bytes: v.bytes,
            content_type: v.encoding.content_type(),
            cache_control: Some(IMMUTABLE),
        };
        match self.objects.put_new(target, object).await {
            Ok(_) => {}
            // Written by an earlier delivery: the event describes the bytes that are there (a
            // build with another encoder or CPU path may have made them a little differently).
            Err(PortError::AlreadyExists) => {
                if let Some((_, stored)) = self.objects.get(target, &object_key, Revision::Current).await? {
                    (size, sha256) = (stored.len() as u64, sha256_hex(&stored));
                }
            }
            Err(e) => return Err(e.into()),
        }
        let source_version = meta.version_id.clone().unwrap_or_else(|| meta.etag.clone());
        // One id per (variant, source version): a redelivery publishes the same event.
        let id = format!("image-{}", &sha256_hex(format!("{bucket}/{object_key}#{source_version}").as_bytes())[..32]);
        let processed = ProductImageProcessed {
            sku: up.sku.clone(),
            source_key: key.to_string(),
            object_key,
            size_label: v.label.to_string(),
            bytes: size,
            width: v.width,
            height: v.height,
            sha256,
            source_version: Some(source_version),
            format: Some(v.encoding.name().to_string()),
        };
        let event = CloudEvent::new(id, SOURCE, record.event_time, processed.clone());
        self.bus.publish(event.to_message()).await?;
        Ok(processed)
    }

    /// The upload's variants, of every version but those of a live upload with the same stem:
    /// the key put again before this event arrived, or `photo.png` beside a removed `photo.jpg`
    /// (their variants share the stem; the etag tells them apart).
    async fn removed(&self, bucket: &str, up: &Upload) -> Result<Outcome, Failure> {
        let target = self.settings.processed_bucket.as_deref().unwrap_or(bucket);
        let mut keep = Vec::new();
        for live in self.objects.list(bucket, &format!("{}{}/{}", keys::UPLOADS, up.sku, up.stem)).await? {
            if Upload::parse(&live.key).ok().flatten().is_some_and(|u| u.stem == up.stem) {
                keep.push(up.variant_prefix(&live.etag)?);
            }
        }
        let mut removed = 0;
        for object in self.objects.list(target, &up.all_versions_prefix()).await? {
            let kept = keep.iter().any(|k| object.key.starts_with(k.as_str()));
            if up.is_variant(&object.key) && !kept {
                self.objects.delete(target, &object.key).await?;
                removed += 1;
            }
        }
        tracing::info!(removed, "variants of a removed upload deleted");
        Ok(Outcome::Removed(removed))
    }

    async fn dead_letter(&self, record: &S3EventRecord, e: ImageError) -> Result<Outcome, HandlerError> {
        let object = &record.s3.object;
        // The key as stored, where it decodes: what finds the object again.
        let raw = object.key.clone().unwrap_or_default();
        let key = keys::decode_event_key(&raw).unwrap_or(raw);
        let version = object.version_id.clone().or_else(|| object.e_tag.clone()).unwrap_or_default();
        let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
        let origin = format!("s3:{bucket}/{key}#{version}");
        tracing::warn!(%origin, reason_code = e.code(), reason = %e, "image dead-lettered");
        // The record, not the image: the object stays in the bucket, where the origin finds it.
        // Through a `Value`, whose maps keep their keys in order: the record holds hash maps,
        // and a redelivery must give the same letter byte for byte.
        let payload = serde_json::to_value(record).and_then(|v| serde_json::to_vec(&v)).unwrap_or_default();
        let letter = Rejected { code: e.code(), reason: e.to_string(), origin, payload: &payload, key: Some(key) };
        self.bus.publish(self.settings.dead_letters.message(letter, record.event_time)).await?;
        Ok(Outcome::DeadLettered(e.code()))
    }
}
