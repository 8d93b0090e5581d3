//! Prometheus metrics of the agent (Felix's names where Felix has one): resyncs started,
//! datastore updates processed, errors by source, and the dataplane apply-latency histogram
//! the dataplane wiring records into. Served as text at `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set of the error counter.
type Labels = Vec<(String, String)>;

/// The agent's metrics; cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Mutex<Registry>,
    resyncs_started: Counter,
    updates_processed: Counter,
    errors: Family<Labels, Counter>,
    in_sync: Gauge,
    dataplane_apply: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let resyncs_started = Counter::default();
        registry.register(
            "felix_resyncs_started",
            "Datastore (re-)lists started",
            resyncs_started.clone(),
        );
        let updates_processed = Counter::default();
        registry.register(
            "felix_calc_graph_updates_processed",
            "Datastore updates processed by the agent",
            updates_processed.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "calico_node_errors",
            "Errors seen by the agent, by source",
            errors.clone(),
        );
        let in_sync = Gauge::default();
        registry.register(
            "calico_node_datastore_in_sync",
            "1 when the agent holds a complete, current copy of the datastore",
            in_sync.clone(),
        );
        let dataplane_apply = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "felix_int_dataplane_apply_time_seconds",
            "Time taken to apply one batch of dataplane updates",
            dataplane_apply.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            resyncs_started,
            updates_processed,
            errors,
            in_sync,
            dataplane_apply,
        }
    }

    /// A datastore list (first or after a broken watch) started.
    pub fn resync_started(&self) {
        self.resyncs_started.inc();
    }

    /// The agent processed one datastore update.
    pub fn update_processed(&self) {
        self.updates_processed.inc();
    }

    /// Something failed; `source` names what (`datastore`, `decode`, `dataplane`...).
    pub fn error(&self, source: &str) {
        self.errors
            .get_or_create(&vec![("source".to_string(), source.to_string())])
            .inc();
    }

    /// Whether the agent is in sync with the datastore.
    pub fn set_in_sync(&self, in_sync: bool) {
        self.in_sync.set(i64::from(in_sync));
    }

    /// Records how long one dataplane apply took.
    pub fn observe_dataplane_apply(&self, took: Duration) {
        self.dataplane_apply.observe(took.as_secs_f64());
    }

    /// Starts timing a dataplane apply; the time is recorded when the timer drops.
    pub fn time_dataplane_apply(&self) -> ApplyTimer<'_> {
        ApplyTimer {
            metrics: self,
            started: Instant::now(),
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// Times one dataplane apply (see [`Metrics::time_dataplane_apply`]).
pub struct ApplyTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
}

impl Drop for ApplyTimer<'_> {
    fn drop(&mut self) {
        self.metrics.observe_dataplane_apply(self.started.elapsed());
    }
}

/// The `/metrics` endpoint.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = Arc::clone(&metrics);
            async move {
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
                    .into_response()
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histogram_render() {
        let m = Metrics::new();
        m.resync_started();
        m.update_processed();
        m.update_processed();
        m.error("datastore");
        m.set_in_sync(true);
        m.observe_dataplane_apply(Duration::from_millis(3));
        drop(m.time_dataplane_apply());
        let text = m.render();
        assert!(text.contains("felix_resyncs_started_total 1"), "{text}");
        assert!(
            text.contains("felix_calc_graph_updates_processed_total 2"),
            "{text}"
        );
        assert!(
            text.contains("calico_node_errors_total{source=\"datastore\"} 1"),
            "{text}"
        );
        assert!(text.contains("calico_node_datastore_in_sync 1"), "{text}");
        assert!(
            text.contains("felix_int_dataplane_apply_time_seconds_count 2"),
            "{text}"
        );
    }
}
