//! Where each key and value of a pipeline file sits in its text, so a
//! config error found by serde (which only knows a key path) can point at
//! the line and column of the mistake.

use std::ops::Range;

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

/// A YAML node with its byte range in the text.
#[derive(Debug)]
pub struct Node {
    /// Bytes of the node in the text (for a block collection, from its first key or item on).
    pub span: Range<usize>,
    /// What it holds.
    pub kind: NodeKind,
}

/// The shape of a [`Node`].
#[derive(Debug)]
pub enum NodeKind {
    /// A scalar (string, number, boolean, null).
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<Entry>),
}

/// A scalar as YAML's core schema reads it (a quoted scalar is a string).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number that fits an i64.
    Int(i64),
    /// A whole number above i64's range (the parser would make it a float).
    UInt(u64),
    /// Any other number.
    Float(f64),
    /// Text.
    Str(String),
}

/// One `key: value` of a mapping.
#[derive(Debug)]
pub struct Entry {
    /// The key as text.
    pub key: String,
    /// Bytes of the key.
    pub key_span: Range<usize>,
    /// The value.
    pub value: Node,
}

/// The YAML parser's complaint and where it stopped.
#[derive(Debug)]
pub struct SyntaxError {
    /// What the parser expected or found.
    pub message: String,
    /// Byte offset of the position it reports.
    pub offset: usize,
}

/// Parses `text` into a tree of positions. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    // The parser counts characters; miette wants byte offsets.
    let bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).chain([text.len()]).collect();
    let byte = |char_index: usize| bytes.get(char_index).copied().unwrap_or(text.len());
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| SyntaxError { message: e.info().to_string(), offset: byte(e.marker().index()) })?;
    Ok(match docs.into_iter().next() {
        Some(doc) => convert(doc, text, &byte),
        None => Node { span: 0..0, kind: NodeKind::Map(Vec::new()) },
    })
}

fn convert(node: MarkedYamlOwned, text: &str, byte: &impl Fn(usize) -> usize) -> Node {
    let start = byte(node.span.start.index());
    // Collections sometimes end before they start (no end marker): keep the start.
    let end = byte(node.span.end.index()).max(start);
    let kind = match node.data {
        YamlDataOwned::Sequence(items) => NodeKind::Seq(items.into_iter().map(|n| convert(n, text, byte)).collect()),
        YamlDataOwned::Mapping(map) => NodeKind::Map(
            map.into_iter()
                .map(|(k, v)| Entry {
                    key: key_text(&k.data),
                    key_span: byte(k.span.start.index())..byte(k.span.end.index()),
                    value: convert(v, text, byte),
                })
                .collect(),
        ),
        YamlDataOwned::Tagged(_, inner) => return convert(*inner, text, byte),
        YamlDataOwned::Value(v) => NodeKind::Scalar(match v {
            ScalarOwned::Null => Scalar::Null,
            ScalarOwned::Boolean(b) => Scalar::Bool(b),
            ScalarOwned::Integer(i) => Scalar::Int(i),
            // Digits past i64 are a u64 when they fit (a plain scalar's span is its text).
            ScalarOwned::FloatingPoint(f) => match text.get(start..end).map(|t| t.trim_start_matches('+').parse::<u64>()) {
                Some(Ok(n)) => Scalar::UInt(n),
                _ => Scalar::Float(f.into_inner()),
            },
            ScalarOwned::String(s) => Scalar::Str(s),
        }),
        YamlDataOwned::Representation(s, _, _) => NodeKind::Scalar(Scalar::Str(s)),
        // An empty document, or a value the core schema refuses (`!!int x`).
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => NodeKind::Scalar(Scalar::Null),
    };
    Node { span: start..end, kind }
}

fn key_text(data: &YamlDataOwned<MarkedYamlOwned>) -> String {
    match data {
        YamlDataOwned::Value(ScalarOwned::String(s)) | YamlDataOwned::Representation(s, _, _) => s.clone(),
        YamlDataOwned::Value(ScalarOwned::Integer(i)) => i.to_string(),
        YamlDataOwned::Value(ScalarOwned::Boolean(b)) => b.to_string(),
        YamlDataOwned::Value(ScalarOwned::FloatingPoint(f)) => f.to_string(),
        YamlDataOwned::Tagged(_, inner) => key_text(&inner.data),
        _ => String::new(),
    }
}

impl Node {
    /// The node as JSON (a later key of a mapping replaces an earlier one;
    /// the pipeline file refuses duplicates before it gets here).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Map(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Scalar(Scalar::Null) => Value::Null,
            NodeKind::Scalar(Scalar::Bool(b)) => Value::Bool(*b),
            NodeKind::Scalar(Scalar::Int(i)) => Value::from(*i),
            NodeKind::Scalar(Scalar::UInt(u)) => Value::from(*u),
            NodeKind::Scalar(Scalar::Float(f)) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            NodeKind::Scalar(Scalar::Str(s)) => Value::String(s.clone()),
        }
    }

    /// The entry `key` of this mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The child at one path segment: a key of a mapping or an index of a sequence.
    pub fn child(&self, segment: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(_) => self.entry(segment).map(|e| &e.value),
            NodeKind::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            NodeKind::Scalar(_) => None,
        }
    }

    /// The span to show for this node: a collection is shown by its first line only,
    /// so a label does not sprawl over the whole block.
    pub fn head(&self, text: &str) -> Range<usize> {
        match self.kind {
            NodeKind::Scalar(_) => self.span.clone(),
            _ => {
                let line_end = text[self.span.start..].find('\n').map_or(text.len(), |n| self.span.start + n);
                self.span.start..self.span.end.min(line_end).max(self.span.start)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_have_byte_spans() {
        let text = "a: 1\nlist:\n  - name: é\n    x: {y: true}\n";
        let root = parse(text).unwrap();
        let a = root.entry("a").unwrap();
        assert_eq!(&text[a.key_span.clone()], "a");
        assert_eq!(&text[a.value.span.clone()], "1");
        let item = root.child("list").unwrap().child("0").unwrap();
        assert_eq!(&text[item.child("name").unwrap().span.clone()], "é");
        // Byte offsets stay right after a multi-byte character.
        let x = item.entry("x").unwrap();
        assert_eq!(&text[x.key_span.clone()], "x");
        assert_eq!(&text[x.value.child("y").unwrap().span.clone()], "true");
        assert!(root.child("missing").is_none() && item.child("9").is_none());
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let text = "a: 1\nb: [1, 2\n";
        let e = parse(text).unwrap_err();
        assert!(e.offset >= text.find('[').unwrap(), "{e:?}");
        let dup = parse("a: 1\na: 2\n").unwrap_err();
        assert!(dup.message.contains("duplicate") || dup.offset > 0, "{dup:?}");
    }
}
