//! Structure-aware edits of a JSON document. The document is read with its members in their
//! order (decoders may read `type` before `data` or after it), and a string that holds JSON, as
//! text (a Functions host entry, an event inside it) or as base64 (a Kafka or Pub/Sub value), is
//! one more layer of the document: an edit can land inside it, and the layer is encoded again
//! the way it came.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A parsed document; its nodes are numbered in pre-order, and an edit names its node by number.
#[derive(Debug, Clone)]
pub struct Doc {
    root: Node,
    nodes: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Value),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    /// A string carrying JSON, as text or as base64.
    Embedded(Base64, Box<Node>),
}

/// Whether an embedded layer is base64 of its JSON (else the JSON text itself).
type Base64 = bool;

#[derive(Debug, Clone)]
pub enum Edit {
    /// This text (JSON of another type, or not JSON at all) in the node's place.
    Replace(Vec<u8>),
    /// The node taken out of its array or object.
    Drop,
    /// A small change of a leaf, picked by the number: a string cut, grown past a limit, padded
    /// or recased; a number off by one, negated, out of range or quoted. On an array its elements
    /// twice; on an embedded layer, its text changed as a string.
    Tweak(u32),
    /// One more member: for an object under one of its own keys (a duplicate key) or a new one;
    /// for an array one more element.
    Add(Option<u32>, String, Vec<u8>),
    /// An object's members or an array's elements in reverse order.
    Reverse,
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => raw_json().prop_map(Edit::Replace),
        2 => Just(Edit::Drop),
        4 => any::<u32>().prop_map(Edit::Tweak),
        2 => (prop::option::of(any::<u32>()), "[a-z]{1,8}", raw_json()).prop_map(|(k, n, v)| Edit::Add(k, n, v)),
        1 => Just(Edit::Reverse),
    ]
}

/// Numbers that no decoder's types hold, in the forms JSON allows.
const HUGE_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "9223372036854775807",
    "4294967296",
    "123456789012345678901234567890",
    "1.7976931348623157e308",
    "5e-324",
    "-0",
    "0.1",
    "1E2",
    "2.5",
];

/// Text that is not JSON, or JSON a strict reader refuses.
const BROKEN: &[&[u8]] = &[
    b"\"\\ud800\"",
    b"\"\xff\xfe\"",
    b"\"\xc3\"",
    b"\"unterminated",
    b"tru",
    b"01",
    b"+1",
    b"NaN",
    b"Infinity",
    b"'x'",
    b"[1,]",
    b"{\"a\"}",
    b"",
    b"\"\\x41\"",
    b"\"a\0b\"",
    b"{\"a\":1}}",
];

/// Strings that look like a value of some field but are not (or only nearly).
const STRINGS: &[&str] = &[
    "",
    " ",
    "null",
    "1.0",
    "-1",
    "ZZZ",
    "eur",
    "é",
    "\u{1F600}",
    "2026-13-45T99:99:99Z",
    "2026-11-20T09:00:00",
    "!!!",
    "YQ",
    "YQ=",
    "Y Q==",
    "====",
    "%",
    "a%2",
    "+",
    "1.",
    ".5",
    "1e3",
    "0x10",
    "20261120",
    "\t",
    "aws:kafka",
    "SelfManagedKafka",
    "ObjectCreated:Put",
    "com.shop.merch.price-changed.v1",
    "1.0",
];

/// A JSON value of any type, or text in a JSON value's place that is not one.
pub fn raw_json() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        Just(b"null".to_vec()),
        any::<bool>().prop_map(|b| b.to_string().into_bytes()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        any::<f64>().prop_map(|f| serde_json::to_vec(&f).unwrap_or_else(|_| b"0.5".to_vec())),
        prop::sample::select(HUGE_NUMBERS).prop_map(|n| n.as_bytes().to_vec()),
        any::<String>().prop_map(|s| json_string(&s)),
        prop::sample::select(STRINGS).prop_map(json_string),
        Just(b"[]".to_vec()),
        Just(b"{}".to_vec()),
        (1usize..200).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        (1usize..200).prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d)).into_bytes()),
        prop::sample::select(BROKEN).prop_map(<[u8]>::to_vec),
    ]
    .boxed()
}

fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_default()
}

impl Doc {
    /// The document of a JSON fixture; None if it is not JSON.
    pub fn parse(bytes: &[u8]) -> Option<Doc> {
        let root: Node = serde_json::from_slice(bytes).ok()?;
        Some(Doc { nodes: root.count(), root })
    }

    /// The document with the edits applied, each at node `index % nodes`. An edit inside a node
    /// that another edit replaced or dropped is not applied.
    pub fn render(&self, edits: &[(Index, Edit)]) -> Vec<u8> {
        let edits: Vec<(usize, &Edit)> = edits.iter().map(|(at, e)| (at.index(self.nodes), e)).collect();
        self.render_at(&edits)
    }

