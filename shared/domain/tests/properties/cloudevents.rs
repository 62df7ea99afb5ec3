//! `cloudevent::decode` of every event type: the one-pass read gives exactly the two-step
//! result, bytes and text agree, a decoded event re-encodes to itself, and broken input is
//! a typed `DecodeError`.
use crate::{by_type, fixture_events};
use chrono::{DateTime, Utc};
use domain::cloudevent::{self, CloudEvent, DomainEvent, RawEvent};
use proptest::prelude::*;
use std::fmt::Debug;

fn check<T: DomainEvent + PartialEq + Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let one = cloudevent::decode::<T>(bytes);
    let two = RawEvent::parse(bytes).and_then(RawEvent::into_event::<T>);
    prop_assert_eq!(format!("{one:?}"), format!("{two:?}"), "one pass and two steps disagree");
    if let Ok(text) = std::str::from_utf8(bytes) {
        prop_assert_eq!(format!("{:?}", cloudevent::decode_text::<T>(text)), format!("{one:?}"), "text and bytes");
    }
    match one {
        Ok(event) => {
            prop_assert_eq!(event.ty.as_str(), T::TYPE);
            prop_assert_eq!(event.specversion.as_str(), cloudevent::SPEC_VERSION);
            prop_assert_eq!(cloudevent::decode::<T>(&event.to_json()).ok(), Some(event), "re-encoded");
            prop_assert_eq!(domain::schemas::decode_any(bytes).ok(), Some(T::TYPE));
        }
        Err(e) => {
            // JSON that parses is never called malformed.
            if serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
                prop_assert_ne!(e.code(), "malformed_json", "{}", e);
            }
        }
    }
    Ok(())
}

/// Any event with new attributes (any text, any time chrono reads, leap seconds included) around
/// a fixture's data re-encodes and decodes to itself.
fn round_trip<T: DomainEvent + PartialEq + Debug>(
    seed: &[u8],
    (id, source, time, subject): (String, String, DateTime<Utc>, Option<String>),
) -> Result<(), TestCaseError> {
    let Ok(data) = RawEvent::parse(seed).and_then(RawEvent::into_event::<T>).map(|e| e.data) else {
        return Ok(()); // a fixture event that is not v1 of its type (the bad records) has no data to keep
    };
    let event = CloudEvent { subject, ..CloudEvent::new(id, source, time, data) };
    prop_assert_eq!(cloudevent::decode::<T>(&event.to_json()).ok(), Some(event.clone()));
    let text = String::from_utf8(event.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(cloudevent::decode_text::<T>(&text).ok(), Some(event));
    Ok(())
}

/// Any instant of years 1..=9999 to the nanosecond, and now and then a leap second.
pub fn time() -> impl Strategy<Value = DateTime<Utc>> {
    let (first, last) = (-62_135_596_800i64, 253_402_300_799i64);
    prop_oneof![
        9 => (first..=last, 0u32..1_000_000_000).prop_map(|(s, n)| DateTime::from_timestamp(s, n)),
        1 => (0i64..2_900_000, 0u32..1_000_000_000).prop_map(|(day, n)| DateTime::from_timestamp(day * 86_400 + 86_399, 1_000_000_000 + n)),
    ]
    .prop_filter_map("a time chrono holds", |t| t)
}

fn type_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("type")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn cloudevents_decode_as_their_type_or_are_refused(bytes in property_inputs::mutations(fixture_events())) {
        // As the type it names (so the data is read), and as another (so the type is refused).
        by_type!(type_of(&bytes).as_str(), check(&bytes))?;
        check::<domain::events::ProductDeleted>(&bytes)?;
    }

    #[test]
    fn cloudevents_with_any_attributes_round_trip(
        seed in prop::sample::select(fixture_events()),
        attributes in (any::<String>(), any::<String>(), time(), any::<Option<String>>()),
    ) {
        by_type!(type_of(&seed).as_str(), round_trip(&seed, attributes))?;
    }
}
