//! What of an order's item never leaves the orders table: the gateway's payment token (what a
//! charge is made with) and the card's fingerprint. Readers that copy an item elsewhere (the raw
//! zone of the data lake, dead letters) take them out first.
use serde_json::Value;

/// The members removed wherever they are in an item: `body.record.order.payment.token`,
/// `…card_fingerprint`, and the `payment_token` of a kept `payment.requested`.
pub const PAYMENT_SECRETS: [&str; 3] = ["token", "card_fingerprint", "payment_token"];

/// Removes every member named in [`PAYMENT_SECRETS`], at any depth, including inside JSON kept as
/// text (a kept event's `payload`), and returns the text values it removed. Works on an item as the
/// adapter wrote it (plain JSON) and as a stream carries it (`{"M": {"token": {"S": …}}}`), since
/// the member names are the same in both.
pub fn remove_payment_secrets(value: &mut Value) -> Vec<String> {
    let mut removed = Vec::new();
    remove_into(value, &mut removed);
    removed
}

/// Whether any of the removed values still occurs in `text` (a copy made some other way): what
/// a writer checks before the text leaves, failing closed.
pub fn still_holds(text: &str, removed: &[String]) -> bool {
    removed.iter().any(|secret| !secret.is_empty() && text.contains(secret.as_str()))
}

/// A copy of `value` as JSON without payment secrets, for a dead letter or a log: withheld whole
/// (a note in its place) when a secret also occurs under another name.
pub fn redacted<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    let mut copy = serde_json::to_value(value).unwrap_or(Value::Null);
    let removed = remove_payment_secrets(&mut copy);
    if still_holds(&copy.to_string(), &removed) {
        return serde_json::json!({"withheld": "a payment secret occurs in it under another name"});
    }
    copy
}

fn remove_into(value: &mut Value, removed: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for name in PAYMENT_SECRETS {
                if let Some(gone) = members.remove(name) {
                    secret_texts(&gone, removed);
                }
            }
            members.values_mut().for_each(|v| remove_into(v, removed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| remove_into(v, removed)),
        Value::String(text) if text.starts_with('{') => {
            let Ok(mut inner) = serde_json::from_str::<Value>(text) else { return };
            let before = removed.len();
            remove_into(&mut inner, removed);
            if removed.len() > before {
                *text = inner.to_string();
            }
        }
        _ => {}
    }
}

/// The text of a removed member (a plain string, or DynamoDB's `{"S": …}`).
fn secret_texts(gone: &Value, into: &mut Vec<String>) {
    match gone {
        Value::String(s) => into.push(s.clone()),
        Value::Object(m) => m.values().for_each(|v| secret_texts(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_and_fingerprint_go_at_any_depth_in_either_form_and_the_rest_stays() {
        let kept = json!({"type": "com.shop.payment.requested.v1", "data": {"payment_token": "tok_visa", "amount": 5}});
        let mut plain = json!({"body": {"record": {"order": {"payment": {"token": "tok_visa",
            "card_fingerprint": "fp-1", "card_bin_country": "FR"}}, "payment_request": {"payload": kept.to_string()}}}});
        let removed = remove_payment_secrets(&mut plain);
        assert_eq!(removed, ["tok_visa", "fp-1", "tok_visa"]);
        let payload = json!({"type": "com.shop.payment.requested.v1", "data": {"amount": 5}}).to_string();
        assert_eq!(
            plain,
            json!({"body": {"record": {"order": {"payment": {"card_bin_country": "FR"}}, "payment_request":
                   {"payload": payload}}}})
        );
        let mut stream = json!({"body": {"M": {"payment": {"M": {"token": {"S": "tok_amex"}, "card_fingerprint":
            {"S": "fp-2"}, "billing_country": {"S": "FR"}}}}}});
        assert_eq!(remove_payment_secrets(&mut stream), ["tok_amex", "fp-2"]);
        assert_eq!(stream, json!({"body": {"M": {"payment": {"M": {"billing_country": {"S": "FR"}}}}}}));
        assert!(!still_holds(&stream.to_string(), &["tok_amex".into(), "fp-2".into()]));
        assert!(still_holds("a note naming tok_amex", &["tok_amex".into()]));
        let copied = json!({"payment": {"token": "tok_amex"}, "note": "charged tok_amex"});
        assert_eq!(redacted(&copied), json!({"withheld": "a payment secret occurs in it under another name"}));
    }
}
