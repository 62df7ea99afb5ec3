//! The hosts of the registry's functions, over the estate's in-memory stores. A Lambda's host
//! hands its function the event and the invocation and says what came of it as Lambda's runtime
//! would; an app's host builds its router. A function added by `local new` gets its host at the
//! end of this file, building the function from the stores on each call (the state lives in them).
#![allow(unused_imports)] // what a new function's host may need is in scope here
use super::{Answer, HostError, MskAnswer, StreamAnswer};
use crate::estate::{AUDIT_BUCKET, Estate};
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::dynamodb;
use aws_lambda_events::event::kafka::KafkaEvent;
use aws_lambda_events::event::s3::S3Event;
use axum::Router;
use domain::dead_letter::DeadLetterPolicy;
use domain::events::topics;
use inmemory::InMemoryPubSub;
use platform_aws::invocation::Invocation;
use platform_gcp::PushGuard;
use serde_json::{Value, json};
use std::sync::Arc;

type Batch<'a> = Answer<'a, Result<MskAnswer, HostError>>;

/// A Kafka handler's error is its envelope's: the batch is not a Kafka event.
fn refused(e: impl std::fmt::Display) -> HostError {
    HostError::NotThisTrigger(e.to_string())
}

/// The limit of a custom handler's body as deployed: its host.json batch size and the
/// environment's record size.
fn body_limit(limit: Result<usize, serve::ConfigError>) -> usize {
    limit.unwrap_or(usize::MAX)
}

pub fn merch_normalizer(e: &Estate) -> Router {
    let normalizer = merch_normalizer::Normalizer::new(Arc::new(e.bus.clone()), merch_normalizer::Config::default());
    merch_normalizer::app(Arc::new(normalizer), &PushGuard::local())
}

pub fn audit_sink(e: &Estate) -> Router {
    let sink = audit_sink::AuditSink::new(Arc::new(e.objects.clone()), AUDIT_BUCKET);
    audit_sink::app(Arc::new(sink), &PushGuard::local())
}

// Pub/Sub is played by its twin over the bus, which refuses what Pub/Sub refuses: fulfillment's
// ledger entries and dispatches and the Cloud Run functions' dead letters land on their Pub/Sub
// topic names.
pub fn fulfillment(e: &Estate) -> Router {
    let f = fulfillment::Fulfillment {
        pubsub: Arc::new(InMemoryPubSub::new(e.bus.clone())),
        dead_letters: DeadLetterPolicy::new(fulfillment::NAME, topics::CHECKOUT_DLQ),
    };
    fulfillment::app(Arc::new(f), &PushGuard::local())
}

pub fn image_analytics(e: &Estate) -> Router {
    let analytics = image_analytics::ImageAnalytics {
        totals: Arc::new(e.image_totals.clone()),
        pubsub: Arc::new(InMemoryPubSub::new(e.bus.clone())),
        dead_letters: DeadLetterPolicy::new(image_analytics::NAME, topics::IMAGES_DLQ),
    };
    image_analytics::app(Arc::new(analytics), &PushGuard::local())
}

pub fn projection_updater(e: &Estate) -> Router {
    let updater = projection_updater::Updater::new(Arc::new(e.docs.clone()));
    projection_updater::app(Arc::new(updater), body_limit(projection_updater::max_body_bytes(&serve::Env::Process)))
}

/// The embedded default scores with the default model (see fraud_scorer::model).
pub fn fraud_scorer(e: &Estate) -> Router {
    let scorer = fraud_scorer::Scorer::new(Arc::new(e.fraud_docs.clone()), fraud_scorer::Config::default());
    fraud_scorer::app(Arc::new(scorer), body_limit(fraud_scorer::max_body_bytes(&serve::Env::Process)))
}

pub fn order_updater(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
    Box::pin(async move {
        let (response, report) = e.order_updater.handle(event, &invocation).await.map_err(refused)?;
        Ok(MskAnswer { response, dead_lettered: report.dead_lettered })
    })
}

pub fn payment_processor(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
    Box::pin(async move {
        match e.payment_processor.handle(event, &invocation).await {
            Ok((response, out)) => Ok(MskAnswer { response, dead_lettered: out.dead_lettered }),
            Err(payment_processor::InvocationError::Envelope(env)) => Err(refused(env)),
            Err(other) => Err(HostError::Failed(other.to_string())),
        }
    })
}

pub fn cart_cleaner(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
    Box::pin(async move { e.cart_cleaner.handle(event, &invocation).await.map(MskAnswer::from).map_err(refused) })
}

pub fn bridge(e: &Estate, event: KafkaEvent, invocation: Invocation) -> Batch<'_> {
    Box::pin(async move { e.bridge.handle(event, &invocation).await.map(MskAnswer::from).map_err(refused) })
}

pub fn image_resizer(e: &Estate, event: S3Event, invocation: Invocation) -> Answer<'_, Result<Value, HostError>> {
    Box::pin(async move {
        match e.image_resizer.handle(event, &invocation).await {
            Ok(outcomes) => Ok(json!({"outcomes": outcomes})),
            Err(error @ image_resizer::HandlerError::NotS3(_)) => Err(refused(error)),
            Err(other) => Err(HostError::Failed(other.to_string())),
        }
    })
}

pub fn order_sweeper(
    e: &Estate,
    event: CloudWatchEvent,
    invocation: Invocation,
) -> Answer<'_, Result<Value, HostError>> {
    Box::pin(async move {
        let report = e.order_sweeper.handle(event, &invocation).await.map_err(refused)?;
        Ok(json!({"report": report}))
    })
}

/// notifier: built on each call over the estate's customers, notification records and mailer.
pub fn notifier(
    e: &Estate,
    event: dynamodb::Event,
    invocation: Invocation,
) -> Answer<'_, Result<StreamAnswer, HostError>> {
    Box::pin(async move {
        let function = notifier::Notifier {
            bus: Arc::new(e.bus.clone()),
            dead_letters: DeadLetterPolicy::new(notifier::NAME, topics::CHECKOUT_DLQ),
            customers: Arc::new(e.customers.clone()),
            notifications: Arc::new(e.notifications.clone()),
            mailer: Arc::new(e.mailer.clone()),
            sender: crate::estate::SENDER.into(),
            clock: e.clock.as_fn(),
            lease: chrono::Duration::seconds(120),
        };
        let out = function.handle(event, &invocation).await.map_err(refused)?;
        Ok(StreamAnswer { response: out.response, dead_lettered: out.dead_lettered })
    })
}

/// lake-archiver: built on each call over the estate's lake bucket.
pub fn lake_archiver(
    e: &Estate,
    event: dynamodb::Event,
    invocation: Invocation,
) -> Answer<'_, Result<StreamAnswer, HostError>> {
    Box::pin(async move {
        let function =
            lake_archiver::LakeArchiver { lake: Arc::new(e.lake.clone()), bucket: crate::estate::LAKE_BUCKET.into() };
        let out = function.handle(event, &invocation).await.map_err(refused)?;
        Ok(StreamAnswer { response: out.response, dead_lettered: out.dead_lettered })
    })
}
