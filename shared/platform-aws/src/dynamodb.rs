//! DynamoDB (aws-sdk-dynamodb) behind two ports:
//! - `Documents`: a table keyed by `pk` (partition) and `id` (sort), each item the document as a
//!   DynamoDB map under `body` (so the console and queries see its fields; the JSON text goes
//!   through a `Value` tree here, the one adapter that needs one) and a version number `v` that
//!   is the port's etag. Members named with `with_top_level` are kept as top-level attributes
//!   of the item instead (what a secondary index is keyed on, and what a stream reader looks at
//!   first) and put back into the body on read. `create` is a put
//!   on `attribute_not_exists(pk)`, `replace` a put on `v = :expected`; a failed condition is
//!   `AlreadyExists` / `PreconditionFailed`, as Cosmos's 409 / 412. Reads are strongly consistent.
//! - `DocumentIndex`: a query of a sparse global secondary index of such a table, whose keys
//!   are top-level members.
//! - `Carts`: the storefront's `carts` table (`customer_id`, `sku`) and its index `by-sku`.
//!
//! Errors: a failed condition as above; validation errors (an item over 400 KB, a bad value) are
//! `Rejected`; everything else (throttling, 5xx, a missing table, refused credentials, a network
//! failure) is `Unavailable`, for the platform to retry. The SDK's own retries run first.
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::ports::{
    Carts, DocumentIndex, Documents, Etag, IndexEntry, JsonText, Page, PageToken, PortError, SparseIndex,
    StoredDocument,
};
use domain::values::{CustomerId, Sku};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

mod tables;
pub use tables::{
    CARTS_BY_SKU_INDEX, create_carts_table, create_documents_table, create_indexed_documents_table, create_orders_table,
};

type Item = HashMap<String, AttributeValue>;

/// A client from the environment: region and credentials as every AWS SDK reads them (in Lambda,
/// the function's role), and `AWS_ENDPOINT_URL` for a local emulator (moto).
pub async fn client_from_env() -> Client {
    Client::new(&aws_config::load_from_env().await)
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(what: &str, e: SdkError<E, R>) -> PortError {
    let code = e.code().unwrap_or("").to_string();
    let detail = e.message().map(str::to_string).unwrap_or_else(|| format!("{e:?}"));
    match code.as_str() {
        "ConditionalCheckFailedException" => PortError::PreconditionFailed,
        "ValidationException" | "SerializationException" => PortError::Rejected(format!("{what}: {code}: {detail}")),
        "" => PortError::Unavailable(format!("{what}: {}", short(&detail))),
        _ => PortError::Unavailable(format!("{what}: {code}: {detail}")),
    }
}

/// A transport error's Debug output is long; the first line says what happened.
fn short(detail: &str) -> &str {
    detail.lines().next().unwrap_or(detail)
}

/// A JSON value as a DynamoDB attribute: objects as maps, arrays as lists, numbers as `N`.
pub fn to_attribute(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attribute).collect()),
        Value::Object(o) => AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()),
    }
}

/// The inverse of [`to_attribute`]; sets and binaries, which it never writes, are refused.
pub fn from_attribute(a: &AttributeValue) -> Result<Value, String> {
    Ok(match a {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => {
            Value::Number(serde_json::from_str::<Number>(n).map_err(|e| format!("number {n}: {e}"))?)
        }
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => {
            let mut o = Map::new();
            for (k, v) in m {
                o.insert(k.clone(), from_attribute(v)?);
            }
            Value::Object(o)
        }
        other => return Err(format!("unexpected attribute type {other:?}")),
    })
}

pub struct DynamoDocuments {
    client: Client,
    table: String,
    top_level: &'static [&'static str],
}

impl DynamoDocuments {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDocuments { client, table: table.into(), top_level: &[] }
    }

    /// Keeps these body members as top-level attributes of the item (a table's index keys).
    pub fn with_top_level(mut self, members: &'static [&'static str]) -> Self {
        self.top_level = members;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn put(
        &self,
        pk: &str,
        id: &str,
        body: JsonText,
        version: u64,
        expected: Option<u64>,
    ) -> Result<Etag, PortError> {
        let mut body = body.to_value();
        let mut item: Item = HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk.to_string())),
            ("id".to_string(), AttributeValue::S(id.to_string())),
            ("v".to_string(), AttributeValue::N(version.to_string())),
        ]);
        if let Value::Object(members) = &mut body {
            for name in self.top_level {
                if let Some(v) = members.remove(*name) {
                    item.insert(name.to_string(), to_attribute(&v));
                }
            }
        }
        item.insert("body".to_string(), to_attribute(&body));
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("v = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(Etag(version.to_string())),
            Err(e) => match classify("put_item", e) {
                PortError::PreconditionFailed if expected.is_none() => Err(PortError::AlreadyExists),
                other => Err(other),
            },
        }
    }
}

fn version_of(etag: &Etag) -> Result<u64, PortError> {
    etag.0.parse().map_err(|_| PortError::PreconditionFailed)
}

