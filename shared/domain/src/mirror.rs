//! How a Kafka record travels on Pub/Sub (kafka-pubsub-bridge writes it, audit-sink and replay
//! read it back): its position as attributes, and its key by one scheme that fits Pub/Sub's
//! limits (`crate::pubsub`) whatever the key's length.
//!
//! - A key of at most 1,024 bytes is the ordering key and the `kafka_key` attribute.
//! - A longer one orders by `sha256:<hex of the key>` (per-key order holds: one key, one hash)
//!   and travels base64-encoded across numbered attributes `kafka_key_b64_0`, `_1`, … of at most
//!   1,024 characters each, with no `kafka_key`.
//! - A key that needs more attributes than the message has left ([`MAX_KEY_BYTES`]) cannot
//!   travel at all: [`KeyTooLong`], which the bridge dead-letters as `key_too_long`.
use crate::dead_letter::sha256_hex;
use crate::pubsub::{MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_ORDERING_KEY_BYTES};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

/// The attributes of a mirrored record.
pub mod attrs {
    pub const TOPIC: &str = "kafka_topic";
    pub const PARTITION: &str = "kafka_partition";
    pub const OFFSET: &str = "kafka_offset";
    /// A key that fits an attribute, as it is.
    pub const KEY: &str = "kafka_key";
    /// A longer key, base64, in pieces: `kafka_key_b64_0`, `kafka_key_b64_1`, …
    pub const KEY_B64: &str = "kafka_key_b64_";
}

/// The attributes a key may take: Pub/Sub's 100 less topic, partition and offset.
pub const MAX_KEY_ATTRIBUTES: usize = MAX_ATTRIBUTES - 3;
/// The longest key that travels: its base64 fills [`MAX_KEY_ATTRIBUTES`] attributes (74,496 bytes).
pub const MAX_KEY_BYTES: usize = MAX_KEY_ATTRIBUTES * MAX_ATTRIBUTE_VALUE_BYTES / 4 * 3;

/// A Kafka key as it travels on Pub/Sub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredKey {
    pub ordering_key: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key of {bytes} bytes is over the {MAX_KEY_BYTES} bytes a Pub/Sub message can carry")]
pub struct KeyTooLong {
    pub bytes: usize,
}

/// Why the key attributes of a message do not give a key back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key attributes {0}0.. are not contiguous: {1} of them, {2} in sequence")]
    Gap(&'static str, usize, usize),
    #[error("key attributes are not base64: {0}")]
    NotBase64(String),
    #[error("key attributes are not UTF-8 text")]
    NotUtf8,
}

/// The ordering key of a key too long to be one.
pub fn long_key_ordering(key: &str) -> String {
    format!("sha256:{}", sha256_hex(key.as_bytes()))
}

/// How `key` travels: as itself when it fits, else hashed and in base64 pieces.
pub fn encode(key: &str) -> Result<MirroredKey, KeyTooLong> {
    if key.len() <= MAX_ORDERING_KEY_BYTES && key.len() <= MAX_ATTRIBUTE_VALUE_BYTES {
        let attributes = vec![(attrs::KEY.to_string(), key.to_string())];
        return Ok(MirroredKey { ordering_key: key.to_string(), attributes });
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyTooLong { bytes: key.len() });
    }
    let b64 = STANDARD.encode(key.as_bytes());
    // Base64 is ASCII, so any cut is a character boundary.
    let attributes = b64
        .as_bytes()
        .chunks(MAX_ATTRIBUTE_VALUE_BYTES)
        .enumerate()
        .map(|(i, piece)| (format!("{}{i}", attrs::KEY_B64), String::from_utf8_lossy(piece).into_owned()))
        .collect();
    Ok(MirroredKey { ordering_key: long_key_ordering(key), attributes })
}

