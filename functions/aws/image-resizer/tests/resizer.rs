//! What an upload becomes: three variants at immutable keys, one event each, the same on every
//! delivery; what removing it takes away.
mod support;

use domain::ports::{Revision, VersionedObjects};
use image_resizer::Outcome;
use platform_aws::invocation::Invocation;
use support::{BUCKET, created, images, removed, world};

#[tokio::test]
async fn a_photo_becomes_three_progressive_jpegs_at_keys_named_by_its_etag() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-1/front.jpg", images::jpeg(3000, 2000)).await;
    let out =
        w.resizer.handle(created("uploads/SKU-1/front.jpg", &meta), &Invocation::one_minute()).await.expect("handled");
    let Outcome::Processed(events) = &out[0] else { panic!("{out:?}") };

    let prefix = format!("processed/SKU-1/front@{}/", &meta.etag[..12]);
    let sizes: Vec<_> = events.iter().map(|e| (e.size_label.as_str(), e.width, e.height)).collect();
    assert_eq!(sizes, [("large", 1600, 1067), ("medium", 640, 427), ("thumb", 160, 107)]);
    for e in events {
        assert_eq!(e.object_key, format!("{prefix}{}.jpg", e.size_label));
        assert_eq!((e.sku.as_str(), e.source_key.as_str()), ("SKU-1", "uploads/SKU-1/front.jpg"));
        assert_eq!((e.source_version.as_deref(), e.format.as_deref()), (meta.version_id.as_deref(), Some("jpeg")));
        let (stored, bytes) = w.s3.get(BUCKET, &e.object_key, Revision::Current).await.unwrap().expect("stored");
        assert_eq!(stored.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(stored.cache_control.as_deref(), Some("public, max-age=31536000, immutable"));
        assert_eq!((e.bytes, e.sha256.clone()), (bytes.len() as u64, domain::dead_letter::sha256_hex(&bytes)));
        assert!(bytes.windows(2).any(|m| m == [0xFF, 0xC2]), "progressive (SOF2)");
        assert!(!bytes.windows(4).any(|m| m == b"Exif"), "no metadata");
        let (width, height, _) = images::decode_jpeg(&bytes);
        assert_eq!((width, height), (e.width, e.height));
    }
    assert_eq!(w.processed(), *events, "one event per variant");
}

#[tokio::test]
async fn a_redelivery_gives_the_same_keys_bytes_and_event_ids() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-1/a.png", images::png_rgba16(900, 700)).await;
    let event = created("uploads/SKU-1/a.png", &meta);
    let first = w.resizer.handle(event.clone(), &Invocation::one_minute()).await.expect("first");
    let second = w.resizer.handle(event, &Invocation::one_minute()).await.expect("redelivery");
    assert_eq!(first, second);
    let ids = w.event_ids();
    assert_eq!((ids.len(), &ids[..3]), (6, &ids[3..]), "the same three events, twice");
    assert_eq!(w.keys("processed/").await.len(), 3);
}

#[tokio::test]
async fn small_images_are_never_upscaled_and_keep_their_aspect() {
    let w = world(serve::Env::fixed([]));
    let sizes = w.variant_sizes("uploads/SKU-2/small.webp", images::webp(500, 300)).await;
    assert_eq!(sizes, [(500, 300), (500, 300), (160, 96)]);
}

