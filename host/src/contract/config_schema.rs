//! A component's declared config schema: a JSON Schema in its custom section
//! `rapidbyte:config-schema`, read from the bytes and checked against the
//! connector's config section at preflight, so a typo, a wrong type or a
//! missing field is a located diagnostic before anything runs (SPEC § Roles
//! and worlds, config schema). The schema is the component's: its text is
//! untrusted (shown sanitized, size-capped, no remote or file `$ref`s), and
//! a value from the user's config is never quoted back (it may be a secret).

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde_json::Value;

use crate::sandbox::untrusted::{MAX_NAME_BYTES, sanitize};

/// A schema larger than this is refused at load.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// At most this many problems are reported for one config section.
const MAX_PROBLEMS: usize = 8;

/// A compiled config schema.
pub struct ConfigSchema {
    validator: jsonschema::Validator,
    raw: Value,
}

impl std::fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSchema").finish_non_exhaustive()
    }
}

/// What is wrong with one place of a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A key the schema does not accept (`path` ends with it).
    UnknownKey,
    /// A required key is absent (`path` is the object lacking it).
    MissingKey,
    /// A value of another JSON type.
    WrongType,
    /// A value the schema's constraints refuse.
    Invalid,
}

/// One schema violation, in words that never repeat the value.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Keys and indexes from the config section's root.
    pub path: Vec<String>,
    pub kind: ProblemKind,
    /// What is wrong, after the place (`must be an integer`).
    pub message: String,
    /// The short label at the span.
    pub label: String,
    /// What to do.
    pub help: String,
    /// For a missing key, its name.
    pub required: Option<String>,
}

