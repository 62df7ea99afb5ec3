//! Other writers between the resizer's requests: a replacement put between the HEAD and the GET
//! is never read, however large; an upload removed while its variants are written takes them
//! with it, and the events already published stand.
mod support;

use image_resizer::Outcome;
use inmemory::{Change, InMemoryS3};
use platform_aws::invocation::Invocation;
use support::{BUCKET, created, images, racing_world};

const KEY: &str = "uploads/SKU-R/front.jpg";

fn limited() -> serve::Env {
    serve::Env::fixed([("MAX_IMAGE_BYTES", "200000")])
}

fn replace(bytes: Vec<u8>) -> Change {
    Change::Replace { bucket: BUCKET.into(), key: KEY.into(), bytes }
}

#[tokio::test]
async fn a_replacement_over_the_byte_limit_put_after_the_head_is_never_read() {
    let (w, s3) = racing_world(InMemoryS3::unversioned(), limited());
    let meta = w.upload(KEY, images::jpeg(100, 80)).await;
    s3.after_next_head(replace(vec![0xFF; 300_000]));
    let out = w.resizer.handle(created(KEY, &meta), &Invocation::one_minute()).await.expect("handled");
    assert_eq!(out, [Outcome::Skipped("replaced")], "412: the replacement's own event follows");
    assert_eq!(s3.bytes_read(), 0, "not a byte of the replacement was sent");
    assert!(w.keys("processed/").await.is_empty() && w.processed().is_empty() && w.dead_letters().is_empty());
}

#[tokio::test]
async fn in_a_versioned_bucket_the_version_the_head_checked_is_the_one_read() {
    let (w, s3) = racing_world(InMemoryS3::versioned(), limited());
    let photo = images::jpeg(100, 80);
    let meta = w.upload(KEY, photo.clone()).await;
    s3.after_next_head(replace(vec![0xFF; 300_000]));
    let out = w.resizer.handle(created(KEY, &meta), &Invocation::one_minute()).await.expect("handled");
    let [Outcome::Processed(events)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(s3.bytes_read(), photo.len() as u64, "only the named version was read");
    assert_eq!(events[0].source_version, meta.version_id);
    assert_eq!(w.keys("processed/").await.len(), 3, "a replaced version keeps its variants, as after any replacement");
}

#[tokio::test]
async fn an_upload_removed_while_its_variants_are_written_takes_them_with_it() {
    for (bucket, s3) in [("versioned", InMemoryS3::versioned()), ("unversioned", InMemoryS3::unversioned())] {
        let (w, racing) = racing_world(s3, serve::Env::fixed([]));
        let meta = w.upload(KEY, images::jpeg(400, 300)).await;
        racing.after_next_put(Change::Delete { bucket: BUCKET.into(), key: KEY.into() });
        let out = w.resizer.handle(created(KEY, &meta), &Invocation::one_minute()).await.expect("handled");
        let [Outcome::Withdrawn { published, deleted: 3 }] = out.as_slice() else { panic!("{bucket}: {out:?}") };
        assert!(w.keys("processed/").await.is_empty(), "{bucket}: no variant of a removed upload");
        assert_eq!(w.processed(), *published, "{bucket}: the events published stand");
        assert_eq!(published.len(), 3, "{bucket}");
    }
}

#[tokio::test]
async fn without_versions_an_upload_replaced_while_its_variants_are_written_takes_them_with_it() {
    let (w, racing) = racing_world(InMemoryS3::unversioned(), serve::Env::fixed([]));
    let meta = w.upload(KEY, images::jpeg(400, 300)).await;
    racing.after_next_put(replace(images::jpeg(500, 300)));
    let out = w.resizer.handle(created(KEY, &meta), &Invocation::one_minute()).await.expect("handled");
    assert!(matches!(&out[..], [Outcome::Withdrawn { deleted: 3, .. }]), "its bytes are gone: {out:?}");
    assert!(w.keys("processed/").await.is_empty());
}
