//! What a run tells its user and monitoring: metrics aggregation and the
//! Prometheus text (`metrics`), live progress (`progress`), and the
//! masking of secrets in whatever is printed (`secret`).

pub mod metrics;
pub mod otlp;
pub mod progress;
pub mod secret;