/// The key a message's attributes carry: the pieces put together when there are any, else
/// `kafka_key`, else None (a message that was not mirrored from Kafka).
pub fn decode(attributes: &BTreeMap<String, String>) -> Result<Option<String>, KeyError> {
    let pieces = attributes.keys().filter(|k| k.starts_with(attrs::KEY_B64)).count();
    if pieces == 0 {
        return Ok(attributes.get(attrs::KEY).cloned());
    }
    let in_sequence: Vec<&String> = (0..).map_while(|i| attributes.get(&format!("{}{i}", attrs::KEY_B64))).collect();
    if in_sequence.len() != pieces {
        return Err(KeyError::Gap(attrs::KEY_B64, pieces, in_sequence.len()));
    }
    let b64: String = in_sequence.into_iter().map(String::as_str).collect();
    let bytes = STANDARD.decode(b64).map_err(|e| KeyError::NotBase64(e.to_string()))?;
    String::from_utf8(bytes).map(Some).map_err(|_| KeyError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(m: &MirroredKey) -> BTreeMap<String, String> {
        m.attributes.iter().cloned().collect()
    }

    #[test]
    fn a_key_that_fits_is_the_ordering_key_and_kafka_key_as_before() {
        for key in ["", "SKU-1", &"k".repeat(1024)] {
            let m = encode(key).expect("fits");
            assert_eq!(m.ordering_key, key);
            assert_eq!(m.attributes, [(attrs::KEY.to_string(), key.to_string())]);
            assert_eq!(decode(&attributes(&m)), Ok(Some(key.to_string())));
        }
    }

    #[test]
    fn a_longer_key_orders_by_its_hash_and_travels_in_base64_pieces() {
        let key = "é".repeat(1000) + "tail"; // 2,004 bytes: base64 of 2,672 characters, three pieces
        let m = encode(&key).expect("travels");
        assert_eq!(m.ordering_key, format!("sha256:{}", sha256_hex(key.as_bytes())));
        assert!(m.ordering_key.len() <= MAX_ORDERING_KEY_BYTES);
        let names: Vec<&str> = m.attributes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["kafka_key_b64_0", "kafka_key_b64_1", "kafka_key_b64_2"]);
        assert!(m.attributes.iter().all(|(_, v)| v.len() <= MAX_ATTRIBUTE_VALUE_BYTES));
        assert_eq!(m.attributes[2].1.len(), 2672 - 2048);
        assert_eq!(decode(&attributes(&m)), Ok(Some(key)));
    }

    #[test]
    fn the_longest_key_fills_the_attributes_left_and_one_byte_more_is_too_long() {
        let longest = "k".repeat(MAX_KEY_BYTES);
        let m = encode(&longest).expect("the longest");
        assert_eq!((m.attributes.len(), MAX_KEY_BYTES), (MAX_KEY_ATTRIBUTES, 74_496));
        assert_eq!(decode(&attributes(&m)), Ok(Some(longest)));
        assert_eq!(encode(&"k".repeat(MAX_KEY_BYTES + 1)), Err(KeyTooLong { bytes: MAX_KEY_BYTES + 1 }));
    }

    #[test]
    fn pieces_that_do_not_add_up_are_an_error_not_a_shorter_key() {
        let m = encode(&"k".repeat(3000)).expect("travels");
        let mut a = attributes(&m);
        a.remove("kafka_key_b64_1");
        assert_eq!(decode(&a), Err(KeyError::Gap(attrs::KEY_B64, 3, 1)));
        let mut a = attributes(&m);
        a.insert("kafka_key_b64_0".into(), "not base64!".into());
        assert!(matches!(decode(&a), Err(KeyError::NotBase64(_))));
        let a = BTreeMap::from([("kafka_key_b64_0".to_string(), STANDARD.encode([0xff, 0xfe]))]);
        assert_eq!(decode(&a), Err(KeyError::NotUtf8));
        assert_eq!(decode(&BTreeMap::new()), Ok(None), "not mirrored from Kafka");
    }
}
