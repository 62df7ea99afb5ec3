//! Building dead letters: one per record that can never succeed, with a reason, a bounded prefix
//! of the payload, and enough (size, SHA-256, origin) to find the original where it came from.
//!
//! Three rules keep them safe under at-least-once delivery:
//! - **Bounded.** A dead letter of a 9 MB message must itself be publishable, or the push that
//!   carried it is nacked forever; so at most `max_payload_bytes` of the payload are kept, and a
//!   key only if it is one Pub/Sub can carry (`mirror::MAX_KEY_BYTES`), so the dead letter can be
//!   mirrored and audited like any other.
//! - **Unique and stable.** The id is derived from the origin, which must name one record: a
//!   redelivered record yields the same dead letter (one audit object), two records never share one.
//! - **Never in a loop.** The dead letter of a record read from a topic that holds dead letters
//!   goes to `topics::PARKED`, which no function reads, not back to the flow's DLQ.
use crate::cloudevent::CloudEvent;
use crate::events::{DeadLetter, topics};
use crate::ports::OutboundMessage;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// What a dead letter keeps of a payload unless configured otherwise.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The most it keeps whatever the configuration: base64 of this, in its envelope, stays under
/// Kafka's default 1 MB `message.max.bytes`, so a dead letter is always publishable.
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;

/// Who dead-letters, to which topic, keeping how much of each payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPolicy {
    pub rejected_by: String,
    pub topic: String,
    pub max_payload_bytes: usize,
}

/// Why and where one record was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected<'a> {
    pub code: &'a str,
    pub reason: String,
    /// Names exactly one record: `kafka:<topic>/<partition>@<offset>`, `pubsub:<message id>`, …
    pub origin: String,
    pub payload: &'a [u8],
    pub key: Option<String>,
}

