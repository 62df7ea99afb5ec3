//! Dead letters of a custom-handler invocation, written to the function's Kafka output binding
//! (the host publishes an output only after a successful invocation, so a retried batch never
//! dead-letters twice), and the two ways an invocation can be unreadable as a whole. Every
//! Azure function with a Kafka trigger uses these, so ids, times and bounds are the same.
use crate::custom_handler::{InvocationRequest, InvocationResponse};
use crate::kafka_trigger::{BadBinding, BadEntry, KafkaEventData, TriggerMetadata};
use chrono::{DateTime, Utc};
use domain::dead_letter::{DeadLetterPolicy, Rejected, sha256_hex};
use serde_json::{Value, json};
use std::cell::OnceCell;

pub struct DeadLetterOutput<'a> {
    binding: &'a str,
    policy: &'a DeadLetterPolicy,
    items: Vec<Value>,
    /// Read on the first unreadable entry, once for the invocation.
    metadata: OnceCell<TriggerMetadata>,
}

impl<'a> DeadLetterOutput<'a> {
    pub fn new(binding: &'a str, policy: &'a DeadLetterPolicy) -> Self {
        DeadLetterOutput { binding, policy, items: Vec::new(), metadata: OnceCell::new() }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// One dead letter, logged inside the invocation span (so with the invocation id too).
    /// `time` is the record's own (its Kafka timestamp), so a redelivered record yields the same.
    pub fn push(&mut self, r: Rejected<'_>, time: DateTime<Utc>) {
        tracing::warn!(origin = %r.origin, reason_code = r.code, reason = %r.reason, "record dead-lettered");
        let event = self.policy.event(r, time);
        let value = String::from_utf8(event.to_json()).unwrap_or_default();
        self.items.push(json!({ "Key": event.key(), "Value": value }));
    }

    /// A Kafka record that can never succeed, placed by its topic, partition and offset.
    pub fn record(&mut self, ev: &KafkaEventData, code: &str, reason: String) {
        let origin = format!("kafka:{}", ev.position());
        let time = parse_time(&ev.timestamp).unwrap_or_else(Utc::now);
        let key = ev.key.clone();
        self.push(Rejected { code, reason, origin, payload: ev.value.as_bytes(), key }, time);
    }

    /// An entry that is not a Kafka event: placed by the trigger metadata's arrays, or else by
    /// its index and content, so two bad entries never share an id and a redelivery keeps it.
    pub fn entry(&mut self, req: &InvocationRequest, bad: &BadEntry) {
        let metadata = self.metadata.get_or_init(|| TriggerMetadata::read(req));
        let origin = metadata
            .position(bad.index)
            .map(|p| format!("kafka:{p}"))
            .unwrap_or_else(|| format!("entry-{}:{}", bad.index, &sha256_hex(bad.raw.as_bytes())[..16]));
        let time = metadata.timestamp(bad.index).and_then(parse_time).unwrap_or_else(Utc::now);
        let rejected = Rejected {
            code: bad.error.code(),
            reason: bad.error.to_string(),
            origin,
            payload: bad.raw.as_bytes(),
            key: None,
        };
        self.push(rejected, time);
    }

    /// A trigger binding of no known shape: the whole `Data`, named by its content, timed by
    /// its first record's Kafka timestamp when the metadata has one, else by the host's clock.
    pub fn binding(&mut self, req: &InvocationRequest, bad: &BadBinding) {
        tracing::error!(error = %bad.error, "trigger binding unreadable; dead-lettering the invocation's Data");
        let origin = format!("data:{}", &sha256_hex(bad.raw_data.as_bytes())[..16]);
        let first = self.metadata.get_or_init(|| TriggerMetadata::read(req)).timestamp(0).and_then(parse_time);
        let time = first.or_else(|| req.sys().and_then(|s| parse_time(&s.utc_now))).unwrap_or_else(Utc::now);
        let (code, reason) = (bad.error.code(), bad.error.to_string());
        self.push(Rejected { code, reason, origin, payload: bad.raw_data.as_bytes(), key: None }, time);
    }

    /// The trigger binding's entries. A binding of no known shape is dead-lettered whole and its
    /// error returned: no retry can fix what the host sent, so the invocation is answered as
    /// handled and the host moves on instead of retrying it until its policy gives up.
    pub fn entries(
        &mut self,
        req: &InvocationRequest,
        binding: &str,
    ) -> Result<Vec<Result<KafkaEventData, BadEntry>>, String> {
        crate::kafka_trigger::events(req, binding).map_err(|bad| {
            self.binding(req, &bad);
            bad.error.to_string()
        })
    }

    /// The entry's Kafka record if it is one of at most `max_record_bytes`; otherwise the entry is
    /// dead-lettered here (in entry order, with the records the caller rejects) and None returned.
    pub fn readable(
        &mut self,
        req: &InvocationRequest,
        entry: Result<KafkaEventData, BadEntry>,
        max_record_bytes: usize,
    ) -> Option<KafkaEventData> {
        match entry {
            Err(bad) => self.entry(req, &bad),
            Ok(ev) if ev.value.len() > max_record_bytes => {
                let reason = format!("record is {} bytes, over the {max_record_bytes}-byte limit", ev.value.len());
                self.record(&ev, "oversize", reason);
            }
            Ok(ev) => return Some(ev),
        }
        None
    }

    /// Moves the dead letters into the response's output binding.
    pub fn write_to(self, resp: &mut InvocationResponse) {
        for item in self.items {
            resp.push_output(self.binding, item);
        }
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Reads a request body as the host's invocation. A body that is not one at all cannot be fixed
/// by a retry: it is kept whole (bounded) in one dead letter named by its hash, and the response
/// to answer (200, handled) is returned instead, so the host moves on rather than retry forever.
pub fn read_invocation(
    body: &[u8],
    binding: &str,
    policy: &DeadLetterPolicy,
) -> Result<InvocationRequest, InvocationResponse> {
    let error = match serde_json::from_slice::<InvocationRequest>(body) {
        Ok(req) => return Ok(req),
        Err(e) => e.to_string(),
    };
    let origin = format!("request:{}", &sha256_hex(body)[..16]);
    tracing::error!(%origin, %error, "request is not a custom-handler invocation; dead-lettering its body");
    let mut out = DeadLetterOutput::new(binding, policy);
    let reason = format!("not a custom-handler invocation: {error}");
    out.push(Rejected { code: "unreadable_invocation", reason, origin, payload: body, key: None }, Utc::now());
    let mut resp = InvocationResponse::default();
    out.write_to(&mut resp);
    resp.log(format!("invalid invocation: {error}; its body was dead-lettered"));
    Err(resp)
}
