//! ERP change records → canonical merchandising events. Pure: bytes in, an event or a rejection out.
//!
//! Two source formats are accepted:
//! - `erp-json`: one JSON object per record, prices as decimal strings (never floats):
//!   `{"recordType":"PRICE","erpSystem":"sap-eu","sequence":184467,"sku":"tsh-001-blk-m",
//!     "region":"EU","price":"19.99","currency":"EUR","validFrom":"2026-11-20T09:15:02Z"}`
//! - `erp-csv`: the legacy export, one comma-separated line of eight fields, no header:
//!   `PRC,<erp>,<sequence>,<sku>,<region>,<amount>,<currency>,<yyyyMMddHHmmss>` or
//!   `STK,<erp>,<sequence>,<sku>,<location>,<on hand>,,<yyyyMMddHHmmss>`.
use crate::cloudevent::{CloudEvent, DomainEvent};
use crate::events::{InventoryChanged, PriceChanged};
use crate::values::{Currency, LocationId, Money, Quantity, Region, Sku, ValueError};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use std::borrow::Cow;

/// One ERP record is small; anything larger is a broken export, not a record.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;
pub const SOURCE: &str = "/gcp/merch-normalizer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErpFormat {
    Json,
    Csv,
}

impl ErpFormat {
    /// The publisher says which format in the `format` attribute; old feeds don't, so sniff.
    pub fn detect(hint: Option<&str>, bytes: &[u8]) -> ErpFormat {
        match hint {
            Some("erp-json") => ErpFormat::Json,
            Some("erp-csv") => ErpFormat::Csv,
            _ if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => ErpFormat::Json,
            _ => ErpFormat::Csv,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("record is {actual} bytes, over the {limit}-byte limit")]
    Oversize { limit: usize, actual: usize },
    #[error("bad base64 in message data: {0}")]
    BadBase64(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("wrong schema: {0}")]
    WrongSchema(String),
    #[error("malformed CSV line: {0}")]
    MalformedCsv(String),
    #[error("unknown record type {0:?}")]
    UnknownRecordType(String),
    #[error("negative price {0}")]
    NegativePrice(String),
    #[error("bad timestamp {0:?}")]
    BadTimestamp(String),
    #[error("{0}")]
    Invalid(#[from] ValueError),
}

impl Rejection {
    /// Stable machine-readable reason, carried in the dead letter.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Oversize { .. } => "oversize",
            Rejection::BadBase64(_) => "bad_base64",
            Rejection::MalformedJson(_) => "malformed_json",
            Rejection::WrongSchema(_) => "wrong_schema",
            Rejection::MalformedCsv(_) => "malformed_csv",
            Rejection::UnknownRecordType(_) => "unknown_record_type",
            Rejection::NegativePrice(_) => "negative_price",
            Rejection::BadTimestamp(_) => "bad_timestamp",
            Rejection::Invalid(v) => match v {
                ValueError::UnknownCurrency(_) => "unknown_currency",
                ValueError::NegativeQuantity(_) => "negative_quantity",
                ValueError::QuantityTooLarge(_) => "quantity_too_large",
                ValueError::InvalidSku(_) => "invalid_sku",
                ValueError::BadDecimal(_) | ValueError::TooManyDecimals { .. } => "bad_amount",
                _ => "invalid_value",
            },
        }
    }
}

/// A canonical merchandising change, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum MerchChange {
    Price(CloudEvent<PriceChanged>),
    Inventory(CloudEvent<InventoryChanged>),
}

impl MerchChange {
    pub fn id(&self) -> &str {
        match self {
            MerchChange::Price(e) => &e.id,
            MerchChange::Inventory(e) => &e.id,
        }
    }
    pub fn topic(&self) -> &'static str {
        match self {
            MerchChange::Price(_) => PriceChanged::TOPIC,
            MerchChange::Inventory(_) => InventoryChanged::TOPIC,
        }
    }
    pub fn sku(&self) -> &Sku {
        match self {
            MerchChange::Price(e) => &e.data.sku,
            MerchChange::Inventory(e) => &e.data.sku,
        }
    }
    pub fn version(&self) -> u64 {
        match self {
            MerchChange::Price(e) => e.data.version,
            MerchChange::Inventory(e) => e.data.version,
        }
    }
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            MerchChange::Price(e) => e.to_json(),
            MerchChange::Inventory(e) => e.to_json(),
        }
    }
    /// Decodes a canonical change from the bus in one pass; the type attribute picks the variant.
    pub fn decode(bytes: &[u8]) -> Result<MerchChange, crate::cloudevent::DecodeError> {
        crate::merch_decode::decode(bytes)
    }
    /// [`MerchChange::decode`] of text (a Kafka value the Functions host sent as a string).
    pub fn decode_text(text: &str) -> Result<MerchChange, crate::cloudevent::DecodeError> {
        crate::merch_decode::decode_text(text)
    }
}

