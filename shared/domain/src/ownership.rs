//! Which ERP system owns which slot. "Newer version wins" compares ERP sequence numbers, and a
//! sequence is only ordered within one system: so each slot (a price region, a stock location)
//! takes changes from its owner alone, and a change from any other system is dead-lettered
//! `foreign_slot` instead of overwriting a slot with an incomparable version. A slot nobody owns
//! is foreign too (fail closed: a new region or warehouse is added to the table first).
//!
//! The table is data: `data/slot-owners.json` is checked in, and a deployment can replace it
//! whole with the same JSON in `SLOT_OWNERS` (read by the functions, not here).
use crate::merch::MerchChange;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const DEFAULT_TABLE: &str = include_str!("../data/slot-owners.json");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotOwners {
    /// Price region → owning ERP system.
    prices: BTreeMap<String, String>,
    /// Stock location → owning ERP system.
    stock: BTreeMap<String, String>,
}

/// A change for a slot its system does not own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{erp_system} does not own {kind} slot {slot} ({})", owner.as_deref().map_or("no system owns it".to_string(), |o| format!("owned by {o}")))]
pub struct ForeignSlot {
    pub erp_system: String,
    pub kind: &'static str,
    pub slot: String,
    pub owner: Option<String>,
}

impl ForeignSlot {
    pub const CODE: &'static str = "foreign_slot";
}

impl SlotOwners {
    /// The checked-in table.
    pub fn checked_in() -> Self {
        // The file is part of the crate and a unit test parses it: it cannot be malformed.
        Self::parse(DEFAULT_TABLE).unwrap_or_else(|_| SlotOwners { prices: BTreeMap::new(), stock: BTreeMap::new() })
    }

    /// The table configured as JSON (`SLOT_OWNERS`), or the checked-in one when none is.
    pub fn configured(json: Option<&str>) -> Result<Self, String> {
        json.map_or_else(|| Ok(Self::checked_in()), |j| Self::parse(j).map_err(|e| format!("SLOT_OWNERS: {e}")))
    }

    /// A table in the checked-in file's JSON shape; slot names are upper-cased as the events carry them.
    pub fn parse(json: &str) -> Result<Self, String> {
        let t: SlotOwners = serde_json::from_str(json).map_err(|e| format!("slot owner table: {e}"))?;
        let upper =
            |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k.trim().to_ascii_uppercase(), v)).collect();
        Ok(SlotOwners { prices: upper(t.prices), stock: upper(t.stock) })
    }

    /// The change back when its ERP system owns the slot it changes, else why not as
    /// (reason code, reason) for a dead letter.
    pub fn admit(&self, change: MerchChange) -> Result<MerchChange, (&'static str, String)> {
        match self.check(&change) {
            Ok(()) => Ok(change),
            Err(foreign) => Err((ForeignSlot::CODE, foreign.to_string())),
        }
    }

    /// `Ok` when the change's ERP system owns the slot it changes.
    pub fn check(&self, change: &MerchChange) -> Result<(), ForeignSlot> {
        let (kind, slot, erp, table) = match change {
            MerchChange::Price(e) => ("price", e.data.region.as_str(), &e.data.erp_system, &self.prices),
            MerchChange::Inventory(e) => ("stock", e.data.location.as_str(), &e.data.erp_system, &self.stock),
        };
        match table.get(slot) {
            Some(owner) if owner == erp => Ok(()),
            owner => Err(ForeignSlot { erp_system: erp.clone(), kind, slot: slot.into(), owner: owner.cloned() }),
        }
    }
}

impl Default for SlotOwners {
    fn default() -> Self {
        Self::checked_in()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merch::{ErpFormat, normalize};

    fn change(csv: &str) -> MerchChange {
        normalize(csv.as_bytes(), ErpFormat::Csv).expect("valid record")
    }

    #[test]
    fn the_checked_in_table_parses_and_gives_each_system_its_slots() {
        assert_eq!(SlotOwners::parse(DEFAULT_TABLE).expect("table"), SlotOwners::checked_in());
        let owners = SlotOwners::checked_in();
        assert_eq!(owners.check(&change("PRC,sap-eu,1,A-1,EU,1.00,EUR,20261120091502")), Ok(()));
        assert_eq!(owners.check(&change("STK,as400-us,2,A-1,WH-NYC-2,4,,20261120091502")), Ok(()));
    }

    #[test]
    fn a_change_from_another_system_or_for_an_unowned_slot_is_foreign() {
        let owners = SlotOwners::checked_in();
        let err = owners.check(&change("PRC,as400-us,1,A-1,EU,1.00,EUR,20261120091502")).unwrap_err();
        assert_eq!((err.slot.as_str(), err.owner.as_deref()), ("EU", Some("sap-eu")));
        assert_eq!(err.to_string(), "as400-us does not own price slot EU (owned by sap-eu)");
        let err = owners.check(&change("STK,sap-eu,2,A-1,WH-PAR-9,4,,20261120091502")).unwrap_err();
        assert_eq!(err.owner, None);
    }

    #[test]
    fn a_configured_table_replaces_the_checked_in_one() {
        let owners = SlotOwners::parse(r#"{"prices":{"eu":"as400-us"},"stock":{}}"#).expect("table");
        assert_eq!(owners.check(&change("PRC,as400-us,1,A-1,EU,1.00,EUR,20261120091502")), Ok(()));
        assert!(owners.check(&change("PRC,sap-eu,1,A-1,EU,1.00,EUR,20261120091502")).is_err());
        assert!(SlotOwners::parse(r#"{"prices":{}}"#).is_err(), "both kinds must be given");
    }
}
