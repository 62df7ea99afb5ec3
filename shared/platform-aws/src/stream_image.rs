//! A DynamoDB Streams image (DynamoDB's JSON: `{"S": …}`, `{"N": …}`, `{"M": {…}}`, …) read as
//! the plain JSON the `Documents` adapter wrote (`dynamodb::to_attribute` the other way), so a
//! stream function reads an item's body with the types that wrote it.
use serde_json::{Map, Number, Value};

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
