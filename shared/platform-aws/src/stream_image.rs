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
        let size = image.to_string().len();
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
}
