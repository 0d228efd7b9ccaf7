//! Pipeline-file errors as miette diagnostics: what is wrong, where in the
//! file (a labelled span, so the renderer prints `path:line:col` and the
//! line), and what to do. serde (through figment) only knows the key path of
//! a mistake; [`PipelineSource`] turns that path into a span of the text.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use figment::error::{Actual, Kind};
use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use super::positions::{self, Node};
use super::values;

/// Keys whose value is a mapping (a struct): a list there is a mistake.
const SECTIONS: [&[&str]; 9] = [
    &["limits"],
    &["retry"],
    &["state"],
    &["source"],
    &["destination"],
    &["source", "config"],
    &["destination", "config"],
    &["source", "sandbox"],
    &["destination", "sandbox"],
];

/// A line of the file longer than this is shown cut around the mistake.
const SHOWN_LINE: usize = 240;

/// Top-level sections the `RAPIDBYTE_` environment layer may override.
pub(super) const ENV_SECTIONS: [&str; 2] = ["limits", "pipeline"];
const ENV_PREFIX: &str = "RAPIDBYTE_";

/// Which mistake a [`ConfigError`] reports; each has a stable diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file cannot be read.
    FileUnreadable,
    /// The text is not YAML.
    YamlInvalid,
    /// `${VAR}` names an unset variable.
    EnvUnset,
    /// A key the section does not accept.
    KeyUnknown,
    /// A required key is absent.
    KeyMissing,
    /// A value of the wrong type (a string where a number goes…).
    TypeMismatch,
    /// A value of the right type that is not allowed (negative, zero, unknown name…).
    ValueInvalid,
    /// A stream asks a connector for a feature it does not declare.
    FeatureUnsupported,
    /// Settings that each work but have no safe meaning together.
    CombinationUnsafe,
}

impl ConfigErrorKind {
    /// The diagnostic code (`rapidbyte::config::…`).
    pub fn code(self) -> &'static str {
        match self {
            Self::FileUnreadable => "rapidbyte::config::unreadable",
            Self::YamlInvalid => "rapidbyte::config::bad_yaml",
            Self::EnvUnset => "rapidbyte::config::missing_env",
            Self::KeyUnknown => "rapidbyte::config::unknown_key",
            Self::KeyMissing => "rapidbyte::config::missing_key",
            Self::TypeMismatch => "rapidbyte::config::wrong_type",
            Self::ValueInvalid => "rapidbyte::config::invalid_value",
            Self::FeatureUnsupported => "rapidbyte::config::unsupported_feature",
            Self::CombinationUnsafe => "rapidbyte::config::unsafe_combination",
        }
    }
}

/// A pipeline file that cannot be used: what, where, and what to do.
#[derive(Debug)]
pub struct ConfigError(Box<Details>);

/// Boxed: errors travel in `Result`s and should stay small there.
#[derive(Debug)]
struct Details {
    kind: ConfigErrorKind,
    message: String,
    help: String,
    source_code: Option<NamedSource<String>>,
    /// The first is the primary label: the renderer's `path:line:col`.
    labels: Vec<LabeledSpan>,
    related: Vec<ConfigError>,
    cause: Option<std::io::Error>,
}

impl ConfigError {
    fn new(kind: ConfigErrorKind, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self(Box::new(Details { kind, message: message.into(), help: help.into(), source_code: None, labels: Vec::new(), related: Vec::new(), cause: None }))
    }

    /// Which mistake.
    pub fn kind(&self) -> ConfigErrorKind {
        self.0.kind
    }

    /// The file cannot be read.
    pub fn unreadable(path: &Path, cause: std::io::Error) -> Self {
        let mut e = Self::new(ConfigErrorKind::FileUnreadable, format!("cannot read pipeline file {}", path.display()), "check the path");
        e.0.cause = Some(cause);
        e
    }

    /// Several errors of one kind shown together (each with its own span).
    pub fn several(kind: ConfigErrorKind, message: String, help: String, errors: Vec<ConfigError>) -> Self {
        let mut e = Self::new(kind, message, help);
        e.0.related = errors;
        e
    }

