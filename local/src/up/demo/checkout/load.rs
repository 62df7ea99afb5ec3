//! What the emulators hold at the end of the checkout flow, read back into a fresh embedded
//! estate: the run's checkout records on Kafka, the ledger entries fulfillment published, the
//! orders, customers, notifications and carts tables, the orders table's stream, SES's record of
//! what it sent, the lake bucket's files and the gateway's charges.
use super::TOPICS;
use crate::estate::{Estate, LAKE_BUCKET, RunError};
use crate::up::Running;
use crate::up::demo::err;
use crate::up::demo::snapshot::{Marks, load_s3_bucket, load_topics};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::events::topics;
use domain::ports::{Carts, Documents, OutboundMessage, Publisher};
use domain::values::{CustomerId, Sku};
use platform_aws::dynamodb::DynamoDocuments;
use platform_aws::s3_store::S3Objects;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// Every item of a DynamoDB table (paged scan).
pub async fn scan(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Item>, RunError> {
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

pub fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    }
}

/// What the emulators hold, in a fresh embedded estate.
pub async fn load(
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
    // The twin's feed took the copies above as inserts of its own: the stream is DynamoDB's alone.
    estate.orders_stream = inmemory::stream::ChangeFeed::default();
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
    load_lake(running, &estate).await?;
    estate.gateway = running.gateway.gateway.clone();
    Ok(estate)
}

/// lake-archiver's files (the run's lake bucket on moto) in the twin lake bucket the check reads.
async fn load_lake(running: &Running, estate: &Estate) -> Result<(), RunError> {
    let store = S3Objects::new(running.endpoints.s3().await);
    load_s3_bucket(&store, &running.names.bucket("lake"), &estate.lake, LAKE_BUCKET).await
}
