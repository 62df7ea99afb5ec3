//! A resizer over the in-memory S3 and bus, and S3 notifications shaped as S3 sends them.
#![allow(dead_code)]
pub mod images;

use aws_lambda_events::event::s3::S3Event;
use domain::cloudevent::decode;
use domain::events::{DeadLetter, ProductImageProcessed, topics};
use domain::ports::{NewObject, ObjectMeta, VersionedObjects};
use image_resizer::{ImageResizer, Settings};
use inmemory::{Bus, InMemoryS3, Interleaved};
use platform_aws::invocation::Invocation;
use std::sync::Arc;

pub const BUCKET: &str = "shop-product-images";

pub struct World {
    pub s3: InMemoryS3,
    pub bus: Bus,
    pub resizer: ImageResizer,
}

pub fn world(env: serve::Env) -> World {
    let s3 = InMemoryS3::versioned();
    world_over(s3.clone(), Arc::new(s3), env)
}

/// A world on `s3` whose resizer sends its requests through an `Interleaved`, which makes a
/// test's changes between them.
pub fn racing_world(s3: InMemoryS3, env: serve::Env) -> (World, Arc<Interleaved>) {
    let racing = Arc::new(Interleaved::new(Arc::new(s3.clone())));
    (world_over(s3, racing.clone(), env), racing)
}

fn world_over(s3: InMemoryS3, objects: Arc<dyn VersionedObjects>, env: serve::Env) -> World {
    let bus = Bus::new(3);
    let settings = Settings::from_env(&env).expect("settings");
    let resizer = ImageResizer { objects, bus: Arc::new(bus.clone()), settings };
    World { s3, bus, resizer }
}

impl World {
    pub async fn upload(&self, key: &str, bytes: Vec<u8>) -> ObjectMeta {
        let object = NewObject { key, bytes, content_type: "application/octet-stream", cache_control: None };
        match self.s3.put_new(BUCKET, object.clone()).await {
            Ok(meta) => meta,
            // Replacing an upload: S3 puts are unconditional; the twin's create-only put needs the
            // old one out of the way first.
            Err(_) => {
                self.s3.delete(BUCKET, key).await.expect("delete");
                self.s3.put_new(BUCKET, object).await.expect("put")
            }
        }
    }

    /// Uploads `bytes` at `key`, delivers its notification, and gives the sizes of the variants
    /// made (the upload must be processed).
    pub async fn variant_sizes(&self, key: &str, bytes: Vec<u8>) -> Vec<(u32, u32)> {
        let meta = self.upload(key, bytes).await;
        let out = self.resizer.handle(created(key, &meta), &Invocation::one_minute()).await.expect("handled");
        let [image_resizer::Outcome::Processed(events)] = out.as_slice() else { panic!("{out:?}") };
        events.iter().map(|e| (e.width, e.height)).collect()
    }

    pub fn processed(&self) -> Vec<ProductImageProcessed> {
        self.bus.records(topics::PRODUCT_IMAGE_PROCESSED).iter().map(|r| decode(&r.payload).expect("v1").data).collect()
    }

    pub fn event_ids(&self) -> Vec<String> {
        self.bus
            .records(topics::PRODUCT_IMAGE_PROCESSED)
            .iter()
            .map(|r| decode::<ProductImageProcessed>(&r.payload).expect("v1").id)
            .collect()
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.bus.records(topics::IMAGES_DLQ).iter().map(|r| decode(&r.payload).expect("dead letter").data).collect()
    }

    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        self.s3.list(BUCKET, prefix).await.expect("list").into_iter().map(|m| m.key).collect()
    }
}

/// One S3 notification record, as S3 sends it: the key form-encoded, the etag bare.
pub fn notification(event_name: &str, encoded_key: &str, meta: Option<&ObjectMeta>) -> S3Event {
    let object = match meta {
        Some(m) => serde_json::json!({
            "key": encoded_key, "size": m.size, "eTag": m.etag, "versionId": m.version_id, "sequencer": "0062E99A88DC407460"
        }),
        None => serde_json::json!({ "key": encoded_key, "sequencer": "0062E99A88DC407461" }),
    };
    let event = serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-11-30T10:15:30.123Z", "eventName": event_name,
        "userIdentity": { "principalId": "AWS:AIDAEXAMPLE" },
        "requestParameters": { "sourceIPAddress": "203.0.113.7" },
        "responseElements": { "x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD" },
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "image-resizer-uploads",
            "bucket": { "name": BUCKET, "ownerIdentity": { "principalId": "A3NL1KOZZKExample" }, "arn": format!("arn:aws:s3:::{BUCKET}") },
            "object": object
        }
    }]});
    serde_json::from_value(event).expect("an S3 event")
}

pub fn created(encoded_key: &str, meta: &ObjectMeta) -> S3Event {
    notification("ObjectCreated:Put", encoded_key, Some(meta))
}

pub fn removed(encoded_key: &str) -> S3Event {
    notification("ObjectRemoved:DeleteMarkerCreated", encoded_key, None)
}
