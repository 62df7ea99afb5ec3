//! Decoding a canonical change from the bus in one pass. A structured CloudEvent names its type
//! before its data in every producer we know (ours, the SDKs), so the data is read straight into
//! the type's struct as the parser reaches it; only when `data` comes first is it kept raw and
//! read once the type is known. Reading the envelope with a raw `data` and then the data again
//! cost a third of projection-updater's decoding.
use crate::cloudevent::{CloudEvent, DecodeError, DomainEvent, SPEC_VERSION};
use crate::events::{InventoryChanged, PriceChanged};
use crate::merch::MerchChange;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Specversion,
    Id,
    Source,
    Type,
    Time,
    Subject,
    Datacontenttype,
    Data,
    #[serde(other)]
    Extension,
}

enum Data {
    Price(PriceChanged),
    Inventory(InventoryChanged),
    /// `data` came before `type`.
    Raw(Box<RawValue>),
    /// A type that is not a merch change: its data is skipped.
    Foreign,
}

#[derive(Default)]
struct Wire {
    specversion: Option<String>,
    id: Option<String>,
    source: Option<String>,
    ty: Option<String>,
    time: Option<DateTime<Utc>>,
    /// Seen (perhaps as null) or not: a second one is a duplicate either way.
    subject: Option<Option<String>>,
    datacontenttype: Option<Option<String>>,
    data: Option<Data>,
}

/// Reads a member's value into its slot; a member that comes twice is refused, as the derived
/// reader of `cloudevent::decode` refuses it. Last-wins would let a second `type` after the data
/// give a change whose type is not its data's.
fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Deserialize<'de> for Wire {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(WireVisitor)
    }
}

struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = Wire;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a structured CloudEvent")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire, A::Error> {
        let mut w = Wire::default();
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Specversion => once(&mut w.specversion, &mut map, "specversion")?,
                Field::Id => once(&mut w.id, &mut map, "id")?,
                Field::Source => once(&mut w.source, &mut map, "source")?,
                Field::Type => once(&mut w.ty, &mut map, "type")?,
                Field::Time => once(&mut w.time, &mut map, "time")?,
                Field::Subject => once(&mut w.subject, &mut map, "subject")?,
                Field::Datacontenttype => once(&mut w.datacontenttype, &mut map, "datacontenttype")?,
                Field::Data if w.data.is_some() => return Err(de::Error::duplicate_field("data")),
                Field::Data => {
                    w.data = Some(match w.ty.as_deref() {
                        Some(PriceChanged::TYPE) => Data::Price(map.next_value()?),
                        Some(InventoryChanged::TYPE) => Data::Inventory(map.next_value()?),
                        Some(_) => {
                            map.next_value::<IgnoredAny>()?;
                            Data::Foreign
                        }
                        None => Data::Raw(map.next_value()?),
                    })
                }
                Field::Extension => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(w)
    }
}

fn required<T>(v: Option<T>, field: &str) -> Result<T, DecodeError> {
    v.ok_or_else(|| DecodeError::WrongSchema(format!("missing field `{field}`")))
}

fn raw_data<T: DomainEvent>(raw: &RawValue) -> Result<T, DecodeError> {
    serde_json::from_str(raw.get()).map_err(|e| DecodeError::WrongSchema(format!("data: {e}")))
}

///
/// The bytes are checked to be UTF-8 first, as `cloudevent::decode` does (the JSON reader does
/// not check the strings it skips); bytes that are not are read as the generic reader reads
/// them, so both accept the same input.
pub(crate) fn decode(bytes: &[u8]) -> Result<MerchChange, DecodeError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => decode_text(text),
        Err(_) => {
            let raw = crate::cloudevent::RawEvent::parse(bytes)?;
            match raw.ty.as_str() {
                PriceChanged::TYPE => raw.into_event().map(MerchChange::Price),
                InventoryChanged::TYPE => raw.into_event().map(MerchChange::Inventory),
                _ => Err(DecodeError::UnexpectedType {
                    found: raw.ty,
                    expected: vec![PriceChanged::TYPE, InventoryChanged::TYPE],
                }),
            }
        }
    }
}

/// As [`decode`], from text: its strings are not checked again for UTF-8.
pub(crate) fn decode_text(text: &str) -> Result<MerchChange, DecodeError> {
    change(serde_json::from_str(text).map_err(DecodeError::from_json)?)
}

