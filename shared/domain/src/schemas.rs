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
}
