//! A deterministic, realistic ERP change feed for the demo, with what the estate must end up with
//! computed independently of the functions. Two ERP systems each own their slots (sap-eu: EU/UK
//! prices, Berlin/London stock, JSON feed; as400-us: US prices, New York stock, CSV feed), so a
//! slot's versions come from one sequence. The feed has Pub/Sub redeliveries, ERP re-sends, full
//! reordering, and every kind of bad record.
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// splitmix64: small, fast, and the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Every item twice, in shuffled order: an at-least-once delivery of them all.
    pub fn twice_shuffled<'a, T>(&mut self, items: &'a [T]) -> Vec<&'a T> {
        let mut twice: Vec<&T> = items.iter().chain(items.iter()).collect();
        for k in (1..twice.len()).rev() {
            twice.swap(k, self.below(k as u64 + 1) as usize);
        }
        twice
    }
}

/// One message as published to the `erp-changes` topic.
#[derive(Debug, Clone)]
pub struct ErpMessage {
    pub message_id: String,
    pub data: Vec<u8>,
    pub format: &'static str,
    pub publish_time: DateTime<Utc>,
    /// Breaks the push itself: bad base64 in `data`, or a body that is no envelope at all.
    pub broken: Option<Broken>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    Base64,
    Envelope,
}

#[derive(Debug, Default)]
pub struct Expected {
    /// (sku, region) → (version, amount_minor, currency)
    pub prices: BTreeMap<(String, String), (u64, i64, &'static str)>,
    /// (sku, location) → (version, on_hand)
    pub stock: BTreeMap<(String, String), (u64, u32)>,
    pub price_ids: BTreeSet<String>,
    pub inventory_ids: BTreeSet<String>,
    /// message id → reason code the DLQ must carry
    pub rejected: BTreeMap<String, &'static str>,
    /// bodies that are not Pub/Sub envelopes at all
    pub unreadable: usize,
}

pub struct Scenario {
    /// In delivery order.
    pub messages: Vec<ErpMessage>,
    pub expected: Expected,
    pub distinct_valid: usize,
    pub redeliveries: usize,
    pub resends: usize,
}

const CATEGORIES: [&str; 5] = ["TSH", "HOO", "JKT", "SNK", "CAP"];
const COLORS: [&str; 5] = ["BLK", "WHT", "RED", "NAV", "GRN"];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];
/// (region, currency, owning ERP)
const REGIONS: [(&str, &str, &str); 3] = [("EU", "EUR", "sap-eu"), ("UK", "GBP", "sap-eu"), ("US", "USD", "as400-us")];
const LOCATIONS: [(&str, &str); 3] = [("WH-BER-1", "sap-eu"), ("WH-LON-1", "sap-eu"), ("WH-NYC-2", "as400-us")];