impl ConfigSchema {
    /// Reads and compiles the section's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_SCHEMA_BYTES {
            return Err(format!("its config schema is {} bytes; at most {MAX_SCHEMA_BYTES} are accepted", bytes.len()));
        }
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| format!("its config schema is not JSON: {e}"))?;
        if !raw.is_object() {
            return Err("its config schema is not a JSON object".into());
        }
        // No retriever: a `$ref` outside the schema itself fails to compile
        // rather than reaching a file or the network.
        let validator = jsonschema::options()
            .with_retriever(NoRetrieval)
            .build(&raw)
            .map_err(|e| format!("its config schema is not a valid JSON Schema: {}", sanitize(&e.to_string(), 512)))?;
        Ok(Self { validator, raw })
    }

    /// Reads a number or boolean given as text (every `${VAR}` is text) as
    /// the number or boolean the schema asks for there, so the connector is
    /// handed the type it declared (as `rapidbyte_sdk::config::lenient`
    /// would read it); text that is not one is left for [`Self::check`].
    pub fn coerce(&self, config: &mut Value) {
        coerce_text(&self.raw, config);
    }

    /// The problems of `config` (after [`Self::coerce`]), in the order of
    /// their place in the config; empty when it conforms.
    pub fn check(&self, config: &Value) -> Vec<Problem> {
        let mut problems: Vec<Problem> = Vec::new();
        for error in self.validator.iter_errors(config) {
            let path: Vec<String> = error.instance_path().iter().map(|s| segment(&s)).collect();
            problems.extend(self.describe(path, error.kind()));
            if problems.len() >= MAX_PROBLEMS {
                break;
            }
        }
        // A misspelt required key is one mistake, not two: the unknown key's
        // "did you mean" already names the missing one.
        let misspelt: Vec<(Vec<String>, String)> = problems
            .iter()
            .filter(|p| p.kind == ProblemKind::UnknownKey)
            .filter_map(|p| {
                let (key, object) = p.path.split_last()?;
                let guess = crate::pipeline::closest(key, &self.property_names(object))?.to_string();
                Some((object.to_vec(), guess))
            })
            .collect();
        problems.retain(|p| p.kind != ProblemKind::MissingKey || !misspelt.iter().any(|(object, guess)| *object == p.path && p.required.as_deref() == Some(guess)));
        problems.sort_by(|a, b| a.path.cmp(&b.path));
        problems.dedup_by(|a, b| a.path == b.path && a.kind == b.kind && a.required == b.required);
        problems
    }

    fn describe(&self, path: Vec<String>, kind: &ValidationErrorKind) -> Vec<Problem> {
        let invalid = |message: String, label: &str, help: String| {
            vec![Problem { path: path.clone(), kind: ProblemKind::Invalid, message, label: label.into(), help, required: None }]
        };
        match kind {
            ValidationErrorKind::AdditionalProperties { unexpected } | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let accepted = self.property_names(&path);
                unexpected
                    .iter()
                    .map(|key| {
                        let shown = shown_name(key);
                        let list = accepted.iter().map(|k| format!("`{}`", shown_name(k))).collect::<Vec<_>>().join(", ");
                        let help = match crate::pipeline::closest(key, &accepted) {
                            Some(guess) => format!("did you mean `{}`? It accepts {list}", shown_name(guess)),
                            None if list.is_empty() => format!("remove `{shown}`"),
                            None => format!("remove `{shown}`; it accepts {list}"),
                        };
                        let mut at = path.clone();
                        at.push(key.clone());
                        Problem { path: at, kind: ProblemKind::UnknownKey, message: format!("has unknown key `{shown}`"), label: "unknown key".into(), help, required: None }
                    })
                    .collect()
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().map_or_else(|| "a key".to_string(), |p| format!("`{}`", shown_name(p)));
                vec![Problem {
                    path,
                    kind: ProblemKind::MissingKey,
                    message: format!("has no {name}, which the connector requires"),
                    label: format!("{name} is missing here"),
                    help: format!("add {name} to this section"),
                    required: property.as_str().map(str::to_string),
                }]
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    jsonschema::error::TypeKind::Single(t) => article(&t.to_string()),
                    jsonschema::error::TypeKind::Multiple(set) => set.iter().map(|t| article(&t.to_string())).collect::<Vec<_>>().join(" or "),
                };
                vec![Problem {
                    path,
                    kind: ProblemKind::WrongType,
                    message: format!("must be {expected}"),
                    label: format!("expected {expected}"),
                    help: format!("write {expected} here"),
                    required: None,
                }]
            }
            ValidationErrorKind::Enum { options } => {
                let list = options.as_array().map(|o| o.iter().map(shown_value).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                invalid(format!("must be one of {list}"), "not one of the accepted values", format!("write one of {list}"))
            }
            ValidationErrorKind::Constant { expected_value } => {
                let v = shown_value(expected_value);
                invalid(format!("must be {v}"), "not the accepted value", format!("write {v}"))
            }
            ValidationErrorKind::Minimum { limit } => invalid(format!("must be at least {}", shown_value(limit)), "too small", format!("give at least {}", shown_value(limit))),
            ValidationErrorKind::ExclusiveMinimum { limit } => invalid(format!("must be above {}", shown_value(limit)), "too small", format!("give more than {}", shown_value(limit))),
            ValidationErrorKind::Maximum { limit } => invalid(format!("must be at most {}", shown_value(limit)), "too large", format!("give at most {}", shown_value(limit))),
            ValidationErrorKind::ExclusiveMaximum { limit } => invalid(format!("must be below {}", shown_value(limit)), "too large", format!("give less than {}", shown_value(limit))),
            ValidationErrorKind::MinLength { limit } => invalid(format!("must be at least {limit} characters long"), "too short", if *limit == 1 { "it must not be empty".into() } else { format!("give at least {limit} characters") }),
            ValidationErrorKind::MaxLength { limit } => invalid(format!("must be at most {limit} characters long"), "too long", format!("give at most {limit} characters")),
            ValidationErrorKind::MinItems { limit } => invalid(format!("must list at least {limit} items"), "too few items", format!("list at least {limit}")),
            ValidationErrorKind::MaxItems { limit } => invalid(format!("must list at most {limit} items"), "too many items", format!("list at most {limit}")),
            ValidationErrorKind::UniqueItems => invalid("lists an item twice".into(), "an item twice", "list each item once".into()),
            ValidationErrorKind::Pattern { pattern } => {
                let p = sanitize(pattern, MAX_NAME_BYTES);
                invalid(format!("does not match the pattern `{p}`"), "does not match", format!("write a value matching `{p}`"))
            }
            other => {
                let keyword = sanitize(other.keyword(), MAX_NAME_BYTES);
                invalid(
                    format!("is not accepted by the connector's config schema (`{keyword}`)"),
                    "not accepted",
                    "see the connector's documentation for this field (`rapidbyte connectors` names each component)".into(),
                )
            }
        }
    }

    /// The keys the schema declares for the object at `path`, as far as
    /// plain `properties` (and `items` for lists) lead there.
    fn property_names(&self, path: &[String]) -> Vec<String> {
        let mut node = &self.raw;
        for key in path {
            node = match (node.get("properties").and_then(|p| p.get(key)), node.get("items")) {
                (Some(child), _) => child,
                (None, Some(items)) if key.parse::<usize>().is_ok() => items,
                _ => return Vec::new(),
            };
        }
        node.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default()
    }
}

