//! `local demo --flows images`: the image pipeline end to end on the embedded default. Merchants
//! upload photos (JPEG of many sizes, some EXIF-rotated, grey or CMYK; WebP; PNG cut-outs with
//! transparency) and a few bad files (cut off mid-upload, HEIC from a phone, a decompression
//! bomb's header); some uploads are replaced and some removed before their events arrive. S3 delivers every
//! notification twice, in shuffled order, and the bucket has bad moments (Lambda retries the
//! event, as for any asynchronous invocation). Then the bridge mirrors the events to Pub/Sub and
//! image-analytics counts them, and the invariants are checked.
use crate::demo::Verdict;
use crate::estate::{Estate, RunError};
use crate::scenario::Rng;
use aws_lambda_events::event::s3::S3Event;
use domain::cloudevent::decode;
use domain::dead_letter::sha256_hex;
use domain::events::{DeadLetter, ProductImageProcessed, topics};
use domain::ports::{NewObject, ObjectMeta, Revision, VersionedObjects, WindowTotal};
use std::collections::{BTreeMap, BTreeSet};

pub const BUCKET: &str = "acme-product-media";
/// Lambda retries a failed asynchronous invocation twice, then sends it to its on-failure destination.
const LAMBDA_ASYNC_RETRIES: u32 = 2;

pub struct ImageOptions {
    pub photos: usize,
    pub seed: u64,
}

/// What a run sent, to check against.
#[derive(Default)]
pub(crate) struct Uploads {
    /// Keys whose file is bad, with the reason code expected.
    pub(crate) bad: BTreeMap<String, &'static str>,
    pub(crate) removed: BTreeSet<String>,
    pub(crate) replaced: usize,
}

impl Uploads {
    /// What was sent, for the progress line.
    pub(crate) fn describe(&self, photos: usize, notifications: usize) -> String {
        format!(
            "images: {photos} uploads ({} bad, {} replaced, {} removed), {notifications} S3 notifications delivered twice",
            self.bad.len(),
            self.replaced,
            self.removed.len(),
        )
    }
}

fn err(what: &str) -> impl Fn(domain::ports::PortError) -> RunError + '_ {
    move |e| RunError(format!("{what}: {e}"))
}

/// A picture with some texture, `width` × `height`, RGB.
fn picture(rng: &mut Rng, width: u32, height: u32) -> Vec<u8> {
    let (a, b) = (rng.below(200) as f32 / 1000.0 + 0.01, rng.below(200) as f32 / 1000.0 + 0.01);
    // Waves by column and by row, added: cheap enough for an unoptimised build.
    let columns: Vec<[u8; 2]> =
        (0..width).map(|x| [(64.0 + 60.0 * (x as f32 * a).sin()) as u8, (x * 255 / width) as u8]).collect();
    let mut px = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        let (row, blue) = ((60.0 + 60.0 * (y as f32 * b).cos()) as u8, (y * 255 / height) as u8);
        for [wave, green] in &columns {
            px.extend_from_slice(&[wave.saturating_add(row), *green, blue]);
        }
    }
    px
}

/// A grey or CMYK JPEG (print shops send CMYK), from the same picture.
fn jpeg_as(rng: &mut Rng, width: u32, height: u32, color: jpeg_encoder::ColorType) -> Vec<u8> {
    let rgb = picture(rng, width, height);
    let pixels: Vec<u8> = match color {
        jpeg_encoder::ColorType::Luma => rgb.chunks(3).map(|p| p[0]).collect(),
        _ => rgb.chunks(3).flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0]).collect(),
    };
    let mut out = Vec::new();
    let _ = jpeg_encoder::Encoder::new(&mut out, 90).encode(&pixels, width as u16, height as u16, color);
    out
}

fn webp(rng: &mut Rng, width: u32, height: u32) -> Vec<u8> {
    webp::Encoder::from_rgb(&picture(rng, width, height), width, height)
        .encode_simple(false, 85.0)
        .map(|m| m.to_vec())
        .unwrap_or_default()
}

