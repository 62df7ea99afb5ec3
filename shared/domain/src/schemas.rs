//! JSON Schemas of every domain event, generated from the Rust types. `events/schemas/` holds the
//! committed copies; a test fails when they are stale (regenerate with `cargo run -p local -- schemas`).
use crate::cloudevent::{CloudEvent, DecodeError, DomainEvent, RawEvent};
use crate::events::*;

/// One event type of the estate: its CloudEvents type, its schema, and how to decode it.
struct EventType {
    ty: &'static str,
    schema: fn() -> (String, String),
    decode: fn(RawEvent) -> Result<(), DecodeError>,
}

fn event_type<T: DomainEvent>() -> EventType {
    EventType { ty: T::TYPE, schema: schema::<T>, decode: |raw| raw.into_event::<T>().map(|_| ()) }
}

/// Every event type, in one list: a new event is added here and gets its schema file, its
/// decoding check and its compatibility check.
fn registry() -> [EventType; 13] {
    [
        event_type::<PriceChanged>(),
        event_type::<InventoryChanged>(),
        event_type::<OrderConfirmed>(),
        event_type::<OrderPaid>(),
        event_type::<FraudScored>(),
        event_type::<PaymentRequested>(),
        event_type::<PaymentSucceeded>(),
        event_type::<PaymentFailed>(),
        event_type::<ProductDeleted>(),
        event_type::<ProductImageProcessed>(),
        event_type::<LedgerEntry>(),
        event_type::<WarehouseDispatch>(),
        event_type::<DeadLetter>(),
    ]
}

fn schema<T: DomainEvent>() -> (String, String) {
    let mut schema = serde_json::to_value(schemars::schema_for!(CloudEvent<T>)).unwrap_or_default();
    // The generic envelope says "a string"; each event's schema pins its own attributes.
    schema["title"] = T::TYPE.into();
    schema["properties"]["type"] = serde_json::json!({"const": T::TYPE});
    schema["properties"]["specversion"] = serde_json::json!({"const": crate::cloudevent::SPEC_VERSION});
    schema["properties"]["datacontenttype"] = serde_json::json!({"const": "application/json"});
    let text = serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n";
    (format!("{}.schema.json", T::TYPE), text)
}

/// (file name, pretty JSON schema) for each event type.
pub fn all() -> Vec<(String, String)> {
    registry().iter().map(|t| (t.schema)()).collect()
}

/// Decodes a structured CloudEvent of any v1 type of the estate with that type's Rust struct,
/// and returns the type: an event a consumer of this version could not read is an error.
pub fn decode_any(bytes: &[u8]) -> Result<&'static str, DecodeError> {
    let raw = RawEvent::parse(bytes)?;
    match registry().iter().find(|t| t.ty == raw.ty) {
        Some(t) => (t.decode)(raw).map(|()| t.ty),
        None => Err(DecodeError::UnexpectedType { found: raw.ty, expected: registry().map(|t| t.ty).to_vec() }),
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
