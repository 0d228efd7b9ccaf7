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
    /// The Prometheus text exposition of every aggregate: counters as
    /// `rapidbyte_<name>_total`, histograms as `_sum`/`_count`, gauges as is,
    /// labelled by pipeline, stream and role.
    pub fn prometheus_text(&self, pipeline: &str) -> String {
        use std::fmt::Write;
        let mut by_name: BTreeMap<String, (&'static str, Vec<String>)> = BTreeMap::new();
        for (k, v) in self.snapshot() {
            let name: String = k.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let labels = format!("pipeline=\"{}\",stream=\"{}\",role=\"{}\"", escape(pipeline), escape(&k.stream), k.role);
            match v {
                Aggregate::Counter(n) => {
                    let e = by_name.entry(format!("rapidbyte_{name}_total")).or_insert(("counter", Vec::new()));
                    e.1.push(format!("{{{labels}}} {n}"));
                }
                Aggregate::Gauge(g) => {
                    let e = by_name.entry(format!("rapidbyte_{name}")).or_insert(("gauge", Vec::new()));
                    e.1.push(format!("{{{labels}}} {g}"));
                }
                Aggregate::Histogram { count, sum } => {
                    let e = by_name.entry(format!("rapidbyte_{name}")).or_insert(("summary", Vec::new()));
                    e.1.push(format!("_sum{{{labels}}} {sum}"));
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
        assert!(text.contains("rapidbyte_fetch_ms_sum{pipeline=\"p\",stream=\"orders\",role=\"source\"} 3.5\n"), "{text}");
        assert!(text.contains("rapidbyte_fetch_ms_count{pipeline=\"p\",stream=\"orders\",role=\"source\"} 2\n"), "{text}");
        assert!(text.contains("rapidbyte_lag{pipeline=\"p\",stream=\"a\\\"b\",role=\"destination\"} 3\n"), "{text}");
    }
}