/// An ERP JSON record, read in one pass, its strings borrowed from the input where they can be;
/// which fields are required depends on `recordType`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRecord<'a> {
    #[serde(borrow)]
    record_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    erp_system: Option<Cow<'a, str>>,
    sequence: Option<u64>,
    #[serde(borrow)]
    sku: Option<Cow<'a, str>>,
    #[serde(borrow)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow)]
    price: Option<Cow<'a, str>>,
    #[serde(borrow)]
    currency: Option<Cow<'a, str>>,
    #[serde(borrow)]
    valid_from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    location: Option<Cow<'a, str>>,
    on_hand: Option<i64>,
    #[serde(borrow)]
    changed_at: Option<Cow<'a, str>>,
}

fn required<T>(v: Option<T>, field: &str) -> Result<T, Rejection> {
    v.ok_or_else(|| Rejection::WrongSchema(format!("missing field `{field}`")))
}

/// Normalises one ERP record. `bytes` is the decoded message data.
pub fn normalize(bytes: &[u8], format: ErpFormat) -> Result<MerchChange, Rejection> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(Rejection::Oversize { limit: MAX_RECORD_BYTES, actual: bytes.len() });
    }
    match format {
        ErpFormat::Json => normalize_json(bytes),
        ErpFormat::Csv => normalize_csv(bytes),
    }
}

fn normalize_json(bytes: &[u8]) -> Result<MerchChange, Rejection> {
    let r: JsonRecord = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Rejection::MalformedJson(e.to_string())
        } else {
            Rejection::WrongSchema(e.to_string())
        }
    })?;
    let kind = required(r.record_type, "recordType")?;
    match kind.as_ref() {
        "PRICE" => price_change(
            &required(r.erp_system, "erpSystem")?,
            required(r.sequence, "sequence")?,
            &required(r.sku, "sku")?,
            &required(r.region, "region")?,
            &required(r.price, "price")?,
            &required(r.currency, "currency")?,
            parse_rfc3339(&required(r.valid_from, "validFrom")?)?,
        ),
        "STOCK" => stock_change(
            &required(r.erp_system, "erpSystem")?,
            required(r.sequence, "sequence")?,
            &required(r.sku, "sku")?,
            &required(r.location, "location")?,
            required(r.on_hand, "onHand")?,
            parse_rfc3339(&required(r.changed_at, "changedAt")?)?,
        ),
        _ => Err(Rejection::UnknownRecordType(kind.into_owned())),
    }
}

fn normalize_csv(bytes: &[u8]) -> Result<MerchChange, Rejection> {
    let line = std::str::from_utf8(bytes).map_err(|_| Rejection::MalformedCsv("not UTF-8".into()))?;
    let line = line.trim_end_matches(['\r', '\n']);
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 8 {
        return Err(Rejection::MalformedCsv(format!("expected 8 fields, found {}", f.len())));
    }
    let seq: u64 = f[2].trim().parse().map_err(|_| Rejection::MalformedCsv(format!("sequence {:?}", f[2])))?;
    let at = parse_compact(f[7].trim())?;
    match f[0].trim() {
        "PRC" => price_change(f[1].trim(), seq, f[3], f[4], f[5], f[6], at),
        "STK" => {
            let qty: i64 = f[5].trim().parse().map_err(|_| Rejection::MalformedCsv(format!("on hand {:?}", f[5])))?;
            stock_change(f[1].trim(), seq, f[3], f[4], qty, at)
        }
        other => Err(Rejection::UnknownRecordType(other.to_string())),
    }
}

fn event_id(erp: &str, seq: u64) -> String {
    // One ERP sequence number names one change: a redelivered record gets the same id.
    format!("erp-{erp}-{seq}")
}

fn check_erp(erp: &str) -> Result<(), Rejection> {
    let ok = !erp.is_empty() && erp.len() <= 32 && erp.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok { Ok(()) } else { Err(Rejection::WrongSchema(format!("erpSystem {erp:?}"))) }
}

fn price_change(
    erp: &str,
    seq: u64,
    sku: &str,
    region: &str,
    amount: &str,
    currency: &str,
    at: DateTime<Utc>,
) -> Result<MerchChange, Rejection> {
    check_erp(erp)?;
    let sku = Sku::normalize(sku)?;
    let region = Region::parse(&region.trim().to_ascii_uppercase())?;
    let price = Money::parse_decimal(amount, Currency::parse(currency)?)?;
    if price.amount_minor < 0 {
        return Err(Rejection::NegativePrice(amount.trim().to_string()));
    }
    let data = PriceChanged { sku, region, price, version: seq, erp_system: erp.to_string(), effective_at: at };
    Ok(MerchChange::Price(CloudEvent::new(event_id(erp, seq), SOURCE, at, data)))
}