    /// [`Doc::render`] with the edits' node numbers given.
    fn render_at(&self, edits: &[(usize, &Edit)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut r = Render { edits, next: 0 };
        if r.edit_at(0).is_some_and(|e| matches!(e, Edit::Drop)) {
            return out;
        }
        r.node(&self.root, &mut out);
        out
    }
}

/// The JSON carried inside the strings of a document (as text or base64), each layer's text on
/// its own, outermost first: the events inside a fixture's envelope, to mutate on their own.
pub fn layers(bytes: &[u8]) -> Vec<Vec<u8>> {
    fn walk(node: &Node, out: &mut Vec<Vec<u8>>) {
        match node {
            Node::Leaf(_) => {}
            Node::Array(items) => items.iter().for_each(|n| walk(n, out)),
            Node::Object(members) => members.iter().for_each(|(_, n)| walk(n, out)),
            Node::Embedded(_, inner) => {
                let mut text = Vec::new();
                Render { edits: &[], next: 0 }.node(inner, &mut text);
                out.push(text);
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(doc) = Doc::parse(bytes) {
        walk(&doc.root, &mut out);
    }
    out
}

impl Node {
    fn count(&self) -> usize {
        1 + match self {
            Node::Leaf(_) => 0,
            Node::Array(items) => items.iter().map(Node::count).sum(),
            Node::Object(members) => members.iter().map(|(_, n)| n.count()).sum(),
            Node::Embedded(_, inner) => inner.count(),
        }
    }

    fn string(s: String) -> Node {
        let structured = |v: &Node| matches!(v, Node::Array(_) | Node::Object(_));
        if let Ok(inner) = serde_json::from_str::<Node>(&s)
            && structured(&inner)
        {
            return Node::Embedded(false, Box::new(inner));
        }
        if let Some(inner) = STANDARD.decode(&s).ok().and_then(|b| serde_json::from_slice::<Node>(&b).ok())
            && structured(&inner)
        {
            return Node::Embedded(true, Box::new(inner));
        }
        Node::Leaf(Value::String(s))
    }
}

struct Render<'a> {
    edits: &'a [(usize, &'a Edit)],
    /// The pre-order number of the next node rendered.
    next: usize,
}

impl<'a> Render<'a> {
    fn edit_at(&self, at: usize) -> Option<&'a Edit> {
        self.edits.iter().find(|(n, _)| *n == at).map(|(_, e)| *e)
    }

    fn node(&mut self, node: &Node, out: &mut Vec<u8>) {
        let me = self.next;
        self.next += 1;
        let edit = self.edit_at(me);
        if let Some(Edit::Replace(raw)) = edit {
            out.extend_from_slice(raw);
            self.next = me + node.count();
            return;
        }
        match node {
            Node::Leaf(v) => match edit {
                Some(Edit::Tweak(r)) => out.extend(tweak_leaf(v, *r)),
                _ => out.extend(serde_json::to_vec(v).unwrap_or_default()),
            },
            Node::Array(items) => {
                let mut order: Vec<&Node> = items.iter().collect();
                self.children(&mut order, edit, out, b'[', b']', |r, n, out| r.node(n, out));
            }
            Node::Object(members) => {
                let mut order: Vec<&(String, Node)> = members.iter().collect();
                self.children(&mut order, edit, out, b'{', b'}', |r, (k, n), out| {
                    out.extend(json_string(k));
                    out.push(b':');
                    r.node(n, out);
                });
            }
            Node::Embedded(base64, inner) => {
                let mut text = Vec::new();
                self.node(inner, &mut text);
                let text = if *base64 { STANDARD.encode(&text) } else { String::from_utf8_lossy(&text).into_owned() };
                match edit {
                    Some(Edit::Tweak(r)) => out.extend(tweak_leaf(&Value::String(text), *r)),
                    _ => out.extend(json_string(&text)),
                }
            }
        }
    }

    /// The children of an array or object between `open` and `close`, numbered in their
    /// original order whatever order they are written in; a dropped child is skipped.
    fn children<T>(
        &mut self,
        items: &mut [&T],
        edit: Option<&Edit>,
        out: &mut Vec<u8>,
        open: u8,
        close: u8,
        write: impl Fn(&mut Self, &T, &mut Vec<u8>),
    ) where
        T: Counted,
    {
        // Each child's number, from the original order.
        let mut numbers = Vec::with_capacity(items.len());
        let mut n = self.next;
        for item in items.iter() {
            numbers.push(n);
            n += item.count();
        }
        let end = n;
        let mut order: Vec<usize> = (0..items.len()).collect();
        match edit {
            Some(Edit::Reverse) => order.reverse(),
            Some(Edit::Tweak(_)) if open == b'[' => order.extend(0..items.len()),
            _ => {}
        }
        out.push(open);
        let mut first = true;
        for i in order {
            if self.edit_at(numbers[i]).is_some_and(|e| matches!(e, Edit::Drop)) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            self.next = numbers[i];
            write(self, items[i], out);
        }
        if let Some(Edit::Add(key, name, raw)) = edit {
            if !first {
                out.push(b',');
            }
            if open == b'{' {
                let existing = key.and_then(|k| (!items.is_empty()).then(|| items[k as usize % items.len()].key()));
                out.extend(json_string(existing.unwrap_or(name)));
                out.push(b':');
            }
            out.extend_from_slice(raw);
        }
        out.push(close);
        self.next = end;
    }
}