/// Reads text as the number or boolean the schema's `type` asks for, where
/// the schema does not also accept text there (through `properties` and
/// `items`, as far as they go).
fn coerce_text(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
            for (key, child) in map.iter_mut() {
                if let Some(sub) = props.get(key) {
                    coerce_text(sub, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                items.iter_mut().for_each(|item| coerce_text(sub, item));
            }
        }
        Value::String(text) => {
            let types = declared_types(schema);
            if types.is_empty() || types.contains(&"string") {
                return;
            }
            let t = text.trim();
            let read = if types.contains(&"integer") {
                t.parse::<i64>().map(Value::from).ok().or_else(|| t.parse::<u64>().map(Value::from).ok())
            } else {
                None
            }
            .or_else(|| types.contains(&"number").then(|| t.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))).flatten())
            .or_else(|| types.contains(&"boolean").then(|| t.parse::<bool>().ok().map(Value::Bool)).flatten());
            if let Some(v) = read {
                *value = v;
            }
        }
        // YAML reads `database: 2024` or `password: 1234` as a number: where
        // the schema asks for text only, it is the text as written.
        Value::Number(_) | Value::Bool(_) => {
            let types = declared_types(schema);
            let takes_as_is = match value {
                Value::Bool(_) => types.contains(&"boolean"),
                Value::Number(n) => types.contains(&"number") || (types.contains(&"integer") && (n.is_i64() || n.is_u64())),
                _ => true,
            };
            if !takes_as_is && types.contains(&"string") {
                *value = Value::String(value.to_string());
            }
        }
        _ => {}
    }
}

/// The JSON types a (sub)schema's `type` names; empty when it names none.
fn declared_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn segment(s: &LocationSegment<'_>) -> String {
    match s {
        LocationSegment::Property(p) => p.to_string(),
        LocationSegment::Index(i) => i.to_string(),
    }
}

/// A key name from the schema or the file, safe to show.
fn shown_name(name: &str) -> String {
    sanitize(name, 64)
}

