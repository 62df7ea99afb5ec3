//! Hostile and broken uploads: each gets its reason code on `images.dlq`, a log line with its
//! key, nothing stored, and the invocation succeeds; S3 or Kafka down is not bad input and fails
//! the invocation for Lambda to retry. Never a panic.
mod support;

use image_resizer::{HandlerError, Outcome};
use platform_aws::invocation::Invocation;
use support::{BUCKET, created, images, world};

fn cut(mut bytes: Vec<u8>, keep: f32) -> Vec<u8> {
    bytes.truncate((bytes.len() as f32 * keep) as usize);
    bytes
}

#[tokio::test]
async fn each_kind_of_bad_upload_is_dead_lettered_with_its_code_and_nothing_is_stored() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.jpg", images::jpeg_claiming(60_000, 60_000), "too_many_pixels"),
        ("bomb.png", images::png_claiming(100_000, 100_000), "too_many_pixels"),
        ("wide.png", images::png_claiming(7_000, 7_000), "decode_too_large"),
        ("grey.png", images::grey_png_claiming(7_000, 7_000), "decode_too_large"),
        ("progressive.jpg", images::progressive_jpeg_claiming(7_000, 7_000), "decode_too_large"),
        ("absurd.png", images::png_claiming(0x8000_0000, 1), "bad_header"),
        ("zero.jpg", images::jpeg_claiming(0, 10), "bad_header"),
        ("half.jpg", cut(images::jpeg(400, 300), 0.5), "truncated"),
        ("header-only.jpg", cut(images::jpeg(400, 300), 0.02), "truncated"),
        ("half.png", cut(images::png_rgba16(300, 200), 0.5), "truncated"),
        ("half.webp", cut(images::webp(300, 200), 0.5), "truncated"),
        ("phone.heic", images::heic(), "unsupported_format"),
        ("phone.avif", images::avif(), "unsupported_format"),
        ("notes.jpg", b"just some text, not a picture".to_vec(), "not_an_image"),
        ("empty.jpg", Vec::new(), "empty_object"),
    ];
    let w = world(serve::Env::fixed([("MAX_DECODE_BYTES", "100000000")]));
    for (name, bytes, code) in &cases {
        let key = format!("uploads/SKU-9/{name}");
        let meta = w.upload(&key, bytes.clone()).await;
        let out = w
            .resizer
            .handle(created(&key, &meta), &Invocation::one_minute())
            .await
            .expect("bad input is not a failed invocation");
        assert_eq!(out, [Outcome::DeadLettered(code)], "{name}");
        let letter = w.dead_letters().into_iter().find(|l| l.key.as_deref() == Some(&key)).expect("a dead letter");
        assert_eq!((letter.reason_code.as_str(), letter.rejected_by.as_str()), (*code, "image-resizer"), "{name}");
        let version = meta.version_id.as_deref().unwrap_or_default();
        assert_eq!(letter.origin, format!("s3:{BUCKET}/{key}#{version}"), "{name}: findable where it is");
        assert_eq!(letter.key.as_deref(), Some(key.as_str()));
    }
    assert_eq!(w.dead_letters().len(), cases.len());
    assert!(w.keys("processed/").await.is_empty() && w.processed().is_empty());
}

#[tokio::test]
async fn the_byte_limit_is_checked_from_the_event_before_the_object_is_read() {
    let w = world(serve::Env::fixed([("MAX_IMAGE_BYTES", "1000")]));
    let meta = w.upload("uploads/SKU-9/big.jpg", images::jpeg(300, 300)).await;
    // S3 down: had the object been read, this would be an outage, not a dead letter.
    w.s3.outage.fail_next(1);
    let out =
        w.resizer.handle(created("uploads/SKU-9/big.jpg", &meta), &Invocation::one_minute()).await.expect("handled");
    assert_eq!(out, [Outcome::DeadLettered("too_many_bytes")]);
}

