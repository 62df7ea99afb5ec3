//! The merch flow on the emulators: the embedded demo's ERP feed (`scenario::generate`) goes in
//! as Google's would. Each message is published once to the run's `erp-changes` topic on the
//! Pub/Sub emulator, which pushes it through the runner's front end (with a token) to
//! merch-normalizer; the feed's redeliveries (the same message id again) and its broken pushes
//! (bad base64, a body that is no envelope) cannot be published, so they are POSTed to the
//! front end as a push would carry them. projection-updater (Functions host, Cosmos emulator)
//! and audit-sink (GCS emulator, behind the bridge) take it from there. The checks are the
//! embedded demo's, on what Kafka, Cosmos and GCS hold at the end.
use super::snapshot::{Marks, load_gcs, load_topics};
use super::{EmulatorDemoOptions, FlowReport, QUIET, settle, summary};
use crate::estate::{AUDIT_BUCKET, Estate, RunError};
use crate::pubsub_push::push_body;
use crate::scenario::{Broken, Scenario, generate};
use crate::up::Running;
use crate::up::services::subscription_name;
use domain::events::topics;
use domain::ports::Documents;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The topics the checks read.
const TOPICS: [&str; 3] = [topics::PRICE_CHANGED, topics::INVENTORY_CHANGED, topics::MERCH_DLQ];
/// Publishes in flight at once.
const IN_FLIGHT: usize = 16;

pub async fn run(
    running: &Running,
    opts: &EmulatorDemoOptions,
    progress: &mut dyn FnMut(String),
) -> Result<FlowReport, RunError> {
    let mut scenario = generate(opts.records, opts.seed);
    let marks = Marks::taken(&running.endpoints.kafka, &TOPICS).await?;
    progress(format!(
        "merch: {} ERP messages ({} distinct changes, {} re-sends, {} redeliveries, {} bad)",
        scenario.messages.len(),
        scenario.distinct_valid,
        scenario.resends,
        scenario.redeliveries,
        scenario.expected.rejected.len() + scenario.expected.unreadable
    ));
    let started = Instant::now();
    let ids = feed(running, &scenario, progress).await?;
    // The functions dead-letter under the message id Pub/Sub gave: the scenario's own ids, as
    // the emulator renamed them.
    scenario.expected.rejected =
        scenario.expected.rejected.into_iter().map(|(id, code)| (ids.get(&id).cloned().unwrap_or(id), code)).collect();
    progress("merch: every message in; waiting for the run to go quiet".into());
    let check = async || {
        let estate = load(running, &marks, &scenario).await?;
        crate::demo::check(&estate, &scenario).await
    };
    let (verdict, last) = settle(&running.stats, QUIET, opts.deadline, progress, check).await?;
    let functions = [merch_normalizer::NAME, projection_updater::NAME, kafka_pubsub_bridge::NAME, audit_sink::NAME];
    let took = last.duration_since(started);
    let events = scenario.messages.len();
    Ok(FlowReport {
        flow: "merch",
        summary: summary("merch", running, &functions, &verdict, (events, took)),
        holds: verdict.all_hold(),
        events,
        took,
    })
}

