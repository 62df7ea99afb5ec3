//! JSON Schemas of every domain event, generated from the Rust types. `events/schemas/` holds the
//! committed copies; a test fails when they are stale (regenerate with `cargo run -p local -- schemas`).
use crate::cloudevent::{CloudEvent, DomainEvent};
use crate::events::*;

/// (file name, pretty JSON schema) for each event type.
pub fn all() -> Vec<(String, String)> {
    fn one<T: DomainEvent>() -> (String, String) {
        let mut schema = serde_json::to_value(schemars::schema_for!(CloudEvent<T>)).unwrap_or_default();
        // The generic envelope says "a string"; each event's schema pins its own attributes.
        schema["title"] = T::TYPE.into();
        schema["properties"]["type"] = serde_json::json!({"const": T::TYPE});
        schema["properties"]["specversion"] = serde_json::json!({"const": crate::cloudevent::SPEC_VERSION});
        schema["properties"]["datacontenttype"] = serde_json::json!({"const": "application/json"});
        let text = serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
        (format!("{}.schema.json", T::TYPE), text)
    }
    vec![
        one::<PriceChanged>(),
        one::<InventoryChanged>(),
        one::<OrderConfirmed>(),
        one::<OrderPaid>(),
        one::<FraudScored>(),
        one::<PaymentRequested>(),
        one::<PaymentSucceeded>(),
        one::<PaymentFailed>(),
        one::<ProductDeleted>(),
        one::<ProductImageProcessed>(),
        one::<LedgerEntry>(),
        one::<WarehouseDispatch>(),
        one::<DeadLetter>(),
    ]
}

/// Decodes a structured CloudEvent of any v1 type of the estate with that type's Rust struct,
/// and returns the type: an event a consumer of this version could not read is an error.
pub fn decode_any(bytes: &[u8]) -> Result<&'static str, crate::cloudevent::DecodeError> {
    use crate::cloudevent::{DecodeError, RawEvent};
    fn as_type<T: DomainEvent>(raw: RawEvent) -> Result<&'static str, DecodeError> {
        raw.into_event::<T>().map(|_| T::TYPE)
    }
    let raw = RawEvent::parse(bytes)?;
    match raw.ty.as_str() {
        PriceChanged::TYPE => as_type::<PriceChanged>(raw),
        InventoryChanged::TYPE => as_type::<InventoryChanged>(raw),
        OrderConfirmed::TYPE => as_type::<OrderConfirmed>(raw),
        OrderPaid::TYPE => as_type::<OrderPaid>(raw),
        FraudScored::TYPE => as_type::<FraudScored>(raw),
        PaymentRequested::TYPE => as_type::<PaymentRequested>(raw),
        PaymentSucceeded::TYPE => as_type::<PaymentSucceeded>(raw),
        PaymentFailed::TYPE => as_type::<PaymentFailed>(raw),
        ProductDeleted::TYPE => as_type::<ProductDeleted>(raw),
        ProductImageProcessed::TYPE => as_type::<ProductImageProcessed>(raw),
        LedgerEntry::TYPE => as_type::<LedgerEntry>(raw),
        WarehouseDispatch::TYPE => as_type::<WarehouseDispatch>(raw),
        DeadLetter::TYPE => as_type::<DeadLetter>(raw),
        _ => Err(DecodeError::UnexpectedType { found: raw.ty, expected: vec![] }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schemas_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/schemas");
        let mut stale = Vec::new();
        for (name, text) in super::all() {
            match std::fs::read_to_string(dir.join(&name)) {
                Ok(committed) if committed == text => {}
                _ => stale.push(name),
            }
        }
        assert!(stale.is_empty(), "stale or missing schemas {stale:?}: run `cargo run -p local -- schemas`");
    }

    /// A published v1 may gain optional fields only. `events/schemas/v1-required.json` holds the
    /// required fields of every v1 type and of each structure in it as first published (never
    /// regenerated; a new type is added to it by hand): no list may grow.
    #[test]
    fn no_v1_schema_requires_more_than_it_did_when_published() {
        use std::collections::{BTreeMap, BTreeSet};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/schemas/v1-required.json");
        let frozen: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> =
            serde_json::from_str(&std::fs::read_to_string(path).expect("v1-required.json")).expect("frozen lists");
        let required = |v: &serde_json::Value| -> BTreeSet<String> {
            v["required"].as_array().into_iter().flatten().filter_map(|f| f.as_str().map(str::to_string)).collect()
        };
        let mut grew = Vec::new();
        for (_, text) in super::all() {
            let schema: serde_json::Value = serde_json::from_str(&text).expect("schema");
            let ty = schema["title"].as_str().unwrap_or_default().to_string();
            if !ty.ends_with(".v1") {
                continue;
            }
            let Some(published) = frozen.get(&ty) else {
                panic!(
                    "{ty} is not in events/schemas/v1-required.json: add its required lists when it is first published"
                );
            };
            let mut now = vec![(String::new(), required(&schema))];
            for (name, def) in schema["$defs"].as_object().into_iter().flatten() {
                now.push((name.clone(), required(def)));
            }
            for (name, fields) in now {
                // A structure that did not exist is reachable only through a new optional field.
                let Some(before) = published.get(&name) else { continue };
                let added: Vec<&String> = fields.difference(before).collect();
                if !added.is_empty() {
                    grew.push(format!("{ty} {name}: {added:?}"));
                }
            }
        }
        assert!(grew.is_empty(), "v1 schemas now require more than they did: {grew:?} (that is a v2)");
    }
}
