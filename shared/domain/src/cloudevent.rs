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
    #[serde(serialize_with = "crate::rfc3339::serialize")]
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
///
/// An event of the expected type is read in one pass. Whatever that pass does not take (another
/// type or specversion, no `datacontenttype`, bad input) is read again in two steps, attributes
/// first and data second, which accept exactly what they did before and say precisely what is
/// wrong: the result is always the two-step one, only cheaper when all is well.
///
/// The bytes are checked to be UTF-8 first, in one pass: the JSON reader does not check the
/// strings it skips (a field the event does not have), while the two-step read keeps `data`
/// whole and does; checked first, both read the same input the same way.
pub fn decode<T: DomainEvent>(bytes: &[u8]) -> Result<CloudEvent<T>, DecodeError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => decode_text(text),
        Err(_) => RawEvent::parse(bytes)?.into_event(),
    }
}

/// [`decode`] for an event that is text already (the Functions host hands Kafka values over as
/// JSON strings): the one pass does not check again, string by string, that it is UTF-8.
pub fn decode_text<T: DomainEvent>(text: &str) -> Result<CloudEvent<T>, DecodeError> {
    match expected(serde_json::from_str::<CloudEvent<T>>(text)) {
        Some(event) => Ok(event),
        None => RawEvent::parse(text.as_bytes())?.into_event(),
    }
}

/// The one-pass read, if it gave an event of the expected type and specversion.
fn expected<T: DomainEvent>(read: Result<CloudEvent<T>, serde_json::Error>) -> Option<CloudEvent<T>> {
    read.ok().filter(|event| event.specversion == SPEC_VERSION && event.ty == T::TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property test: invalid UTF-8 in a field `data` does not have was skipped
    /// unchecked by the one-pass read and refused by the two-step one.
    #[test]
    fn invalid_utf8_anywhere_is_malformed_json_whichever_read_meets_it() {
        let mut bytes = br#"{"specversion":"1.0","id":"p-1","source":"/s","type":"com.shop.payment.succeeded.v1","time":"2026-11-21T08:16:44Z","datacontenttype":"application/json","data":{"order_id":"A1","payment_id":"pay-A1","amount":{"amount_minor":1,"currency":"EUR"},"gateway_reference":"g","x":"??"}}"#.to_vec();
        let at = bytes.len() - 5;
        bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        let one = decode::<crate::events::PaymentSucceeded>(&bytes);
        let two = RawEvent::parse(&bytes).and_then(RawEvent::into_event::<crate::events::PaymentSucceeded>);
        assert!(matches!(one, Err(DecodeError::MalformedJson(_))), "{one:?}");
        assert_eq!(format!("{one:?}"), format!("{two:?}"));
    }
    use crate::events::PaymentSucceeded;
    use serde_json::json;

    fn two_steps(bytes: &[u8]) -> Result<CloudEvent<PaymentSucceeded>, DecodeError> {
        RawEvent::parse(bytes)?.into_event()
    }

    /// The one-pass read gives what the two steps give, for every kind of input.
    #[test]
    fn decode_gives_the_two_step_result_whatever_the_input() {
        let data = json!({"order_id": "A-1", "payment_id": "pay-A-1", "amount": {"amount_minor": 500, "currency": "EUR"},
            "gateway_reference": "ch_1", "reason": "card_declined"});
        let event = json!({"specversion": "1.0", "id": "e-1", "source": "/aws/payment-processor",
            "type": "com.shop.payment.succeeded.v1", "time": "2026-11-30T10:00:00Z", "subject": "A-1",
            "datacontenttype": "application/json", "data": data, "extension": "kept out"});
        let with = |key: &str, value: serde_json::Value| {
            let mut e = event.clone();
            e[key] = value;
            serde_json::to_vec(&e).expect("json")
        };
        let without = |key: &str| {
            let mut e = event.clone();
            e.as_object_mut().expect("object").remove(key);
            serde_json::to_vec(&e).expect("json")
        };
        let whole = serde_json::to_vec(&event).expect("json");
        let inputs: Vec<(&str, Vec<u8>)> = vec![
            ("an event of the type", whole.clone()),
            ("another type whose data fits", with("type", json!("com.shop.payment.failed.v1"))),
            ("another specversion", with("specversion", json!("0.3"))),
            ("no datacontenttype (defaults)", without("datacontenttype")),
            ("no subject", without("subject")),
            ("no data", without("data")),
            ("data of another shape", with("data", json!({"order_id": "A-1"}))),
            ("a bad time", with("time", json!("yesterday"))),
            ("cut short", whole[..whole.len() / 2].to_vec()),
            ("not JSON", b"<xml/>".to_vec()),
            ("bad UTF-8 in an unknown field", {
                let mut bytes = with("extension", json!("XX"));
                let at = bytes.windows(4).position(|w| w == b"\"XX\"").expect("the field") + 1;
                bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
                bytes
            }),
        ];
        for (case, bytes) in inputs {
            let (one, two) = (decode::<PaymentSucceeded>(&bytes), two_steps(&bytes));
            assert_eq!(format!("{one:?}"), format!("{two:?}"), "{case}");
            if let Ok(text) = std::str::from_utf8(&bytes) {
                assert_eq!(
                    format!("{:?}", decode_text::<PaymentSucceeded>(text)),
                    format!("{two:?}"),
                    "{case}, as text"
                );
            }
        }
        assert!(decode::<PaymentSucceeded>(&whole).is_ok_and(|e| e.data.gateway_reference == "ch_1"));
        let defaulted = decode::<PaymentSucceeded>(&without("datacontenttype")).expect("decodes");
        assert_eq!(defaulted.datacontenttype, "application/json");
    }
}
