//! The functions' log line: one JSON object per event, in the shape of tracing-subscriber's own
//! JSON format with the current span (`timestamp`, `level`, `fields`, `target`, `span` with the
//! span's fields and `name`), written straight into the line. On a platform whose log pipeline
//! reads fields of its own ([`Platform`]), the line has them at top level too:
//! - Cloud Run (Cloud Logging's structured logging): `severity` (DEBUG, INFO, WARNING, ERROR),
//!   `message` and `time`; the rest lands in `jsonPayload`;
//! - Lambda (its JSON log format, which `AWS_LAMBDA_LOG_LEVEL` filters by `level`): `timestamp`,
//!   `level` (TRACE, DEBUG, INFO, WARN, ERROR), `message` and the invocation's `requestId`, taken
//!   from the runtime's `Lambda runtime invoke` span.
//!
//! The Functions host forwards a custom handler's stdout as it is; what it ties to an invocation
//! in Application Insights is the response's `Logs`, which the Azure apps fill.
//!
//! Why not tracing-subscriber's formatter: it parses the span's fields back from their JSON text
//! into a `serde_json::Value` map on every event, and formats the time into a fresh `String`;
//! at one line per record that was most of what a log line cost. Here a span's fields are
//! written once, when the span is made, as JSON members (`JsonMembers`) that every line copies
//! as they are, and an event's fields are escaped as they are visited.
use std::fmt::{self, Write};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Which log pipeline reads the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Platform {
    /// tracing-subscriber's JSON shape (local runs, tests, the Functions host).
    #[default]
    Plain,
    CloudRun,
    Lambda,
}

impl Platform {
    /// Where this process runs, by the variables each platform sets: Lambda's
    /// `AWS_LAMBDA_FUNCTION_NAME`, Cloud Run's `K_SERVICE`.
    pub fn from_env() -> Self {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if set("AWS_LAMBDA_FUNCTION_NAME") {
            Platform::Lambda
        } else if set("K_SERVICE") {
            Platform::CloudRun
        } else {
            Platform::Plain
        }
    }
}

pub struct JsonLines(pub Platform);

/// A span's fields as JSON members, `"a":1,"b":"x"`, without the braces, so a line puts them in
/// its `span` object as they are. Fields recorded later are appended (a field recorded twice
/// appears twice; JSON readers take the last).
pub struct JsonMembers;

impl<'writer> FormatFields<'writer> for JsonMembers {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut members = Fields { w: &mut writer, first: true, result: Ok(()), scratch: String::new(), message: None };
        fields.record(&mut members);
        members.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut writer = current.as_writer();
        let mut members = Fields { w: &mut writer, first, result: Ok(()), scratch: String::new(), message: None };
        fields.record(&mut members);
        members.result
    }
}

impl<S> FormatEvent<S, JsonMembers> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, JsonMembers>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        if self.0 != Platform::Plain {
            return platform_line(self.0, ctx, w, event);
        }
        let meta = event.metadata();
        w.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut w)?;
        write!(w, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut fields = Fields { w: &mut w, first: true, result: Ok(()), scratch: String::new(), message: None };
        event.record(&mut fields);
        fields.result?;
        w.write_str("},\"target\":")?;
        escaped(&mut w, meta.target())?;
        span_member(ctx, &mut w, event)?;
        w.write_str("}\n")
    }
}

/// `,"span":{…}`: the current span's fields and name, if there is a span.
fn span_member<S>(ctx: &FmtContext<'_, S, JsonMembers>, w: &mut Writer<'_>, event: &Event<'_>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    {
        let span = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            w.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            let members = extensions.get::<FormattedFields<JsonMembers>>().map(|f| f.fields.as_str()).unwrap_or("");
            if !members.is_empty() {
                w.write_str(members)?;
                w.write_char(',')?;
            }
            w.write_str("\"name\":")?;
            escaped(w, span.metadata().name())?;
            w.write_char('}')?;
        }
        Ok(())
    }
}

