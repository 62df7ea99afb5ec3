//! Value types that cannot hold invalid values: every constructor parses.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("unknown currency {0:?} (not an active ISO 4217 code)")]
    UnknownCurrency(String),
    #[error("invalid sku {0:?}: 1-64 chars of A-Z 0-9 - _ .")]
    InvalidSku(String),
    #[error("invalid order id {0:?}")]
    InvalidOrderId(String),
    #[error("invalid {kind} {value:?}")]
    InvalidCode { kind: &'static str, value: String },
    #[error("negative quantity {0}")]
    NegativeQuantity(i64),
    #[error("quantity {0} exceeds {max}", max = Quantity::MAX)]
    QuantityTooLarge(i64),
    #[error("bad decimal amount {0:?}")]
    BadDecimal(String),
    #[error("amount {amount:?} has more decimals than {currency} allows ({exponent})")]
    TooManyDecimals { amount: String, currency: String, exponent: u8 },
    #[error("risk score {0} outside 0..=1000")]
    RiskScoreOutOfRange(i64),
}

/// Active ISO 4217 codes with their minor-unit exponent. Codes not listed are rejected.
const ISO_4217: &str = "AED2 AFN2 ALL2 AMD2 ANG2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BGN2 BHD3 BIF0 BMD2 \
BND2 BOB2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHF2 CLF4 CLP0 CNY2 COP2 CRC2 CUP2 CVE2 CZK2 DJF0 DKK2 DOP2 \
DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2 GEL2 GHS2 GIP2 GMD2 GNF0 GTQ2 GYD2 HKD2 HNL2 HTG2 HUF2 IDR2 ILS2 INR2 \
IQD3 IRR2 ISK0 JMD2 JOD3 JPY0 KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2 LBP2 LKR2 LRD2 LSL2 LYD3 MAD2 \
MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MYR2 MZN2 NAD2 NGN2 NIO2 NOK2 NPR2 NZD2 OMR3 PAB2 PEN2 \
PGK2 PHP2 PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0 SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SOS2 SRD2 SSP2 STN2 \
SVC2 SYP2 SZL2 THB2 TJS2 TMT2 TND3 TOP2 TRY2 TTD2 TWD2 TZS2 UAH2 UGX0 USD2 UYU2 UZS2 VES2 VND0 VUV0 WST2 XAF0 \
XCD2 XOF0 XPF0 YER2 ZAR2 ZMW2 ZWG2";

/// ISO 4217 currency code: three upper-case letters of an active currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Currency([u8; 3], u8);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, ValueError> {
        let unknown = || ValueError::UnknownCurrency(code.trim().to_string());
        let b = code.trim().as_bytes();
        if b.len() != 3 {
            return Err(unknown());
        }
        let want = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase(), b[2].to_ascii_uppercase()];
        // The table is sorted and every entry is "CCCd" plus one separator: binary search it.
        let table = ISO_4217.as_bytes();
        let entries = table.len().div_ceil(5);
        let (mut lo, mut hi) = (0, entries);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = &table[mid * 5..mid * 5 + 4];
            match e[..3].cmp(&want) {
                std::cmp::Ordering::Equal => return Ok(Currency(want, e[3] - b'0')),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(unknown())
    }
    pub fn code(&self) -> &str {
        // The bytes came from the ASCII table above.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
    /// Digits after the decimal point in this currency's minor unit (EUR 2, JPY 0, KWD 3).
    pub fn exponent(&self) -> u8 {
        self.1
    }
}
impl TryFrom<String> for Currency {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        Currency::parse(&s)
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Money as integer minor units plus currency. No floats anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Money { amount_minor, currency }
    }
    /// Parses a decimal string such as "19.99", "-3.5" or "1200" in the currency's minor unit.
    /// More decimals than the currency has is an error, never a silent rounding.
    pub fn parse_decimal(amount: &str, currency: Currency) -> Result<Self, ValueError> {
        let bad = || ValueError::BadDecimal(amount.to_string());
        let s = amount.trim();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if digits.contains('.') && frac.is_empty() {
            return Err(bad());
        }
        let exp = currency.exponent() as usize;
        let frac_trimmed = frac.trim_end_matches('0');
        if frac_trimmed.len() > exp {
            return Err(ValueError::TooManyDecimals {
                amount: amount.to_string(),
                currency: currency.code().to_string(),
                exponent: currency.exponent(),
            });
        }
        let mut minor: i64 = int.parse().map_err(|_| bad())?;
        for i in 0..exp {
            let d = frac_trimmed.as_bytes().get(i).map_or(0, |b| (b - b'0') as i64);
            minor = minor.checked_mul(10).and_then(|m| m.checked_add(d)).ok_or_else(bad)?;
        }
        Ok(Money::new(if neg { -minor } else { minor }, currency))
    }
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.amount_minor.checked_add(other.amount_minor))
            .flatten()
            .map(|a| Money::new(a, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent() as u32;
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let div = 10u64.pow(exp);
        write!(f, "{sign}{}.{:0w$} {}", abs / div, abs % div, self.currency, w = exp as usize)
    }
}

macro_rules! code_newtype {
    ($(#[$m:meta])* $name:ident, $kind:literal, $max:expr, $valid:expr, $err:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schemars(with = "String")]
        pub struct $name(String);
        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                let s = raw.trim();
                let ok = !s.is_empty() && s.len() <= $max && s.chars().all($valid);
                if ok { Ok($name(s.to_string())) } else { Err($err(raw.to_string())) }
            }
            pub fn as_str(&self) -> &str { &self.0 }
        }
        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(s: String) -> Result<Self, ValueError> { $name::parse(&s) }
        }
        impl From<$name> for String { fn from(v: $name) -> String { v.0 } }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) }
        }
        impl AsRef<str> for $name { fn as_ref(&self) -> &str { &self.0 } }
    };
}