#[tokio::test]
async fn exif_orientation_is_applied_and_cmyk_grey_and_alpha_become_srgb() {
    let w = world(serve::Env::fixed([]));
    let cases: [(&str, Vec<u8>); 4] = [
        ("uploads/SKU-3/rotated.jpg", images::jpeg_oriented(300, 200, 6)),
        ("uploads/SKU-3/red-ink.jpg", images::cmyk_jpeg(200, 100, [0, 255, 255, 0])),
        ("uploads/SKU-3/grey.jpg", images::grey_jpeg(200, 100)),
        ("uploads/SKU-3/half-clear.png", images::png_rgba16(200, 100)),
    ];
    let mut larges = Vec::new();
    for (key, bytes) in cases {
        let meta = w.upload(key, bytes).await;
        let out = w.resizer.handle(created(key, &meta), &Invocation::one_minute()).await.expect("handled");
        let Outcome::Processed(events) = &out[0] else { panic!("{key}: {out:?}") };
        let (_, bytes) = w.s3.get(BUCKET, &events[0].object_key, Revision::Current).await.unwrap().expect("large");
        larges.push(images::decode_jpeg(&bytes));
    }
    let pixel = |(w, _, px): &(u32, u32, Vec<u8>), x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        [px[i], px[i + 1], px[i + 2]]
    };
    let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12);
    // Orientation 6 turns the 300 × 200 picture upright (200 × 300): its red edge is now on top.
    assert_eq!((larges[0].0, larges[0].1), (200, 300));
    assert!(pixel(&larges[0], 100, 2)[0] > 200 && pixel(&larges[0], 100, 297)[2] > 200, "red top, blue bottom");
    assert!(near(pixel(&larges[1], 100, 50), [255, 0, 0]), "red ink prints red: {:?}", pixel(&larges[1], 100, 50));
    let grey = pixel(&larges[2], 10, 10);
    assert!(grey[0] == grey[1] && grey[1] == grey[2], "grey stays grey: {grey:?}");
    assert!(near(pixel(&larges[3], 20, 50), [0, 255, 0]), "opaque green");
    assert!(near(pixel(&larges[3], 180, 50), [255, 255, 255]), "transparent lands on white");
}

#[tokio::test]
async fn a_photo_with_a_wide_gamut_profile_is_converted_to_srgb() {
    let w = world(serve::Env::fixed([]));
    let adobe = moxcms::ColorProfile::new_adobe_rgb().encode().expect("an Adobe RGB profile");
    let green = [40, 160, 60];
    let meta = w.upload("uploads/SKU-3/adobe.jpg", images::jpeg_with_profile(64, 48, green, &adobe)).await;
    let out =
        w.resizer.handle(created("uploads/SKU-3/adobe.jpg", &meta), &Invocation::one_minute()).await.expect("handled");
    let Outcome::Processed(events) = &out[0] else { panic!("{out:?}") };
    let (_, bytes) = w.s3.get(BUCKET, &events[0].object_key, Revision::Current).await.unwrap().expect("large");
    assert!(!bytes.windows(4).any(|m| m == b"ICC_"), "the variant carries no profile: it is sRGB");
    let (_, _, px) = images::decode_jpeg(&bytes);
    let one = image_resizer::pixels::Rgb8 { width: 1, height: 1, pixels: green.to_vec() };
    let expected = image_resizer::colour::rgb_to_srgb(one, Some(&adobe)).pixels;
    let got = &px[(24 * 64 + 32) * 3..][..3];
    assert!(got.iter().zip(&expected).all(|(g, e)| g.abs_diff(*e) <= 4), "{got:?} vs {expected:?}");
    assert!(got[0].abs_diff(green[0]) > 20, "the conversion moved the colour: {got:?}");
}

#[tokio::test]
async fn webp_variants_come_too_when_asked_for() {
    let w = world(serve::Env::fixed([("IMAGE_FORMATS", "jpeg,webp")]));
    let meta = w.upload("uploads/SKU-4/p.jpg", images::jpeg(2000, 2000)).await;
    w.resizer.handle(created("uploads/SKU-4/p.jpg", &meta), &Invocation::one_minute()).await.expect("handled");
    let made: Vec<_> =
        w.processed().iter().map(|e| (e.size_label.clone(), e.format.clone().unwrap_or_default())).collect();
    let expected: Vec<_> = ["large", "medium", "thumb"]
        .iter()
        .flat_map(|l| [(l.to_string(), "jpeg".to_string()), (l.to_string(), "webp".to_string())])
        .collect();
    assert_eq!(made, expected);
    let webp_key = format!("processed/SKU-4/p@{}/thumb.webp", &meta.etag[..12]);
    let (stored, bytes) = w.s3.get(BUCKET, &webp_key, Revision::Current).await.unwrap().expect("webp thumb");
    assert_eq!(stored.content_type.as_deref(), Some("image/webp"));
    let decoded = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).expect("a WebP");
    assert_eq!(decoded.dimensions(), (160, 160));
}

