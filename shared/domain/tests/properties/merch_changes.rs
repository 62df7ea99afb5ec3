//! `MerchChange::decode`, projection-updater's one-pass reader of canonical changes, accepts
//! exactly what the generic `cloudevent::decode` of the two change types accepts, with the same
//! value, from bytes and from text; a decoded change re-encodes to itself.
use crate::fixture_events;
use domain::cloudevent;
use domain::events::{InventoryChanged, PriceChanged};
use domain::merch::MerchChange;
use proptest::prelude::*;

fn changes() -> Vec<Vec<u8>> {
    let merch = |e: &Vec<u8>| e.windows(14).any(|w| w == b"com.shop.merch");
    let (mut changes, others): (Vec<_>, Vec<_>) = fixture_events().into_iter().partition(merch);
    assert!(changes.len() >= 3, "{} canonical changes in the fixtures", changes.len());
    changes.extend(others.into_iter().take(2)); // events of another type, to be refused
    changes
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn merch_changes_decode_as_the_generic_reader_does(bytes in property_inputs::mutations(changes())) {
        let one_pass = MerchChange::decode(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            prop_assert_eq!(format!("{:?}", MerchChange::decode_text(text)), format!("{one_pass:?}"));
        }
        let price = cloudevent::decode::<PriceChanged>(&bytes).ok();
        let inventory = cloudevent::decode::<InventoryChanged>(&bytes).ok();
        match &one_pass {
            Ok(MerchChange::Price(e)) => prop_assert_eq!(price.as_ref(), Some(e)),
            Ok(MerchChange::Inventory(e)) => prop_assert_eq!(inventory.as_ref(), Some(e)),
            Err(e) => prop_assert!(price.is_none() && inventory.is_none(), "refused ({e}), the generic reader took it"),
        }
        if let Ok(change) = one_pass {
            prop_assert_eq!(MerchChange::decode(&change.to_json()).ok(), Some(change));
        } else if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() {
            prop_assert_ne!(one_pass.err().map(|e| e.code()), Some("malformed_json"));
        }
    }
}
