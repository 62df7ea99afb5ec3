//! Property tests of the Pub/Sub push extractor in its three forms (wrapped envelope,
//! unwrapped with metadata headers, Eventarc binary CloudEvents): a request is one pushed
//! message or a typed `PushError`; bad base64 stays the message's own error; a message written
//! back as a request of its form reads the same. Inputs and case count: `property-inputs`.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use platform_gcp::push::{self, MESSAGE_PUBLISHED, PushEnvelope, PushForm, PushedMessage};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Every push fixture as a request document `{"headers": {…}, "body": "…"}` (a wrapped fixture
/// is its body, with no headers), so that mutations reach headers and body alike.
fn requests() -> Vec<Vec<u8>> {
    let wrapped = property_inputs::fixtures("gcp/pubsub-push").into_iter().map(|body| {
        let body = String::from_utf8_lossy(&body).into_owned();
        serde_json::to_vec(&json!({"headers": {}, "body": body})).unwrap_or_default()
    });
    let with_headers = ["gcp/pubsub-push-unwrapped", "gcp/eventarc"].into_iter().flat_map(property_inputs::fixtures);
    wrapped.chain(with_headers).collect()
}

/// The headers and body of a request document; bytes that are not one are a body alone.
fn http_request(doc: &[u8]) -> (HeaderMap, Vec<u8>) {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(doc) else { return (HeaderMap::new(), doc.to_vec()) };
    let mut headers = HeaderMap::new();
    for (k, v) in doc.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let value = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        // A name or value HTTP cannot carry never reaches the handler.
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(value.as_bytes())) {
            headers.append(k, v);
        }
    }
    let body = doc.get("body").map(|b| b.as_str().map_or_else(|| b.to_string(), str::to_string)).unwrap_or_default();
    (headers, body.into_bytes())
}

fn header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), TestCaseError> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    let value = HeaderValue::from_str(value).map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
    headers.insert(name, value);
    Ok(())
}

fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The message as a request of its own form, as Pub/Sub or Eventarc would send it.
fn write_back(m: &PushedMessage) -> Result<(HeaderMap, Vec<u8>), TestCaseError> {
    let mut headers = HeaderMap::new();
    let envelope = || -> Result<Vec<u8>, TestCaseError> {
        let mut e = PushEnvelope::wrap(
            b"",
            m.attributes.clone(),
            &m.message_id,
            m.publish_time,
            m.subscription.as_deref().unwrap_or(""),
        );
        e.message.data = Some(String::from_utf8(m.raw_data.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?);
        e.delivery_attempt = m.delivery_attempt;
        serde_json::to_vec(&e).map_err(|e| TestCaseError::fail(e.to_string()))
    };
    let body = match m.form {
        PushForm::Wrapped => envelope()?,
        PushForm::Eventarc if m.subscription.is_some() => {
            header(&mut headers, "ce-type", MESSAGE_PUBLISHED)?;
            envelope()?
        }
        PushForm::Eventarc => {
            for (k, v) in &m.attributes {
                header(&mut headers, &format!("ce-{k}"), v)?;
            }
            header(&mut headers, "ce-id", &m.message_id)?;
            m.raw_data.clone()
        }
        PushForm::Unwrapped => {
            for (k, v) in &m.attributes {
                header(&mut headers, k, v)?;
            }
            header(&mut headers, "x-goog-pubsub-message-id", &m.message_id)?;
            header(&mut headers, "x-goog-pubsub-publish-time", &time_text(&m.publish_time))?;
            if let Some(s) = &m.subscription {
                header(&mut headers, "x-goog-pubsub-subscription-name", s)?;
            }
            if let Some(d) = m.delivery_attempt {
                header(&mut headers, "x-goog-pubsub-delivery-attempt", &d.to_string())?;
            }
            m.raw_data.clone()
        }
    };
    Ok((headers, body))
}

/// A message as a publisher made it: any data and attribute text for the envelope; attributes
/// that are headers for the unwrapped form.
#[derive(Debug, Clone)]
struct Published {
    data: Vec<u8>,
    attributes: BTreeMap<String, String>,
    header_attributes: BTreeMap<String, String>,
    message_id: String,
    publish_time: DateTime<Utc>,
    subscription: String,
    delivery_attempt: Option<u32>,
}

fn published() -> impl Strategy<Value = Published> {
    let time = (0i64..253_402_300_799, 0u32..1_000_000_000)
        .prop_filter_map("in range", |(s, n)| DateTime::from_timestamp(s, n));
    (
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::btree_map(any::<String>(), any::<String>(), 0..3),
        prop::collection::btree_map("attr-[a-z0-9]{0,8}", "[!-~][ -~]{0,14}[!-~]", 0..3),
        "[0-9]{1,20}",
        time,
        "projects/[a-z-]{1,10}/subscriptions/[a-z-]{1,10}",
        any::<Option<u32>>(),
    )
        .prop_map(
            |(data, attributes, header_attributes, message_id, publish_time, subscription, delivery_attempt)| {
                Published {
                    data,
                    attributes,
                    header_attributes,
                    message_id,
                    publish_time,
                    subscription,
                    delivery_attempt,
                }
            },
        )
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn pushes_are_one_message_or_refused(doc in property_inputs::mutations(requests())) {
        let (headers, body) = http_request(&doc);
        match push::from_http(&headers, &body) {
            Ok(m) => {
                let form = if headers.contains_key("ce-type") { PushForm::Eventarc }
                    else if headers.get("x-goog-pubsub-message-id").is_some_and(|v| v.to_str().is_ok()) { PushForm::Unwrapped }
                    else { PushForm::Wrapped };
                prop_assert_eq!(m.form, form);
                match &m.data {
                    Ok(data) if m.subscription.is_some() && m.form != PushForm::Unwrapped => {
                        prop_assert_eq!(STANDARD.decode(&m.raw_data).ok(), Some(data.clone()));
                    }
                    Ok(data) => prop_assert_eq!(data, &body),
                    Err(e) => prop_assert_eq!(e.code(), "bad_base64"),
                }
                let (headers, body) = write_back(&m)?;
                let again = push::from_http(&headers, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
                // A time that was missing or unreadable is the time of reading, so it is not compared.
                prop_assert_eq!(PushedMessage { publish_time: m.publish_time, ..again }, m);
            }
            Err(e) => prop_assert_eq!(e.code(), "wrong_envelope", "{}", e),
        }
    }

    #[test]
    fn a_push_in_each_form_reads_as_its_message(p in published()) {
        let wrapped = PushEnvelope { delivery_attempt: p.delivery_attempt,
            ..PushEnvelope::wrap(&p.data, p.attributes.clone(), &p.message_id, p.publish_time, &p.subscription) };
        let wrapped_body = serde_json::to_vec(&wrapped).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want = PushedMessage::from_envelope(wrapped.clone(), PushForm::Wrapped);
        prop_assert_eq!(want.data.as_ref().ok(), Some(&p.data));
        prop_assert_eq!(push::from_http(&HeaderMap::new(), &wrapped_body), Ok(want.clone()));

        let mut eventarc = HeaderMap::new();
        header(&mut eventarc, "ce-type", MESSAGE_PUBLISHED)?;
        header(&mut eventarc, "ce-id", &p.message_id)?;
        prop_assert_eq!(push::from_http(&eventarc, &wrapped_body), Ok(PushedMessage { form: PushForm::Eventarc, ..want }));

        let unwrapped = PushedMessage {
            form: PushForm::Unwrapped,
            message_id: p.message_id.clone(),
            publish_time: p.publish_time,
            subscription: Some(p.subscription.clone()),
            delivery_attempt: p.delivery_attempt,
            attributes: p.header_attributes.clone(),
            data: Ok(p.data.clone()),
            raw_data: p.data.clone(),
        };
        let (headers, body) = write_back(&unwrapped)?;
        prop_assert_eq!(push::from_http(&headers, &body), Ok(unwrapped));
    }
}
