//! What Pub/Sub accepts in a published message. The service refuses anything else with
//! INVALID_ARGUMENT (which `platform_gcp::pubsub` reports as `PortError::Rejected`); its local
//! emulator checks none of it, so the in-memory twin (`inmemory::InMemoryPubSub`) checks these,
//! and the estate's tests that publish to Pub/Sub run on the twin.
use crate::ports::OutboundMessage;

/// The longest ordering key, in bytes.
pub const MAX_ORDERING_KEY_BYTES: usize = 1024;
/// The most attributes on one message.
pub const MAX_ATTRIBUTES: usize = 100;
/// The longest attribute name, in bytes.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 256;
/// The longest attribute value, in bytes.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// The largest message: data, attributes and ordering key (10 MB, as the client batches them).
pub const MAX_MESSAGE_BYTES: usize = 10_000_000;

/// Why Pub/Sub refuses a message, as its INVALID_ARGUMENT says; None if it takes it.
pub fn refusal(msg: &OutboundMessage) -> Option<String> {
    if msg.key.len() > MAX_ORDERING_KEY_BYTES {
        return Some(format!("ordering key of {} bytes is over {MAX_ORDERING_KEY_BYTES}", msg.key.len()));
    }
    if msg.headers.len() > MAX_ATTRIBUTES {
        return Some(format!("{} attributes, over {MAX_ATTRIBUTES}", msg.headers.len()));
    }
    for (name, value) in &msg.headers {
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_BYTES {
            return Some(format!("attribute name of {} bytes (1 to {MAX_ATTRIBUTE_NAME_BYTES})", name.len()));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_BYTES {
            return Some(format!("attribute {name} of {} bytes is over {MAX_ATTRIBUTE_VALUE_BYTES}", value.len()));
        }
    }
    if msg.payload.is_empty() && msg.headers.is_empty() {
        return Some("a message needs data or at least one attribute".into());
    }
    let size = msg.payload.len() + msg.key.len() + msg.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    (size > MAX_MESSAGE_BYTES).then(|| format!("message of {size} bytes is over {MAX_MESSAGE_BYTES}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: &str) -> OutboundMessage {
        OutboundMessage::new("t", key, b"{}".to_vec())
    }

    #[test]
    fn each_limit_is_inclusive_and_one_more_is_refused() {
        assert_eq!(refusal(&msg(&"k".repeat(1024))), None);
        assert!(refusal(&msg(&"k".repeat(1025))).is_some_and(|r| r.contains("ordering key of 1025")));
        let with = |n: usize, name: &str, value: &str| {
            (0..n).fold(msg("k"), |m, i| m.with_header(format!("{name}{i}"), value))
        };
        assert_eq!(refusal(&with(100, "a", "v")), None);
        assert!(refusal(&with(101, "a", "v")).is_some_and(|r| r.contains("101 attributes")));
        assert_eq!(refusal(&with(1, &"n".repeat(255), &"v".repeat(1024))), None, "name 256 bytes with its digit");
        assert!(refusal(&with(1, &"n".repeat(256), "v")).is_some_and(|r| r.contains("name of 257")));
        assert!(refusal(&with(1, "a", &"v".repeat(1025))).is_some_and(|r| r.contains("a0 of 1025")));
        assert!(refusal(&OutboundMessage::new("t", "", Vec::new())).is_some(), "nothing at all");
        assert_eq!(refusal(&OutboundMessage::new("t", "", Vec::new()).with_header("a", "")), None);
        assert_eq!(refusal(&OutboundMessage::new("t", "", vec![0; MAX_MESSAGE_BYTES])), None);
        let big = OutboundMessage::new("t", "k", vec![0; MAX_MESSAGE_BYTES]);
        assert!(refusal(&big).is_some_and(|r| r.contains("10000001 bytes")));
    }
}