fn jpeg(rng: &mut Rng, width: u32, height: u32, orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    if let Some(o) = orientation {
        let _ = encoder.add_app_segment(1, image_resizer::pixels::exif_block(o));
    }
    let _ = encoder.encode(&picture(rng, width, height), width as u16, height as u16, jpeg_encoder::ColorType::Rgb);
    out
}

fn png_cutout(rng: &mut Rng, width: u32, height: u32) -> Vec<u8> {
    let rgb = picture(rng, width, height);
    let rgba: Vec<u8> = rgb
        .chunks(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], if (i as u32 % width) < width / 2 { 255 } else { 0 }])
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&rgba);
        let _ = writer.finish();
    }
    out
}

/// The notification S3 sends for one object, its key form-encoded as S3 encodes it.
pub(crate) fn notification(
    bucket: &str,
    event_name: &str,
    key: &str,
    meta: Option<&ObjectMeta>,
    n: usize,
) -> Result<S3Event, RunError> {
    let encoded: String = key
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    let object = match meta {
        Some(m) => {
            serde_json::json!({"key": encoded, "size": m.size, "eTag": m.etag, "sequencer": format!("{n:018X}")})
        }
        None => serde_json::json!({"key": encoded, "sequencer": format!("{n:018X}")}),
    };
    let event = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": format!("2026-11-30T09:{:02}:{:02}.000Z", (n / 60) % 60, n % 60), "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROA4QWERTYUIOPASDFGH:media-uploader"},
        "requestParameters": {"sourceIPAddress": "203.0.113.24"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "image-resizer-uploads",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")}, "object": object}}]});
    serde_json::from_value(event).map_err(|e| RunError(format!("notification: {e}")))
}

async fn put(store: &dyn VersionedObjects, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<ObjectMeta, RunError> {
    // A put replaces the object, as S3 does; the port's puts are create-only, so delete first.
    store.delete(bucket, key).await.map_err(err("delete"))?;
    let object = NewObject { key, bytes, content_type: "application/octet-stream", cache_control: None };
    store.put_new(bucket, object).await.map_err(err("upload"))
}

/// Uploads everything to the bucket, returning what S3 would notify, in upload order.
pub(crate) async fn upload(
    store: &dyn VersionedObjects,
    bucket: &str,
    opts: &ImageOptions,
    rng: &mut Rng,
    sent: &mut Uploads,
) -> Result<Vec<S3Event>, RunError> {
    let mut events = Vec::new();
    for n in 0..opts.photos {
        let sku = format!("IMG-{:03}", n % 23);
        let (w, h) = (400 + rng.below(1800) as u32, 300 + rng.below(1400) as u32);
        let (name, bytes) = match n % 12 {
            0 => ("cut-off.jpg", {
                let full = jpeg(rng, w, h, None);
                full[..full.len() / 3].to_vec()
            }),
            5 => ("phone.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\0".to_vec()),
            7 => ("bomb.png", {
                let mut b = png_cutout(rng, 4, 4);
                b[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]); // claims 60000 × 60000
                b
            }),
            3 | 9 => ("cutout.png", png_cutout(rng, w.min(1500), h.min(1500))),
            4 => ("rotated.jpg", jpeg(rng, w, h, Some(6))),
            10 => ("upside-down.jpg", jpeg(rng, w, h, Some(3))),
            1 => ("grey.jpg", jpeg_as(rng, w, h, jpeg_encoder::ColorType::Luma)),
            2 => ("print.jpg", jpeg_as(rng, w, h, jpeg_encoder::ColorType::Cmyk)),
            8 => ("photo.webp", webp(rng, w, h)),
            _ => ("photo.jpg", jpeg(rng, w, h, None)),
        };
        let key = format!("uploads/{sku}/shot {n} {name}");
        match name {
            "cut-off.jpg" => sent.bad.insert(key.clone(), "truncated"),
            "phone.heic" => sent.bad.insert(key.clone(), "unsupported_format"),
            "bomb.png" => sent.bad.insert(key.clone(), "too_many_pixels"),
            _ => None,
        };
        let meta = put(store, bucket, &key, bytes).await?;
        events.push(notification(bucket, "ObjectCreated:Put", &key, Some(&meta), n)?);
        if n % 17 == 6 && !sent.bad.contains_key(&key) {
            // Replaced before its first event arrived: that event is skipped, the second does the work.
            let meta = put(store, bucket, &key, jpeg(rng, 800, 600, None)).await?;
            events.push(notification(bucket, "ObjectCreated:Put", &key, Some(&meta), n + 10_000)?);
            sent.replaced += 1;
        } else if n % 19 == 8 && !sent.bad.contains_key(&key) {
            store.delete(bucket, &key).await.map_err(err("delete"))?;
            events.push(notification(bucket, "ObjectRemoved:Delete", &key, None, n + 20_000)?);
            sent.removed.insert(key);
        }
    }
    Ok(events)
}

/// Runs the flow; the estate is returned for the summary.
pub async fn run(opts: &ImageOptions, progress: &mut dyn FnMut(String)) -> Result<(Estate, Verdict), RunError> {
    let mut estate = Estate::new();
    let mut rng = Rng::new(opts.seed);
    let mut sent = Uploads::default();
    let events = upload(&estate.uploads, BUCKET, opts, &mut rng, &mut sent).await?;
    // At least once: every notification twice, in any order.
    let deliveries = rng.twice_shuffled(&events);
    progress(sent.describe(opts.photos, events.len()));
    for (i, event) in deliveries.into_iter().enumerate() {
        if i % 13 == 12 {
            estate.uploads.outage.fail_next(1); // S3 has a bad moment: the invocation fails.
        }
        let mut attempt = 0;
        loop {
            estate.stat(image_resizer::NAME).invocations += 1;
            match estate.image_resizer.handle(event.clone(), &estate.lambda_invocation()).await {
                Ok(_) => break,
                Err(e) if attempt < LAMBDA_ASYNC_RETRIES => {
                    estate.stat(image_resizer::NAME).retries += 1;
                    progress(format!("image-resizer failed ({e}); Lambda retries the event"));
                    attempt += 1;
                }
                Err(e) => return Err(RunError(format!("image-resizer: {e} after {attempt} retries"))),
            }
        }
    }
    estate.run_mirror(100).await?;
    // Every other delivery of the registry, so a function that reads these topics runs too.
    estate.run_every_delivery(100).await?;
    let verdict = check(&estate, &sent, &estate.image_totals.all()).await?;
    Ok((estate, verdict))
}

/// The invariants, on the estate's uploads bucket and bus and image-analytics' totals.
pub(crate) async fn check(estate: &Estate, sent: &Uploads, totals: &[WindowTotal]) -> Result<Verdict, RunError> {
    let mut v = Verdict { checks: Vec::new() };
    let objects = estate.uploads.list(BUCKET, "").await.map_err(err("list"))?;
    let variants: BTreeMap<&str, &ObjectMeta> =
        objects.iter().filter(|o| o.key.starts_with("processed/")).map(|o| (o.key.as_str(), o)).collect();
    let uploads: Vec<&ObjectMeta> = objects.iter().filter(|o| o.key.starts_with("uploads/")).collect();
    let good: Vec<&&ObjectMeta> = uploads.iter().filter(|u| !sent.bad.contains_key(&u.key)).collect();
    let mut wrong = Vec::new();
    for u in &good {
        let stem = u.key.trim_start_matches("uploads/").rsplit_once('.').map_or(u.key.as_str(), |(s, _)| s);
        let prefix = format!("processed/{stem}@{}/", &u.etag[..12]);
        let mine: Vec<&&str> = variants.keys().filter(|k| k.starts_with(&prefix)).collect();
        if mine.len() != 3 {
            wrong.push(format!("{} has {} variants", u.key, mine.len()));
        }
    }
    v.check(
        format!(
            "every good upload has its three variants under its current etag ({} uploads; wrong: {wrong:?})",
            good.len()
        ),
        wrong.is_empty() && !good.is_empty(),
    );
    v.check(
        format!(
            "no variant of a replaced, removed or bad upload ({} variants, {} expected)",
            variants.len(),
            3 * good.len()
        ),
        variants.len() == 3 * good.len(),
    );

    let letters: BTreeMap<String, String> = estate
        .bus
        .records(topics::IMAGES_DLQ)
        .iter()
        .filter_map(|r| decode::<DeadLetter>(&r.payload).ok())
        .filter_map(|e| Some((e.data.key?, e.data.reason_code)))
        .collect();
    let missed: Vec<&String> = sent
        .bad
        .iter()
        .filter(|(k, code)| letters.get(*k).map(String::as_str) != Some(**code))
        .map(|(k, _)| k)
        .collect();
    v.check(
        format!("every bad upload is dead-lettered with its reason ({} bad; missed: {missed:?})", sent.bad.len()),
        missed.is_empty() && letters.len() == sent.bad.len(),
    );

    let published: BTreeMap<String, ProductImageProcessed> = estate
        .bus
        .records(topics::PRODUCT_IMAGE_PROCESSED)
        .iter()
        .filter_map(|r| decode::<ProductImageProcessed>(&r.payload).ok())
        .map(|e| (e.id, e.data))
        .collect();
    let mut unmatched = Vec::new();
    for e in published.values() {
        let stored = estate.uploads.get(BUCKET, &e.object_key, Revision::Current).await.map_err(err("get"))?;
        if stored.is_none_or(|(_, bytes)| sha256_hex(&bytes) != e.sha256) {
            unmatched.push(e.object_key.clone());
        }
    }
    v.check(
        format!(
            "one event per variant, each naming its object's bytes ({} events; unmatched: {unmatched:?})",
            published.len()
        ),
        unmatched.is_empty() && published.len() == variants.len(),
    );

    let (images, bytes) = totals.iter().fold((0, 0), |(n, b), t| (n + t.images, b + t.bytes));
    let sent_bytes: u64 = published.values().map(|e| e.bytes).sum();
    v.check(
        format!("image-analytics counted each event once ({images} images, {bytes} bytes in {} windows; published {}, {sent_bytes} bytes)", totals.len(), published.len()),
        images == published.len() as u64 && bytes == sent_bytes,
    );
    Ok(v)
}

/// The summary printed at the end of the images demo.
pub fn summary(estate: &Estate, verdict: &Verdict) -> String {
    let st = |f: &str| estate.stats.get(f).cloned().unwrap_or_default();
    let count = |t: &str| estate.bus.records(t).len();
    let mut out = String::from("\nimage pipeline:\n");
    let resizer = st(image_resizer::NAME);
    out += &format!(
        "{:<20}{:<48}{} product-images.processed\n",
        image_resizer::NAME,
        format!("{} invocations ({} Lambda retries)", resizer.invocations, resizer.retries),
        count(topics::PRODUCT_IMAGE_PROCESSED)
    );
    out += &format!(
        "{:<20}{:<48}{} windows\n",
        image_analytics::NAME,
        format!("{} pushes", st(image_analytics::NAME).pushes),
        estate.image_totals.all().len()
    );
    out += &crate::demo::others(estate, &[image_resizer::NAME, image_analytics::NAME]);
    out += &format!("images.dlq: {} dead letters\n", count(topics::IMAGES_DLQ));
    out += "\ninvariants:\n";
    for (what, ok) in &verdict.checks {
        out += &format!("  [{}] {what}\n", if *ok { "ok" } else { "FAILED" });
    }
    out
}