#[async_trait]
impl Documents for DynamoDocuments {
    async fn read(&self, pk: &str, id: &str) -> Result<Option<StoredDocument>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("id", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("get_item", e))?;
        let Some(item) = out.item() else { return Ok(None) };
        let unreadable = |why: String| PortError::Rejected(format!("{}/{pk}/{id}: {why}", self.table));
        let version = match item.get("v") {
            Some(AttributeValue::N(n)) => n.clone(),
            _ => return Err(unreadable("no version".into())),
        };
        let body = item.get("body").ok_or_else(|| unreadable("no body".into()))?;
        let mut body = from_attribute(body).map_err(unreadable)?;
        if let Value::Object(members) = &mut body {
            for name in self.top_level {
                if let Some(a) = item.get(*name) {
                    members.insert(name.to_string(), from_attribute(a).map_err(unreadable)?);
                }
            }
        }
        let body = JsonText::from(body);
        Ok(Some(StoredDocument { body, etag: Etag(version) }))
    }

    async fn create(&self, pk: &str, id: &str, body: JsonText) -> Result<Etag, PortError> {
        self.put(pk, id, body, 1, None).await
    }

    async fn replace(&self, pk: &str, id: &str, body: JsonText, if_match: &Etag) -> Result<Etag, PortError> {
        let expected = version_of(if_match)?;
        self.put(pk, id, body, expected + 1, Some(expected)).await
    }
}

#[async_trait]
impl DocumentIndex for DynamoDocuments {
    async fn at_most(
        &self,
        index: &SparseIndex,
        value: &str,
        at_most: &str,
        limit: u32,
    ) -> Result<Vec<IndexEntry>, PortError> {
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        // A page may stop short of the limit (1 MB read): go on from where it stopped.
        while entries.len() < limit as usize {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#h = :h AND #r <= :r")
                .expression_attribute_names("#h", index.hash)
                .expression_attribute_names("#r", index.range)
                .expression_attribute_values(":h", AttributeValue::S(value.to_string()))
                .expression_attribute_values(":r", AttributeValue::S(at_most.to_string()))
                .limit((limit as usize - entries.len()).max(1) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("query", e))?;
            for item in out.items() {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(s)) => Ok(s.clone()),
                    _ => {
                        Err(PortError::Rejected(format!("{}/{}: entry without string {name}", self.table, index.name)))
                    }
                };
                entries.push(IndexEntry { partition_key: text("pk")?, id: text("id")?, range: text(index.range)? });
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        Ok(entries)
    }
}

pub struct DynamoCarts {
    client: Client,
    table: String,
}

impl DynamoCarts {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCarts { client, table: table.into() }
    }
}

fn string_attr(item: &Item, name: &str) -> Result<String, PortError> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(PortError::Rejected(format!("cart item without string {name}"))),
    }
}

fn parsed<T>(r: Result<T, domain::values::ValueError>) -> Result<T, PortError> {
    r.map_err(|e| PortError::Rejected(format!("cart item: {e}")))
}

#[async_trait]
impl Carts for DynamoCarts {
    async fn put(&self, customer: &CustomerId, sku: &Sku, quantity: u32) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("customer_id", AttributeValue::S(customer.to_string()))
            .item("sku", AttributeValue::S(sku.to_string()))
            .item("quantity", AttributeValue::N(quantity.to_string()))
            .send()
            .await
            .map_err(|e| classify("put_item", e))?;
        Ok(())
    }

    async fn remove(&self, customer: &CustomerId, sku: &Sku) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("customer_id", AttributeValue::S(customer.to_string()))
            .key("sku", AttributeValue::S(sku.to_string()))
            .send()
            .await
            .map_err(|e| classify("delete_item", e))?;
        Ok(())
    }

    async fn holding(
        &self,
        sku: &Sku,
        from: Option<&PageToken>,
        page_size: u32,
    ) -> Result<Page<CustomerId>, PortError> {
        // The index's start key is its own key (sku, customer id) plus the table's, the same two.
        let start = from.map(|t| {
            HashMap::from([
                ("sku".to_string(), AttributeValue::S(sku.to_string())),
                ("customer_id".to_string(), AttributeValue::S(t.0.clone())),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CARTS_BY_SKU_INDEX)
            .key_condition_expression("sku = :sku")
            .expression_attribute_values(":sku", AttributeValue::S(sku.to_string()))
            .limit(page_size.max(1) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| classify("query", e))?;
        // A line whose customer id is not one (written by something else) is skipped, not allowed
        // to stop the listing of every cart after it.
        let items = out
            .items()
            .iter()
            .filter_map(|i| match string_attr(i, "customer_id").and_then(|c| parsed(CustomerId::parse(&c))) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(table = %self.table, error = %e, "cart line skipped");
                    None
                }
            })
            .collect();
        let next = out.last_evaluated_key().map(|k| string_attr(k, "customer_id").map(PageToken)).transpose()?;
        Ok(Page { items, next })
    }

    async fn cart(&self, customer: &CustomerId) -> Result<Vec<(Sku, u32)>, PortError> {
        let mut all = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("customer_id = :c")
                .expression_attribute_values(":c", AttributeValue::S(customer.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("query", e))?;
            for item in out.items() {
                let sku = parsed(Sku::parse(&string_attr(item, "sku")?))?;
                let quantity = match item.get("quantity") {
                    Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
                    _ => 0,
                };
                all.push((sku, quantity));
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(all),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_dynamodb_attributes() {
        let doc = json!({"id": "order", "n": 12, "f": -1.5, "big": 18446744073709551615u64, "ok": true,
                         "none": null, "list": [1, "a", {"x": []}], "map": {"k": {"deep": "v"}}, "empty": ""});
        assert_eq!(from_attribute(&to_attribute(&doc)), Ok(doc));
        assert!(from_attribute(&AttributeValue::Ss(vec!["a".into()])).is_err());
    }
}
