//! A UTC time written as chrono's serde writes it (`2026-11-20T09:15:02Z`, with 3, 6 or 9
//! fraction digits when there are any), straight into a stack buffer instead of through
//! `core::fmt` one character at a time, which was a fifth of serialising an event. Used as
//! `#[serde(serialize_with = "crate::rfc3339::serialize")]` on the times every event and
//! document carries; reading is chrono's. A time this does not cover (a leap second, a year
//! outside 0..=9999) is chrono's own, so the bytes are always chrono's.
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` at its longest.
const LONGEST: usize = 30;

pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; LONGEST];
    match write(time, &mut buf) {
        // Only ASCII digits and separators were written.
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => time.serialize(serializer),
    }
}

/// For `Option<DateTime<Utc>>` fields (with `skip_serializing_if = "Option::is_none"`).
pub fn serialize_option<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serialize(time, serializer),
        None => serializer.serialize_none(),
    }
}

/// The text's length, or None where chrono's own writing is needed.
fn write(time: &DateTime<Utc>, buf: &mut [u8; LONGEST]) -> Option<usize> {
    let (date, clock) = (time.date_naive(), time.time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = clock.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    digits(&mut buf[0..4], year);
    buf[4] = b'-';
    digits(&mut buf[5..7], date.month());
    buf[7] = b'-';
    digits(&mut buf[8..10], date.day());
    buf[10] = b'T';
    digits(&mut buf[11..13], clock.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], clock.minute());
    buf[16] = b':';
    digits(&mut buf[17..19], clock.second());
    // chrono's `SecondsFormat::AutoSi`: as few digits as show the fraction, in groups of three.
    let (fraction, places) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut len = 19;
    if places > 0 {
        buf[len] = b'.';
        digits(&mut buf[len + 1..len + 1 + places], fraction);
        len += 1 + places;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// `value` in exactly `out.len()` decimal digits, zero-padded.
fn digits(out: &mut [u8], mut value: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn ours(t: &DateTime<Utc>) -> String {
        serialize(t, serde_json::value::Serializer).expect("serialises").as_str().expect("a string").to_string()
    }

    fn chronos(t: &DateTime<Utc>) -> String {
        serde_json::to_value(t).expect("serialises").as_str().expect("a string").to_string()
    }

    /// Byte for byte chrono's text, over years, days, times and each kind of fraction, and the
    /// times it leaves to chrono (leap seconds, years before 0 or past 9999).
    #[test]
    fn writes_what_chrono_writes() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |below: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % below
        };
        let fractions = |r: u64| match r % 4 {
            0 => 0,
            1 => 1_000_000 * (r % 1000) as u32,
            2 => 1_000 * (r % 1_000_000) as u32,
            _ => (r % 1_000_000_000) as u32,
        };
        let mut times = Vec::new();
        for _ in 0..20_000 {
            let secs = next(253_402_300_800) as i64; // 0001-01-01 .. 9999-12-31 from 1970, both ways
            let secs = if next(2) == 0 { secs - 62_135_596_800 } else { secs.min(253_402_300_799) };
            let nanos = fractions(next(u64::MAX));
            times.push(Utc.timestamp_opt(secs, nanos).single().expect("in range"));
        }
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31).and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000));
        times.push(Utc.from_utc_datetime(&leap.expect("a leap second")));
        times.push(Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).single().expect("year 0"));
        times.push(Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).single().expect("year -1"));
        times.push(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).single().expect("year 10000"));
        times.push(
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single().expect("year 9999")
                + chrono::Duration::nanoseconds(999_999_999),
        );
        for t in &times {
            assert_eq!(ours(t), chronos(t), "{t:?}");
        }
        assert_eq!(ours(&Utc.with_ymd_and_hms(2026, 11, 20, 9, 15, 2).single().expect("time")), "2026-11-20T09:15:02Z");
    }

    #[test]
    fn an_absent_time_is_null_and_a_present_one_the_same_text() {
        let t =
            Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).single().expect("time") + chrono::Duration::milliseconds(5);
        let present = serialize_option(&Some(t), serde_json::value::Serializer).expect("serialises");
        assert_eq!(present, serde_json::json!("2026-11-30T23:00:00.005Z"));
        assert_eq!(
            serialize_option(&None, serde_json::value::Serializer).expect("serialises"),
            serde_json::Value::Null
        );
    }
}
