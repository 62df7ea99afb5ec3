//! The read projection of one sku: the newest price per region and stock per location.
//! Stale versions never overwrite newer ones, so any order and any number of deliveries
//! of the same changes give the same document.
use crate::merch::MerchChange;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceEntry {
    pub amount_minor: i64,
    pub currency: String,
    pub version: u64,
    pub event_id: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub effective_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockEntry {
    pub on_hand: u32,
    pub version: u64,
    pub event_id: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub effective_at: DateTime<Utc>,
}

/// One Cosmos document per sku: `id` = sku, partition key `/sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    pub id: String,
    pub sku: String,
    #[serde(default)]
    pub prices: BTreeMap<String, PriceEntry>,
    #[serde(default)]
    pub inventory: BTreeMap<String, StockEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// The stored entry is as new or newer: a duplicate or an out-of-order delivery.
    Stale,
}

impl Projection {
    pub fn empty(sku: &str) -> Self {
        Projection { id: sku.into(), sku: sku.into(), prices: BTreeMap::new(), inventory: BTreeMap::new() }
    }

    /// Reads a stored document, ignoring the store's system properties (`_etag`, `_ts`, …).
    pub fn from_document(body: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(body)
    }

    pub fn to_document(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn apply(&mut self, change: &MerchChange) -> Applied {
        match change {
            MerchChange::Price(e) => {
                let d = &e.data;
                let entry = PriceEntry {
                    amount_minor: d.price.amount_minor,
                    currency: d.price.currency.code().to_string(),
                    version: d.version,
                    event_id: e.id.clone(),
                    effective_at: d.effective_at,
                };
                upsert_newer(&mut self.prices, d.region.as_str(), entry, |p| p.version)
            }
            MerchChange::Inventory(e) => {
                let d = &e.data;
                let entry = StockEntry {
                    on_hand: d.on_hand.get(),
                    version: d.version,
                    event_id: e.id.clone(),
                    effective_at: d.effective_at,
                };
                upsert_newer(&mut self.inventory, d.location.as_str(), entry, |s| s.version)
            }
        }
    }
}

fn upsert_newer<E>(map: &mut BTreeMap<String, E>, slot: &str, entry: E, version: fn(&E) -> u64) -> Applied {
    match map.get(slot) {
        Some(existing) if version(existing) >= version(&entry) => Applied::Stale,
        _ => {
            map.insert(slot.to_string(), entry);
            Applied::Changed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merch::{ErpFormat, normalize};

    fn price(seq: u64, amount: &str) -> MerchChange {
        let line = format!("PRC,sap,{seq},SKU-1,EU,{amount},EUR,20261120091502");
        normalize(line.as_bytes(), ErpFormat::Csv).unwrap()
    }

    #[test]
    fn newer_versions_win_in_any_order() {
        let changes = [price(3, "3.00"), price(1, "1.00"), price(2, "2.00"), price(3, "3.00")];
        let mut p = Projection::empty("SKU-1");
        let applied: Vec<Applied> = changes.iter().map(|c| p.apply(c)).collect();
        assert_eq!(applied, [Applied::Changed, Applied::Stale, Applied::Stale, Applied::Stale]);
        assert_eq!(p.prices["EU"].amount_minor, 300);

        let mut q = Projection::empty("SKU-1");
        for c in changes.iter().rev() {
            q.apply(c);
        }
        assert_eq!(p, q);
    }

    #[test]
    fn documents_round_trip_and_ignore_system_properties() {
        let mut p = Projection::empty("SKU-1");
        p.apply(&price(5, "9.99"));
        let mut doc = p.to_document();
        doc["_etag"] = serde_json::json!("\"0000\"");
        doc["_ts"] = serde_json::json!(1);
        assert_eq!(Projection::from_document(doc).unwrap(), p);
    }
}