#[tokio::test]
async fn keys_are_decoded_once_and_only_uploads_are_processed() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-5/front view+1 café.jpg", images::jpeg(100, 80)).await;
    let out = w
        .resizer
        .handle(created("uploads/SKU-5/front+view%2B1+caf%C3%A9.jpg", &meta), &Invocation::one_minute())
        .await
        .expect("handled");
    assert!(
        matches!(&out[0], Outcome::Processed(e) if e[0].object_key.starts_with("processed/SKU-5/front view+1 café@"))
    );
    // Slashes form-encoded too (as moto writes them): the same upload.
    let encoded = created("uploads%2FSKU-5%2Ffront+view%2B1+caf%C3%A9.jpg", &meta);
    let out = w.resizer.handle(encoded, &Invocation::one_minute()).await.expect("handled");
    assert!(matches!(&out[0], Outcome::Processed(_)), "{out:?}");
    let other = w.upload("incoming/SKU-5/x.jpg", images::jpeg(10, 10)).await;
    let out =
        w.resizer.handle(created("incoming/SKU-5/x.jpg", &other), &Invocation::one_minute()).await.expect("handled");
    assert_eq!(out, [Outcome::Skipped("outside_uploads")]);
    let out =
        w.resizer.handle(created("incoming/SKU-5/x%ZZ.jpg", &other), &Invocation::one_minute()).await.expect("handled");
    assert_eq!(out, [Outcome::Skipped("outside_uploads")], "not ours, even when its key would not decode");
}

#[tokio::test]
async fn slivers_decode_at_the_scale_their_long_side_needs() {
    let w = world(serve::Env::fixed([]));
    let sizes = w.variant_sizes("uploads/SKU-5/banner.jpg", images::jpeg(6400, 3)).await;
    assert_eq!(sizes, [(1600, 1), (640, 1), (160, 1)]);
}

#[tokio::test]
async fn removing_one_file_keeps_the_variants_of_another_with_the_same_stem() {
    let w = world(serve::Env::fixed([]));
    for key in ["uploads/SKU-6/photo.jpg", "uploads/SKU-6/photo.png"] {
        let bytes = if key.ends_with("png") { images::png_rgba16(40, 30) } else { images::jpeg(40, 30) };
        let meta = w.upload(key, bytes).await;
        w.resizer.handle(created(key, &meta), &Invocation::one_minute()).await.expect("processed");
    }
    w.s3.delete(BUCKET, "uploads/SKU-6/photo.jpg").await.expect("deleted");
    assert_eq!(
        w.resizer.handle(removed("uploads/SKU-6/photo.jpg"), &Invocation::one_minute()).await.expect("removed"),
        [Outcome::Removed(3)]
    );
    let png = w.s3.head(BUCKET, "uploads/SKU-6/photo.png", Revision::Current).await.unwrap().expect("the PNG");
    let left = w.keys("processed/SKU-6/").await;
    assert!(left.len() == 3 && left.iter().all(|k| k.contains(&png.etag[..12])), "{left:?}");
}