impl DeadLetterPolicy {
    pub fn new(rejected_by: impl Into<String>, topic: impl Into<String>) -> Self {
        DeadLetterPolicy {
            rejected_by: rejected_by.into(),
            topic: topic.into(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }

    /// At most [`MAX_PAYLOAD_BYTES`], however large `max` is.
    pub fn with_max_payload_bytes(mut self, max: usize) -> Self {
        self.max_payload_bytes = max.min(MAX_PAYLOAD_BYTES);
        self
    }

    /// Whether the dead letter of a record read from `source` is parked: `source` holds dead
    /// letters (a flow's DLQ, its mirror, this policy's own topic), so a dead letter of it on a
    /// topic a function reads could come back to be refused again, without end.
    pub fn parks(&self, source: Option<&str>) -> bool {
        source.is_some_and(|s| s == self.topic || topics::holds_dead_letters(s))
    }

    /// The topic for the dead letter of a record read from `source` (None: not read from a topic).
    pub fn topic_for(&self, source: Option<&str>) -> &str {
        if self.parks(source) { topics::PARKED } else { &self.topic }
    }

    /// The dead letter for one rejected record, its payload cut to the bound.
    pub fn letter(&self, r: Rejected<'_>) -> DeadLetter {
        let payload = r.payload;
        let (key, reason) = match r.key {
            Some(k) if k.len() > crate::mirror::MAX_KEY_BYTES => {
                let kept = format!(
                    "{} (its key of {} bytes, SHA-256 {}, is not kept)",
                    r.reason,
                    k.len(),
                    sha256_hex(k.as_bytes())
                );
                (None, kept)
            }
            key => (key, r.reason),
        };
        let (kept, encoding, truncated) = match std::str::from_utf8(payload) {
            Ok(text) => {
                let cut = char_boundary_at_most(text, self.max_payload_bytes);
                (text[..cut].to_string(), "utf-8", cut < text.len())
            }
            Err(_) => {
                let cut = payload.len().min(self.max_payload_bytes);
                (base64::engine::general_purpose::STANDARD.encode(&payload[..cut]), "base64", cut < payload.len())
            }
        };
        DeadLetter {
            reason_code: r.code.into(),
            reason,
            rejected_by: self.rejected_by.clone(),
            origin: r.origin,
            payload: kept,
            payload_encoding: encoding.into(),
            key,
            original_bytes: Some(payload.len() as u64),
            original_sha256: Some(sha256_hex(payload)),
            truncated: Some(truncated),
        }
    }

    /// As a CloudEvent whose id is derived from the origin, so a redelivered bad record yields
    /// the same dead letter id. `time` is the input's own time where it has one (Pub/Sub publish
    /// time, the Kafka record's timestamp), for the same reason.
    pub fn event(&self, r: Rejected<'_>, time: DateTime<Utc>) -> CloudEvent<DeadLetter> {
        let letter = self.letter(r);
        let id = format!("dlq-{}-{}", letter.rejected_by, letter.origin);
        CloudEvent::new(id, format!("/{}", self.rejected_by), time, letter)
    }

    /// The bus message for one rejected record that was not read from a topic, on this policy's topic.
    pub fn message(&self, r: Rejected<'_>, time: DateTime<Utc>) -> OutboundMessage {
        self.message_from(None, r, time)
    }

    /// The bus message for one rejected record read from `source`: on this policy's topic, or on
    /// `topics::PARKED` when `source` holds dead letters (see [`Self::parks`]).
    pub fn message_from(&self, source: Option<&str>, r: Rejected<'_>, time: DateTime<Utc>) -> OutboundMessage {
        let event = self.event(r, time);
        OutboundMessage::new(self.topic_for(source), event.key(), event.to_json())
            .with_header("ce_id", &event.id)
            .with_header("content-type", "application/cloudevents+json")
    }
}

fn char_boundary_at_most(text: &str, max: usize) -> usize {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `bytes`: names a payload that has no position of its own.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rejected(payload: &[u8]) -> Rejected<'_> {
        Rejected { code: "oversize", reason: "too big".into(), origin: "pubsub:42".into(), payload, key: None }
    }

    #[test]
    fn a_large_payload_keeps_a_bounded_prefix_with_its_size_and_hash() {
        let policy = DeadLetterPolicy::new("merch-normalizer", "merch.dlq");
        let big = "é".repeat(5 * 1024 * 1024); // 10 MiB of two-byte characters
        let d = policy.letter(rejected(big.as_bytes()));
        assert!(d.payload.len() <= DEFAULT_MAX_PAYLOAD_BYTES && d.payload.len() > DEFAULT_MAX_PAYLOAD_BYTES - 2);
        assert!(big.starts_with(&d.payload));
        assert_eq!((d.original_bytes, d.truncated), (Some(10 * 1024 * 1024), Some(true)));
        let expected = hex(&Sha256::digest(big.as_bytes()));
        assert_eq!(d.original_sha256.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn binary_payloads_are_base64_of_the_prefix_and_small_ones_are_whole() {
        let policy = DeadLetterPolicy::new("f", "t").with_max_payload_bytes(4);
        let d = policy.letter(rejected(&[0xff, 0xfe, 1, 2, 3, 4]));
        assert_eq!((d.payload.as_str(), d.payload_encoding.as_str(), d.truncated), ("//4BAg==", "base64", Some(true)));
        let d = policy.letter(rejected(b"ok"));
        assert_eq!((d.payload.as_str(), d.truncated, d.original_bytes), ("ok", Some(false), Some(2)));
    }

    #[test]
    fn no_configuration_makes_a_dead_letter_unpublishable() {
        let policy = DeadLetterPolicy::new("f", "t").with_max_payload_bytes(usize::MAX);
        let binary = vec![0xffu8; 4 * 1024 * 1024];
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
        let m = policy.message(rejected(&binary), at);
        assert!(m.payload.len() < 1_000_000, "{} bytes", m.payload.len());
    }

    #[test]
    fn a_record_read_from_a_topic_of_dead_letters_is_parked_and_others_go_to_the_flow_dlq() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
        let policy = DeadLetterPolicy::new("kafka-pubsub-bridge", "checkout.dlq");
        for source in ["merch.dlq", "checkout.dlq", "images.dlq", "mirror-checkout-dlq", "dead-letters.parked"] {
            assert_eq!(policy.message_from(Some(source), rejected(b"x"), at).topic, topics::PARKED, "{source}");
        }
        for source in [Some("order.paid"), Some("merch.price-changed"), None] {
            assert_eq!(policy.message_from(source, rejected(b"x"), at).topic, "checkout.dlq", "{source:?}");
        }
        let own = DeadLetterPolicy::new("merch-normalizer", "merch.rejects");
        assert!(own.parks(Some("merch.rejects")), "a configured DLQ of its own holds dead letters too");
    }

    #[test]
    fn a_key_pubsub_cannot_carry_is_named_by_size_and_hash_and_the_origin_keys_the_letter() {
        let long = "k".repeat(crate::mirror::MAX_KEY_BYTES + 1);
        let r = Rejected { key: Some(long.clone()), ..rejected(b"x") };
        let d = DeadLetterPolicy::new("f", "t").letter(r);
        assert_eq!(d.key, None);
        assert!(d.reason.starts_with("too big (its key of 74497 bytes, SHA-256 "), "{}", d.reason);
        assert!(d.reason.contains(&sha256_hex(long.as_bytes())));
        let fits = "k".repeat(crate::mirror::MAX_KEY_BYTES);
        let d = DeadLetterPolicy::new("f", "t").letter(Rejected { key: Some(fits.clone()), ..rejected(b"x") });
        assert_eq!((d.key, d.reason.as_str()), (Some(fits), "too big"));
    }

    #[test]
    fn the_message_goes_to_the_policy_topic_with_an_id_from_the_origin() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("time");
        let m = DeadLetterPolicy::new("image-resizer", "images.dlq").message(rejected(b"x"), at);
        assert_eq!(m.topic, "images.dlq");
        assert_eq!(m.headers[0], ("ce_id".to_string(), "dlq-image-resizer-pubsub:42".to_string()));
        let again = DeadLetterPolicy::new("image-resizer", "images.dlq").message(rejected(b"x"), at);
        assert_eq!(m, again, "a redelivered record yields the same dead letter");
    }
}
