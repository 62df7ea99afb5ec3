//! `mirror::decode`, which gives back a Kafka key from the attributes of a mirrored message:
//! any key that travels comes back whole, and any set of attributes is decoded or refused with a
//! typed error, never a panic.
use domain::mirror::{self, KeyError};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Key attribute names, some in sequence, some not, some of other attributes.
fn key_attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..5u8).prop_map(|i| format!("kafka_key_b64_{i}")),
        Just("kafka_key".to_string()),
        Just("kafka_topic".to_string()),
        "kafka_key_b64_[0-9a-z]{0,3}",
    ]
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn a_key_that_travels_comes_back_whole(key in prop_oneof![any::<String>(), "[a-z]{1000,3000}", "é{400,1200}"]) {
        let travels = mirror::encode(&key).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let attributes: BTreeMap<String, String> = travels.attributes.into_iter().collect();
        prop_assert_eq!(mirror::decode(&attributes), Ok(Some(key)));
    }

    #[test]
    fn any_attributes_give_a_key_or_a_typed_refusal(
        attributes in prop::collection::btree_map(key_attribute(), prop_oneof![any::<String>(), "[A-Za-z0-9+/=]{0,12}"], 0..6)
    ) {
        match mirror::decode(&attributes) {
            Ok(Some(key)) => {
                let pieces = attributes.keys().any(|k| k.starts_with("kafka_key_b64_"));
                if !pieces {
                    prop_assert_eq!(Some(&key), attributes.get("kafka_key"));
                }
            }
            Ok(None) => prop_assert!(!attributes.contains_key("kafka_key")),
            Err(KeyError::Gap(_, pieces, in_sequence)) => prop_assert!(in_sequence < pieces),
            Err(KeyError::NotBase64(_) | KeyError::NotUtf8) => {}
        }
    }
}
