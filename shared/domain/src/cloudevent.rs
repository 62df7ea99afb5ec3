//! CloudEvents 1.0 structured-mode envelope for every domain event.
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub const SPEC_VERSION: &str = "1.0";

/// A domain event payload: it knows its CloudEvents type (versioned), its topic and its key.
pub trait DomainEvent: Serialize + DeserializeOwned + JsonSchema + Clone {
    /// Versioned CloudEvents `type`, e.g. `com.shop.merch.price-changed.v1`.
    const TYPE: &'static str;
    /// The Kafka topic the event is published on.
    const TOPIC: &'static str;
    /// Partition key: keeps per-entity order (sku, order id).
    fn key(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CloudEvent<T> {
    pub specversion: String,
    /// Deterministic: a redelivered input produces the same id, which is what consumers dedupe on.
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub datacontenttype: String,
    pub data: T,
}

impl<T: DomainEvent> CloudEvent<T> {
    pub fn new(id: impl Into<String>, source: impl Into<String>, time: DateTime<Utc>, data: T) -> Self {
        let subject = Some(data.key());
        CloudEvent {
            specversion: SPEC_VERSION.into(),
            id: id.into(),
            source: source.into(),
            ty: T::TYPE.into(),
            time,
            subject,
            datacontenttype: "application/json".into(),
            data,
        }
    }
    pub fn key(&self) -> String {
        self.data.key()
    }
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising our own derive-only types cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
    /// The event for its topic, keyed by its partition key, in structured mode (`ce_id` and the
    /// content type as headers, for readers that route without parsing).
    pub fn to_message(&self) -> crate::ports::OutboundMessage {
        crate::ports::OutboundMessage::new(T::TOPIC, self.key(), self.to_json())
            .with_header("ce_id", &self.id)
            .with_header("content-type", "application/cloudevents+json")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("wrong schema: {0}")]
    WrongSchema(String),
    #[error("unsupported specversion {0:?}")]
    SpecVersion(String),
    #[error("unexpected event type {found:?}, expected one of {expected:?}")]
    UnexpectedType { found: String, expected: Vec<&'static str> },
}

impl DecodeError {
    /// A JSON error of a whole event: broken JSON, or JSON that is not the event's shape.
    pub fn from_json(e: serde_json::Error) -> Self {
        if e.is_syntax() || e.is_eof() {
            DecodeError::MalformedJson(e.to_string())
        } else {
            DecodeError::WrongSchema(e.to_string())
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::MalformedJson(_) => "malformed_json",
            DecodeError::WrongSchema(_) => "wrong_schema",
            DecodeError::SpecVersion(_) => "wrong_schema",
            DecodeError::UnexpectedType { .. } => "unexpected_type",
        }
    }
}

/// The attributes of any event, its data left unparsed: for code that routes or audits events
/// without knowing their data type.
pub fn peek_attributes(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
    RawEvent::parse(bytes)
}

/// A structured CloudEvent whose `data` is kept as raw JSON until its type is known: decoding
/// reads the bytes once, and the data is parsed straight into its type. CloudEvents allows an
/// event without data; a domain event always has some.
#[derive(Debug, Deserialize)]
pub struct RawEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub datacontenttype: Option<String>,
    #[serde(default)]
    pub data: Option<Box<serde_json::value::RawValue>>,
}

impl RawEvent {
    pub fn parse(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
        let raw: RawEvent = serde_json::from_slice(bytes).map_err(DecodeError::from_json)?;
        if raw.specversion != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(raw.specversion));
        }
        Ok(raw)
    }

    pub fn into_event<T: DomainEvent>(self) -> Result<CloudEvent<T>, DecodeError> {
        if self.ty != T::TYPE {
            return Err(DecodeError::UnexpectedType { found: self.ty, expected: vec![T::TYPE] });
        }
        let raw = self.data.ok_or_else(|| DecodeError::WrongSchema("missing field `data`".into()))?;
        let data = serde_json::from_str(raw.get()).map_err(|e| DecodeError::WrongSchema(format!("data: {e}")))?;
        Ok(CloudEvent {
            specversion: self.specversion,
            id: self.id,
            source: self.source,
            ty: self.ty,
            time: self.time,
            subject: self.subject,
            datacontenttype: self.datacontenttype.unwrap_or_else(|| "application/json".into()),
            data,
        })
    }
}

/// Decodes one structured CloudEvent of type `T`, distinguishing malformed JSON from a wrong schema.
pub fn decode<T: DomainEvent>(bytes: &[u8]) -> Result<CloudEvent<T>, DecodeError> {
    RawEvent::parse(bytes)?.into_event()
}