fn change(w: Wire) -> Result<MerchChange, DecodeError> {
    let specversion = required(w.specversion, "specversion")?;
    if specversion != SPEC_VERSION {
        return Err(DecodeError::SpecVersion(specversion));
    }
    let ty = required(w.ty, "type")?;
    let data = match required(w.data, "data")? {
        Data::Raw(raw) if ty == PriceChanged::TYPE => Data::Price(raw_data(&raw)?),
        Data::Raw(raw) if ty == InventoryChanged::TYPE => Data::Inventory(raw_data(&raw)?),
        other => other,
    };
    let id = required(w.id, "id")?;
    let source = required(w.source, "source")?;
    let time = required(w.time, "time")?;
    let datacontenttype = w.datacontenttype.flatten().unwrap_or_else(|| "application/json".into());
    let subject = w.subject.flatten();
    match data {
        Data::Price(data) => {
            Ok(MerchChange::Price(CloudEvent { specversion, id, source, ty, time, subject, datacontenttype, data }))
        }
        Data::Inventory(data) => {
            Ok(MerchChange::Inventory(CloudEvent { specversion, id, source, ty, time, subject, datacontenttype, data }))
        }
        Data::Raw(_) | Data::Foreign => {
            Err(DecodeError::UnexpectedType { found: ty, expected: vec![PriceChanged::TYPE, InventoryChanged::TYPE] })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn price() -> serde_json::Value {
        json!({"specversion": "1.0", "id": "erp-sap-eu-7", "source": "/gcp/merch-normalizer",
               "type": "com.shop.merch.price-changed.v1", "time": "2026-11-20T09:00:00Z", "comment": {"any": ["extension"]},
               "data": {"sku": "A-1", "region": "EU", "price": {"amount_minor": 100, "currency": "EUR"},
                        "version": 7, "erp_system": "sap-eu", "effective_at": "2026-11-20T09:00:00Z"}})
    }

    /// Read as bytes and as text, which must agree.
    fn decode_value(v: &serde_json::Value) -> Result<MerchChange, DecodeError> {
        let text = v.to_string();
        let (bytes, read_as_text) = (decode(text.as_bytes()), decode_text(&text));
        assert_eq!(format!("{bytes:?}"), format!("{read_as_text:?}"), "{text}");
        bytes
    }

    #[test]
    fn data_before_type_decodes_the_same_as_after() {
        let after = decode_value(&price()).expect("type first");
        let text = price().to_string();
        // serde_json writes keys in order: move `data` to the front by hand.
        let data = price()["data"].to_string();
        let without = text.replacen(&format!(",\"data\":{data}"), "", 1);
        let data_first = format!("{{\"data\":{data},{}", &without[1..]);
        assert!(data_first.starts_with("{\"data\""), "{data_first}");
        assert_eq!(decode(data_first.as_bytes()).expect("data first"), after);
        assert_eq!(after.version(), 7);
    }

    /// Found by the property tests: a second `type` after the data gave a price change whose
    /// type said inventory; any attribute given twice is now refused, as `cloudevent::decode`
    /// refuses it.
    #[test]
    fn an_attribute_given_twice_is_refused_as_the_generic_reader_refuses_it() {
        let text = price().to_string();
        let retyped = format!("{},\"type\":\"{}\"}}", &text[..text.len() - 1], InventoryChanged::TYPE);
        let twice_null = text.replacen('{', "{\"subject\":null,\"subject\":\"A-1\",", 1);
        let two_sources = text.replacen('{', "{\"source\":\"/elsewhere\",", 1);
        for input in [retyped, twice_null, two_sources] {
            let one_pass = decode(input.as_bytes());
            assert!(
                matches!(&one_pass, Err(DecodeError::WrongSchema(m)) if m.contains("duplicate field")),
                "{input}: {one_pass:?}"
            );
            assert!(crate::cloudevent::decode::<PriceChanged>(input.as_bytes()).is_err(), "{input}");
        }
    }

    #[test]
    fn each_broken_envelope_has_its_kind() {
        let mut v = price();
        v["type"] = json!("com.shop.order.confirmed.v1");
        assert!(matches!(decode_value(&v), Err(DecodeError::UnexpectedType { .. })));
        let mut v = price();
        v["specversion"] = json!("0.3");
        assert!(matches!(decode_value(&v), Err(DecodeError::SpecVersion(s)) if s == "0.3"));
        let mut v = price();
        v.as_object_mut().expect("object").remove("data");
        assert!(matches!(decode_value(&v), Err(DecodeError::WrongSchema(m)) if m.contains("`data`")));
        let mut v = price();
        v["data"]["price"]["currency"] = json!("EUQ");
        assert!(matches!(decode_value(&v), Err(DecodeError::WrongSchema(m)) if m.contains("unknown currency")));
        let text = price().to_string();
        assert!(matches!(decode(&text.as_bytes()[..text.len() - 5]), Err(DecodeError::MalformedJson(_))));
    }
}
