//! `--state FILE` and `--save-state FILE`: the embedded stores as one JSON document, so
//! invocations chain — order-updater's confirmed fixture, then its fraud-scored one on the
//! orders the first wrote, then payment-processor on the payments they asked for.
//!
//! ```json
//! {"orders": [{"partition_key": "A1", "document": {…}}], "payments": […], "projections": […],
//!  "fraud_state": […], "customers": […], "notifications": […], "carts": [{"customer": "C-1", "sku": "TSH-001", "quantity": 1}],
//!  "objects": [{"bucket": "…", "key": "…", "content_type": "…", "base64": "…"}],
//!  "uploads": [ the same, the S3 bucket of image-resizer ]}
//! ```
//! Every store is optional; a store not named starts empty.
use super::InvokeError;
use crate::estate::Estate;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::ports::{Carts, Documents, JsonText, NewObject, ObjectStore, Revision, VersionedObjects};
use domain::values::{CustomerId, Sku};
use inmemory::InMemoryDocuments;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<KeyedDocument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<KeyedDocument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projections: Vec<KeyedDocument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fraud_state: Vec<KeyedDocument>,
    /// notifier's customers and notification records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customers: Vec<KeyedDocument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<KeyedDocument>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carts: Vec<CartLine>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<StoredObject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<StoredObject>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyedDocument {
    pub partition_key: String,
    pub document: Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartLine {
    pub customer: String,
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredObject {
    pub bucket: String,
    pub key: String,
    pub content_type: String,
    pub base64: String,
}

fn bad(file: &Path, detail: impl std::fmt::Display) -> InvokeError {
    InvokeError::BadState { file: file.display().to_string(), detail: detail.to_string() }
}

/// Fills the estate's stores from the state file.
pub async fn load(estate: &Estate, file: &Path) -> Result<(), InvokeError> {
    let text = std::fs::read(file).map_err(|e| bad(file, e))?;
    let state: State = serde_json::from_slice(&text).map_err(|e| bad(file, e))?;
    let stores = [
        (&state.orders, &estate.orders),
        (&state.payments, &estate.payments),
        (&state.projections, &estate.docs),
        (&state.fraud_state, &estate.fraud_docs),
        (&state.customers, &estate.customers),
        (&state.notifications, &estate.notifications),
    ];
    for (documents, store) in stores {
        for d in documents {
            let id =
                d.document.get("id").and_then(Value::as_str).ok_or_else(|| bad(file, "a document has no string id"))?;
            let body = JsonText::of(&d.document).map_err(|e| bad(file, e))?;
            store.create(&d.partition_key, id, body).await.map_err(|e| bad(file, format!("{id}: {e}")))?;
        }
    }
    for line in &state.carts {
        let customer = CustomerId::parse(&line.customer).map_err(|e| bad(file, e))?;
        let sku = Sku::parse(&line.sku).map_err(|e| bad(file, e))?;
        estate.carts.put(&customer, &sku, line.quantity).await.map_err(|e| bad(file, e))?;
    }
    for o in &state.objects {
        let bytes = STANDARD.decode(&o.base64).map_err(|e| bad(file, format!("{}: {e}", o.key)))?;
        estate.objects.put_if_absent(&o.bucket, &o.key, bytes, &o.content_type).await.map_err(|e| bad(file, e))?;
    }
    for o in &state.uploads {
        let bytes = STANDARD.decode(&o.base64).map_err(|e| bad(file, format!("{}: {e}", o.key)))?;
        let object = NewObject { key: &o.key, bytes, content_type: &o.content_type, cache_control: None };
        estate.uploads.put_new(&o.bucket, object).await.map_err(|e| bad(file, e))?;
    }
    Ok(())
}

/// Writes the estate's stores to the state file.
pub async fn save(estate: &Estate, file: &Path) -> Result<(), InvokeError> {
    let keyed = |store: &InMemoryDocuments| -> Vec<KeyedDocument> {
        store.keyed().into_iter().map(|(partition_key, document)| KeyedDocument { partition_key, document }).collect()
    };
    let cannot = |e: String| InvokeError::CannotWrite(format!("{}: {e}", file.display()));
    let mut objects = Vec::new();
    for o in estate.objects.all() {
        let bytes = estate.objects.get(&o.bucket, &o.key).await.map_err(|e| cannot(e.to_string()))?.unwrap_or_default();
        objects.push(StoredObject {
            bucket: o.bucket,
            key: o.key,
            content_type: o.content_type,
            base64: STANDARD.encode(bytes),
        });
    }
    let mut uploads = Vec::new();
    for (bucket, meta) in estate.uploads.all() {
        let read =
            estate.uploads.get(&bucket, &meta.key, Revision::Current).await.map_err(|e| cannot(e.to_string()))?;
        let bytes = read.map(|(_, bytes)| bytes).unwrap_or_default();
        let content_type = meta.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        uploads.push(StoredObject { bucket, key: meta.key, content_type, base64: STANDARD.encode(bytes) });
    }
    let state = State {
        orders: keyed(&estate.orders),
        payments: keyed(&estate.payments),
        projections: keyed(&estate.docs),
        fraud_state: keyed(&estate.fraud_docs),
        customers: keyed(&estate.customers),
        notifications: keyed(&estate.notifications),
        carts: estate
            .carts
            .all()
            .into_iter()
            .map(|(c, s, quantity)| CartLine { customer: c.as_str().into(), sku: s.as_str().into(), quantity })
            .collect(),
        objects,
        uploads,
    };
    let text = serde_json::to_vec_pretty(&state).map_err(|e| cannot(e.to_string()))?;
    std::fs::write(file, text).map_err(|e| cannot(e.to_string()))
}