fn sku(i: u64) -> String {
    format!(
        "{}-{:03}-{}-{}",
        CATEGORIES[(i % 5) as usize],
        i,
        COLORS[(i / 5 % 5) as usize],
        SIZES[(i / 25 % 4) as usize]
    )
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

pub fn generate(records: usize, seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).single().unwrap_or_else(Utc::now);
    let skus = (records as u64 / 15).max(8);
    let mut seq: BTreeMap<&str, u64> = BTreeMap::from([("sap-eu", 184_000), ("as400-us", 99_000)]);
    let mut expected = Expected::default();
    let mut messages = Vec::new();
    let mut next_id = 13_190_563_472_900_000u64;
    let mut mid = || {
        next_id += 1 + (next_id % 7);
        next_id.to_string()
    };
    for n in 0..records {
        let at = start + Duration::seconds(n as i64 * 2);
        let sku_name = sku(rng.below(skus));
        let is_price = rng.chance(60);
        let (slot, erp, currency) = if is_price {
            let (r, c, e) = REGIONS[rng.below(3) as usize];
            (r, e, c)
        } else {
            let (l, e) = LOCATIONS[rng.below(3) as usize];
            (l, e, "")
        };
        let s = seq.entry(erp).or_default();
        *s += 1 + rng.below(3);
        let version = *s;
        let (data, format) = if is_price {
            let minor = 499 + rng.below(19_500) as i64;
            let id = format!("erp-{erp}-{version}");
            let key = (sku_name.clone(), slot.to_string());
            if expected.prices.get(&key).is_none_or(|(v, _, _)| *v < version) {
                expected.prices.insert(key, (version, minor, currency));
            }
            expected.price_ids.insert(id);
            if erp == "sap-eu" {
                // The JSON feed sends skus in lower case, sometimes padded: normalised downstream.
                let raw_sku =
                    if rng.chance(30) { format!(" {} ", sku_name.to_lowercase()) } else { sku_name.to_lowercase() };
                let json = serde_json::json!({"recordType": "PRICE", "erpSystem": erp, "sequence": version, "sku": raw_sku,
                    "region": slot, "price": decimal(minor), "currency": currency, "validFrom": at.to_rfc3339()});
                (json.to_string().into_bytes(), "erp-json")
            } else {
                let line = format!(
                    "PRC,{erp},{version},{sku_name},{slot},{},{currency},{}",
                    decimal(minor),
                    at.format("%Y%m%d%H%M%S")
                );
                (line.into_bytes(), "erp-csv")
            }
        } else {
            let on_hand = rng.below(500) as u32;
            let key = (sku_name.clone(), slot.to_string());
            if expected.stock.get(&key).is_none_or(|(v, _)| *v < version) {
                expected.stock.insert(key, (version, on_hand));
            }
            expected.inventory_ids.insert(format!("erp-{erp}-{version}"));
            if erp == "sap-eu" {
                let json = serde_json::json!({"recordType": "STOCK", "erpSystem": erp, "sequence": version, "sku": sku_name,
                    "location": slot, "onHand": on_hand, "changedAt": at.to_rfc3339()});
                (json.to_string().into_bytes(), "erp-json")
            } else {
                let line = format!("STK,{erp},{version},{sku_name},{slot},{on_hand},,{}", at.format("%Y%m%d%H%M%S"));
                (line.into_bytes(), "erp-csv")
            }
        };
        messages.push(ErpMessage {
            message_id: mid(),
            data,
            format,
            publish_time: at + Duration::seconds(1),
            broken: None,
        });
    }
    let distinct_valid = messages.len();

    // The ERP re-sends some records under a new message id: same event id, a duplicate on Kafka.
    let mut resends = 0;
    for i in 0..distinct_valid {
        if rng.chance(3) {
            let mut again = messages[i].clone();
            again.message_id = mid();
            messages.push(again);
            resends += 1;
        }
    }

    // Every kind of bad record, about 3% of the feed. A foreign-slot change is well formed and
    // carries a version far above the owner's: applied, it would overwrite the slot for good.
    let bad_count = (records / 33).max(11);
    for i in 0..bad_count {
        let at = start + Duration::seconds(i as i64 * 7 + 1);
        let id = mid();
        let (data, format, broken, reason): (Vec<u8>, &'static str, Option<Broken>, &'static str) = match i % 11 {
            0 => (b"{\"recordType\":\"PRICE\",\"sku\":".to_vec(), "erp-json", None, "malformed_json"),
            1 => (br#"{"recordType":"PRICE","erpSystem":"sap-eu","sequence":1,"sku":"X-1","region":"EU","price":19.99,"currency":"EUR","validFrom":"2026-11-20T08:00:00Z"}"#.to_vec(), "erp-json", None, "wrong_schema"),
            2 => (b"irrelevant".to_vec(), "erp-json", Some(Broken::Base64), "bad_base64"),
            3 => (format!("{{\"recordType\":\"PRICE\",\"pad\":\"{}\"}}", "x".repeat(20_000)).into_bytes(), "erp-json", None, "oversize"),
            4 => (format!("PRC,as400-us,{},TSH-001-BLK-S,US,5.00,USX,20261120080000", 90_000 + i).into_bytes(), "erp-csv", None, "unknown_currency"),
            5 => (format!("STK,as400-us,{},TSH-001-BLK-S,WH-NYC-2,-{},,20261120080000", 90_000 + i, 1 + i).into_bytes(), "erp-csv", None, "negative_quantity"),
            6 => (format!("PRC,as400-us,{},TSH-001-BLK-S,US,-1.00,USD,20261120080000", 90_000 + i).into_bytes(), "erp-csv", None, "negative_price"),
            7 => (b"PRC,as400-us,1,TSH-001-BLK-S".to_vec(), "erp-csv", None, "malformed_csv"),
            8 => (format!("STK,as400-us,{},TSH-001-BLK-S,WH-NYC-2,3,,2026-11-20", 90_000 + i).into_bytes(), "erp-csv", None, "bad_timestamp"),
            9 => (format!("PRC,as400-us,{},{},EU,1.00,EUR,20261120080000", 900_000 + i, sku(i as u64 % skus)).into_bytes(), "erp-csv", None, "foreign_slot"),
            _ => (b"<html>502 Bad Gateway</html>".to_vec(), "erp-json", Some(Broken::Envelope), "wrong_envelope"),
        };
        if broken == Some(Broken::Envelope) {
            expected.unreadable += 1;
        } else {
            expected.rejected.insert(id.clone(), reason);
        }
        messages.push(ErpMessage { message_id: id, data, format, publish_time: at, broken });
    }

    // Any order: Pub/Sub without ordering keys promises none.
    for i in (1..messages.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        messages.swap(i, j);
    }

    // Pub/Sub redelivers some messages (same message id), some long after the first delivery.
    let mut redeliveries = 0;
    for i in 0..messages.len() {
        if rng.chance(5) {
            let later = (i + 1 + rng.below(200) as usize).min(messages.len());
            let again = messages[i].clone();
            messages.insert(later, again);
            redeliveries += 1;
        }
    }
    Scenario { messages, expected, distinct_valid, redeliveries, resends }
}
