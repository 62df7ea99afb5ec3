//! Property tests of the domain's decoders: structured CloudEvents of every type
//! (`cloudevent::decode`), the one-pass reader of canonical changes (`MerchChange::decode`), the
//! ERP JSON and CSV records (`merch::normalize`) and the key of a mirrored message
//! (`mirror::decode`). Inputs and case count: `property-inputs`.
mod cloudevents;
mod erp;
mod merch_changes;
mod mirror_keys;

/// The CloudEvents inside the checked-in fixtures (Kafka values, Functions host entries,
/// Pub/Sub data), each once.
pub fn fixture_events() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = ["aws/msk", "azure/kafka-trigger", "gcp/pubsub-push"]
        .iter()
        .flat_map(|dir| property_inputs::fixtures(dir))
        .flat_map(|f| property_inputs::layers(&f))
        .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok_and(|v| v.get("specversion").is_some()))
        .collect();
    out.sort();
    out.dedup();
    assert!(out.len() >= 10, "only {} events in the fixtures", out.len());
    out
}

/// Calls `$check::<T>($args)` with the event type named `$ty` (PaymentSucceeded for a name that
/// is none of ours, so that those inputs are decoded too).
#[macro_export]
macro_rules! by_type {
    ($ty:expr, $check:ident($($arg:expr),*)) => {{
        use domain::DomainEvent;
        use domain::events::*;
        match $ty {
            t if t == PriceChanged::TYPE => $check::<PriceChanged>($($arg),*),
            t if t == InventoryChanged::TYPE => $check::<InventoryChanged>($($arg),*),
            t if t == OrderConfirmed::TYPE => $check::<OrderConfirmed>($($arg),*),
            t if t == FraudScored::TYPE => $check::<FraudScored>($($arg),*),
            t if t == PaymentRequested::TYPE => $check::<PaymentRequested>($($arg),*),
            t if t == PaymentFailed::TYPE => $check::<PaymentFailed>($($arg),*),
            t if t == OrderPaid::TYPE => $check::<OrderPaid>($($arg),*),
            t if t == ProductDeleted::TYPE => $check::<ProductDeleted>($($arg),*),
            t if t == ProductImageProcessed::TYPE => $check::<ProductImageProcessed>($($arg),*),
            t if t == LedgerEntry::TYPE => $check::<LedgerEntry>($($arg),*),
            t if t == WarehouseDispatch::TYPE => $check::<WarehouseDispatch>($($arg),*),
            t if t == DeadLetter::TYPE => $check::<DeadLetter>($($arg),*),
            _ => $check::<PaymentSucceeded>($($arg),*),
        }
    }};
}