/// Sends the feed in: first deliveries published, the rest pushed. The emulator's message id of
/// each published scenario message, by the scenario's.
async fn feed(
    running: &Running,
    scenario: &Scenario,
    progress: &mut dyn FnMut(String),
) -> Result<BTreeMap<String, String>, RunError> {
    let prefix = &running.names.prefix;
    let topic = format!("{prefix}erp-changes");
    let subscription = subscription_name(prefix, &topic, merch_normalizer::NAME);
    let endpoint = running
        .push_endpoint(&subscription)
        .ok_or_else(|| RunError(format!("no push subscription {subscription} in this run")))?;
    // Publish order is the feed's; at most IN_FLIGHT at once (Pub/Sub promises no order anyway).
    let mut firsts = BTreeSet::new();
    let first: Vec<_> =
        scenario.messages.iter().filter(|m| m.broken.is_none() && firsts.insert(m.message_id.clone())).collect();
    let pubsub = &running.pubsub;
    // A tap on the topic: each message as Pub/Sub stored it, for its redeliveries.
    let tap = format!("{subscription}-demo-tap");
    pubsub.pull_subscription(&tap, &topic).await.map_err(RunError)?;
    let published: Vec<Result<(String, String), RunError>> = futures::stream::iter(first)
        .map(|m| {
            let topic = &topic;
            async move {
                let id = pubsub.publish(topic, &m.data, &[("format", m.format)]).await.map_err(RunError)?;
                Ok((m.message_id.clone(), id))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let ids: BTreeMap<String, String> = published.into_iter().collect::<Result<_, _>>()?;
    progress(format!("merch: {} messages published to {topic}", ids.len()));
    let mut stamped: BTreeMap<String, String> = BTreeMap::new();
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while stamped.len() < ids.len() {
        let pulled = pubsub.pull(&tap, 1000).await.map_err(RunError)?;
        if pulled.is_empty() {
            if std::time::Instant::now() > until {
                let missing = ids.len() - stamped.len();
                return Err(RunError(format!("{tap}: {missing} of {} messages never came in 60 s", ids.len())));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        stamped.extend(pulled.into_iter().map(|m| (m.message_id, m.publish_time)));
    }
    // What Google's push would carry for the rest: a redelivery is the message as Pub/Sub stored
    // it (its id, its publish time) again; a broken body goes as it is.
    let client = reqwest::Client::new();
    let full_name = format!("projects/local/subscriptions/{subscription}");
    let mut seen = BTreeSet::new();
    let mut pushed = 0;
    for m in &scenario.messages {
        let body = match m.broken {
            None if seen.insert(m.message_id.clone()) => continue, // its first delivery: published
            None => {
                let id = ids.get(&m.message_id).ok_or_else(|| RunError(format!("{} unpublished", m.message_id)))?;
                let attrs = BTreeMap::from([("format".to_string(), m.format.to_string())]);
                let at = stamped.get(id).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                let at = at.ok_or_else(|| RunError(format!("no publish time for message {id}")))?;
                push_body(&m.data, attrs, id, at.to_utc(), &full_name)
            }
            Some(Broken::Base64) => serde_json::to_vec(&serde_json::json!({
                "message": {"data": format!("@@{}", m.message_id), "messageId": m.message_id,
                            "publishTime": m.publish_time.to_rfc3339()},
                "subscription": full_name}))
            .map_err(|e| RunError(e.to_string()))?,
            Some(Broken::Envelope) => m.data.clone(),
        };
        push(&client, &endpoint, body).await?;
        pushed += 1;
    }
    progress(format!("merch: {pushed} redeliveries and broken pushes sent to the front end"));
    Ok(ids)
}

/// A push the service must take: 2xx, retried a few times as Pub/Sub would.
async fn push(client: &reqwest::Client, endpoint: &str, body: Vec<u8>) -> Result<(), RunError> {
    let mut last = String::new();
    for _ in 0..5 {
        match client.post(endpoint).header("content-type", "application/json").body(body.clone()).send().await {
            Ok(a) if a.status().is_success() => return Ok(()),
            Ok(a) => last = a.status().to_string(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(RunError(format!("a push to {endpoint} was never acknowledged ({last})")))
}

/// Every SKU a message of the feed names (JSON `sku`, or a CSV line's fourth field): in the
/// run's own database, the projections there can be.
fn skus_named(scenario: &Scenario) -> BTreeSet<String> {
    let mut skus: BTreeSet<String> =
        scenario.expected.prices.keys().chain(scenario.expected.stock.keys()).map(|(s, _)| s.clone()).collect();
    for m in &scenario.messages {
        match serde_json::from_slice::<serde_json::Value>(&m.data) {
            Ok(v) => skus.extend(v["sku"].as_str().map(str::to_string)),
            Err(_) => skus.extend(String::from_utf8_lossy(&m.data).split(',').nth(3).map(str::to_string)),
        }
    }
    skus
}

/// What the emulators hold, in a fresh embedded estate: the run's records of the merch topics,
/// the projections in Cosmos, the audit bucket in GCS.
async fn load(running: &Running, marks: &Marks, scenario: &Scenario) -> Result<Estate, RunError> {
    let estate = Estate::new();
    load_topics(&estate.bus, &running.endpoints.kafka, marks, &TOPICS).await?;
    let audit = running.names.bucket("audit");
    load_gcs(&estate.objects, &running.endpoints.gcs, &audit, AUDIT_BUCKET).await?;
    let projections = &cosmos(running).await?;
    let read: Vec<_> = futures::stream::iter(skus_named(scenario))
        .map(|sku| async move {
            let doc = projections.read(&sku, &sku).await.map_err(|e| RunError(format!("projection {sku}: {e}")))?;
            Ok::<_, RunError>((sku, doc))
        })
        .buffer_unordered(super::snapshot::IN_FLIGHT)
        .collect()
        .await;
    for r in read {
        if let (sku, Some(doc)) = r? {
            estate.docs.create(&sku, &sku, doc.body).await.map_err(|e| RunError(format!("twin {sku}: {e}")))?;
        }
    }
    Ok(estate)
}

/// projection-updater's container of this run, on the Cosmos emulator.
async fn cosmos(running: &Running) -> Result<platform_azure::cosmos::CosmosDocuments, RunError> {
    use platform_azure::cosmos::{CosmosConfig, CosmosDocuments};
    let database = format!("{}merch", running.names.prefix);
    let config = CosmosConfig::from_env(&serve::Env::Process, &database, "projections")
        .map_err(|e| RunError(format!("Cosmos settings: {e}")))?;
    let config = CosmosConfig { endpoint: running.endpoints.cosmos.clone(), ..config };
    CosmosDocuments::connect(&config, "/sku", false).await.map_err(|e| RunError(format!("Cosmos: {e}")))
}