/// What [`Render::children`] needs of a child: its size in nodes, and an object member's key.
trait Counted {
    fn count(&self) -> usize;
    fn key(&self) -> &str {
        ""
    }
}

impl Counted for Node {
    fn count(&self) -> usize {
        Node::count(self)
    }
}

impl Counted for (String, Node) {
    fn count(&self) -> usize {
        self.1.count()
    }
    fn key(&self) -> &str {
        &self.0
    }
}

/// Characters a field may not expect: a space, a quote, a backslash, a NUL, a letter past ASCII.
const EXTRA: &[char] = &[' ', 'x', '0', '-', '"', '\\', '\0', 'é', '\u{1F600}', '/', '.', '%'];

fn tweak_leaf(v: &Value, r: u32) -> Vec<u8> {
    match v {
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            let at = (r as usize / 16) % (chars.len() + 1);
            let extra = EXTRA[(r as usize / 16) % EXTRA.len()];
            let s: String = match r % 16 {
                0 | 1 => chars[..at].iter().collect(),
                2 | 3 => chars[..at].iter().chain([extra].iter()).chain(chars[at..].iter()).collect(),
                4 => s.to_uppercase(),
                5 => s.to_lowercase(),
                6 => format!("  {s} "),
                // Past every record and field limit (16 KiB an ERP record, 64 KiB on the bus).
                7 => s.repeat(if r.is_multiple_of(3) { 70_000 / s.len().max(1) } else { 40 }),
                8 => String::new(),
                9 => chars.iter().rev().collect(),
                _ => chars.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, c)| c).collect(),
            };
            json_string(&s)
        }
        Value::Number(n) => {
            let text = n.to_string();
            let out = match r % 8 {
                0 => n.as_i64().map_or(text.clone(), |i| i.wrapping_add(1).to_string()),
                1 => n.as_i64().map_or(text.clone(), |i| i.wrapping_sub(1).to_string()),
                2 => format!("-{text}"),
                3 => "0".into(),
                4 => u64::MAX.to_string(),
                5 => format!("\"{text}\""),
                6 => format!("{text}.5"),
                _ => format!("{text}000000000000"),
            };
            out.into_bytes()
        }
        Value::Bool(b) => (!b).to_string().into_bytes(),
        _ => b"0".to_vec(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Leaf(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Leaf(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Leaf(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::string(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::string(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some(entry) = map.next_entry()? {
            members.push(entry);
        }
        Ok(Node::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unedited_documents_render_as_they_came_layers_included() {
        let doc = format!(r#"{{"z":"{{\"b\":[1,2],\"a\":\"x\"}}","y":"{}","x":null}}"#, STANDARD.encode(r#"{"b":1}"#));
        let parsed = Doc::parse(doc.as_bytes()).expect("json");
        assert!(
            matches!(&parsed.root, Node::Object(m) if matches!(m[0].1, Node::Embedded(false, _)) && matches!(m[1].1, Node::Embedded(true, _)))
        );
        assert_eq!(String::from_utf8(parsed.render(&[])).expect("utf8"), doc);
    }

    #[test]
    fn edits_land_on_their_node_and_inside_layers() {
        // Nodes in pre-order: 0 the object, 1 "t" (a text layer), 2 its object, 3 its 1, 4 true.
        let doc = Doc::parse(br#"{"t":"{\"k\":1}","d":true}"#).expect("json");
        assert_eq!(doc.nodes, 5);
        let render = |n: usize, e: Edit| String::from_utf8(doc.render_at(&[(n, &e)])).expect("utf8");
        assert_eq!(render(3, Edit::Replace(b"[]".to_vec())), r#"{"t":"{\"k\":[]}","d":true}"#);
        assert_eq!(render(4, Edit::Drop), r#"{"t":"{\"k\":1}"}"#);
        assert_eq!(render(0, Edit::Reverse), r#"{"d":true,"t":"{\"k\":1}"}"#);
        assert_eq!(render(2, Edit::Add(Some(0), "n".into(), b"2".to_vec())), r#"{"t":"{\"k\":1,\"k\":2}","d":true}"#);
        assert_eq!(render(1, Edit::Tweak(16 * 3)), r#"{"t":"{\"k","d":true}"#, "a layer's text cut");
    }
}
