//! Property tests of the Functions host invocation as a custom handler reads it: the request
//! body, the Kafka trigger binding in every `Data` shape the host sends, and the trigger
//! metadata. A body is an invocation or dead-lettered whole; a binding of no known shape is
//! dead-lettered whole; every entry is a Kafka event or dead-lettered alone, so none is lost;
//! and events written in any of the shapes read back the same. Inputs: `property-inputs`.
use domain::cloudevent;
use domain::dead_letter::DeadLetterPolicy;
use domain::events::DeadLetter;
use platform_azure::dead_letter_output::{DeadLetterOutput, read_invocation};
use platform_azure::kafka_trigger::{self, KafkaEventData, KafkaHeader};
use platform_azure::{InvocationRequest, InvocationResponse};
use proptest::prelude::*;
use serde_json::Value;

const BINDING: &str = "events";
const DEAD_LETTERS: &str = "deadLetters";
const MAX_RECORD_BYTES: usize = 4096;

fn policy() -> DeadLetterPolicy {
    DeadLetterPolicy::new("properties", "merch.dlq")
}

/// The dead letters of a response: each a `dead-letter.v1` event; their reason codes.
fn dead_letter_codes(resp: &InvocationResponse) -> Result<Vec<String>, TestCaseError> {
    let Some(Value::Array(items)) = resp.outputs.get(DEAD_LETTERS) else { return Ok(vec![]) };
    items
        .iter()
        .map(|item| {
            let text = item["Value"].as_str().unwrap_or_default();
            let event =
                cloudevent::decode_text::<DeadLetter>(text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            Ok(event.data.reason_code)
        })
        .collect()
}

/// The four ways the host may send a binding's events.
fn shapes(events: &[KafkaEventData]) -> [Value; 4] {
    let strings = kafka_trigger::to_binding_value(events);
    let objects = serde_json::to_value(events).unwrap_or_default();
    [Value::String(objects.to_string()), Value::String(strings.to_string()), strings, objects]
}

fn request(binding: Value) -> InvocationRequest {
    let mut req = InvocationRequest::default();
    req.data.insert(BINDING.into(), binding);
    req
}

fn kafka_event() -> impl Strategy<Value = KafkaEventData> {
    let header = (any::<String>(), "[A-Za-z0-9+/]{0,8}").prop_map(|(key, value)| KafkaHeader { key, value });
    (
        any::<i64>(),
        any::<i32>(),
        ".{0,16}",
        ".{0,30}",
        any::<Option<String>>(),
        any::<String>(),
        prop::collection::vec(header, 0..3),
    )
        .prop_map(|(offset, partition, topic, timestamp, key, value, headers)| KafkaEventData {
            offset,
            partition,
            topic,
            timestamp,
            key,
            value,
            headers,
        })
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn invocations_are_read_or_dead_lettered_and_no_entry_is_lost(
        bytes in property_inputs::mutations(property_inputs::fixtures("azure/kafka-trigger")),
    ) {
        let policy = policy();
        let req = match read_invocation(&bytes, DEAD_LETTERS, &policy) {
            Ok(req) => req,
            Err(resp) => {
                prop_assert_eq!(dead_letter_codes(&resp)?, vec!["unreadable_invocation".to_string()]);
                return Ok(());
            }
        };
        let _ = (req.sys(), req.retry_context(), req.invocation_id(), req.is_last_attempt());
        let mut out = DeadLetterOutput::new(DEAD_LETTERS, &policy);
        let (mut read, mut entries_seen) = (Vec::new(), 0);
        let refused = match out.entries(&req, BINDING) {
            Ok(entries) => {
                entries_seen = entries.len();
                for (i, entry) in entries.into_iter().enumerate() {
                    if let Err(bad) = &entry {
                        prop_assert_eq!((bad.index, bad.error.code()), (i, "wrong_envelope"));
                    }
                    read.extend(out.readable(&req, entry, MAX_RECORD_BYTES));
                }
                false
            }
            Err(_) => true,
        };
        let mut resp = InvocationResponse::default();
        let dead = out.len();
        out.write_to(&mut resp);
        let codes = dead_letter_codes(&resp)?;
        if refused {
            prop_assert_eq!(codes, vec!["unreadable_binding".to_string()]);
        } else {
            prop_assert_eq!(read.len() + dead, entries_seen, "an entry was neither read nor dead-lettered");
            prop_assert!(codes.iter().all(|c| c == "wrong_envelope" || c == "oversize"), "{:?}", codes);
            // What was read reads back the same in every shape.
            for shape in shapes(&read) {
                let again: Vec<_> = kafka_trigger::events(&request(shape), BINDING).map_err(|b| TestCaseError::fail(b.error.to_string()))?;
                prop_assert_eq!(again.into_iter().collect::<Result<Vec<_>, _>>().ok(), Some(read.clone()));
            }
        }
    }

    #[test]
    fn a_binding_in_any_shape_reads_as_its_events(events in prop::collection::vec(kafka_event(), 0..5)) {
        for shape in shapes(&events) {
            let body = serde_json::to_vec(&serde_json::json!({"Data": {BINDING: shape}, "Metadata": {}})).unwrap_or_default();
            let req = read_invocation(&body, DEAD_LETTERS, &policy()).map_err(|_| TestCaseError::fail("not read"))?;
            let read = kafka_trigger::events(&req, BINDING).map_err(|b| TestCaseError::fail(b.error.to_string()))?;
            prop_assert_eq!(read.into_iter().collect::<Result<Vec<_>, _>>().ok(), Some(events.clone()));
        }
    }
}