/// A line with the platform's own fields at top level; the event's other fields under `fields`.
fn platform_line<S>(
    platform: Platform,
    ctx: &FmtContext<'_, S, JsonMembers>,
    mut w: Writer<'_>,
    event: &Event<'_>,
) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    // The event's fields are written as they are visited, as on the plain line; only the
    // message is kept aside, to go at top level after them (JSON readers take any order).
    let mut message = String::new();
    w.write_str("{\"fields\":{")?;
    let mut fields =
        Fields { w: &mut w, first: true, result: Ok(()), scratch: String::new(), message: Some(&mut message) };
    event.record(&mut fields);
    fields.result?;
    w.write_str("},\"message\":")?;
    escaped(&mut w, &message)?;
    let level = *meta.level();
    match platform {
        Platform::CloudRun => {
            let severity = match level {
                tracing::Level::ERROR => "ERROR",
                tracing::Level::WARN => "WARNING",
                tracing::Level::INFO => "INFO",
                _ => "DEBUG",
            };
            write!(w, ",\"severity\":\"{severity}\",\"time\":\"")?;
            SystemTime.format_time(&mut w)?;
            w.write_char('"')?;
        }
        Platform::Lambda | Platform::Plain => {
            write!(w, ",\"level\":\"{level}\",\"timestamp\":\"")?;
            SystemTime.format_time(&mut w)?;
            w.write_char('"')?;
            if let Some(id) = request_id(ctx) {
                write!(w, ",\"requestId\":{id}")?;
            }
        }
    }
    w.write_str(",\"target\":")?;
    escaped(&mut w, meta.target())?;
    span_member(ctx, &mut w, event)?;
    w.write_str("}\n")
}

/// The JSON string of the Lambda runtime's `requestId`, from its span around the event.
fn request_id<S>(ctx: &FmtContext<'_, S, JsonMembers>) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let scope = ctx.event_scope()?;
    for span in scope.from_root() {
        if span.metadata().name() != "Lambda runtime invoke" {
            continue;
        }
        let extensions = span.extensions();
        let members = extensions.get::<FormattedFields<JsonMembers>>()?.fields.as_str();
        return string_member(members, "\"requestId\":\"").map(str::to_owned);
    }
    None
}

/// The JSON string (quotes and escapes kept) after `key` (`"name":"`) in members as JsonMembers
/// wrote them (`"name":value,…`), read in place.
fn string_member<'m>(members: &'m str, key: &str) -> Option<&'m str> {
    let rest = &members[members.find(key)? + key.len() - 1..];
    let mut escaped_next = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            '\\' if !escaped_next => escaped_next = true,
            '"' if !escaped_next => return Some(&rest[..=i]),
            _ => escaped_next = false,
        }
    }
    None
}

/// Writes each field as a JSON member, the value escaped as it comes.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
    /// Where a `Debug` value is formatted before it is escaped, reused across fields.
    scratch: String,
    /// Where the `message` field goes instead of the members, when the line has it at top level.
    message: Option<&'a mut String>,
}

impl Fields<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>, &mut String) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let w = &mut *self.w;
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                w.write_char(',')?;
            }
            escaped(w, field.name())?;
            w.write_char(':')?;
            value(w, &mut self.scratch)
        })();
    }
}