    /// What went wrong (without location).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// What to do about it.
    pub fn help_text(&self) -> &str {
        &self.0.help
    }

    /// 1-based line and column of the labelled span, if the error has one.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let (src, label) = (self.0.source_code.as_ref()?, self.0.labels.first()?);
        let at = src.read_span(label.inner(), 0, 0).ok()?;
        Some((at.line() + 1, at.column() + 1))
    }

    /// The errors shown beneath this one.
    pub fn related_errors(&self) -> &[ConfigError] {
        &self.0.related
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.cause.as_ref().map(|c| c as _)
    }
}

impl Diagnostic for ConfigError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.0.kind.code()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.0.help.is_empty()).then(|| Box::new(&self.0.help) as _)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source_code.as_ref().map(|s| s as _)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.0.labels.is_empty()).then(|| Box::new(self.0.labels.iter().cloned()) as _)
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        (!self.0.related.is_empty()).then(|| Box::new(self.0.related.iter().map(|e| e as &dyn Diagnostic)) as _)
    }
}

/// Another module's diagnostic (a connector that cannot be resolved…) shown
/// at a span of the pipeline file; its own code and help are kept.
#[derive(Debug)]
pub struct Located<E> {
    error: E,
    source_code: NamedSource<String>,
    label: LabeledSpan,
    fallback_help: Option<String>,
}

impl<E: Diagnostic> Located<E> {
    /// Help shown when the error brings none of its own.
    pub fn or_help(mut self, help: String) -> Self {
        self.fallback_help = Some(help);
        self
    }
}

impl<E: fmt::Display> fmt::Display for Located<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<E: std::error::Error> std::error::Error for Located<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl<E: Diagnostic> Diagnostic for Located<E> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.help().or_else(|| self.fallback_help.as_ref().map(|h| Box::new(h) as _))
    }
    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.url()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source_code)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}

/// A rule a parsed file breaks: a value serde accepts but the engine cannot use.
pub(super) struct Violation {
    pub kind: ConfigErrorKind,
    /// Where to point, first found wins (a rule between two keys names both,
    /// since either may be a default absent from the file).
    pub at: Vec<&'static [&'static str]>,
    pub message: String,
    pub label: String,
    pub help: String,
}

/// The text of a pipeline file and where each key and value sits in it.
#[derive(Debug)]
pub struct PipelineSource {
    name: String,
    /// The file as written (`${VAR}` references, never their values).
    raw: String,
    root: Node,
}

