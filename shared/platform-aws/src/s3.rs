//! S3 ObjectCreated notifications. Keys arrive URL-encoded with `+` for a space.
use crate::{EnvelopeError, parse_envelope};
use aws_lambda_events::event::s3::S3Event;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    /// The decoded key, as stored.
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
    /// Orders events for the same key; S3 may deliver them out of order.
    pub sequencer: Option<String>,
    pub event_time: DateTime<Utc>,
}

/// The created objects of an S3 event; other event names (deletes, restores) are skipped.
/// A record whose key cannot be decoded fails alone.
pub fn created_objects(bytes: &[u8]) -> Result<Vec<Result<CreatedObject, EnvelopeError>>, EnvelopeError> {
    let event: S3Event = parse_envelope(bytes, "S3")?;
    Ok(event
        .records
        .into_iter()
        .filter(|r| r.event_name.as_deref().is_some_and(|n| n.starts_with("ObjectCreated:")))
        .map(|r| {
            let raw = r.s3.object.key.unwrap_or_default();
            Ok(CreatedObject {
                bucket: r.s3.bucket.name.unwrap_or_default(),
                key: decode_key(&raw)?,
                size: r.s3.object.size.unwrap_or(0),
                etag: r.s3.object.e_tag,
                sequencer: r.s3.object.sequencer,
                event_time: r.event_time,
            })
        })
        .collect())
}

/// S3 notification keys are form-URL-encoded: `+` is a space, `%XX` a byte of UTF-8.
pub fn decode_key(raw: &str) -> Result<String, EnvelopeError> {
    let bad = || EnvelopeError::BadKeyEncoding(raw.to_string());
    let mut out = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly (from_str_radix alone would take "+A").
                let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit)).ok_or_else(bad)?;
                let s = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_plus_and_percent() {
        assert_eq!(decode_key("uploads/red+shirt%281%29.jpg").unwrap(), "uploads/red shirt(1).jpg");
        assert_eq!(decode_key("uploads/caf%C3%A9.png").unwrap(), "uploads/café.png");
        assert_eq!(decode_key("a%2Bb").unwrap(), "a+b");
        assert!(decode_key("bad%zz").is_err());
        assert!(decode_key("trunc%4").is_err());
        assert!(decode_key("%FF").is_err(), "not UTF-8");
        assert!(decode_key("a%+Ab").is_err(), "a sign is not a hex digit");
    }
}
