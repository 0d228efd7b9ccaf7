//! The pipeline file's values as figment reads them, built from the one
//! YAML parse that also gives positions. `${VAR}` is replaced inside string
//! values only, after parsing: a value from the environment is always one
//! string, whatever it holds (`#`, `: `, quotes, a newline), never YAML.
//! `$${` writes a literal `${`. Comments and keys are never substituted.

use std::ops::Range;

use figment::value::{Dict, Empty, Map, Num, Tag, Value};
use figment::{Metadata, Profile, Provider};

use super::positions::{Node, NodeKind, Scalar};

/// The name figment gives values from the file (in its error metadata).
pub(super) const PROVIDER_NAME: &str = "pipeline file";

/// A `${VAR}` that is not set, at its span in the file.
#[derive(Debug)]
pub(super) struct Unset {
    pub var: String,
    pub span: Range<usize>,
}

/// The file's values, merged into the figment under the environment layer.
pub(super) struct FileValues(pub Dict);

impl Provider for FileValues {
    fn metadata(&self) -> Metadata {
        Metadata::named(PROVIDER_NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Map::from([(Profile::Default, self.0.clone())]))
    }
}

/// The values of a mapping node, `${VAR}` replaced; `None` when the root is
/// not a mapping (an empty file is an empty one).
pub(super) fn mapping(root: &Node, text: &str, lookup: &Lookup) -> Result<Option<Dict>, Unset> {
    match &root.kind {
        NodeKind::Map(_) => match value(root, text, lookup)? {
            Value::Dict(_, dict) => Ok(Some(dict)),
            _ => unreachable!("a mapping node gives a dict"),
        },
        NodeKind::Scalar(Scalar::Null) => Ok(Some(Dict::new())),
        _ => Ok(None),
    }
}

/// Reads an environment variable (the process's, or a test's).
pub(super) type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn value(node: &Node, text: &str, lookup: &Lookup) -> Result<Value, Unset> {
    let tag = Tag::Default;
    Ok(match &node.kind {
        NodeKind::Map(entries) => {
            let mut dict = Dict::new();
            for e in entries {
                dict.insert(e.key.clone(), value(&e.value, text, lookup)?);
            }
            Value::Dict(tag, dict)
        }
        NodeKind::Seq(items) => Value::Array(tag, items.iter().map(|n| value(n, text, lookup)).collect::<Result<_, _>>()?),
        NodeKind::Scalar(s) => match s {
            Scalar::Null => Value::Empty(tag, Empty::None),
            Scalar::Bool(b) => Value::Bool(tag, *b),
            Scalar::Int(i) => Value::Num(tag, Num::I64(*i)),
            Scalar::UInt(u) => Value::Num(tag, Num::U64(*u)),
            Scalar::Float(f) => Value::Num(tag, Num::F64(*f)),
            Scalar::Str(s) => Value::String(tag, substitute(s, lookup).map_err(|var| {
                // Point at the reference as written, else at the whole value.
                let written = format!("${{{var}}}");
                let span = text
                    .get(node.span.clone())
                    .and_then(|t| t.find(&written))
                    .map_or(node.span.clone(), |at| node.span.start + at..node.span.start + at + written.len());
                Unset { var, span }
            })?),
        },
    })
}

/// `s` with each `${NAME}` replaced by `lookup(NAME)`; `$${` is a literal
/// `${`. A `${` that is not closed, or whose name is not a variable name,
/// stays as written. An unset variable gives its name.
pub(super) fn substitute(s: &str, lookup: &Lookup) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some((name, after)) = reference(tail) {
            out.push_str(&lookup(name).ok_or_else(|| name.to_string())?);
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The names of the variables `s` refers to (for concealing their values).
pub(super) fn references(s: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            rest = after;
        } else if let Some((name, after)) = reference(tail) {
            names.push(name);
            rest = after;
        } else {
            rest = &tail[1..];
        }
    }
    names
}

/// `${NAME}` at the start of `s`: the name and what follows it.
fn reference(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix("${")?;
    let end = body.find('}')?;
    let name = &body[..end];
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name, &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("a#b: c\nd: 'e\" ${X}".into()),
            "N" => Some("4".into()),
            _ => None,
        }
    }

    #[test]
    fn references_are_replaced_whole_and_never_reread() {
        assert_eq!(substitute("x=${PW}!", &env).unwrap(), "x=a#b: c\nd: 'e\" ${X}!");
        assert_eq!(substitute("${N}${N}", &env).unwrap(), "44");
        assert_eq!(substitute("${UNSET_ONE} ${N}", &env).unwrap_err(), "UNSET_ONE");
    }

    #[test]
    fn escapes_and_non_references_stay_as_written() {
        assert_eq!(substitute("$${N} costs $5 ${not closed", &env).unwrap(), "${N} costs $5 ${not closed");
        // Read left to right: `$` then the escape `$${`.
        assert_eq!(substitute("${1X} ${a b} $$${N}", &env).unwrap(), "${1X} ${a b} $${N}");
        assert_eq!(references("$${A} ${B} ${C}x ${ D }"), vec!["B", "C"]);
    }
}
