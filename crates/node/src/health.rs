//! Health aggregation as Felix does it: named reporters each say whether they are live and
//! ready (optionally with a timeout after which a silent reporter counts as neither), and
//! `/liveness` and `/readiness` answer 200 only when every reporter agrees, 503 otherwise,
//! with a JSON body naming each reporter's state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The agent's health reporters; clones share state.
#[derive(Clone, Default)]
pub struct Health {
    reporters: Arc<Mutex<BTreeMap<String, Reporter>>>,
}

struct Reporter {
    live: bool,
    ready: bool,
    timeout: Option<Duration>,
    last_report: Instant,
}

/// One reporter's state as the endpoints show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReporterState {
    pub name: String,
    pub live: bool,
    pub ready: bool,
    /// True when the reporter has not reported within its timeout.
    pub timed_out: bool,
}

/// The aggregate every endpoint answers from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthSummary {
    pub live: bool,
    pub ready: bool,
    pub reporters: Vec<ReporterState>,
}

impl Health {
    /// Adds a reporter, live but not yet ready. With a `timeout`, it must report at least that
    /// often or it counts as neither live nor ready.
    pub fn register(&self, name: &str, timeout: Option<Duration>) {
        self.lock().insert(
            name.to_string(),
            Reporter {
                live: true,
                ready: false,
                timeout,
                last_report: Instant::now(),
            },
        );
    }

    /// Records a report (registering the reporter without a timeout if it is new).
    pub fn report(&self, name: &str, live: bool, ready: bool) {
        let mut reporters = self.lock();
        let entry = reporters.entry(name.to_string()).or_insert(Reporter {
            live,
            ready,
            timeout: None,
            last_report: Instant::now(),
        });
        entry.live = live;
        entry.ready = ready;
        entry.last_report = Instant::now();
    }

    /// The current aggregate.
    pub fn summary(&self) -> HealthSummary {
        let now = Instant::now();
        let reporters: Vec<ReporterState> = self
            .lock()
            .iter()
            .map(|(name, r)| {
                let timed_out = r
                    .timeout
                    .is_some_and(|t| now.duration_since(r.last_report) > t);
                ReporterState {
                    name: name.clone(),
                    live: r.live && !timed_out,
                    ready: r.ready && !timed_out,
                    timed_out,
                }
            })
            .collect();
        HealthSummary {
            live: reporters.iter().all(|r| r.live),
            ready: reporters.iter().all(|r| r.ready),
            reporters,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Reporter>> {
        self.reporters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `/liveness` and `/readiness` (also `/health`, which is both).
pub fn router(health: Health) -> Router {
    let answer = |pick: fn(&HealthSummary) -> bool| {
        move |health: Health| async move {
            let summary = health.summary();
            let code = if pick(&summary) {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (code, Json(summary)).into_response()
        }
    };
    let live = answer(|s| s.live);
    let ready = answer(|s| s.ready);
    let both = answer(|s| s.live && s.ready);
    let (h1, h2, h3) = (health.clone(), health.clone(), health);
    Router::new()
        .route("/liveness", get(move || live(h1.clone())))
        .route("/readiness", get(move || ready(h2.clone())))
        .route("/health", get(move || both(h3.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_reporters_and_timeouts() {
        let h = Health::default();
        assert!(
            h.summary().live && h.summary().ready,
            "no reporters: healthy"
        );
        h.register("syncer", None);
        assert!(h.summary().live);
        assert!(!h.summary().ready);
        h.report("syncer", true, true);
        assert!(h.summary().ready);
        h.register("agent", Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        let s = h.summary();
        assert!(!s.live && !s.ready);
        assert_eq!(
            s.reporters[0],
            ReporterState {
                name: "agent".into(),
                live: false,
                ready: false,
                timed_out: true
            }
        );
        h.report("agent", true, true);
        assert!(h.summary().live && h.summary().ready);
        h.report("syncer", false, false);
        assert!(!h.summary().live);
    }
}