fn stock_change(
    erp: &str,
    seq: u64,
    sku: &str,
    location: &str,
    on_hand: i64,
    at: DateTime<Utc>,
) -> Result<MerchChange, Rejection> {
    check_erp(erp)?;
    let sku = Sku::normalize(sku)?;
    let location = LocationId::parse(&location.trim().to_ascii_uppercase())?;
    let on_hand = Quantity::new(on_hand)?;
    let data = InventoryChanged { sku, location, on_hand, version: seq, erp_system: erp.to_string(), effective_at: at };
    Ok(MerchChange::Inventory(CloudEvent::new(event_id(erp, seq), SOURCE, at, data)))
}

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, Rejection> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| Rejection::BadTimestamp(s.into()))
}

fn parse_compact(s: &str) -> Result<DateTime<Utc>, Rejection> {
    NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").map(|t| t.and_utc()).map_err(|_| Rejection::BadTimestamp(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Result<MerchChange, Rejection> {
        normalize(s.as_bytes(), ErpFormat::detect(None, s.as_bytes()))
    }

    const PRICE: &str = r#"{"recordType":"PRICE","erpSystem":"sap-eu","sequence":184467,"sku":" tsh-001-blk-m ",
        "region":"eu","price":"19.99","currency":"EUR","validFrom":"2026-11-20T09:15:02Z"}"#;

    #[test]
    fn json_price_becomes_canonical_event() {
        let MerchChange::Price(e) = json(PRICE).unwrap() else { panic!("expected a price") };
        assert_eq!(e.id, "erp-sap-eu-184467");
        assert_eq!(e.ty, "com.shop.merch.price-changed.v1");
        assert_eq!(e.subject.as_deref(), Some("TSH-001-BLK-M"));
        assert_eq!(e.data.sku.as_str(), "TSH-001-BLK-M");
        assert_eq!(e.data.region.as_str(), "EU");
        assert_eq!(e.data.price.amount_minor, 1999);
        assert_eq!(e.data.version, 184467);
    }

    #[test]
    fn csv_lines_of_both_kinds_parse() {
        let p = normalize(b"PRC,as400-us,77,abc-1,US,5.00,USD,20261120091502\r\n", ErpFormat::Csv).unwrap();
        assert_eq!(p.topic(), "merch.price-changed");
        assert_eq!(p.version(), 77);
        let MerchChange::Inventory(s) =
            normalize(b"STK,as400-us,78,abc-1,wh-nyc-2,12,,20261120091503", ErpFormat::Csv).unwrap()
        else {
            panic!("expected stock")
        };
        assert_eq!(s.data.on_hand.get(), 12);
        assert_eq!(s.data.location.as_str(), "WH-NYC-2");
        assert_eq!(s.time.to_rfc3339(), "2026-11-20T09:15:03+00:00");
    }

    #[test]
    fn each_kind_of_bad_record_has_its_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"{\"recordType\":", "malformed_json"),
            (br#"{"recordType":"PRICE","sku":"A"}"#, "wrong_schema"),
            (br#"{"sku":"A"}"#, "wrong_schema"),
            (br#"{"recordType":"PROMO"}"#, "unknown_record_type"),
            (b"PRC,sap,1,A,EU,1.00,EUR", "malformed_csv"),
            (b"PRC,sap,1,A,EU,1.00,XXQ,20261120091502", "unknown_currency"),
            (b"PRC,sap,1,A,EU,-1.00,EUR,20261120091502", "negative_price"),
            (b"PRC,sap,1,A,EU,1.001,EUR,20261120091502", "bad_amount"),
            (b"STK,sap,1,A,WH-1,-4,,20261120091502", "negative_quantity"),
            (b"STK,sap,1,bad sku,WH-1,4,,20261120091502", "invalid_sku"),
            (b"STK,sap,1,A,WH-1,4,,2026-11-20", "bad_timestamp"),
            (b"XXX,sap,1,A,WH-1,4,,20261120091502", "unknown_record_type"),
        ];
        for (input, code) in cases {
            let err = normalize(input, ErpFormat::detect(None, input)).unwrap_err();
            assert_eq!(err.code(), *code, "{}: {err}", String::from_utf8_lossy(input));
        }
        let price_as_float = PRICE.replace("\"19.99\"", "19.99");
        assert_eq!(json(&price_as_float).unwrap_err().code(), "wrong_schema");
    }

    #[test]
    fn oversize_records_are_rejected_before_parsing() {
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        assert_eq!(
            normalize(&big, ErpFormat::Json).unwrap_err(),
            Rejection::Oversize { limit: MAX_RECORD_BYTES, actual: MAX_RECORD_BYTES + 1 }
        );
    }

    #[test]
    fn canonical_events_round_trip_through_decode() {
        let change = json(PRICE).unwrap();
        assert_eq!(MerchChange::decode(&change.to_json()).unwrap(), change);
        assert_eq!(MerchChange::decode_text(std::str::from_utf8(&change.to_json()).unwrap()).unwrap(), change);
        assert!(MerchChange::decode(b"not json").is_err());
    }
}
