//! Aggregates the connectors' metrics as they arrive (SPEC § Metrics).

use std::collections::BTreeMap;
use std::sync::Mutex;

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
}

impl MetricsHub {
    /// Folds one observation in. Labels beyond stream and role are not
    /// aggregated separately (they stay in the log).
    pub fn record(&self, stream: &str, role: Role, m: &Metric) {
        let key = MetricKey { stream: stream.to_string(), role, name: m.name.clone() };
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

    /// A histogram's sum (e.g. total milliseconds of a phase).
    pub fn histogram_sum(&self, stream: &str, role: Role, name: &str) -> f64 {
        let key = MetricKey { stream: stream.to_string(), role, name: name.to_string() };
        match self.inner.lock().expect("metrics lock").get(&key) {
            Some(Aggregate::Histogram { sum, .. }) => *sum,
            _ => 0.0,
        }
    }

    /// Every aggregate.
    pub fn snapshot(&self) -> Vec<(MetricKey, Aggregate)> {
        self.inner.lock().expect("metrics lock").iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
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
}
