//! A document's body as JSON text: what Cosmos DB keeps and sends. Written straight from a typed
//! value and read straight into one, without a `serde_json::Value` tree in between: building,
//! cloning and walking that tree was most of the CPU of a state write or read.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Valid JSON text (it can only be made by serialising or by parsing).
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// `value` serialised. Fails only for what JSON cannot hold (a map with non-string keys).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(JsonText)
    }

    /// `text` if it is JSON.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(JsonText)
    }

    /// The body read into `T` (which may borrow from it).
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// As a tree, for code that looks inside any document (summaries, tests, DynamoDB's maps).
    pub fn to_value(&self) -> Value {
        // Valid JSON by construction, so it parses.
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        // A Value always serialises.
        JsonText::of(&value).unwrap_or_else(|_| JsonText(RawValue::NULL.to_owned()))
    }
}

/// Equal when the same text.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        id: String,
        n: u32,
    }

    #[test]
    fn typed_values_go_in_and_come_out_as_the_same_text() {
        let doc = Doc { id: "A".into(), n: 2 };
        let text = JsonText::of(&doc).expect("serialises");
        assert_eq!(text.as_str(), r#"{"id":"A","n":2}"#);
        assert_eq!(text.decode::<Doc>().expect("decodes"), doc);
        assert_eq!(text.to_value(), json!({"id": "A", "n": 2}));
        assert_eq!(JsonText::from(json!({"id": "A", "n": 2})), text);
        assert!(JsonText::parse("{\"id\":".into()).is_err(), "only JSON is JSON text");
        let by_int_key: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(JsonText::of(&by_int_key).is_err(), "what JSON cannot hold is an error, not a panic");
    }
}
