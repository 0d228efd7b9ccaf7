//! Aggregates the connectors' metrics as they arrive (SPEC § Metrics).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rapidbyte_protocol::{Metric, MetricValue, Role};

/// Which stream and connector a metric came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    /// The stream.
    pub stream: String,
    /// The connector's role.
    pub role: Role,
    /// The metric name.
    pub name: String,
}

/// An aggregated metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// Sum of counter increments.
    Counter(u64),
    /// Last gauge reading.
    Gauge(f64),
    /// Count and sum of histogram observations.
    Histogram { count: u64, sum: f64 },
}

/// All metrics of a run, aggregated per stream, role and name.
#[derive(Default)]
pub struct MetricsHub {
    inner: Mutex<BTreeMap<MetricKey, Aggregate>>,
    /// How many observations each key received (per-batch emission checks).
    events: Mutex<BTreeMap<MetricKey, u64>>,
    /// When each stream started and finished, as the engine says (never a connector).
    phases: Mutex<BTreeMap<String, (Instant, Option<(Instant, bool)>)>>,
}

/// Where a stream is in the run, for progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamPhase {
    /// Not started (waiting for a slot).
    Waiting,
    /// Running for this long.
    Running(Duration),
    /// Finished after this long; whether it succeeded.
    Done(Duration, bool),
}

impl MetricsHub {
    /// Folds one observation in. Labels beyond stream and role are not
    /// aggregated separately (they stay in the log).
    pub fn record(&self, stream: &str, role: Role, m: &Metric) {
        let key = MetricKey { stream: stream.to_string(), role, name: m.name.clone() };
        *self.events.lock().expect("metrics lock").entry(key.clone()).or_insert(0) += 1;
        let mut inner = self.inner.lock().expect("metrics lock");
        let entry = inner.entry(key);
        match m.value {
            MetricValue::Counter(v) => {
                let agg = entry.or_insert(Aggregate::Counter(0));
                if let Aggregate::Counter(total) = agg {
                    *total = total.saturating_add(v);
                }
            }
            MetricValue::Gauge(v) => {
                entry.insert_entry(Aggregate::Gauge(v));
            }
            MetricValue::Histogram(v) => {
                let agg = entry.or_insert(Aggregate::Histogram { count: 0, sum: 0.0 });
                if let Aggregate::Histogram { count, sum } = agg {
                    *count += 1;
                    *sum += v;
                }
            }
        }
    }

    /// A counter's total (0 when never reported).
    pub fn counter(&self, stream: &str, role: Role, name: &str) -> u64 {
        let key = MetricKey { stream: stream.to_string(), role, name: name.to_string() };
        match self.inner.lock().expect("metrics lock").get(&key) {
            Some(Aggregate::Counter(v)) => *v,
            _ => 0,
        }
    }

    /// A gauge's last reading, if any was reported.
    pub fn gauge(&self, stream: &str, role: Role, name: &str) -> Option<f64> {
        let key = MetricKey { stream: stream.to_string(), role, name: name.to_string() };
        match self.inner.lock().expect("metrics lock").get(&key) {
            Some(Aggregate::Gauge(v)) => Some(*v),
            _ => None,
        }
    }

    /// How many observations of a metric arrived.
    pub fn events(&self, stream: &str, role: Role, name: &str) -> u64 {
        let key = MetricKey { stream: stream.to_string(), role, name: name.to_string() };
        self.events.lock().expect("metrics lock").get(&key).copied().unwrap_or(0)
    }

    /// A histogram's sum (e.g. total milliseconds of a phase).
    pub fn histogram_sum(&self, stream: &str, role: Role, name: &str) -> f64 {
        let key = MetricKey { stream: stream.to_string(), role, name: name.to_string() };
        match self.inner.lock().expect("metrics lock").get(&key) {
            Some(Aggregate::Histogram { sum, .. }) => *sum,
            _ => 0.0,
        }
    }

    /// The engine started `stream` (each attempt after the first keeps the first start).
    pub fn stream_started(&self, stream: &str) {
        self.phases.lock().expect("metrics lock").entry(stream.to_string()).or_insert((Instant::now(), None));
    }

    /// The engine finished `stream`.
    pub fn stream_finished(&self, stream: &str, ok: bool) {
        let now = Instant::now();
        self.phases.lock().expect("metrics lock").entry(stream.to_string()).or_insert((now, None)).1 = Some((now, ok));
    }

    /// Where `stream` is.
    pub fn phase(&self, stream: &str) -> StreamPhase {
        match self.phases.lock().expect("metrics lock").get(stream) {
            None => StreamPhase::Waiting,
            Some((start, None)) => StreamPhase::Running(start.elapsed()),
            Some((start, Some((end, ok)))) => StreamPhase::Done(end.duration_since(*start), *ok),
        }
    }

