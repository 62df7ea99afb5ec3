//! The image pipeline on the emulators: the embedded demo's uploads (`images_demo::upload`: JPEG
//! of many sizes, EXIF-rotated, grey, CMYK, WebP, PNG cut-outs, and bad files; some replaced,
//! some removed) go to the run's uploads bucket on moto with its notifications held, so that
//! every upload, replacement and removal is in place before any event, as in the embedded demo;
//! then S3's part is played as the embedded demo plays it: every notification delivered twice,
//! in shuffled order, to the bucket's SQS queue, from which the runner invokes image-resizer
//! asynchronously (2 retries, then the on-failure queue). The bridge mirrors its events and
//! image-analytics (Cloud Run, PostgreSQL) counts them. The checks are the embedded demo's, on
//! what the buckets, Kafka and PostgreSQL hold at the end.
use super::snapshot::{Marks, load_s3_bucket, load_topics};
use super::{EmulatorDemoOptions, FlowReport, QUIET, err, settle, summary};
use crate::estate::{Estate, RunError};
use crate::images_demo::{BUCKET, ImageOptions, Uploads, check, upload};
use crate::scenario::Rng;
use crate::up::Running;
use domain::events::topics;
use domain::ports::{ImageTotals, WindowTotal};
use platform_aws::s3_store::S3Objects;
use std::collections::BTreeMap;
use std::time::Instant;

/// The topics the checks read.
const TOPICS: [&str; 2] = [topics::PRODUCT_IMAGE_PROCESSED, topics::IMAGES_DLQ];

pub async fn run(
    running: &Running,
    opts: &EmulatorDemoOptions,
    progress: &mut dyn FnMut(String),
) -> Result<FlowReport, RunError> {
    let marks = Marks::taken(&running.endpoints.kafka, &TOPICS).await?;
    let aws = running.endpoints.aws_config().await;
    let s3 = crate::up::emulators::s3_client(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    // image-analytics' tables are the local PostgreSQL's, shared by every run: the run's counts
    // are what its totals gained.
    let totals = image_analytics::postgres::PostgresTotals::connect(&running.endpoints.database_url)
        .await
        .map_err(err("PostgreSQL"))?;
    let before = totals.totals().await.map_err(err("image totals"))?;
    let bucket = running.names.uploads();
    let mut rng = Rng::new(opts.seed);
    let mut sent = Uploads::default();
    let image_opts = ImageOptions { photos: opts.photos, seed: opts.seed };
    let events = {
        let held = HeldNotifications::hold(&s3, &bucket).await?;
        let uploaded = upload(&S3Objects::new(s3.clone()), &bucket, &image_opts, &mut rng, &mut sent).await;
        held.restore(&s3).await?;
        uploaded?
    };
    // At least once: every notification twice, in any order.
    let deliveries = rng.twice_shuffled(&events);
    progress(sent.describe(opts.photos, events.len()));
    let started = Instant::now();
    for event in deliveries {
        let body = serde_json::to_string(event).map_err(err("notification"))?;
        let send = sqs.send_message().queue_url(&running.queues.uploads).message_body(body).send().await;
        send.map_err(|e| RunError(format!("the uploads queue: {e:?}")))?;
    }
    progress("images: every notification in; waiting for the run to go quiet".into());
    let checked = async || {
        let estate = load(running, &marks, &s3).await?;
        let now = totals.totals().await.map_err(err("image totals"))?;
        check(&estate, &sent, &gained(&before, &now)).await
    };
    let (verdict, last) = settle(&running.stats, QUIET, opts.deadline, progress, checked).await?;
    let functions = [image_resizer::NAME, kafka_pubsub_bridge::NAME, image_analytics::NAME];
    let took = last.duration_since(started);
    Ok(FlowReport {
        flow: "images",
        summary: summary("images", running, &functions, &verdict, (opts.photos, took)),
        holds: verdict.all_hold(),
        events: opts.photos,
        took,
    })
}

/// The bucket's notification configuration, taken off while the uploads are made and put back.
struct HeldNotifications {
    bucket: String,
    config: aws_sdk_s3::types::NotificationConfiguration,
}

impl HeldNotifications {
    async fn hold(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<HeldNotifications, RunError> {
        use aws_sdk_s3::types::NotificationConfiguration;
        let got = s3.get_bucket_notification_configuration().bucket(bucket).send().await;
        let got = got.map_err(|e| RunError(format!("notifications of {bucket}: {e:?}")))?;
        let config = NotificationConfiguration::builder()
            .set_queue_configurations(Some(got.queue_configurations().to_vec()))
            .build();
        let off = s3.put_bucket_notification_configuration().bucket(bucket);
        off.notification_configuration(NotificationConfiguration::builder().build())
            .send()
            .await
            .map_err(|e| RunError(format!("notifications of {bucket} off: {e:?}")))?;
        Ok(HeldNotifications { bucket: bucket.to_string(), config })
    }

    async fn restore(self, s3: &aws_sdk_s3::Client) -> Result<(), RunError> {
        let on =
            s3.put_bucket_notification_configuration().bucket(&self.bucket).notification_configuration(self.config);
        on.send().await.map_err(|e| RunError(format!("notifications of {} back on: {e:?}", self.bucket)))?;
        Ok(())
    }
}

/// What the totals gained between two readings: the windows whose counts grew, by how much.
fn gained(before: &[WindowTotal], now: &[WindowTotal]) -> Vec<WindowTotal> {
    let key = |t: &WindowTotal| (t.window_start, t.size_label.clone(), t.format.clone());
    let was: BTreeMap<_, (u64, u64)> = before.iter().map(|t| (key(t), (t.bytes, t.images))).collect();
    now.iter()
        .filter_map(|t| {
            let (bytes, images) = was.get(&key(t)).copied().unwrap_or_default();
            let grown = WindowTotal {
                bytes: t.bytes - bytes.min(t.bytes),
                images: t.images - images.min(t.images),
                ..t.clone()
            };
            (grown.images > 0 || grown.bytes > 0).then_some(grown)
        })
        .collect()
}

/// What the emulators hold, in a fresh embedded estate: the uploads bucket's current objects and
/// the processed bucket's variants in the twin bucket the checks read (as one bucket, the
/// embedded layout: `uploads/…` and `processed/…`), the run's image records on Kafka.
async fn load(running: &Running, marks: &Marks, s3: &aws_sdk_s3::Client) -> Result<Estate, RunError> {
    let estate = Estate::new();
    load_topics(&estate.bus, &running.endpoints.kafka, marks, &TOPICS).await?;
    let store = S3Objects::new(s3.clone());
    for bucket in [running.names.uploads(), running.names.bucket("processed")] {
        load_s3_bucket(&store, &bucket, &estate.uploads, BUCKET).await?;
    }
    Ok(estate)
}
