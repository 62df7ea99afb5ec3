//! The checkout flow on the emulators: the embedded demo's storefront (`Storefront`) signs its
//! customers up in the run's DynamoDB customers table, fills carts in its carts table, and
//! confirms every order twice, in shuffled order, on Kafka, with products taken off sale
//! part-way; fraud-scorer (Functions host), order-updater, payment-processor, cart-cleaner and
//! the bridge (Lambdas), fulfillment (Cloud Run, pushed), notifier and lake-archiver (the
//! orders table's stream) take it from there.
//!
//! As in the embedded demo, in the first round the fraud decisions reach order-updater before
//! their orders (its mapping on `order.confirmed` is turned off until they have); payment
//! requests that payment-processor's mapping gives up on (a charge's lease still held when its
//! retries run out) are settled by order-sweeper's scheduled runs; and the orders stream is
//! delivered again from its start to notifier and lake-archiver, by a second mapping with
//! another batch size. Then the embedded demo's checks run on what the emulators hold (`load`).
//! What the embedded demo breaks on purpose (the stores', the gateway's and the bus's outages)
//! is not broken here: the fault suite breaks the emulators under this same wiring.
mod load;
mod sweeps;

use super::snapshot::Marks;
use super::{EmulatorDemoOptions, FlowReport, QUIET, err, settle, summary};
use crate::demo::Verdict;
use crate::estate::{Estate, RunError};
use crate::storefront::Storefront;
use crate::sweeps::{check_swept, check_waited};
use crate::up::Running;
use chrono::Duration as Days;
use domain::cloudevent::{CloudEvent, DomainEvent};
use domain::events::{FraudScored, topics};
use domain::ports::{OutboundMessage, Publisher};
use load::{load, scan, text};
use platform_aws::dynamodb::{DynamoCarts, DynamoDocuments};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The topics the checks read.
const TOPICS: [&str; 4] =
    [topics::FRAUD_SCORED, topics::PAYMENT_SUCCEEDED, topics::PAYMENT_FAILED, topics::CHECKOUT_DLQ];

/// The functions of the flow, as the summary lists them.
const FUNCTIONS: [&str; 9] = [
    fraud_scorer::NAME,
    order_updater::NAME,
    payment_processor::NAME,
    cart_cleaner::NAME,
    kafka_pubsub_bridge::NAME,
    fulfillment::NAME,
    order_sweeper::NAME,
    notifier::NAME,
    lake_archiver::NAME,
];

/// The batch size of the second mapping on the orders stream (the first's is another).
const STREAM_AGAIN_BATCH: usize = 7;

async fn publish<T: DomainEvent>(kafka: &kafka::KafkaPublisher, e: &CloudEvent<T>) -> Result<(), RunError> {
    let msg = OutboundMessage::new(T::TOPIC, e.key(), e.to_json()).with_header("ce_id", &e.id);
    kafka.publish(msg).await.map(|_| ()).map_err(err("publish"))
}

