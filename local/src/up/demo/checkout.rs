//! The checkout flow on the emulators: the embedded demo's storefront (`Storefront`) signs its
//! customers up in the run's DynamoDB customers table, fills carts in its carts table, and
//! confirms every order twice, in shuffled order, on Kafka, with products taken off sale
//! part-way; fraud-scorer (Functions host), order-updater, payment-processor, cart-cleaner and
//! the bridge (Lambdas), fulfillment (Cloud Run, pushed) take it from there. The checks are the
//! embedded demo's `check`, on what Kafka, DynamoDB, the gateway and fulfillment's ledger topic
//! hold at the end. The embedded demo's checks about its injected faults (mappings committing
//! past exhausted records, the sweeper settling them, decisions before their orders, the
//! stream read again) are not made here: nothing is broken on purpose in this run.
use super::snapshot::{Marks, load_topics};
use super::{EmulatorDemoOptions, FlowReport, err, settle, summary};
use crate::estate::{Estate, RunError};
use crate::storefront::Storefront;
use crate::up::Running;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration as Days;
use domain::cloudevent::{CloudEvent, DomainEvent};
use domain::events::{FraudScored, topics};
use domain::ports::{Carts, Documents, OutboundMessage, Publisher};
use domain::values::{CustomerId, Sku};
use platform_aws::dynamodb::{DynamoCarts, DynamoDocuments};
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

type Item = HashMap<String, AttributeValue>;

/// The topics the checks read.
const TOPICS: [&str; 4] =
    [topics::FRAUD_SCORED, topics::PAYMENT_SUCCEEDED, topics::PAYMENT_FAILED, topics::CHECKOUT_DLQ];

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
    let table = |name: &str| {
        DynamoDocuments::new(dynamo.clone(), running.names.table(name)).with_top_level(&orders::layout::TOP_LEVEL)
    };
    let kafka = kafka::KafkaPublisher::new(&running.endpoints.kafka).map_err(err("kafka"))?;
    let carts = DynamoCarts::new(dynamo.clone(), running.names.table("carts"));
    let mut shop = Storefront::new(opts.seed, opts.orders);
    shop.sign_up(&table("customers")).await?;
    progress(format!("checkout: {} orders, each confirmed twice; 2 products taken off sale on the way", opts.orders));
    let started = Instant::now();
    let chunk = 100;
    for i in (0..opts.orders).step_by(chunk) {
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
    }
    progress("checkout: every order in; waiting for the run to go quiet".into());
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
        every_order_arrived(&estate, opts.orders, &mut verdict);
        Ok(verdict)
    };
    let (verdict, last) = settle(&running.stats, opts.deadline, progress, check).await?;
    let functions = [
        fraud_scorer::NAME,
        order_updater::NAME,
        payment_processor::NAME,
        cart_cleaner::NAME,
        kafka_pubsub_bridge::NAME,
        fulfillment::NAME,
        notifier::NAME,
        lake_archiver::NAME,
    ];
    let took = last.duration_since(started);
    Ok(FlowReport {
        flow: "checkout",
        summary: summary("checkout", running, &functions, &verdict, (opts.orders, took)),
        holds: verdict.all_hold(),
        events: opts.orders,
        took,
    })
}

/// Nothing lost on the way in, and the run not checked before it is through: every order the
/// storefront confirmed is in the orders table and has its fraud verdict. (The embedded demo
/// knows this by construction: it runs each function to the end of its input.)
fn every_order_arrived(estate: &Estate, orders: usize, verdict: &mut crate::demo::Verdict) {
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

/// Every item of a DynamoDB table (paged scan).
async fn scan(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Item>, RunError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = dynamo.scan().table_name(table).set_exclusive_start_key(start).send().await.map_err(err(table))?;
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(items),
        }
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    }
}

/// What the emulators hold, in a fresh embedded estate: the run's checkout records on Kafka, the
/// ledger entries fulfillment published, the orders and carts tables, the gateway's charges.
async fn load(
    running: &Running,
    marks: &Marks,
    dynamo: &aws_sdk_dynamodb::Client,
    ledger: &[Vec<u8>],
) -> Result<Estate, RunError> {
    let mut estate = Estate::new();
    load_topics(&estate.bus, &running.endpoints.kafka, marks, &TOPICS).await?;
    for entry in ledger {
        estate
            .bus
            .publish(OutboundMessage::new(topics::ACCOUNTING_ENTRIES, "", entry.clone()))
            .await
            .map_err(err("twin"))?;
    }
    let orders_table = running.names.table("orders");
    let orders = DynamoDocuments::new(dynamo.clone(), &orders_table).with_top_level(&orders::layout::TOP_LEVEL);
    for item in scan(dynamo, &orders_table).await? {
        let (Some(pk), Some(id)) = (text(&item, "pk"), text(&item, "id")) else { continue };
        if let Some(doc) = orders.read(&pk, &id).await.map_err(err("orders"))? {
            estate.orders.create(&pk, &id, doc.body).await.map_err(err("twin orders"))?;
        }
    }
    for item in scan(dynamo, &running.names.table("carts")).await? {
        let line = (text(&item, "customer_id"), text(&item, "sku"), text(&item, "quantity"));
        let (Some(customer), Some(sku), Some(quantity)) = line else { continue };
        let customer = CustomerId::parse(&customer).map_err(err("cart"))?;
        let sku = Sku::parse(&sku).map_err(err("cart"))?;
        estate.carts.put(&customer, &sku, quantity.parse().unwrap_or(0)).await.map_err(err("twin carts"))?;
    }
    estate.gateway = running.gateway.gateway.clone();
    Ok(estate)
}
