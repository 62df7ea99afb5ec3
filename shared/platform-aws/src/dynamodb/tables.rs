//! The tables' definitions, for local runs and tests (Terraform creates them in AWS): creating
//! one that exists is not an error.
use super::classify;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use domain::ports::{PortError, SparseIndex};

/// The carts table's index by sku (sku, then customer id), keys only.
pub const CARTS_BY_SKU_INDEX: &str = "by-sku";

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, PortError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(built)
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, PortError> {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().map_err(built)
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> PortError {
    PortError::Rejected(format!("table definition: {e}"))
}

async fn create(
    request: aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
) -> Result<(), PortError> {
    match request.billing_mode(BillingMode::PayPerRequest).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
        Err(e) => Err(classify("create_table", e)),
    }
}

/// A `Documents` table: `pk` (partition) and `id` (sort), both strings.
pub async fn create_documents_table(client: &Client, table: &str) -> Result<(), PortError> {
    create(
        client
            .create_table()
            .table_name(table)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("id", KeyType::Range)?)
            .attribute_definitions(string_attribute("pk")?)
            .attribute_definitions(string_attribute("id")?),
    )
    .await
}

/// A `Documents` table with a sparse index whose keys are top-level string attributes (the
/// adapter writes them `with_top_level`), keys only.
pub async fn create_indexed_documents_table(
    client: &Client,
    table: &str,
    index: &SparseIndex,
) -> Result<(), PortError> {
    create(indexed_documents_table(client, table, index)?).await
}

/// The orders table: an indexed `Documents` table (its `open-orders` index) whose stream is on,
/// with the items' old and new images (`NEW_AND_OLD_IMAGES`), for the functions that read the
/// orders' changes.
pub async fn create_orders_table(client: &Client, table: &str, index: &SparseIndex) -> Result<(), PortError> {
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .map_err(built)?;
    create(indexed_documents_table(client, table, index)?.stream_specification(stream)).await
}

fn indexed_documents_table(
    client: &Client,
    table: &str,
    index: &SparseIndex,
) -> Result<aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder, PortError> {
    let sparse = keys_only_index(index.name, index.hash, index.range)?;
    Ok(client
        .create_table()
        .table_name(table)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("id", KeyType::Range)?)
        .attribute_definitions(string_attribute("pk")?)
        .attribute_definitions(string_attribute("id")?)
        .attribute_definitions(string_attribute(index.hash)?)
        .attribute_definitions(string_attribute(index.range)?)
        .global_secondary_indexes(sparse))
}

/// The carts table: `customer_id` (partition) and `sku` (sort), with the index `by-sku`.
pub async fn create_carts_table(client: &Client, table: &str) -> Result<(), PortError> {
    let by_sku = keys_only_index(CARTS_BY_SKU_INDEX, "sku", "customer_id")?;
    create(
        client
            .create_table()
            .table_name(table)
            .key_schema(key("customer_id", KeyType::Hash)?)
            .key_schema(key("sku", KeyType::Range)?)
            .attribute_definitions(string_attribute("customer_id")?)
            .attribute_definitions(string_attribute("sku")?)
            .global_secondary_indexes(by_sku),
    )
    .await
}

/// A global secondary index on string keys that projects only the keys (both of the estate's
/// indexes are read for keys, then the item is read whole).
fn keys_only_index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, PortError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(range, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .map_err(built)
}