pub async fn run(
    running: &Running,
    opts: &EmulatorDemoOptions,
    progress: &mut dyn FnMut(String),
) -> Result<FlowReport, RunError> {
    let marks = Marks::taken(&running.endpoints.kafka, &TOPICS).await?;
    let dynamo = aws_sdk_dynamodb::Client::new(&running.endpoints.aws_config().await);
    let kafka = kafka::KafkaPublisher::new(&running.endpoints.kafka).map_err(err("kafka"))?;
    let carts = DynamoCarts::new(dynamo.clone(), running.names.table("carts"));
    let mut shop = Storefront::new(opts.seed, opts.orders);
    shop.sign_up(&DynamoDocuments::new(dynamo.clone(), running.names.table("customers"))).await?;
    progress(format!("checkout: {} orders, each confirmed twice; 2 products taken off sale on the way", opts.orders));
    let started = Instant::now();
    let chunk = 100;
    let mut waited = 0;
    for i in (0..opts.orders).step_by(chunk) {
        let decisions_first = i == 0;
        if decisions_first {
            running.enable_mapping(order_updater::NAME, topics::ORDER_CONFIRMED, false).map_err(RunError)?;
        }
        let mut batch = Vec::new();
        for n in i..(i + chunk).min(opts.orders) {
            batch.push(shop.order(n, &carts).await?);
            if n == opts.orders / 3 || n == 2 * opts.orders / 3 {
                let deleted = shop.delete_one(shop.start + Days::seconds(7 * n as i64));
                publish(&kafka, &deleted).await?;
            }
        }
        // Every order confirmed twice (a producer retry), in shuffled order.
        for e in shop.rng.twice_shuffled(&batch) {
            publish(&kafka, e).await?;
        }
        if decisions_first {
            waited = decisions_waiting(running, &dynamo, batch.len(), progress).await?;
            running.enable_mapping(order_updater::NAME, topics::ORDER_CONFIRMED, true).map_err(RunError)?;
        }
    }
    progress("checkout: every order in; waiting for the run to go quiet".into());
    let arrived = async || {
        let mut v = Verdict::default();
        every_order_arrived(&load(running, &marks, &dynamo, &[]).await?, opts.orders, &mut v);
        Ok(v)
    };
    // The throughput: the orders through the functions, up to the sweeper's wait.
    let (_, last) = settle(&running.stats, QUIET, opts.deadline, progress, arrived).await?;
    let took = last.duration_since(started);
    let sweeps = sweeps::sweep(running, &dynamo, opts.deadline, progress).await?;
    for function in [notifier::NAME, lake_archiver::NAME] {
        running.reprocess_stream(function, STREAM_AGAIN_BATCH).await.map_err(RunError)?;
    }
    progress(format!(
        "checkout: the orders stream delivered again from its start to notifier and lake-archiver, {STREAM_AGAIN_BATCH} \
         changes a batch"
    ));
    let ledger = format!("{}{}-inspect", running.names.prefix, topics::ACCOUNTING_ENTRIES);
    // Pulled entries are acknowledged: kept here across the checks.
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let deleted = shop.deleted.clone();
    let check = async || {
        loop {
            let pulled = running.pubsub.pull(&ledger, 1000).await.map_err(RunError)?;
            if pulled.is_empty() {
                break;
            }
            entries.extend(pulled.into_iter().map(|m| m.data));
        }
        let estate = load(running, &marks, &dynamo, &entries).await?;
        let mut verdict = crate::checkout_demo::check(&estate, &deleted).await?;
        crate::notified::check(&estate, &mut verdict).await?;
        crate::archived::check(&estate, &mut verdict)?;
        check_waited(waited, &mut verdict);
        let stats = running.stats.snapshot();
        let skipped = FUNCTIONS.iter().filter_map(|f| stats.get(f)).map(|s| s.on_failure).sum();
        check_swept(&estate, &sweeps, skipped, &mut verdict);
        every_order_arrived(&estate, opts.orders, &mut verdict);
        Ok(verdict)
    };
    let (verdict, _) = settle(&running.stats, QUIET, opts.deadline, progress, check).await?;
    Ok(FlowReport {
        flow: "checkout",
        summary: summary("checkout", running, &FUNCTIONS, &verdict, (opts.orders, took)),
        holds: verdict.all_hold(),
        events: opts.orders,
        took,
    })
}

/// With order-updater's mapping on `order.confirmed` off: waits until the round's fraud
/// decisions have reached order-updater, each holding its order `pending` (every one, or no more
/// for a while), and says how many did.
async fn decisions_waiting(
    running: &Running,
    dynamo: &aws_sdk_dynamodb::Client,
    round: usize,
    progress: &mut dyn FnMut(String),
) -> Result<usize, RunError> {
    const STILL: Duration = Duration::from_secs(5);
    const AT_MOST: Duration = Duration::from_secs(90);
    let table = running.names.table("orders");
    let (began, mut changed, mut pending) = (Instant::now(), Instant::now(), 0);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let items = scan(dynamo, &table).await?;
        let now = items.iter().filter(|i| text(i, "state").as_deref() == Some("pending")).count();
        if now != pending {
            (pending, changed) = (now, Instant::now());
        }
        if pending >= round || (pending > 0 && changed.elapsed() >= STILL) || began.elapsed() >= AT_MOST {
            break;
        }
    }
    progress(format!("checkout: {pending} of the first {round} orders' fraud decisions came before their orders"));
    Ok(pending)
}

/// Nothing lost on the way in, and the run not checked before it is through: every order the
/// storefront confirmed is in the orders table and has its fraud verdict. (The embedded demo
/// knows this by construction: it runs each function to the end of its input.)
fn every_order_arrived(estate: &Estate, orders: usize, verdict: &mut Verdict) {
    let in_table: BTreeSet<String> = estate
        .orders
        .all()
        .iter()
        .filter(|d| d.get("state").is_some())
        .filter_map(|d| d["pk"].as_str().map(str::to_string))
        .collect();
    let scored: BTreeSet<String> = estate
        .bus
        .records(topics::FRAUD_SCORED)
        .iter()
        .filter_map(|r| domain::cloudevent::decode::<FraudScored>(&r.payload).ok())
        .map(|e| e.data.order_id.to_string())
        .collect();
    verdict.check(
        format!(
            "every order arrived: {} of {orders} in the orders table, {} with a fraud verdict",
            in_table.len(),
            scored.len()
        ),
        in_table.len() == orders && scored.len() == orders,
    );
}