/// A value from the schema (an enum member, a limit), safe to show.
fn shown_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{}`", sanitize(s, 64)),
        other => sanitize(&other.to_string(), 64),
    }
}

fn article(json_type: &str) -> String {
    match json_type {
        "integer" => "an integer".into(),
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "string" => "text".into(),
        "boolean" => "true or false".into(),
        "null" => "null".into(),
        other => format!("a {other}"),
    }
}

/// Refuses every external `$ref` (the schema is the component's alone).
struct NoRetrieval;

impl jsonschema::Retrieve for NoRetrieval {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("the config schema may not refer to `{}`", sanitize(uri.as_str(), 128)).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> ConfigSchema {
        let s = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["host", "database"],
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "database": {"type": "string"},
                "password": {"type": "string"},
                "sslmode": {"enum": ["disable", "prefer"]},
                "on": {"type": "boolean"}
            }
        });
        ConfigSchema::parse(s.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_conforming_config_has_no_problems_and_text_numbers_are_read() {
        let s = schema();
        assert!(s.check(&json!({"host": "h", "database": "d", "port": 5432})).is_empty());
        let mut text = json!({"host": "h", "database": "d", "port": "5433", "on": "true", "password": "12"});
        assert_eq!(s.check(&text).len(), 2);
        s.coerce(&mut text);
        assert!(s.check(&text).is_empty());
        assert_eq!(text, json!({"host": "h", "database": "d", "port": 5433, "on": true, "password": "12"}));
        // And a number where text goes is its text (YAML's `database: 2024`).
        let mut numbers = json!({"host": "h", "database": 2024, "password": 1234, "port": 5432});
        s.coerce(&mut numbers);
        assert_eq!(numbers, json!({"host": "h", "database": "2024", "password": "1234", "port": 5432}));
        assert!(s.check(&numbers).is_empty());
    }

    #[test]
    fn each_kind_of_mistake_is_placed_and_never_quotes_the_value() {
        let s = schema();
        let p = s.check(&json!({"databse": "Zq8-secret", "port": "Zq8-secret"}));
        let kinds: Vec<(Vec<String>, ProblemKind)> = p.iter().map(|p| (p.path.clone(), p.kind)).collect();
        // `host` is missing; `database` is misspelt, which is said once.
        assert_eq!(p.iter().filter(|p| p.kind == ProblemKind::MissingKey).map(|p| p.required.as_deref()).collect::<Vec<_>>(), [Some("host")], "{p:?}");
        assert!(kinds.contains(&(vec!["databse".into()], ProblemKind::UnknownKey)), "{p:?}");
        assert!(kinds.contains(&(vec!["port".into()], ProblemKind::WrongType)), "{p:?}");
        let unknown = p.iter().find(|p| p.kind == ProblemKind::UnknownKey).unwrap();
        assert!(unknown.help.contains("did you mean `database`"), "{}", unknown.help);
        assert!(p.iter().all(|p| !format!("{}{}{}", p.message, p.label, p.help).contains("Zq8")), "{p:?}");
        let p = s.check(&json!({"host": "h", "database": "d", "port": 70000, "sslmode": "Zq8"}));
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p.iter().map(|p| (p.path.clone(), p.kind)).collect::<Vec<_>>(), [(vec!["port".to_string()], ProblemKind::Invalid), (vec!["sslmode".to_string()], ProblemKind::Invalid)]);
        // The words the user reads name the limit and the accepted values.
        assert!(p[0].message.contains("at most 65535"), "{p:?}");
        assert!(p[1].message.contains("`disable`, `prefer`") && !p[1].message.contains("Zq8"), "{p:?}");
    }

    /// The first-party schemas compile, and the PostgreSQL ones repeat the
    /// shared connection fields exactly.
    #[test]
    fn first_party_schemas_compile_and_share_the_connection_fields() {
        let connection: Value = serde_json::from_str(include_str!("../../../connectors/pgconnect/connection.schema.json")).unwrap();
        for text in [include_str!("../../../connectors/source-postgres/config.schema.json"), include_str!("../../../connectors/dest-postgres/config.schema.json")] {
            let raw: Value = serde_json::from_str(text).unwrap();
            for (key, field) in connection["properties"].as_object().unwrap() {
                assert_eq!(&raw["properties"][key], field, "{key} differs from pgconnect/connection.schema.json");
            }
            let s = ConfigSchema::parse(text.as_bytes()).unwrap();
            let mut config = json!({"host": "127.0.0.1", "port": "5432", "user": "postgres", "database": "test", "sslmode": "require"});
            s.coerce(&mut config);
            assert!(s.check(&config).is_empty());
            let p = s.check(&json!({"host": "127.0.0.1", "port": 0, "user": "postgres", "database": "test", "sslmod": "require"}));
            assert_eq!(p.iter().map(|p| p.kind).collect::<Vec<_>>(), [ProblemKind::Invalid, ProblemKind::UnknownKey], "{p:?}");
        }
        for text in [include_str!("../../../connectors/source-generator/config.schema.json"), include_str!("../../../connectors/dest-verify/config.schema.json")] {
            ConfigSchema::parse(text.as_bytes()).unwrap();
        }
    }

    #[test]
    fn hostile_schemas_are_refused_at_load() {
        assert!(ConfigSchema::parse(b"not json").is_err());
        assert!(ConfigSchema::parse(b"[1]").is_err());
        assert!(ConfigSchema::parse(br#"{"type": 7}"#).is_err());
        assert!(ConfigSchema::parse(br#"{"$ref": "file:///etc/passwd"}"#).is_err());
        assert!(ConfigSchema::parse(br#"{"$ref": "https://example.invalid/s.json"}"#).is_err());
        let big = format!(r#"{{"description": "{}"}}"#, "x".repeat(MAX_SCHEMA_BYTES));
        assert!(ConfigSchema::parse(big.as_bytes()).is_err());
        let deep = format!("{}{}", r#"{"items":"#.repeat(400), "}".repeat(400));
        assert!(ConfigSchema::parse(deep.as_bytes()).is_err(), "nesting past serde_json's limit is refused, not recursed into");
        // A schema that refers to itself, and a pattern that backtracks
        // badly: both finish (bounded by the config and the regex engine).
        let recursive = ConfigSchema::parse(br##"{"type": "object", "additionalProperties": {"$ref": "#"}}"##).unwrap();
        assert!(recursive.check(&json!({"a": {"b": {"c": {}}}})).is_empty());
        assert_eq!(recursive.check(&json!({"a": {"b": 1}})).len(), 1);
        let slow = ConfigSchema::parse(br#"{"properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}"#).unwrap();
        let started = std::time::Instant::now();
        let _ = slow.check(&json!({"s": format!("{}!", "a".repeat(64))}));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "a pathological pattern ran {:?}", started.elapsed());
    }
}
