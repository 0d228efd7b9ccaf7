//! OpenTelemetry export over OTLP (HTTP, JSON bodies) when an endpoint is
//! given (`--otlp-endpoint`, else `OTEL_EXPORTER_OTLP_ENDPOINT`): the
//! host's spans (pipeline → stream → connector call) as traces, and the run's
//! metrics (the standard names, per stream and role) as OTel metrics at the
//! end of a run. Log events are not exported (they stay on stderr, scrubbed).

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use crate::telemetry::metrics::{Aggregate, MetricsHub};

/// The exporters of one process; [`Otlp::shutdown`] flushes them.
pub struct Otlp {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

/// The endpoint from the flag, else the standard variable (empty is unset).
pub fn endpoint(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()).map(|e| e.trim().trim_end_matches('/').to_string()).filter(|e| !e.is_empty())
}

impl Otlp {
    /// Exporters to `base` (`http://collector:4318`), which gets the
    /// signal paths `/v1/traces` and `/v1/metrics`.
    pub fn new(base: &str) -> Result<Self, String> {
        if !base.starts_with("http://") {
            return Err(format!("`{}`: the OTLP endpoint must be an http:// URL (e.g. http://127.0.0.1:4318)", base.escape_debug()));
        }
        let resource = Resource::builder().with_service_name("rapidbyte").build();
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{base}/v1/traces"))
            .build()
            .map_err(|e| format!("cannot set up the OTLP trace exporter: {e}"))?;
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{base}/v1/metrics"))
            .build()
            .map_err(|e| format!("cannot set up the OTLP metric exporter: {e}"))?;
        let tracer = SdkTracerProvider::builder().with_batch_exporter(spans).with_resource(resource.clone()).build();
        let meter = SdkMeterProvider::builder().with_periodic_exporter(metrics).with_resource(resource).build();
        Ok(Self { tracer, meter })
    }

    /// The tracer the tracing layer sends spans to.
    pub fn tracer(&self) -> opentelemetry_sdk::trace::Tracer {
        self.tracer.tracer("rapidbyte")
    }

    /// Records a finished run's metrics: counters as OTel counters, phase
    /// times as counters of seconds, gauges as gauges, each with the
    /// pipeline, stream and role (the same names as the Prometheus export).
    pub fn record_run(&self, hub: &MetricsHub, pipeline: &str) {
        let meter = self.meter.meter("rapidbyte");
        for (key, value) in hub.snapshot() {
            let (name, scale) = crate::telemetry::metrics::family(&key.name, &value);
            let name = name.trim_end_matches("_total").replacen("rapidbyte_", "rapidbyte.", 1);
            let attributes = [
                KeyValue::new("pipeline", pipeline.to_string()),
                KeyValue::new("stream", key.stream.clone()),
                KeyValue::new("role", key.role.as_str()),
            ];
            match value {
                Aggregate::Counter(n) if scale == 1.0 => meter.u64_counter(name).build().add(n, &attributes),
                Aggregate::Counter(n) => meter.f64_counter(name).build().add(n as f64 * scale, &attributes),
                Aggregate::Gauge(g) => meter.f64_gauge(name).build().record(g * scale, &attributes),
                Aggregate::Histogram { sum, .. } => meter.f64_counter(name).with_unit("s").build().add(sum * scale, &attributes),
            }
        }
    }

    /// Sends what is left; an unreachable collector is a warning, not a failure.
    pub fn shutdown(&self) {
        if let Err(e) = self.tracer.shutdown() {
            tracing::warn!("OTLP traces were not all sent: {e}");
        }
        if let Err(e) = self.meter.shutdown() {
            tracing::warn!("OTLP metrics were not all sent: {e}");
        }
    }
}