    /// Every aggregate.
    pub fn snapshot(&self) -> Vec<(MetricKey, Aggregate)> {
        self.inner.lock().expect("metrics lock").iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

impl MetricsHub {
    /// The Prometheus text exposition of every aggregate, named by
    /// Prometheus's conventions ([`family`]): counters end in `_total`,
    /// units are base units at the end of the name (`fetch_ms` is
    /// `rapidbyte_fetch_seconds`, `bytes_read` is `rapidbyte_read_bytes_total`),
    /// histograms are summaries (`_sum`/`_count`), labelled by pipeline,
    /// stream and role. [`lint`] checks an exposition against these rules.
    pub fn prometheus_text(&self, pipeline: &str) -> String {
        use std::fmt::Write;
        let mut by_name: BTreeMap<String, (&'static str, Vec<String>)> = BTreeMap::new();
        for (k, v) in self.snapshot() {
            let (mut name, scale) = family(&k.name, &v);
            let labels = format!("pipeline=\"{}\",stream=\"{}\",role=\"{}\"", escape(pipeline), escape(&k.stream), k.role);
            let kind = match v {
                Aggregate::Counter(_) => "counter",
                Aggregate::Gauge(_) => "gauge",
                Aggregate::Histogram { .. } => "summary",
            };
            // Two connector names that map to one family of another type
            // (a gauge `fetch_seconds` beside the histogram `fetch_ms`) stay apart.
            if by_name.get(&name).is_some_and(|(k, _)| *k != kind) {
                name = format!("{name}_{kind}");
            }
            let e = by_name.entry(name).or_insert((kind, Vec::new()));
            match v {
                Aggregate::Counter(n) if scale == 1.0 => e.1.push(format!("{{{labels}}} {n}")),
                Aggregate::Counter(n) => e.1.push(format!("{{{labels}}} {}", n as f64 * scale)),
                Aggregate::Gauge(g) => e.1.push(format!("{{{labels}}} {}", g * scale)),
                Aggregate::Histogram { count, sum } => {
                    e.1.push(format!("_sum{{{labels}}} {}", sum * scale));
                    e.1.push(format!("_count{{{labels}}} {count}"));
                }
            }
        }
        let mut out = String::new();
        for (name, (kind, samples)) in by_name {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for s in samples {
                let _ = writeln!(out, "{name}{s}");
            }
        }
        // Names and labels come from connectors (§ Security).
        super::secret::scrub(&out).into_owned()
    }
}

/// A metric's Prometheus family name and the factor its values are scaled
/// by: `[a-z0-9_]` only, a unit suffix in base units at the end
/// (`_ms` → `_seconds` × 0.001, `bytes_x` → `x_bytes`), and `_total` on
/// counters alone.
pub fn family(name: &str, aggregate: &Aggregate) -> (String, f64) {
    let mut base: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    while base.contains("__") {
        base = base.replace("__", "_");
    }
    let mut base = base.trim_matches('_').to_string();
    if base.is_empty() {
        base = "unnamed".into();
    }
    base = base.strip_suffix("_total").map(str::to_string).unwrap_or(base);
    let mut scale = 1.0;
    for ms in ["_milliseconds", "_millis", "_ms"] {
        if let Some(b) = base.strip_suffix(ms) {
            base = format!("{b}_seconds");
            scale = 0.001;
            break;
        }
    }
    if let Some(b) = base.strip_prefix("bytes_") {
        base = format!("{b}_bytes");
    }
    match aggregate {
        Aggregate::Counter(_) => (format!("rapidbyte_{base}_total"), scale),
        _ => (format!("rapidbyte_{base}"), scale),
    }
}

/// What breaks Prometheus's naming rules in a text exposition: names and
/// label names outside `[a-zA-Z_:][a-zA-Z0-9_:]*` (labels without `:`), a
/// counter not ending in `_total`, a non-counter that does, a unit other
/// than a base unit (`_ms`, `_milliseconds`), a family declared
/// twice, or a sample of no declared family.
pub fn lint(text: &str) -> Vec<String> {
    let valid = |n: &str, colon: bool| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    };
    let mut problems = Vec::new();
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let (name, kind) = decl.split_once(' ').unwrap_or((decl, ""));
            if !valid(name, true) {
                problems.push(format!("invalid metric name `{name}`"));
            }
            if (kind == "counter") != name.ends_with("_total") {
                problems.push(format!("`{name}` is a {kind}: only counters, and every counter, end in `_total`"));
            }
            let unit = name.trim_end_matches("_total").trim_end_matches("_sum").trim_end_matches("_count");
            if ["_ms", "_milliseconds", "_millis"].iter().any(|u| unit.ends_with(u)) {
                problems.push(format!("`{name}` is not in base units (seconds, bytes)"));
            }
            if families.insert(name.to_string(), kind.to_string()).is_some() {
                problems.push(format!("`{name}` is declared twice"));
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let family = match families.get(name) {
            Some(_) => name,
            None => match name.strip_suffix("_sum").or_else(|| name.strip_suffix("_count")) {
                Some(base) if families.get(base).is_some_and(|k| k == "summary") => base,
                _ => {
                    problems.push(format!("sample `{name}` belongs to no declared family"));
                    continue;
                }
            },
        };
        let _ = family;
        if let Some(labels) = line.split_once('{').and_then(|(_, rest)| rest.rsplit_once('}')).map(|(l, _)| l) {
            for pair in split_labels(labels) {
                let key = pair.split_once('=').map_or(pair.as_str(), |(k, _)| k);
                if !valid(key, false) {
                    problems.push(format!("invalid label name `{key}` in `{name}`"));
                }
            }
        }
    }
    problems
}

/// `a="x",b="y,z"` → `a="x"`, `b="y,z"` (commas inside quotes kept).
fn split_labels(labels: &str) -> Vec<String> {
    let (mut out, mut current, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in labels.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_histograms_accumulate_gauges_replace() {
        let hub = MetricsHub::default();
        hub.record("s", Role::Source, &Metric::counter("records_read", 5));
        hub.record("s", Role::Source, &Metric::counter("records_read", 7));
        hub.record("s", Role::Source, &Metric::histogram("fetch_ms", 1.5));
        hub.record("s", Role::Source, &Metric::histogram("fetch_ms", 2.5));
        hub.record("s", Role::Destination, &Metric::gauge("lag", 3.0));
        hub.record("s", Role::Destination, &Metric::gauge("lag", 1.0));
        assert_eq!(hub.counter("s", Role::Source, "records_read"), 12);
        assert_eq!(hub.counter("s", Role::Destination, "records_read"), 0);
        assert_eq!(hub.histogram_sum("s", Role::Source, "fetch_ms"), 4.0);
        assert!(hub.snapshot().iter().any(|(k, v)| k.name == "lag" && *v == Aggregate::Gauge(1.0)));
    }

    #[test]
    fn prometheus_text_has_types_labels_and_values() {
        let hub = MetricsHub::default();
        hub.record("orders", Role::Source, &Metric::counter("records_read", 5));
        hub.record("orders", Role::Source, &Metric::histogram("fetch_ms", 1.5));
        hub.record("orders", Role::Source, &Metric::histogram("fetch_ms", 2.0));
        hub.record("a\"b", Role::Destination, &Metric::gauge("lag", 3.0));
        let text = hub.prometheus_text("p");
        assert!(text.contains("# TYPE rapidbyte_records_read_total counter\n"), "{text}");
        assert!(text.contains("rapidbyte_records_read_total{pipeline=\"p\",stream=\"orders\",role=\"source\"} 5\n"), "{text}");
        assert!(text.contains("# TYPE rapidbyte_fetch_seconds summary\n"), "{text}");
        assert!(text.contains("rapidbyte_fetch_seconds_sum{pipeline=\"p\",stream=\"orders\",role=\"source\"} 0.0035\n"), "{text}");
        assert!(text.contains("rapidbyte_fetch_seconds_count{pipeline=\"p\",stream=\"orders\",role=\"source\"} 2\n"), "{text}");
        assert!(lint(&text).is_empty(), "{:?}\n{text}", lint(&text));
        assert!(text.contains("rapidbyte_lag{pipeline=\"p\",stream=\"a\\\"b\",role=\"destination\"} 3\n"), "{text}");
    }

    /// Whatever names connectors report, the exposition keeps the rules.
    #[test]
    fn every_exposed_name_follows_the_prometheus_conventions() {
        let hub = MetricsHub::default();
        for name in rapidbyte_protocol::metric_names::ALL {
            hub.record("s", Role::Source, &Metric::counter(name, 1));
            hub.record("s", Role::Destination, &Metric::histogram(name, 2.0));
        }
        for hostile in ["Bad-Name.x", "9lives", "x_ms_total", "___", "fetch_seconds", "ünïcode", "done_total"] {
            hub.record("t\"{}\n", Role::Source, &Metric::gauge(hostile, 1.0));
            hub.record("t", Role::Destination, &Metric::counter(hostile, 3));
        }
        hub.record("s", Role::Source, &Metric::histogram("fetch_ms", 1.0));
        let text = hub.prometheus_text("p,\"q\"");
        assert_eq!(lint(&text), Vec::<String>::new(), "{text}");
        assert!(text.contains("rapidbyte_read_bytes_total{"), "{text}");
        // The lint itself refuses what breaks the rules.
        let bad = "# TYPE rapidbyte_x counter\nrapidbyte_x 1\n# TYPE rapidbyte_fetch_ms summary\n# TYPE rapidbyte_y_total gauge\nrapidbyte_z 1\n";
        assert_eq!(lint(bad).len(), 4, "{:?}", lint(bad));
    }
}