impl PipelineSource {
    /// Parses the file for positions and values; the name is the path as given.
    pub(super) fn parse(path: &Path, raw: String) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        match positions::parse(&raw) {
            Ok(root) => Ok(Self { name, raw, root }),
            Err(e) => Err(Self { name, raw, root: empty() }.yaml_error(&e.message, e.offset)),
        }
    }

    /// The file's values with `${VAR}` replaced, or the reference that is unset.
    pub(super) fn values(&self, lookup: &values::Lookup) -> Result<values::FileValues, ConfigError> {
        // serde would read a list as a struct by position (`limits: [1, 2]`).
        for path in SECTIONS {
            let node = path.iter().try_fold(&self.root, |n, k| n.child(k));
            if node.is_some_and(|n| matches!(n.kind, positions::NodeKind::Seq(_))) {
                let shown = path.join(".");
                return Err(self.error_at(
                    ConfigErrorKind::TypeMismatch,
                    path,
                    "a list",
                    format!("`{shown}` must be a mapping of keys, not a list"),
                    format!("write `{shown}:` with one `key: value` per line (or `{{key: value, …}}`)"),
                ));
            }
        }
        match values::mapping(&self.root, &self.raw, lookup) {
            Ok(Some(dict)) => Ok(values::FileValues(dict)),
            Ok(None) => Err(self.error_at(
                ConfigErrorKind::TypeMismatch,
                &[],
                "not a mapping",
                "the pipeline file must be a mapping of keys".into(),
                "start with `pipeline: <name>`, then `source:`, `destination:` and `streams:` (see fixtures/pipelines/)".into(),
            )),
            Err(unset) => {
                let mut e = ConfigError::new(
                    ConfigErrorKind::EnvUnset,
                    format!("`${{{}}}` is not set in the environment", unset.var),
                    format!("export {}=… before running, write the value into the file, or write `$${{` for a literal `${{`", unset.var),
                );
                self.attach(&mut e, unset.span, "not set");
                Err(e)
            }
        }
    }

    /// What an error says in place of the value at `path` when it must not
    /// be shown: one that came from `${VAR}`, or one under a secret key.
    fn concealed(&self, path: &[&str], from_env: bool) -> Option<String> {
        if path.last().is_some_and(|k| crate::telemetry::secret::is_secret_key(k)) {
            return Some(format!("its value (hidden: `{}` holds a secret)", path.last().copied().unwrap_or_default()));
        }
        if from_env {
            return None;
        }
        let (node, depth) = self.walk(path);
        let written = self.raw.get(node.span.clone()).filter(|_| depth == path.len())?;
        let names = values::references(written);
        (!names.is_empty()).then(|| {
            let names: Vec<String> = names.iter().map(|n| format!("`${{{n}}}`")).collect();
            format!("the value of {} (hidden)", names.join(", "))
        })
    }

    /// The error at the span of `path`'s value (its first line for a block), or
    /// at the nearest enclosing key the file has when it lacks `path`.
    pub fn error_at(&self, kind: ConfigErrorKind, path: &[&str], label: &str, message: String, help: String) -> ConfigError {
        let mut e = ConfigError::new(kind, message, help);
        self.attach(&mut e, self.value_span(path), label);
        e
    }

    /// The error at the key naming `path` (an unknown key), or at the
    /// nearest enclosing key the file has.
    pub fn error_at_key(&self, kind: ConfigErrorKind, path: &[&str], label: &str, message: String, help: String) -> ConfigError {
        let mut e = ConfigError::new(kind, message, help);
        self.attach(&mut e, self.key_span(path), label);
        e
    }

    /// Another module's diagnostic shown at `path`'s value.
    pub fn locate<E>(&self, error: E, path: &[&str], label: &str) -> Located<E> {
        let (source_code, span) = self.shown(self.value_span(path));
        Located { error, source_code, label: LabeledSpan::new_primary_with_span(Some(label.into()), span), fallback_help: None }
    }

    /// Whether the file itself writes `path` (rather than a default filling it in).
    pub fn has(&self, path: &[&str]) -> bool {
        self.walk(path).1 == path.len()
    }

    fn named(&self) -> NamedSource<String> {
        NamedSource::new(&self.name, self.raw.clone())
    }

    /// Points `e` at `span`; the first call sets the primary label.
    fn attach(&self, e: &mut ConfigError, span: Range<usize>, label: &str) {
        let label = Some(label.into());
        let (source, span) = self.shown(span);
        let e = &mut e.0;
        e.labels.push(if e.labels.is_empty() { LabeledSpan::new_primary_with_span(label, span) } else { LabeledSpan::new_with_span(label, span) });
        e.source_code = Some(source);
    }

    /// The text a diagnostic shows, and `span` in it: the file itself, unless
    /// a line is longer than [`SHOWN_LINE`] bytes (a 10 MB line would be
    /// echoed whole): such lines are cut to a window around `span`, or to
    /// their start, marked `…`. Line numbers stay those of the file.
    fn shown(&self, span: Range<usize>) -> (NamedSource<String>, Range<usize>) {
        let raw = &self.raw;
        if !raw.split('\n').any(|l| l.len() > SHOWN_LINE) {
            return (self.named(), span);
        }
        let floor = |mut i: usize| {
            while !raw.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let mut text = String::with_capacity(raw.len().min(64 * 1024));
        let mut mapped = 0..0;
        let mut start = 0;
        for line in raw.split_inclusive('\n') {
            let end = start + line.len();
            let body = line.trim_end_matches('\n');
            let here = span.start >= start && (span.start < end || end == raw.len());
            if body.len() <= SHOWN_LINE {
                if here {
                    mapped = text.len() + (span.start - start)..text.len() + (span.end.min(end) - start);
                }
                text.push_str(line);
            } else if here {
                let from = floor(span.start.saturating_sub(SHOWN_LINE / 3).max(start));
                let to = floor((span.start + SHOWN_LINE / 2).min(start + body.len()));
                if from > start {
                    text.push('…');
                }
                mapped = text.len() + (span.start - from)..text.len() + (span.end.min(to).max(span.start) - from);
                text.push_str(&raw[from..to]);
                text.push_str(&format!("… ({} bytes in all)\n", body.len()));
            } else {
                text.push_str(&raw[start..floor(start + SHOWN_LINE / 2)]);
                text.push_str(&format!("… ({} bytes in all)\n", body.len()));
            }
            start = end;
        }
        (NamedSource::new(&self.name, text), mapped)
    }

    /// The deepest node along `path` and how many segments led to it.
    fn walk(&self, path: &[&str]) -> (&Node, usize) {
        let mut node = &self.root;
        for (depth, segment) in path.iter().enumerate() {
            match node.child(segment) {
                Some(child) => node = child,
                None => return (node, depth),
            }
        }
        (node, path.len())
    }

    /// `path`'s value, or the key of the deepest mapping entry found on the way.
    fn value_span(&self, path: &[&str]) -> Range<usize> {
        let (node, depth) = self.walk(path);
        if depth == path.len() { node.head(&self.raw) } else { self.enclosing(&path[..depth]) }
    }

    /// The key naming `path` (for an unknown key, the key itself).
    fn key_span(&self, path: &[&str]) -> Range<usize> {
        let Some((last, parent)) = path.split_last() else { return self.enclosing(path) };
        match self.walk(parent) {
            (node, depth) if depth == parent.len() => node.entry(last).map_or_else(|| self.enclosing(parent), |e| e.key_span.clone()),
            (_, depth) => self.enclosing(&parent[..depth]),
        }
    }

    /// What to point at for a mapping as a whole: the key it sits under, the
    /// start of a list item, or the first key of the file.
    fn enclosing(&self, path: &[&str]) -> Range<usize> {
        if let Some((last, parent)) = path.split_last() {
            let (node, depth) = self.walk(parent);
            if depth == parent.len() {
                if let Some(entry) = node.entry(last) {
                    return entry.key_span.clone();
                }
                if let Some(item) = node.child(last) {
                    return item.head(&self.raw);
                }
            }
            return self.enclosing(&parent[..depth.min(parent.len())]);
        }
        match &self.root.kind {
            positions::NodeKind::Map(entries) if !entries.is_empty() => entries[0].key_span.clone(),
            _ => self.root.head(&self.raw),
        }
    }

    /// The parser's complaint at its position, with a second label where the
    /// cause is likely to be (the other copy of a duplicated key, an unclosed bracket).
    fn yaml_error(&self, message: &str, offset: usize) -> ConfigError {
        let text = &self.raw;
        let at = offset.min(text.len());
        let message = format!("not valid YAML: {message}");
        // What the file says decides the help, never the parser's wording:
        // the key where the parser stopped stands earlier at the same indent.
        let key = text[at..].split([':', '\n']).next().unwrap_or_default().trim_end();
        if let Some(first) = earlier_key(text, at, key).filter(|_| !key.trim().is_empty()) {
            let help = format!("a key appears once per mapping: merge the two `{key}` entries or delete one");
            let mut e = ConfigError::new(ConfigErrorKind::YamlInvalid, message, help);
            self.attach(&mut e, at..at + key.len(), "appears a second time");
            self.attach(&mut e, first..first + key.len(), "first here");
            return e;
        }
        let indented_with_tab = text.lines().any(|l| l.trim_start_matches(' ').starts_with('\t'));
        let help = if indented_with_tab {
            "indent with spaces: YAML does not allow tabs for indentation"
        } else {
            "check the indentation (spaces only; a nested key sits further right than its parent) and that every `[`, `{` and quote is closed"
        };
        let mut e = ConfigError::new(ConfigErrorKind::YamlInvalid, message, help);
        self.attach(&mut e, at..at, "the parser stopped here");
        if let Some(open) = unclosed_bracket(text, at) {
            self.attach(&mut e, open..open + 1, "opened here, never closed");
        }
        e
    }

    /// A figment extraction error, at the span of the key or value it names.
    pub(super) fn figment_error(&self, error: figment::Error) -> ConfigError {
        let e = error.into_iter().next().expect("a figment error holds at least one error");
        let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
        let from_env = e.metadata.as_ref().is_some_and(|m| m.name == env_provider_name());
        let problem = describe(&path, &e.kind, self.concealed(&path, from_env).as_deref());
        if from_env {
            return env_error(&path, problem);
        }
        let span = match problem.target {
            Target::Key => self.key_span(&path),
            Target::Value => self.value_span(&path),
            Target::Enclosing => self.enclosing(&path),
        };
        let mut out = ConfigError::new(problem.kind, problem.message, problem.help);
        self.attach(&mut out, span, &problem.label);
        out
    }

    /// A rule broken by a value from the file, or from the environment layer.
    pub(super) fn violation(&self, v: Violation) -> ConfigError {
        if let Some(var) = v.at.iter().find_map(|p| env_var_for(p)) {
            let problem = Problem { kind: v.kind, message: v.message, label: v.label, help: v.help, target: Target::Value };
            return with_env(var, problem);
        }
        let path = v.at.iter().find(|p| self.has(p)).or(v.at.first()).copied().unwrap_or(&[]);
        self.error_at(v.kind, path, &v.label, v.message, v.help)
    }
}