#[tokio::test]
async fn a_bad_record_does_not_stop_the_good_one_beside_it() {
    let w = world(serve::Env::fixed([]));
    let bad = w.upload("uploads/SKU-9/bad.jpg", images::heic()).await;
    let good = w.upload("uploads/SKU-9/good.jpg", images::jpeg(200, 100)).await;
    let mut event = created("uploads/SKU-9/bad.jpg", &bad);
    event.records.extend(created("uploads/SKU-9/good.jpg", &good).records);
    let out = w.resizer.handle(event, &Invocation::one_minute()).await.expect("handled");
    assert!(
        matches!(&out[..], [Outcome::DeadLettered("unsupported_format"), Outcome::Processed(v)] if v.len() == 3),
        "{out:?}"
    );
}

#[tokio::test]
async fn s3_or_kafka_unavailable_fails_the_invocation_and_dead_letters_nothing() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-9/a.jpg", images::jpeg(200, 100)).await;
    let event = created("uploads/SKU-9/a.jpg", &meta);
    w.s3.outage.fail_next(1);
    assert!(matches!(
        w.resizer.handle(event.clone(), &Invocation::one_minute()).await,
        Err(HandlerError::Unavailable(_))
    ));
    w.bus.outage.fail_next(1);
    assert!(matches!(
        w.resizer.handle(event.clone(), &Invocation::one_minute()).await,
        Err(HandlerError::Unavailable(_))
    ));
    assert!(w.dead_letters().is_empty());
    // Lambda's retry finishes the job; what the failed attempt wrote is reused, not duplicated.
    let out = w.resizer.handle(event, &Invocation::one_minute()).await.expect("retried");
    assert!(matches!(&out[0], Outcome::Processed(v) if v.len() == 3));
    assert_eq!(w.keys("processed/").await.len(), 3);
}

#[tokio::test]
async fn what_is_not_an_s3_notification_fails_closed() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-9/a.jpg", images::jpeg(20, 10)).await;
    let mut event = created("uploads/SKU-9/a.jpg", &meta);
    event.records[0].event_source = Some("aws:sqs".into());
    assert!(matches!(w.resizer.handle(event, &Invocation::one_minute()).await, Err(HandlerError::NotS3(_))));
    let mut restore = created("uploads/SKU-9/a.jpg", &meta);
    restore.records[0].event_name = Some("ObjectRestore:Completed".into());
    assert_eq!(
        w.resizer.handle(restore, &Invocation::one_minute()).await.expect("handled"),
        [Outcome::DeadLettered("unsupported_event")]
    );
    let bad_key = created("uploads/SKU-9/a%ZZ.jpg", &meta);
    assert_eq!(
        w.resizer.handle(bad_key, &Invocation::one_minute()).await.expect("handled"),
        [Outcome::DeadLettered("bad_key")]
    );
}

/// Every cut and many corruptions of real files: each comes out processed or dead-lettered.
#[tokio::test]
async fn cut_or_corrupted_files_never_panic() {
    let w = world(serve::Env::fixed([]));
    let sources = [
        images::jpeg(96, 64),
        images::png_rgba16(48, 32),
        images::webp(96, 64),
        images::cmyk_jpeg(32, 32, [9, 9, 9, 9]),
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut n = 0;
    for source in &sources {
        let mut variants: Vec<Vec<u8>> = (1..40).map(|i| source[..source.len() * i / 40].to_vec()).collect();
        for _ in 0..60 {
            let mut bytes = source.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            variants.push(bytes);
        }
        for bytes in variants {
            n += 1;
            let key = format!("uploads/SKU-9/fuzz-{n}.jpg");
            let meta = w.upload(&key, bytes).await;
            let out = w
                .resizer
                .handle(created(&key, &meta), &Invocation::one_minute())
                .await
                .expect("never an invocation error");
            assert!(matches!(&out[0], Outcome::Processed(_) | Outcome::DeadLettered(_)), "{key}: {out:?}");
        }
    }
}

#[tokio::test]
async fn a_redelivered_bad_upload_gives_the_same_dead_letter() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-9/a.heic", images::heic()).await;
    for _ in 0..2 {
        w.resizer.handle(created("uploads/SKU-9/a.heic", &meta), &Invocation::one_minute()).await.expect("handled");
    }
    let sent: Vec<Vec<u8>> = w.bus.records(domain::events::topics::IMAGES_DLQ).into_iter().map(|r| r.payload).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1], "the same CloudEvent, byte for byte: id, time, payload and hash");
}
