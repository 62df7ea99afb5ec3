//! A DynamoDB Streams image (DynamoDB's JSON: `{"S": …}`, `{"N": …}`, `{"M": {…}}`, …) read as
//! the plain JSON the `Documents` adapter wrote (`dynamodb::to_attribute` the other way), so a
//! stream function reads an item's body with the types that wrote it.
use aws_lambda_events::event::dynamodb::EventRecord;
use serde_json::{Map, Number, Value};

/// DynamoDB's item size limit: an image larger than this is not one a table can hold.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Why a stream record cannot be read: a reason code (what its dead letter says) and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub code: &'static str,
    pub reason: String,
}

impl Unreadable {
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Unreadable { code, reason: reason.into() }
    }
}

/// A stream record's keys and images as plain JSON (an image None where the record has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub keys: Value,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The record's keys and images, checked as every reader of a `NEW_AND_OLD_IMAGES` stream needs:
/// an INSERT or MODIFY without a new image is `no_image`; an image over [`MAX_ITEM_BYTES`] is
/// `oversize`; keys or an image with attribute kinds the estate never writes are `not_an_item`.
pub fn images(record: &EventRecord) -> Result<Images, Unreadable> {
    let (new, old) = (json(&record.change.new_image, "NewImage")?, json(&record.change.old_image, "OldImage")?);
    let present = |v: &Value| v.as_object().is_some_and(|m| !m.is_empty());
    if record.event_name != "REMOVE" && !present(&new) {
        let why = format!("{} without a NewImage: is the stream's view NEW_AND_OLD_IMAGES?", record.event_name);
        return Err(Unreadable::new("no_image", why));
    }
    for (which, image) in [("NewImage", &new), ("OldImage", &old)] {
        let size = item_size(image);
        if size > MAX_ITEM_BYTES {
            let why = format!("{which} is {size} bytes, over DynamoDB's item limit of {MAX_ITEM_BYTES}");
            return Err(Unreadable::new("oversize", why));
        }
    }
    let plain = |image: Value, which: &str| match present(&image) {
        true => plain_image(&image).map(Some).map_err(|e| Unreadable::new("not_an_item", format!("{which}: {e}"))),
        false => Ok(None),
    };
    let keys = plain_image(&json(&record.change.keys, "Keys")?)
        .map_err(|e| Unreadable::new("not_an_item", format!("Keys: {e}")))?;
    Ok(Images { keys, old: plain(old, "OldImage")?, new: plain(new, "NewImage")? })
}

/// One attribute value as plain JSON; the kinds the estate never writes (binary, sets) are an
/// error naming them.
pub fn plain_value(attribute: &Value) -> Result<Value, String> {
    let Some((kind, v)) = attribute.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()) else {
        return Err(format!("not an attribute value: {attribute}"));
    };
    Ok(match (kind.as_str(), v) {
        ("S", Value::String(s)) => Value::String(s.clone()),
        ("N", Value::String(n)) => Value::Number(n.parse::<Number>().map_err(|e| format!("N {n:?}: {e}"))?),
        ("BOOL", Value::Bool(b)) => Value::Bool(*b),
        ("NULL", _) => Value::Null,
        ("L", Value::Array(items)) => Value::Array(items.iter().map(plain_value).collect::<Result<_, _>>()?),
        ("M", Value::Object(_)) => plain_image(v)?,
        (other, _) => return Err(format!("attribute kind {other} is not one the estate writes")),
    })
}

/// An item's size as DynamoDB counts it against its limit (from its stream JSON): each attribute's
/// name and value in UTF-8 bytes; a number one byte per two significant digits plus one; a
/// binary its decoded bytes; true, false and null one byte; a list or map three bytes plus one
/// per element and its elements (a map's names included).
pub fn item_size(image: &Value) -> usize {
    image.as_object().map_or(0, |attributes| attributes.iter().map(|(name, v)| name.len() + value_size(v)).sum())
}

fn value_size(attribute: &Value) -> usize {
    let Some((kind, v)) = attribute.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match (kind.as_str(), v) {
        ("S", Value::String(s)) => s.len(),
        ("N", Value::String(n)) => {
            let digits: String = n.chars().filter(char::is_ascii_digit).collect();
            digits.trim_matches('0').len().div_ceil(2) + 1
        }
        ("B", Value::String(b)) => b.trim_end_matches('=').len() * 3 / 4,
        ("L", Value::Array(items)) => 3 + items.iter().map(|i| 1 + value_size(i)).sum::<usize>(),
        ("M", Value::Object(m)) => 3 + m.iter().map(|(k, i)| 1 + k.len() + value_size(i)).sum::<usize>(),
        _ => 1,
    }
}

fn json(item: &impl serde::Serialize, which: &str) -> Result<Value, Unreadable> {
    serde_json::to_value(item).map_err(|e| Unreadable::new("not_an_item", format!("{which}: {e}")))
}

/// An image (a map of attribute names to values) as a plain JSON object.
pub fn plain_image(image: &Value) -> Result<Value, String> {
    let Value::Object(attributes) = image else { return Err(format!("not an image: {image}")) };
    let plain: Result<Map<String, Value>, String> =
        attributes.iter().map(|(k, v)| plain_value(v).map(|p| (k.clone(), p))).collect();
    plain.map(Value::Object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_image_reads_back_as_the_json_that_was_written() {
        let image = json!({"pk": {"S": "A1"}, "v": {"N": "3"}, "state": {"S": "paid"},
            "body": {"M": {"record": {"M": {"total": {"M": {"amount_minor": {"N": "2500"}}}, "rate": {"N": "1.5"},
            "lines": {"L": [{"S": "x"}]}, "ok": {"BOOL": true}, "payment_id": {"NULL": true}}}}}});
        let plain = plain_image(&image).expect("an image");
        assert_eq!(
            plain,
            json!({"pk": "A1", "v": 3, "state": "paid", "body": {"record": {"total": {"amount_minor": 2500},
                   "rate": 1.5, "lines": ["x"], "ok": true, "payment_id": null}}})
        );
        assert!(plain_image(&json!({"b": {"B": "AAEq"}})).is_err_and(|e| e.contains("B is not one")));
        assert!(plain_image(&json!({"n": {"N": "ten"}})).is_err());
    }

    #[test]
    fn an_items_size_is_counted_as_dynamodb_counts_it() {
        let item = json!({"pk": {"S": "A1"}, "v": {"N": "12300"}, "ok": {"BOOL": true}, "b": {"B": "AAEq"},
            "l": {"L": [{"S": "xy"}]}, "m": {"M": {"k": {"S": "z"}}}});
        // pk 2+2, v 1+(3 digits → 2)+1, ok 2+1, b 1+3, l 1+3+1+2, m 1+3+1+1+1
        assert_eq!(item_size(&item), 4 + 4 + 3 + 4 + 7 + 7);
        let big = json!({"note": {"S": "x".repeat(MAX_ITEM_BYTES)}});
        assert!(item_size(&big) > MAX_ITEM_BYTES);
        // Many small numbers: far larger as JSON than as an item, and within the limit.
        let many: serde_json::Map<String, Value> = (0..40_000).map(|i| (format!("{i}"), json!({"N": "1"}))).collect();
        let many = Value::Object(many);
        assert!(many.to_string().len() > MAX_ITEM_BYTES && item_size(&many) < MAX_ITEM_BYTES);
    }
}