impl Visit for Fields<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message"
            && let Some(message) = self.message.as_deref_mut()
        {
            self.result = self.result.and_then(|_| write!(message, "{value:?}"));
            return;
        }
        self.member(field, |w, scratch| {
            scratch.clear();
            write!(scratch, "{value:?}")?;
            escaped(w, scratch)
        });
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message"
            && let Some(message) = self.message.as_deref_mut()
        {
            message.push_str(value);
            return;
        }
        self.member(field, |w, _| escaped(w, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w, _| write!(w, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w, _| write!(w, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w, _| write!(w, "{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes them as null too.
        self.member(field, |w, _| if value.is_finite() { write!(w, "{value}") } else { w.write_str("null") });
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |w, scratch| {
            scratch.clear();
            write!(scratch, "{value}")?;
            escaped(w, scratch)
        });
    }
}

/// `s` as a JSON string: quotes, backslashes and control characters escaped.
fn escaped(w: &mut impl Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(w, "\\u{b:04x}")?;
        } else {
            w.write_str(escape)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = crate::json_subscriber(crate::EnvFilter::new("trace"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn a_line_carries_the_event_its_target_and_the_current_span() {
        let got = lines(|| {
            let span = tracing::info_span!("invocation", function = "fraud-scorer", event_id = %"inv-1");
            let _in = span.enter();
            tracing::warn!(order_id = %"A-1", score = 870u64, delta = -3i64, ok = true, ratio = 0.5, "order \"scored\"\n");
        });
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], module_path!());
        assert_eq!(
            line["fields"],
            json!({"message": "order \"scored\"\n", "order_id": "A-1", "score": 870, "delta": -3, "ok": true, "ratio": 0.5})
        );
        assert_eq!(line["span"], json!({"function": "fraud-scorer", "event_id": "inv-1", "name": "invocation"}));
        let at = line["timestamp"].as_str().expect("a timestamp");
        assert!(chrono_like(at), "{at}");
    }

    #[test]
    fn outside_a_span_there_is_no_span_and_odd_values_stay_json() {
        let got = lines(|| {
            let error = std::io::Error::other("disk \\ full\u{1}");
            tracing::info!(error = &error as &(dyn std::error::Error + 'static), nan = f64::NAN, "tab\there");
        });
        assert_eq!(got[0]["fields"], json!({"message": "tab\there", "error": "disk \\ full\u{1}", "nan": null}));
        assert!(got[0].get("span").is_none());
        let got = lines(|| {
            let _in = tracing::info_span!("bare").entered();
            tracing::info!("inside");
        });
        assert_eq!(got[0]["span"], json!({"name": "bare"}));
    }

    #[test]
    fn fields_recorded_on_a_span_later_join_its_members() {
        let got = lines(|| {
            let span = tracing::info_span!("invocation", event_id = %"e-1", sku = tracing::field::Empty);
            let _in = span.enter();
            span.record("sku", "TSH-1");
            tracing::info!("applied");
            let bare = tracing::info_span!("later", sku = tracing::field::Empty);
            let _in = bare.enter();
            bare.record("sku", "TSH-2");
            tracing::info!("applied");
        });
        assert_eq!(got[0]["span"], json!({"event_id": "e-1", "sku": "TSH-1", "name": "invocation"}));
        assert_eq!(got[1]["span"], json!({"sku": "TSH-2", "name": "later"}));
    }

    fn lines_on(platform: crate::LogPlatform, log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = crate::json_subscriber_for(platform, crate::EnvFilter::new("trace"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn on_cloud_run_a_line_has_cloud_loggings_severity_message_and_time() {
        let got = lines_on(crate::LogPlatform::CloudRun, || {
            let _in = tracing::info_span!("push", event_id = %"m-1").entered();
            tracing::warn!(reason_code = "wrong_schema", "dead-lettered \"x\"");
            tracing::error!("down");
            tracing::debug!(n = 1u64, "detail");
        });
        assert_eq!(got[0]["severity"], "WARNING");
        assert_eq!(got[0]["message"], "dead-lettered \"x\"");
        assert_eq!(got[0]["fields"], json!({"reason_code": "wrong_schema"}), "the message is not repeated");
        assert_eq!(got[0]["span"], json!({"event_id": "m-1", "name": "push"}));
        assert!(chrono_like(got[0]["time"].as_str().expect("time")));
        assert_eq!((got[1]["severity"].as_str(), got[2]["severity"].as_str()), (Some("ERROR"), Some("DEBUG")));
    }

    #[test]
    fn on_lambda_a_line_has_its_level_message_and_the_runtimes_request_id() {
        let got = lines_on(crate::LogPlatform::Lambda, || {
            let _invoke = tracing::info_span!("Lambda runtime invoke", requestId = "8f5c\"1").entered();
            let _record = tracing::info_span!("record", event_id = %"e-1").entered();
            tracing::warn!(offset = 4u64, "record failed");
        });
        assert_eq!(got[0]["level"], "WARN");
        assert_eq!(got[0]["message"], "record failed");
        assert_eq!(got[0]["requestId"], "8f5c\"1");
        assert_eq!(got[0]["span"], json!({"event_id": "e-1", "name": "record"}), "the event id stays on the line");
        assert!(chrono_like(got[0]["timestamp"].as_str().expect("timestamp")));
        let outside = lines_on(crate::LogPlatform::Lambda, || tracing::info!("cold start"));
        assert!(outside[0].get("requestId").is_none());
    }

    /// `2026-11-30T21:10:30.123456Z`: RFC 3339 in UTC.
    fn chrono_like(s: &str) -> bool {
        s.len() >= 20 && s.ends_with('Z') && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
    }
}