fn sku_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
}
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}
fn code_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'
}

code_newtype!(
    /// Stock keeping unit, upper-case (ERP feeds are normalised with `Sku::normalize`).
    Sku, "sku", 64, sku_char, ValueError::InvalidSku
);
code_newtype!(
    /// Order identifier as issued by the storefront.
    OrderId, "order id", 64, id_char, ValueError::InvalidOrderId
);
code_newtype!(
    /// Customer identifier.
    CustomerId, "customer id", 64, id_char, |v| ValueError::InvalidCode { kind: "customer id", value: v }
);
code_newtype!(
    /// Pricing region, e.g. `EU`, `US`, `UK-B2B`.
    Region, "region", 16, code_char, |v| ValueError::InvalidCode { kind: "region", value: v }
);
code_newtype!(
    /// Stock location (warehouse or store), e.g. `WH-BER-1`.
    LocationId, "location", 32, code_char, |v| ValueError::InvalidCode { kind: "location", value: v }
);

impl Sku {
    /// ERP feeds send skus in any case and with padding; the canonical form is trimmed upper-case.
    pub fn normalize(raw: &str) -> Result<Self, ValueError> {
        let up = raw.trim().to_ascii_uppercase();
        if !up.is_empty() && up.len() <= 64 && up.chars().all(sku_char) {
            Ok(Sku(up))
        } else {
            Err(ValueError::InvalidSku(raw.to_string()))
        }
    }
}

/// A count of units: never negative, bounded so sums cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "i64", into = "i64")]
#[schemars(with = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: i64 = 1_000_000_000;
    pub fn new(n: i64) -> Result<Self, ValueError> {
        if n < 0 {
            Err(ValueError::NegativeQuantity(n))
        } else if n > Self::MAX {
            Err(ValueError::QuantityTooLarge(n))
        } else {
            Ok(Quantity(n as u32))
        }
    }
    pub fn get(&self) -> u32 {
        self.0
    }
}
impl TryFrom<i64> for Quantity {
    type Error = ValueError;
    fn try_from(n: i64) -> Result<Self, ValueError> {
        Quantity::new(n)
    }
}
impl From<Quantity> for i64 {
    fn from(q: Quantity) -> i64 {
        q.0 as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn currency_table_is_sorted_with_a_fixed_stride() {
        let entries: Vec<&str> = ISO_4217.split(' ').collect();
        assert!(entries.iter().all(|e| e.len() == 4 && e[..3].bytes().all(|b| b.is_ascii_uppercase())));
        assert!(entries.windows(2).all(|w| w[0] < w[1]), "ISO_4217 must stay sorted for the binary search");
        for e in &entries {
            assert_eq!(Currency::parse(&e[..3]).unwrap().code(), &e[..3]);
        }
    }

    #[test]
    fn currency_knows_exponents_and_rejects_unknown_codes() {
        assert_eq!(Currency::parse("jpy").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("XXZ"), Err(ValueError::UnknownCurrency("XXZ".into())));
        assert!(Currency::parse("EU").is_err());
    }

    #[test]
    fn money_parses_decimal_strings_exactly() {
        assert_eq!(Money::parse_decimal("19.99", eur()).unwrap().amount_minor, 1999);
        assert_eq!(Money::parse_decimal("19.9", eur()).unwrap().amount_minor, 1990);
        assert_eq!(Money::parse_decimal("20", eur()).unwrap().amount_minor, 2000);
        assert_eq!(Money::parse_decimal("-0.05", eur()).unwrap().amount_minor, -5);
        assert_eq!(Money::parse_decimal("1.500", eur()).unwrap().amount_minor, 150);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse_decimal("1200", jpy).unwrap().amount_minor, 1200);
        assert!(matches!(Money::parse_decimal("12.5", jpy), Err(ValueError::TooManyDecimals { .. })));
        assert!(matches!(Money::parse_decimal("1.999", eur()), Err(ValueError::TooManyDecimals { .. })));
        for bad in ["", "abc", "1,00", "1.", ".5", "1e3", "99999999999999999999"] {
            assert!(Money::parse_decimal(bad, eur()).is_err(), "{bad} must not parse");
        }
    }

    #[test]
    fn money_displays_in_major_units() {
        assert_eq!(Money::new(1999, eur()).to_string(), "19.99 EUR");
        assert_eq!(Money::new(-5, eur()).to_string(), "-0.05 EUR");
        assert_eq!(Money::new(1200, Currency::parse("JPY").unwrap()).to_string(), "1200 JPY");
    }

    #[test]
    fn money_adds_only_same_currency() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(Money::new(1, eur()).checked_add(Money::new(2, eur())), Some(Money::new(3, eur())));
        assert_eq!(Money::new(1, eur()).checked_add(Money::new(2, usd)), None);
    }

    #[test]
    fn skus_and_quantities_parse() {
        assert_eq!(Sku::normalize("  ab-12 ").unwrap().as_str(), "AB-12");
        assert!(Sku::parse("ab-12").is_err());
        assert!(Sku::normalize("has space").is_err());
        assert!(Sku::normalize("").is_err());
        assert_eq!(Quantity::new(-1), Err(ValueError::NegativeQuantity(-1)));
        assert_eq!(Quantity::new(7).unwrap().get(), 7);
        let q: Result<Quantity, _> = serde_json::from_str("-3");
        assert!(q.is_err());
        let s: Result<Sku, _> = serde_json::from_str("\"bad sku\"");
        assert!(s.is_err());
    }
}
