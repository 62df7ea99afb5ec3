//! One pushed Pub/Sub message, whichever way it was delivered:
//! - wrapped (default): `{"message":{"data":<base64>,"attributes":{…},"messageId","publishTime"},
//!   "subscription","deliveryAttempt"}`;
//! - unwrapped (`noWrapper.writeMetadata`): the raw data as body, metadata in `x-goog-pubsub-*`
//!   headers, attributes as plain headers;
//! - Eventarc, CloudEvents binary mode: `ce-*` headers; for `messagePublished` the body is the
//!   wrapped envelope, otherwise it is the event data.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest body Pub/Sub pushes: 10 MB of message data, base64 in the JSON envelope (4/3),
/// plus attributes (at most 100 of 256 + 1024 bytes) and the envelope itself. The body limit of
/// every push endpoint defaults to this (`PUSH_MAX_BODY_BYTES` overrides it; see `guard.rs`).
pub const MAX_PUSH_BODY_BYTES: usize = (10 * 1024 * 1024usize).div_ceil(3) * 4 + 256 * 1024;
pub const MESSAGE_PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PubsubMessage {
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub message_id: String,
    pub publish_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEnvelope {
    pub message: PubsubMessage,
    pub subscription: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_attempt: Option<u32>,
}

impl PushEnvelope {
    /// Wraps raw data the way Pub/Sub does (the local runner and the tests push with it).
    pub fn wrap(
        data: &[u8],
        attributes: BTreeMap<String, String>,
        message_id: &str,
        publish_time: DateTime<Utc>,
        subscription: &str,
    ) -> Self {
        PushEnvelope {
            message: PubsubMessage {
                data: Some(STANDARD.encode(data)),
                attributes,
                message_id: message_id.into(),
                publish_time,
                ordering_key: None,
            },
            subscription: subscription.into(),
            delivery_attempt: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushForm {
    Wrapped,
    Unwrapped,
    Eventarc,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("not a Pub/Sub push envelope: {0}")]
    NotAnEnvelope(String),
    #[error("bad base64 in message data: {0}")]
    BadBase64(String),
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header that names the form (`ce-type`) is there but not visible ASCII: the request
    /// says it is a CloudEvent, so it is not read as another form.
    #[error("header {0} is not visible ASCII")]
    UnreadableHeader(&'static str),
}

impl PushError {
    pub fn code(&self) -> &'static str {
        match self {
            PushError::NotAnEnvelope(_) => "wrong_envelope",
            PushError::BadBase64(_) => "bad_base64",
            PushError::MissingHeader(_) | PushError::UnreadableHeader(_) => "wrong_envelope",
        }
    }
}

/// A pushed message with its metadata. `data` is an error when the base64 did not decode, so the
/// function can dead-letter it by message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedMessage {
    pub form: PushForm,
    pub message_id: String,
    pub publish_time: DateTime<Utc>,
    pub subscription: Option<String>,
    pub delivery_attempt: Option<u32>,
    pub attributes: BTreeMap<String, String>,
    pub data: Result<Vec<u8>, PushError>,
    /// The data as it arrived (base64 text for the wrapped form), kept for dead letters.
    pub raw_data: Vec<u8>,
}

impl PushedMessage {
    /// The data as a domain event of type `T`: the reason code and why, if it is not one (data
    /// that was not base64 is `bad_base64`).
    pub fn decode<T: domain::cloudevent::DomainEvent>(
        &self,
    ) -> Result<domain::cloudevent::CloudEvent<T>, (&'static str, String)> {
        match &self.data {
            Ok(bytes) => domain::cloudevent::decode::<T>(bytes).map_err(|e| (e.code(), e.to_string())),
            Err(e) => Err(("bad_base64", e.to_string())),
        }
    }

    /// The dead letter of this message: placed by its message id, timed by its publish time (so a
    /// redelivery yields the same one), keeping its data (as it arrived, if it was not base64).
    /// On the policy's topic, or on `dead-letters.parked` when the message was mirrored from a
    /// topic of dead letters (its `kafka_topic`), so a dead letter never loops.
    pub fn dead_letter(
        &self,
        policy: &domain::dead_letter::DeadLetterPolicy,
        code: &str,
        reason: String,
    ) -> domain::ports::OutboundMessage {
        let origin = format!("pubsub:{}", self.message_id);
        // A mirrored message names the Kafka topic it came from: one of dead letters is parked.
        let source = self.attributes.get(crate::pubsub::attrs::TOPIC).map(String::as_str);
        if policy.parks(source) {
            tracing::error!(%origin, reason_code = code, %reason, source, parked_on = domain::events::topics::PARKED,
                "a dead letter cannot be handled; parked");
        } else {
            tracing::warn!(%origin, reason_code = code, %reason, "push dead-lettered");
        }
        let payload = self.data.as_deref().unwrap_or(&self.raw_data);
        let rejected = domain::dead_letter::Rejected { code, reason, origin, payload, key: None };
        policy.message_from(source, rejected, self.publish_time)
    }

    pub fn from_envelope(env: PushEnvelope, form: PushForm) -> Self {
        let raw = env.message.data.unwrap_or_default();
        let data = STANDARD.decode(raw.as_bytes()).map_err(|e| PushError::BadBase64(e.to_string()));
        PushedMessage {
            form,
            message_id: env.message.message_id,
            publish_time: env.message.publish_time,
            subscription: Some(env.subscription),
            delivery_attempt: env.delivery_attempt,
            attributes: env.message.attributes,
            data,
            raw_data: raw.into_bytes(),
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Headers Pub/Sub or the platform set that are not message attributes.
fn is_transport_header(name: &str) -> bool {
    name.starts_with("x-goog-")
        || name.starts_with("x-forwarded-")
        || name.starts_with("x-cloud-")
        || name.starts_with("ce-")
        || matches!(
            name,
            "host"
                | "content-length"
                | "content-type"
                | "user-agent"
                | "authorization"
                | "accept"
                | "accept-encoding"
                | "connection"
                | "from"
                | "traceparent"
                | "forwarded"
                | "via"
        )
}

fn parse_time(s: Option<&str>) -> DateTime<Utc> {
    s.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)).unwrap_or_else(Utc::now)
}

/// Reads a push request in any of the three forms.
pub fn from_http(headers: &HeaderMap, body: &[u8]) -> Result<PushedMessage, PushError> {
    let envelope = |body: &[u8], form| {
        serde_json::from_slice::<PushEnvelope>(body)
            .map(|e| PushedMessage::from_envelope(e, form))
            .map_err(|e| PushError::NotAnEnvelope(e.to_string()))
    };
    if headers.contains_key("ce-type") {
        let ce_type = header(headers, "ce-type").ok_or(PushError::UnreadableHeader("ce-type"))?;
        if ce_type == MESSAGE_PUBLISHED {
            return envelope(body, PushForm::Eventarc);
        }
        let id = header(headers, "ce-id").ok_or(PushError::MissingHeader("ce-id"))?;
        let mut attributes: BTreeMap<String, String> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().strip_prefix("ce-")?.to_string(), v.to_str().ok()?.to_string())))
            .collect();
        attributes.remove("id");
        return Ok(PushedMessage {
            form: PushForm::Eventarc,
            message_id: id.to_string(),
            publish_time: parse_time(header(headers, "ce-time")),
            subscription: None,
            delivery_attempt: None,
            attributes,
            data: Ok(body.to_vec()),
            raw_data: body.to_vec(),
        });
    }
    if let Some(id) = header(headers, "x-goog-pubsub-message-id") {
        let attributes = headers
            .iter()
            .filter(|(k, _)| !is_transport_header(k.as_str()))
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        return Ok(PushedMessage {
            form: PushForm::Unwrapped,
            message_id: id.to_string(),
            publish_time: parse_time(header(headers, "x-goog-pubsub-publish-time")),
            subscription: header(headers, "x-goog-pubsub-subscription-name").map(str::to_string),
            delivery_attempt: header(headers, "x-goog-pubsub-delivery-attempt").and_then(|d| d.parse().ok()),
            attributes,
            data: Ok(body.to_vec()),
            raw_data: body.to_vec(),
        });
    }
    envelope(body, PushForm::Wrapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_bad_base64_is_kept_as_a_per_message_error() {
        let body = br#"{"message":{"data":"!!notbase64","messageId":"9","publishTime":"2026-11-20T09:00:00Z"},"subscription":"projects/p/subscriptions/s"}"#;
        let m = from_http(&HeaderMap::new(), body).unwrap();
        assert_eq!(m.message_id, "9");
        assert!(matches!(m.data, Err(PushError::BadBase64(_))));
        assert_eq!(m.raw_data, b"!!notbase64");
    }

    #[test]
    fn garbage_is_not_an_envelope() {
        assert_eq!(from_http(&HeaderMap::new(), b"{").unwrap_err().code(), "wrong_envelope");
    }

    /// Found by the property test: a `ce-type` of non-ASCII bytes made the request read as a
    /// wrapped push (its body happened to be an envelope) instead of being refused.
    #[test]
    fn a_cloudevent_whose_type_cannot_be_read_is_refused_not_read_as_another_form() {
        let mut headers = HeaderMap::new();
        headers.insert("ce-type", http::HeaderValue::from_bytes("\u{1e130}".as_bytes()).expect("obs-text"));
        headers.insert("ce-id", http::HeaderValue::from_static("1"));
        let body = br#"{"message":{"data":"aGk=","messageId":"9","publishTime":"2026-11-20T09:00:00Z"},"subscription":"projects/p/subscriptions/s"}"#;
        assert_eq!(from_http(&headers, body), Err(PushError::UnreadableHeader("ce-type")));
    }
}
