//! The e-mails: one template per kind and locale in `templates/<locale>/<kind>.{txt,html}` (the
//! text's first line is the subject), filled with the order's values. Every value is escaped for
//! the part it goes into: HTML-escaped in the HTML part, control characters dropped everywhere
//! (a value cannot start a line or a header). A locale without templates gets English.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::events::OrderLine;
use domain::values::Money;
use serde::Serialize;

/// What a customer is told, by the state their order changed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Paid,
    PaymentFailed,
    Held,
    Rejected,
}

impl Kind {
    /// The e-mail a change of the order's state calls for: one into one of the four states. A
    /// change into another state, or a write that leaves the state as it was, calls for none.
    pub fn of_change(old: Option<&str>, new: &str) -> Option<Kind> {
        let kind = match new {
            "paid" => Kind::Paid,
            "payment_failed" => Kind::PaymentFailed,
            "held" => Kind::Held,
            "rejected" => Kind::Rejected,
            _ => return None,
        };
        (old != Some(new)).then_some(kind)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Paid => "paid",
            Kind::PaymentFailed => "payment_failed",
            Kind::Held => "held",
            Kind::Rejected => "rejected",
        }
    }
}

/// The locales with templates; the first is the fallback.
pub const LOCALES: [&str; 2] = ["en", "de"];

fn templates(locale: &str, kind: Kind) -> (&'static str, &'static str) {
    macro_rules! pair {
        ($l:literal, $k:literal) => {
            (
                include_str!(concat!("../templates/", $l, "/", $k, ".txt")),
                include_str!(concat!("../templates/", $l, "/", $k, ".html")),
            )
        };
    }
    match (locale, kind) {
        ("de", Kind::Paid) => pair!("de", "paid"),
        ("de", Kind::PaymentFailed) => pair!("de", "payment_failed"),
        ("de", Kind::Held) => pair!("de", "held"),
        ("de", Kind::Rejected) => pair!("de", "rejected"),
        (_, Kind::Paid) => pair!("en", "paid"),
        (_, Kind::PaymentFailed) => pair!("en", "payment_failed"),
        (_, Kind::Held) => pair!("en", "held"),
        (_, Kind::Rejected) => pair!("en", "rejected"),
    }
}

/// The values an e-mail is filled with.
pub struct Values<'a> {
    pub name: &'a str,
    pub order_id: &'a str,
    pub lines: &'a [OrderLine],
    pub total: Option<Money>,
    /// Why the payment failed: the gateway's reason code (put into words here; never card data).
    pub reason: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub locale: &'static str,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The template locale for a customer's locale (`de-AT` → `de`), English when there is none.
pub fn locale_for(customer: Option<&str>) -> &'static str {
    let language = customer.and_then(|l| l.split(['-', '_']).next()).map(str::to_ascii_lowercase);
    LOCALES.into_iter().find(|l| Some(*l) == language.as_deref()).unwrap_or(LOCALES[0])
}

/// Drops control characters (CR and LF among them): a value stays on its line.
fn plain(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in plain(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A decline in the customer's words: the gateway's reason codes as a sentence, in the e-mail's
/// locale; a code without words of its own (or none) reads as a plain decline.
pub fn decline_in_words(locale: &str, code: Option<&str>) -> &'static str {
    match (locale, code) {
        ("de", Some("insufficient_funds")) => "das Konto der Karte ist nicht ausreichend gedeckt",
        ("de", Some("expired_card")) => "die Karte ist abgelaufen",
        ("de", _) => "die Karte wurde abgelehnt",
        (_, Some("insufficient_funds")) => "the card has insufficient funds",
        (_, Some("expired_card")) => "the card has expired",
        _ => "the card was declined",
    }
}

/// The template with each `{name}` replaced by its value, in one pass: a value is never read
/// again, so a customer named `{lines}` is greeted by that name. An unknown `{…}` stays as it is.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            values.iter().find(|(k, _)| *k == name).map(|(_, v)| (v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn render(kind: Kind, customer_locale: Option<&str>, v: &Values<'_>) -> Email {
    let locale = locale_for(customer_locale);
    let (text, html) = templates(locale, kind);
    let (subject, text) = text.split_once('\n').unwrap_or((text, ""));
    let total = v.total.map(|t| t.to_string()).unwrap_or_default();
    let line = |l: &OrderLine| (l.quantity.get(), l.sku.to_string(), l.unit_price.to_string());
    let text_lines: Vec<String> =
        v.lines.iter().map(line).map(|(q, s, p)| format!("{q} × {}  {p}", plain(&s))).collect();
    let html_lines: Vec<String> = v
        .lines
        .iter()
        .map(line)
        .map(|(q, s, p)| format!("<tr><td>{q} ×</td><td>{}</td><td>{}</td></tr>", escape_html(&s), escape_html(&p)))
        .collect();
    let reason = decline_in_words(locale, v.reason);
    let as_text = |lines: String| {
        vec![
            ("name", plain(v.name)),
            ("order_id", plain(v.order_id)),
            ("total", plain(&total)),
            ("reason", plain(reason)),
            ("lines", lines),
        ]
    };
    let as_html = vec![
        ("name", escape_html(v.name)),
        ("order_id", escape_html(v.order_id)),
        ("total", escape_html(&total)),
        ("reason", escape_html(reason)),
        ("lines", html_lines.concat()),
    ];
    Email {
        locale,
        subject: fill(subject, &as_text(String::new())),
        text: fill(text.trim_start_matches('\n'), &as_text(text_lines.join("\n"))),
        html: format!("<!doctype html>\n<html lang=\"{locale}\"><body>\n{}</body></html>\n", fill(html, &as_html)),
    }
}

/// Base64 in lines of 76, as MIME wants a body.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    encoded.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n").collect()
}

/// The boundary between the message's parts. Base64 never holds `=_`, so it cannot occur in a part.
pub const BOUNDARY: &str = "=_notifier_alternative";

/// The parts of a message `mime` made, decoded from base64 (for tests, and reading back what
/// an SES emulator took).
pub fn decoded_parts(mime: &str) -> Vec<String> {
    let delimiter = format!("--{BOUNDARY}");
    let bodies = mime.split(delimiter.as_str()).skip(1);
    let bodies = bodies.filter_map(|p| p.split_once("\r\n\r\n").map(|(_, body)| body.replace("\r\n", "")));
    let decode = |b: String| STANDARD.decode(b.trim_end_matches("--")).ok();
    bodies.filter_map(decode).filter_map(|b| String::from_utf8(b).ok()).collect()
}

/// The raw MIME message SES sends: a text and an HTML part (base64, UTF-8), the subject as an
/// RFC 2047 encoded word. Only the addresses go in headers, never a customer's name.
pub fn mime(from: &str, to: &str, email: &Email) -> Vec<u8> {
    let boundary = BOUNDARY;
    let subject = format!("=?utf-8?B?{}?=", STANDARD.encode(email.subject.as_bytes()));
    let mut out = format!(
        "From: {}\r\nTo: {}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Language: {}\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n",
        plain(from),
        plain(to),
        email.locale
    );
    for (kind, body) in [("text/plain", &email.text), ("text/html", &email.html)] {
        out += &format!(
            "--{boundary}\r\nContent-Type: {kind}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            base64_lines(body.as_bytes())
        );
    }
    out += &format!("--{boundary}--\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests;
