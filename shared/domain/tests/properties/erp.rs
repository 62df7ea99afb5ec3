//! `merch::normalize`: an ERP record in JSON or CSV is a canonical change with the record's
//! values or a typed `Rejection`; a change re-encodes and decodes to itself; the same record in
//! either format gives the same change.
use chrono::{DateTime, Utc};
use domain::cloudevent::CloudEvent;
use domain::events::{InventoryChanged, PriceChanged};
use domain::merch::{ErpFormat, MAX_RECORD_BYTES, MerchChange, SOURCE, normalize};
use domain::values::{Currency, LocationId, Money, Quantity, Region, Sku};
use proptest::prelude::*;

/// The ERP records inside the Pub/Sub fixtures (base64 `message.data`), JSON and CSV.
fn records() -> Vec<Vec<u8>> {
    use base64::Engine;
    let records: Vec<Vec<u8>> = property_inputs::fixtures("gcp/pubsub-push")
        .iter()
        .filter_map(|f| serde_json::from_slice::<serde_json::Value>(f).ok())
        .filter_map(|v| base64::engine::general_purpose::STANDARD.decode(v["message"]["data"].as_str()?).ok())
        .filter(|data| !data.starts_with(b"{\"specversion"))
        .collect();
    assert!(records.iter().any(|r| r.starts_with(b"STK,")) && records.len() >= 5, "{} ERP records", records.len());
    records
}

fn check(bytes: &[u8], format: ErpFormat) -> Result<(), TestCaseError> {
    match normalize(bytes, format) {
        Ok(change) => {
            prop_assert_eq!(MerchChange::decode(&change.to_json()).ok(), Some(change.clone()), "re-encoded");
            let erp = match &change {
                MerchChange::Price(e) => &e.data.erp_system,
                MerchChange::Inventory(e) => &e.data.erp_system,
            };
            prop_assert_eq!(change.id(), format!("erp-{erp}-{}", change.version()));
        }
        Err(r) if bytes.len() > MAX_RECORD_BYTES => prop_assert_eq!(r.code(), "oversize"),
        Err(r) => prop_assert_ne!(r.code(), "oversize"),
    }
    Ok(())
}

/// A record as the ERP system meant it, and the change it must become.
#[derive(Debug, Clone)]
struct Record {
    erp: String,
    sequence: u64,
    sku: String,
    at: DateTime<Utc>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Price { region: String, minor: i64, currency: &'static str },
    Stock { location: String, on_hand: i64 },
}

fn record() -> impl Strategy<Value = Record> {
    let kind = prop_oneof![
        (
            "[A-Z0-9-]{1,16}",
            -10_000_000_000i64..10_000_000_000,
            prop::sample::select(&["EUR", "usd", "JPY", "KWD", "CLF", "GBP"][..])
        )
            .prop_map(|(region, minor, currency)| Kind::Price { region, minor, currency }),
        ("[A-Z0-9-]{1,32}", -5i64..Quantity::MAX + 5).prop_map(|(location, on_hand)| Kind::Stock { location, on_hand }),
    ];
    // Seconds of 1970..=9999 (the CSV time has four digits of year and no zone).
    ("[a-zA-Z0-9-]{1,32}", any::<u64>(), "[a-zA-Z0-9._-]{1,64}", 0i64..253_402_300_799, kind).prop_map(
        |(erp, sequence, sku, secs, kind)| Record {
            erp,
            sequence,
            sku,
            at: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            kind,
        },
    )
}

fn decimal(minor: i64, currency: &str) -> String {
    let exp = Currency::parse(currency).map_or(2, |c| c.exponent()) as u32;
    let (sign, abs, div) = (if minor < 0 { "-" } else { "" }, minor.unsigned_abs(), 10u64.pow(exp));
    if exp == 0 { format!("{sign}{abs}") } else { format!("{sign}{}.{:0w$}", abs / div, abs % div, w = exp as usize) }
}

impl Record {
    fn json(&self) -> Vec<u8> {
        let r = self;
        let v = match &r.kind {
            Kind::Price { region, minor, currency } => serde_json::json!({"recordType": "PRICE", "erpSystem": r.erp,
                "sequence": r.sequence, "sku": r.sku, "region": region, "price": decimal(*minor, currency),
                "currency": currency, "validFrom": r.at.to_rfc3339()}),
            Kind::Stock { location, on_hand } => serde_json::json!({"recordType": "STOCK", "erpSystem": r.erp,
                "sequence": r.sequence, "sku": r.sku, "location": location, "onHand": on_hand, "changedAt": r.at.to_rfc3339()}),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }

    fn csv(&self) -> Vec<u8> {
        let (r, at) = (self, self.at.format("%Y%m%d%H%M%S"));
        match &r.kind {
            Kind::Price { region, minor, currency } => {
                format!(
                    "PRC,{},{},{},{region},{},{currency},{at}\r\n",
                    r.erp,
                    r.sequence,
                    r.sku,
                    decimal(*minor, currency)
                )
            }
            Kind::Stock { location, on_hand } => {
                format!("STK,{},{},{},{location},{on_hand},,{at}", r.erp, r.sequence, r.sku)
            }
        }
        .into_bytes()
    }

    /// The change the record must become, or the reason code it must be refused with.
    fn expected(&self) -> Result<MerchChange, &'static str> {
        let id = format!("erp-{}-{}", self.erp, self.sequence);
        let sku = Sku::normalize(&self.sku).map_err(|_| "invalid_sku")?;
        let (version, erp_system, effective_at) = (self.sequence, self.erp.clone(), self.at);
        match &self.kind {
            Kind::Price { region, minor, currency } => {
                if *minor < 0 {
                    return Err("negative_price");
                }
                let price = Money::new(*minor, Currency::parse(currency).map_err(|_| "unknown_currency")?);
                let region = Region::parse(region).map_err(|_| "invalid_value")?;
                let data = PriceChanged { sku, region, price, version, erp_system, effective_at };
                Ok(MerchChange::Price(CloudEvent::new(id, SOURCE, self.at, data)))
            }
            Kind::Stock { location, on_hand } => {
                let on_hand = Quantity::new(*on_hand)
                    .map_err(|_| if *on_hand < 0 { "negative_quantity" } else { "quantity_too_large" })?;
                let location = LocationId::parse(location).map_err(|_| "invalid_value")?;
                let data = InventoryChanged { sku, location, on_hand, version, erp_system, effective_at };
                Ok(MerchChange::Inventory(CloudEvent::new(id, SOURCE, self.at, data)))
            }
        }
    }
}

proptest! {
    #![proptest_config(property_inputs::config())]

    #[test]
    fn erp_records_normalise_or_are_refused(bytes in property_inputs::mutations(records())) {
        check(&bytes, ErpFormat::detect(None, &bytes))?;
        check(&bytes, ErpFormat::Json)?;
        check(&bytes, ErpFormat::Csv)?;
    }

    #[test]
    fn an_erp_record_in_either_format_is_its_change(record in record()) {
        let want = record.expected();
        for (format, bytes) in [(ErpFormat::Json, record.json()), (ErpFormat::Csv, record.csv())] {
            prop_assert_eq!(ErpFormat::detect(None, &bytes), format);
            let got = normalize(&bytes, format).map_err(|r| r.code());
            prop_assert_eq!(&got, &want, "{}", String::from_utf8_lossy(&bytes));
        }
    }
}
