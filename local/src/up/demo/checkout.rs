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
        crate::notified::check(&estate, &mut verdict).await?;
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

/// Every document of a table, read through its adapter, in the twin.
async fn copy_table(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &DynamoDocuments,
    twin: &inmemory::InMemoryDocuments,
) -> Result<(), RunError> {
    for item in scan(dynamo, name).await? {
        let (Some(pk), Some(id)) = (text(&item, "pk"), text(&item, "id")) else { continue };
        if let Some(doc) = table.read(&pk, &id).await.map_err(err(name))? {
            twin.create(&pk, &id, doc.body).await.map_err(err("twin table"))?;
        }
    }
    Ok(())
}

/// The orders table's stream, every shard from its start, in the twin's change feed in the
/// order DynamoDB numbered the changes.
async fn stream_of(running: &Running, feed: &inmemory::stream::ChangeFeed) -> Result<(), RunError> {
    use crate::up::streams::image;
    let aws = running.endpoints.aws_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let streams = aws_sdk_dynamodbstreams::Client::new(&aws);
    let table = running.names.table("orders");
    let described =
        dynamo.describe_table().table_name(&table).send().await.map_err(|e| RunError(format!("{table}: {e:?}")))?;
    let arn =
        described.table.and_then(|t| t.latest_stream_arn).ok_or_else(|| RunError(format!("{table} has no stream")))?;
    let stream =
        streams.describe_stream().stream_arn(&arn).send().await.map_err(|e| RunError(format!("{arn}: {e:?}")))?;
    let shards = stream.stream_description.map(|d| d.shards.unwrap_or_default()).unwrap_or_default();
    let mut records = Vec::new();
    for shard in shards {
        let Some(id) = shard.shard_id else { continue };
        let at = streams.get_shard_iterator().stream_arn(&arn).shard_id(&id);
        let at = at.shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon);
        let mut iterator = at.send().await.map_err(|e| RunError(format!("{id}: {e:?}")))?.shard_iterator;
        while let Some(it) = iterator {
            let got =
                streams.get_records().shard_iterator(it).send().await.map_err(|e| RunError(format!("{id}: {e:?}")))?;
            let page = got.records.unwrap_or_default();
            if page.is_empty() {
                break;
            }
            records.extend(page);
            iterator = got.next_shard_iterator;
        }
    }
    let number = |r: &aws_sdk_dynamodbstreams::types::Record| {
        r.dynamodb.as_ref().and_then(|c| c.sequence_number.clone()).unwrap_or_default()
    };
    records.sort_by_key(|r| (number(r).len(), number(r)));
    for r in records {
        let Some(change) = r.dynamodb else { continue };
        let keys = change.keys.as_ref().map(image).unwrap_or_default();
        let pk = keys["pk"]["S"].as_str().unwrap_or_default().to_string();
        feed.append(&pk, keys, change.old_image.as_ref().map(image), change.new_image.as_ref().map(image));
    }
    Ok(())
}

/// The e-mails moto's SES accepted, as its record keeps them (message id, sender, recipient, MIME).
async fn emails(running: &Running) -> Result<Vec<inmemory::SentEmail>, RunError> {
    let url = format!("{}/moto-api/data.json", running.endpoints.aws);
    let data: serde_json::Value = reqwest::get(&url).await.map_err(err("moto"))?.json().await.map_err(err("moto"))?;
    let sent = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    Ok(sent
        .iter()
        .filter_map(|m| {
            let raw = m["raw_data"].as_str()?;
            let header = |name: &str| {
                raw.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().trim_matches(['<', '>']).to_string()))
            };
            Some(inmemory::SentEmail {
                message_id: m["id"].as_str()?.to_string(),
                from: m["source"].as_str().map(str::to_string).or_else(|| header("From:"))?,
                to: header("To:")?,
                mime: raw.as_bytes().to_vec(),
            })
        })
        .collect())
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
    let table = |name: &str| DynamoDocuments::new(dynamo.clone(), running.names.table(name));
    let orders = table("orders").with_top_level(&orders::layout::TOP_LEVEL);
    copy_table(dynamo, &running.names.table("orders"), &orders, &estate.orders).await?;
    copy_table(dynamo, &running.names.table("customers"), &table("customers"), &estate.customers).await?;
    copy_table(dynamo, &running.names.table("notifications"), &table("notifications"), &estate.notifications).await?;
    stream_of(running, &estate.orders_stream).await?;
    for email in emails(running).await? {
        estate.mailer.restore(email);
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
