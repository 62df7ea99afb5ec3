use super::*;
use domain::values::{Currency, Quantity, Sku};

fn lines() -> Vec<OrderLine> {
    let eur = Currency::parse("EUR").expect("EUR");
    vec![OrderLine {
        sku: Sku::parse("MUG-220-WHT").expect("sku"),
        quantity: Quantity::new(2).expect("qty"),
        unit_price: Money::new(1250, eur),
        category: None,
    }]
}

fn values<'a>(name: &'a str, lines: &'a [OrderLine]) -> Values<'a> {
    let total = Money::new(2500, Currency::parse("EUR").expect("EUR"));
    Values { name, order_id: "A200100", lines, total: Some(total), reason: Some("insufficient_funds") }
}

#[test]
fn a_change_into_one_of_the_four_states_calls_for_its_email_and_nothing_else_does() {
    assert_eq!(Kind::of_change(Some("payment_requested"), "paid"), Some(Kind::Paid));
    assert_eq!(Kind::of_change(Some("payment_requested"), "payment_failed"), Some(Kind::PaymentFailed));
    assert_eq!(Kind::of_change(Some("confirmed"), "held"), Some(Kind::Held));
    assert_eq!(Kind::of_change(None, "rejected"), Some(Kind::Rejected), "an order inserted in its state");
    assert_eq!(Kind::of_change(Some("held"), "held"), None, "a state reached again");
    assert_eq!(Kind::of_change(Some("confirmed"), "payment_requested"), None);
    assert_eq!(Kind::of_change(None, "pending"), None);
}

#[test]
fn every_value_is_escaped_for_its_part() {
    let lines = lines();
    let name = "<script>alert('x')</script> & Co\r\nBcc: eve@example.org";
    let email = render(Kind::Paid, Some("en"), &values(name, &lines));
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(email.html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"), "{}", email.html);
    assert!(
        email.text.contains("<script>alert('x')</script> & CoBcc: eve@example.org"),
        "no line break: {}",
        email.text
    );
    assert_eq!(email.subject, "Your receipt for order A200100");
    assert!(
        email.text.contains("2 × MUG-220-WHT  12.50 EUR") && email.text.contains("Total: 25.00 EUR"),
        "{}",
        email.text
    );
    assert!(email.html.contains("<tr><td>2 ×</td><td>MUG-220-WHT</td><td>12.50 EUR</td></tr>"), "{}", email.html);
}

#[test]
fn a_locale_without_templates_falls_back_to_english() {
    let lines = lines();
    assert_eq!(locale_for(Some("de-AT")), "de");
    assert_eq!(locale_for(Some("DE")), "de");
    for missing in [Some("fr-FR"), Some(""), None] {
        assert_eq!(locale_for(missing), "en", "{missing:?}");
    }
    let german = render(Kind::Held, Some("de_DE"), &values("Ana", &lines));
    assert_eq!((german.locale, german.subject.as_str()), ("de", "Wir prüfen Ihre Bestellung A200100"));
    let french = render(Kind::Held, Some("fr"), &values("Ana", &lines));
    assert_eq!((french.locale, french.subject.as_str()), ("en", "We are checking your order A200100"));
    let failed = render(Kind::PaymentFailed, None, &values("Ana", &lines));
    assert!(failed.text.contains("order A200100: the card has insufficient funds."), "{}", failed.text);
    let german = render(Kind::PaymentFailed, Some("de"), &values("Ana", &lines));
    assert!(german.text.contains("nicht ausreichend gedeckt"), "{}", german.text);
    assert_eq!(decline_in_words("en", Some("gateway_rejected")), "the card was declined");
    assert_eq!(decline_in_words("en", None), "the card was declined", "an older record keeps no reason");
    for kind in [Kind::Paid, Kind::PaymentFailed, Kind::Held, Kind::Rejected] {
        for locale in LOCALES {
            let email = render(kind, Some(locale), &values("Ana", &lines));
            let all = format!("{}{}{}", email.subject, email.text, email.html);
            assert!(!all.contains('{') && !all.contains('}'), "{kind:?}/{locale}: a placeholder left: {all}");
        }
    }
}

#[test]
fn the_mime_message_has_both_parts_whole_and_no_value_in_its_headers() {
    let lines = lines();
    let email = render(Kind::Paid, Some("de"), &values("Zoë <b>", &lines));
    let raw = String::from_utf8(mime("orders@shop.example.com", "ana@example.org", &email)).expect("ASCII");
    let (headers, body) = raw.split_once("\r\n\r\n").expect("headers, then the body");
    assert!(headers.contains("To: ana@example.org\r\n") && !headers.contains("Zo"), "{headers}");
    let subject = headers.lines().find_map(|l| l.strip_prefix("Subject: =?utf-8?B?")).expect("an encoded subject");
    let decoded = STANDARD.decode(subject.trim_end_matches("?=")).expect("base64");
    assert_eq!(String::from_utf8(decoded).expect("utf-8"), email.subject);
    let parts: Vec<&str> = body.split("--=_notifier_alternative").collect();
    assert_eq!(parts.len(), 4, "preamble, two parts, the closing boundary: {body}");
    for (part, want) in parts[1..3].iter().zip([&email.text, &email.html]) {
        let (_, encoded) = part.split_once("\r\n\r\n").expect("part headers");
        let bytes = STANDARD.decode(encoded.replace("\r\n", "")).expect("base64 body");
        assert_eq!(&String::from_utf8(bytes).expect("utf-8"), want);
    }
    assert!(raw.lines().all(|l| l.len() <= 998), "RFC 5322 line length");
}

#[test]
fn a_value_that_looks_like_a_placeholder_is_not_filled_in_again() {
    let lines = lines();
    let email = render(Kind::Paid, Some("en"), &values("{lines} {total} {nope}", &lines));
    assert!(email.text.contains("{lines} {total} {nope}"), "{}", email.text);
    assert_eq!(email.text.matches("MUG-220-WHT").count(), 1, "{}", email.text);
    assert_eq!(fill("{a}{b} {c} {", &[("a", "{b}".into()), ("b", "2".into())]), "{b}2 {c} {");
}