#[tokio::test]
async fn an_upload_replaced_before_its_event_is_left_to_the_next_event() {
    let w = world(serve::Env::fixed([]));
    let old = w.upload("uploads/SKU-6/a.jpg", images::jpeg(100, 80)).await;
    let new = w.upload("uploads/SKU-6/a.jpg", images::jpeg(120, 80)).await;
    assert_eq!(
        w.resizer.handle(created("uploads/SKU-6/a.jpg", &old), &Invocation::one_minute()).await.expect("old"),
        [Outcome::Skipped("replaced")]
    );
    let out = w.resizer.handle(created("uploads/SKU-6/a.jpg", &new), &Invocation::one_minute()).await.expect("new");
    assert!(matches!(&out[0], Outcome::Processed(e) if e[0].width == 120), "{out:?}");
}

#[tokio::test]
async fn removing_an_upload_deletes_the_variants_of_every_version_and_publishes_nothing() {
    let w = world(serve::Env::fixed([]));
    for pixels in [100, 120] {
        let meta = w.upload("uploads/SKU-7/a.jpg", images::jpeg(pixels, 80)).await;
        w.resizer.handle(created("uploads/SKU-7/a.jpg", &meta), &Invocation::one_minute()).await.expect("processed");
    }
    let other = w.upload("uploads/SKU-7/a@b.jpg", images::jpeg(50, 50)).await;
    w.resizer
        .handle(created("uploads/SKU-7/a%40b.jpg", &other), &Invocation::one_minute())
        .await
        .expect("a stem that starts the same");
    assert_eq!(w.keys("processed/SKU-7/a@").await.len(), 9);
    let published = w.processed().len();

    w.s3.delete(BUCKET, "uploads/SKU-7/a.jpg").await.expect("deleted");
    assert_eq!(
        w.resizer.handle(removed("uploads/SKU-7/a.jpg"), &Invocation::one_minute()).await.expect("removed"),
        [Outcome::Removed(6)]
    );
    let left = w.keys("processed/SKU-7/").await;
    assert!(left.len() == 3 && left.iter().all(|k| k.starts_with("processed/SKU-7/a@b@")), "{left:?}");
    assert_eq!(w.processed().len(), published, "nothing published");
}

#[tokio::test]
async fn a_removal_that_arrives_after_a_new_upload_keeps_the_new_variants() {
    let w = world(serve::Env::fixed([]));
    let old = w.upload("uploads/SKU-8/a.jpg", images::jpeg(100, 80)).await;
    w.resizer.handle(created("uploads/SKU-8/a.jpg", &old), &Invocation::one_minute()).await.expect("old");
    let new = w.upload("uploads/SKU-8/a.jpg", images::jpeg(120, 80)).await;
    w.resizer.handle(created("uploads/SKU-8/a.jpg", &new), &Invocation::one_minute()).await.expect("new");
    assert_eq!(
        w.resizer.handle(removed("uploads/SKU-8/a.jpg"), &Invocation::one_minute()).await.expect("late removal"),
        [Outcome::Removed(3)]
    );
    let left = w.keys("processed/SKU-8/").await;
    assert!(left.len() == 3 && left.iter().all(|k| k.contains(&new.etag[..12])), "{left:?}");
}

#[tokio::test]
async fn no_upload_is_started_with_too_little_of_the_invocation_left() {
    let w = world(serve::Env::fixed([]));
    let meta = w.upload("uploads/SKU-1/late.jpg", images::jpeg(800, 600)).await;
    let ending = Invocation::starting_now(image_resizer::RECORD_BUDGET - chrono::Duration::seconds(1));
    let error = w.resizer.handle(created("uploads/SKU-1/late.jpg", &meta), &ending).await.expect_err("out of time");
    assert!(matches!(error, image_resizer::HandlerError::OutOfTime { records: 1, left: 1, .. }), "{error:?}");
    assert!(w.keys("processed/").await.is_empty() && w.processed().is_empty(), "nothing written or published");
    // Lambda's retry, with time, does it.
    w.resizer.handle(created("uploads/SKU-1/late.jpg", &meta), &Invocation::one_minute()).await.expect("retried");
    assert_eq!(w.keys("processed/").await.len(), 3);
}