/// The metadata name of the environment provider `PipelineFile` merges.
fn env_provider_name() -> String {
    use figment::Provider;
    figment::providers::Env::prefixed("RAPIDBYTE_").metadata().name.to_string()
}

/// Where the same key starts at the same column on an earlier line.
fn earlier_key(text: &str, at: usize, key: &str) -> Option<usize> {
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let column = at - line_start;
    let mut start = 0;
    let mut found = None;
    for line in text[..line_start].split_inclusive('\n') {
        let indent_ok = line.get(..column).is_some_and(|pad| pad.chars().all(|c| c == ' ' || c == '-'));
        if indent_ok && line.get(column..).is_some_and(|rest| rest.starts_with(key) && rest[key.len()..].trim_start().starts_with(':')) {
            found = Some(start + column);
        }
        start += line.len();
    }
    found
}

/// The last `[` or `{` before `end` that no `]` or `}` closes (outside
/// quotes and comments).
fn unclosed_bracket(text: &str, end: usize) -> Option<usize> {
    let (mut stack, mut quote, mut comment, mut prev) = (Vec::new(), None, false, '\n');
    for (i, c) in text[..end].char_indices() {
        if comment {
            comment = c != '\n';
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else {
            match c {
                '#' if prev.is_whitespace() => comment = true,
                // A quote opens a scalar only where a scalar can start.
                '"' | '\'' if matches!(prev, ' ' | '[' | '{' | ',' | ':' | '\n') => quote = Some(c),
                '[' | '{' => stack.push(i),
                ']' | '}' => {
                    stack.pop();
                }
                _ => {}
            }
        }
        prev = c;
    }
    stack.last().copied()
}

fn empty() -> Node {
    Node { span: 0..0, kind: positions::NodeKind::Map(Vec::new()) }
}

/// What to point at for a problem.
enum Target {
    /// The key itself (an unknown key).
    Key,
    /// The value.
    Value,
    /// The mapping lacking a key.
    Enclosing,
}

struct Problem {
    kind: ConfigErrorKind,
    message: String,
    label: String,
    help: String,
    target: Target,
}

/// `streams[0].sync_mode`, or "the top level" for the root.
fn place(path: &[&str]) -> String {
    if path.is_empty() {
        return "the top level".into();
    }
    let mut out = String::new();
    for segment in path {
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    format!("`{out}`")
}

/// `concealed`, when given, stands for the value in the words shown.
fn describe(path: &[&str], kind: &Kind, concealed: Option<&str>) -> Problem {
    let here = place(path);
    let actual_text = |actual: &Actual| concealed.map_or_else(|| actual_text(actual), str::to_string);
    match kind {
        Kind::UnknownField(field, expected) => {
            let parent = place(&path[..path.len().saturating_sub(1)]);
            let accepted = expected.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            let help = match closest(field, expected) {
                Some(guess) => format!("did you mean `{guess}`? {parent} accepts {accepted}"),
                None => format!("remove `{field}`; {parent} accepts {accepted}"),
            };
            Problem {
                kind: ConfigErrorKind::KeyUnknown,
                message: format!("unknown key `{field}` in {parent}"),
                label: "unknown key".into(),
                help,
                target: Target::Key,
            }
        }
        Kind::MissingField(field) => Problem {
            kind: ConfigErrorKind::KeyMissing,
            message: format!("{here} has no `{field}`"),
            label: format!("`{field}` is missing here"),
            help: format!("add {} to {here}", example(field)),
            target: Target::Enclosing,
        },
        Kind::InvalidType(actual, expected) => Problem {
            kind: ConfigErrorKind::TypeMismatch,
            message: format!("{here} must be {}, not {}", expected_text(expected), actual_text(actual)),
            label: format!("expected {}", expected_text(expected)),
            help: if expected.starts_with(['u', 'i']) && expected[1..].parse::<u8>().is_ok() {
                "write digits only, without quotes or units (e.g. `4194304` for 4 MiB)".into()
            } else {
                format!("write {} here", expected_text(expected))
            },
            target: Target::Value,
        },
        Kind::InvalidValue(actual @ Actual::Signed(n), expected) if *n < 0 => Problem {
            kind: ConfigErrorKind::ValueInvalid,
            message: format!("{here} cannot be negative (found {})", actual_text(actual)),
            label: "negative".into(),
            help: format!("write {}", expected_text(expected)),
            target: Target::Value,
        },
        Kind::InvalidValue(actual, expected) => Problem {
            kind: ConfigErrorKind::ValueInvalid,
            message: format!("{here} must be {}, not {}", expected_text(expected), actual_text(actual)),
            label: format!("expected {}", expected_text(expected)),
            help: format!("write {} here", expected_text(expected)),
            target: Target::Value,
        },
        Kind::UnknownVariant(value, expected) => {
            let choices = expected.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            // A guess would hint at a concealed value.
            let help = match closest(value, expected).filter(|_| concealed.is_none()) {
                Some(guess) => format!("did you mean `{guess}`? {here} is one of {choices}"),
                None => format!("use one of {choices}"),
            };
            Problem {
                kind: ConfigErrorKind::ValueInvalid,
                message: match concealed {
                    Some(c) => format!("{here} cannot be {c}"),
                    None => format!("{here} cannot be `{value}`"),
                },
                label: "not a known value".into(),
                help,
                target: Target::Value,
            }
        }
        other => Problem {
            kind: ConfigErrorKind::ValueInvalid,
            message: match concealed {
                Some(c) => format!("{here}: {c} is not accepted"),
                None => format!("{here}: {other}"),
            },
            label: "here".into(),
            help: "see fixtures/pipelines/ for complete examples".into(),
            target: Target::Value,
        },
    }
}

/// What to add for a missing key.
fn example(field: &str) -> String {
    match field {
        "pipeline" => "`pipeline: <name>` (used in state keys and logs)".into(),
        "source" => "`source: {use: <connector>}` (e.g. `use: generator`)".into(),
        "destination" => "`destination: {use: <connector>}` (e.g. `use: verify`)".into(),
        "use" => "`use: <connector>` (a name such as `generator` or `postgres`, or a path to a `.wasm`)".into(),
        "streams" => "`streams:` with at least one `- name: <stream>`".into(),
        "name" => "`name: <stream>` (for a table source, the table)".into(),
        other => format!("`{other}: …`"),
    }
}

/// serde's "expected" text in the words of a pipeline file.
fn expected_text(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list (`[a, b]` or `- item` lines)".into(),
        "a map" => "a mapping (`key: value` lines)".into(),
        "a boolean" => "`true` or `false`".into(),
        e if e.starts_with("struct ") || e.starts_with("a dict") => "a mapping (`key: value` lines)".into(),
        e => e.into(),
    }
}

fn actual_text(actual: &Actual) -> String {
    match actual {
        Actual::Str(s) => format!("the text {s:?}"),
        Actual::Signed(n) => n.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Float(f) => f.to_string(),
        Actual::Bool(b) => format!("`{b}`"),
        Actual::Seq => "a list".into(),
        Actual::Map => "a mapping".into(),
        Actual::Unit | Actual::Option => "nothing".into(),
        other => other.to_string(),
    }
}

/// The accepted word a typo most likely meant.
pub fn closest<'a, S: AsRef<str>>(word: &str, candidates: &'a [S]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c.as_ref()), c.as_ref()))
        .filter(|(d, c)| *d <= (word.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The `RAPIDBYTE_` variable that sets `path`, if one is set (figment matches
/// names case-insensitively, so this does too).
fn env_var_for(path: &[&str]) -> Option<String> {
    if !path.first().is_some_and(|s| ENV_SECTIONS.contains(s)) {
        return None;
    }
    let wanted = format!("{ENV_PREFIX}{}", path.join("__"));
    std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).find(|k| k.eq_ignore_ascii_case(&wanted))
}

/// A figment error in a value from the environment layer: no file span, so
/// the message names the variable.
fn env_error(path: &[&str], problem: Problem) -> ConfigError {
    // An unknown or mistyped nested key: the variable is longer than the path.
    let var = env_var_for(path).or_else(|| {
        let prefix = format!("{ENV_PREFIX}{}__", path.join("__"));
        std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()).find(|k| k.to_ascii_uppercase().starts_with(&prefix.to_ascii_uppercase()))
    });
    let var = var.unwrap_or_else(|| format!("{ENV_PREFIX}{}", path.join("__").to_ascii_uppercase()));
    with_env(var, problem)
}

fn with_env(var: String, problem: Problem) -> ConfigError {
    ConfigError::new(
        problem.kind,
        format!("environment variable {var}: {}", problem.message),
        format!("{} (in {var}), or unset {var} to use the pipeline file's value", problem.help),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion_and_others_do_not() {
        assert_eq!(closest("stream", &["pipeline", "streams", "source"]), Some("streams"));
        assert_eq!(closest("max_batch_byte", &["max_batch_bytes", "parallelism"]), Some("max_batch_bytes"));
        assert_eq!(closest("colour", &["pipeline", "streams"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn yaml_errors_also_point_at_the_likely_cause() {
        let text = "a: [1, {b: \"[\"}\n# ] not this\nc: 2\n";
        assert_eq!(unclosed_bracket(text, text.find("c:").unwrap()), Some(3));
        assert_eq!(unclosed_bracket("a: [1]\n", 7), None);
        let text = "x:\n  k: 1\n  j: 2\n  k: 3\n";
        assert_eq!(earlier_key(text, text.rfind("k:").unwrap(), "k"), Some(5));
        assert_eq!(earlier_key(text, text.rfind("k:").unwrap(), "j"), Some(12));
    }

    #[test]
    fn paths_read_like_the_file() {
        assert_eq!(place(&["streams", "0", "sync_mode"]), "`streams[0].sync_mode`");
        assert_eq!(place(&[]), "the top level");
    }
}
