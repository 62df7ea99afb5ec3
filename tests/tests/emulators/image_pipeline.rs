//! image-resizer against moto's S3 and tansu's Kafka: the recorded upload fixture's photo is put
//! in a fresh versioned bucket, its notification (with the version id and etag S3 gave it)
//! handled, the variants read back with their metadata, the events read from Kafka; a redelivery
//! adds nothing, a bad upload is dead-lettered on Kafka, and removing the upload deletes them.
//! Then the races, on S3 itself: a replacement after the HEAD, a removal while writing.
use super::read_for;
use domain::cloudevent::decode;
use domain::events::{DeadLetter, ProductImageProcessed, topics};
use domain::ports::{NewObject, Revision, VersionedObjects};
use estate_tests::{emulator, fixture, fresh};
use image_resizer::{ImageResizer, Outcome, Settings};
use platform_aws::invocation::Invocation;
use platform_aws::s3_store::{S3Objects, client_from_env};
use std::sync::Arc;
use std::time::Duration;

/// The recorded notification, retargeted at this bucket and object (the key form-encoded).
fn notification(
    event_name: &str,
    bucket: &str,
    encoded_key: &str,
    meta: Option<&domain::ports::ObjectMeta>,
) -> Vec<u8> {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("aws/s3/image-resizer-upload.json")).expect("json");
    let record = &mut event["Records"][0];
    record["eventName"] = event_name.into();
    record["s3"]["bucket"]["name"] = bucket.into();
    record["s3"]["bucket"]["arn"] = format!("arn:aws:s3:::{bucket}").into();
    let object = &mut record["s3"]["object"];
    object["key"] = encoded_key.into();
    match meta {
        Some(m) => {
            object["size"] = m.size.into();
            object["eTag"] = m.etag.clone().into();
            object["versionId"] = m.version_id.clone().into();
        }
        None => {
            let o = object.as_object_mut().expect("object");
            o.retain(|k, _| k == "key" || k == "sequencer");
        }
    }
    serde_json::to_vec(&event).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_resizer_makes_variants_on_moto_and_announces_them_on_kafka() {
    emulator("AWS_ENDPOINT_URL");
    let bootstrap = emulator("KAFKA_BOOTSTRAP_SERVERS");
    kafka::ensure_topics(&bootstrap, &[topics::PRODUCT_IMAGE_PROCESSED, topics::IMAGES_DLQ], 3).await.expect("topics");
    let s3 = Arc::new(S3Objects::new(client_from_env(&serve::Env::Process).await));
    let bucket = fresh("it-uploads");
    s3.ensure_versioned_bucket(&bucket, "eu-west-1").await.expect("bucket");
    let resizer = ImageResizer {
        objects: s3.clone(),
        bus: Arc::new(kafka::KafkaPublisher::new(&bootstrap).expect("producer")),
        settings: Settings::local(),
    };
    let sku = fresh("IT").to_uppercase();
    let key = format!("uploads/{sku}/front (1).jpg");
    let photo = fixture("aws/s3/objects/acme-product-media/uploads/TSH-001-BLK-M/front (1).jpg");
    let put = NewObject { key: &key, bytes: photo, content_type: "image/jpeg", cache_control: None };
    let meta = s3.put_new(&bucket, put).await.expect("uploaded");
    assert!(meta.version_id.is_some(), "a versioned bucket names the version");

    let encoded = format!("uploads/{sku}/front+%281%29.jpg");
    let event =
        serde_json::from_slice(&notification("ObjectCreated:Put", &bucket, &encoded, Some(&meta))).expect("S3Event");
    let out = resizer.handle(event, &Invocation::one_minute()).await.expect("handled");
    let Some(Outcome::Processed(made)) = out.first() else { panic!("{out:?}") };
    let sizes: Vec<_> = made.iter().map(|e| (e.size_label.as_str(), e.width, e.height)).collect();
    assert_eq!(sizes, [("large", 1067, 1600), ("medium", 427, 640), ("thumb", 107, 160)], "EXIF-rotated");
    for e in made {
        let (stored, bytes) =
            s3.get(&bucket, &e.object_key, Revision::Current).await.expect("read").expect("variant on S3");
        assert_eq!(stored.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(stored.cache_control.as_deref(), Some(image_resizer::IMMUTABLE));
        assert_eq!(domain::dead_letter::sha256_hex(&bytes), e.sha256);
        assert_eq!(e.source_version, meta.version_id);
    }

    // A redelivery: S3 refuses the second create of each key (412), and the events repeat by id.
    let again =
        serde_json::from_slice(&notification("ObjectCreated:Put", &bucket, &encoded, Some(&meta))).expect("S3Event");
    assert_eq!(resizer.handle(again, &Invocation::one_minute()).await.expect("redelivery"), out);
    let records = read_for(&bootstrap, topics::PRODUCT_IMAGE_PROCESSED, 3, usize::MAX, Duration::from_secs(5)).await;
    let ours: Vec<_> = records
        .iter()
        .filter_map(|r| decode::<ProductImageProcessed>(&r.payload).ok())
        .filter(|e| e.data.sku.as_str() == sku)
        .collect();
    assert_eq!(ours.len(), 6, "three events, delivered twice");
    assert_eq!(ours.iter().map(|e| e.id.clone()).collect::<std::collections::BTreeSet<_>>().len(), 3);

    // A bad upload is dead-lettered on Kafka's images.dlq.
    let bad_key = format!("uploads/{sku}/phone.heic");
    let heic = NewObject {
        key: &bad_key,
        bytes: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(),
        content_type: "image/heic",
        cache_control: None,
    };
    let bad = s3.put_new(&bucket, heic).await.expect("uploaded");
    let event =
        serde_json::from_slice(&notification("ObjectCreated:Put", &bucket, &bad_key, Some(&bad))).expect("S3Event");
    assert_eq!(
        resizer.handle(event, &Invocation::one_minute()).await.expect("handled"),
        [Outcome::DeadLettered("unsupported_format")]
    );
    let letters = read_for(&bootstrap, topics::IMAGES_DLQ, 3, usize::MAX, Duration::from_secs(5)).await;
    assert!(
        letters
            .iter()
            .filter_map(|r| decode::<DeadLetter>(&r.payload).ok())
            .any(|l| l.data.key.as_deref() == Some(&bad_key))
    );

    // Removing the upload (a delete marker) deletes its variants.
    s3.delete(&bucket, &key).await.expect("deleted");
    let removal = serde_json::from_slice(&notification("ObjectRemoved:DeleteMarkerCreated", &bucket, &encoded, None))
        .expect("S3Event");
    assert_eq!(resizer.handle(removal, &Invocation::one_minute()).await.expect("handled"), [Outcome::Removed(3)]);
    assert!(s3.list(&bucket, "processed/").await.expect("list").is_empty());
}

/// The races on S3 itself: moto refuses the `If-Match` GET of an object replaced after the HEAD
/// (412), so not a byte of the oversized replacement is read; an upload deleted while its
/// variants are written (in a versioned bucket: a delete marker) has them deleted again, and its
/// events stay on Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_resizer_on_moto_never_reads_a_replacement_and_withdraws_the_variants_of_a_removed_upload() {
    use inmemory::{Change, Interleaved};
    emulator("AWS_ENDPOINT_URL");
    let bootstrap = emulator("KAFKA_BOOTSTRAP_SERVERS");
    kafka::ensure_topics(&bootstrap, &[topics::PRODUCT_IMAGE_PROCESSED, topics::IMAGES_DLQ], 3).await.expect("topics");
    let s3 = Arc::new(S3Objects::new(client_from_env(&serve::Env::Process).await));
    let racing = Arc::new(Interleaved::new(s3.clone()));
    let settings = Settings::from_env(&serve::Env::fixed([("MAX_IMAGE_BYTES", "200000")])).expect("settings");
    let bus = Arc::new(kafka::KafkaPublisher::new(&bootstrap).expect("producer"));
    let resizer = ImageResizer { objects: racing.clone(), bus, settings };
    let photo = fixture("aws/s3/objects/acme-product-media/uploads/TSH-001-BLK-M/front (1).jpg");
    let sku = fresh("RACE").to_uppercase();
    let key = format!("uploads/{sku}/front.jpg");
    let upload = |bucket: String| {
        let (s3, key, photo) = (s3.clone(), key.clone(), photo.clone());
        async move {
            let put = NewObject { key: &key, bytes: photo, content_type: "image/jpeg", cache_control: None };
            let meta = s3.put_new(&bucket, put).await.expect("uploaded");
            let event = notification("ObjectCreated:Put", &bucket, &key, Some(&meta));
            serde_json::from_slice(&event).expect("S3Event")
        }
    };

    let plain = fresh("it-plain");
    s3.ensure_bucket(&plain, "eu-west-1").await.expect("bucket");
    let event = upload(plain.clone()).await;
    let big = vec![0xFF; 300_000];
    racing.after_next_head(Change::Replace { bucket: plain.clone(), key: key.clone(), bytes: big });
    assert_eq!(
        resizer.handle(event, &Invocation::one_minute()).await.expect("handled"),
        [Outcome::Skipped("replaced")]
    );
    assert_eq!(racing.bytes_read(), 0, "the If-Match GET was refused before a byte was sent");
    assert_eq!(s3.head(&plain, &key, Revision::Current).await.expect("head").expect("replaced").size, 300_000);

    for bucket in [fresh("it-plain"), fresh("it-uploads")] {
        if bucket.starts_with("it-uploads") {
            s3.ensure_versioned_bucket(&bucket, "eu-west-1").await.expect("bucket");
        } else {
            s3.ensure_bucket(&bucket, "eu-west-1").await.expect("bucket");
        }
        let event = upload(bucket.clone()).await;
        racing.after_next_put(Change::Delete { bucket: bucket.clone(), key: key.clone() });
        let out = resizer.handle(event, &Invocation::one_minute()).await.expect("handled");
        let [Outcome::Withdrawn { published, deleted: 3 }] = out.as_slice() else { panic!("{bucket}: {out:?}") };
        assert!(s3.list(&bucket, "processed/").await.expect("list").is_empty(), "{bucket}: variants deleted");
        assert_eq!(published.len(), 3, "{bucket}");
    }
    let records = read_for(&bootstrap, topics::PRODUCT_IMAGE_PROCESSED, 3, usize::MAX, Duration::from_secs(5)).await;
    let ours = records
        .iter()
        .filter_map(|r| decode::<ProductImageProcessed>(&r.payload).ok())
        .filter(|e| e.data.sku.as_str() == sku)
        .count();
    assert_eq!(ours, 6, "the events of both withdrawn uploads stand");
}
