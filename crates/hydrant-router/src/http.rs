//! The router's HTTP server: Prometheus metrics and health, at Hydrant's paths (`/metrics`,
//! `/health`) and Fluent Bit's (`/api/v1/metrics/prometheus`, `/api/v1/health`), so probes
//! written for Fluent Bit keep working.
//!
//! Health follows Fluent Bit's `Health_Check` idea with a sharper rule: the router is
//! unhealthy while some output has failed requests and delivered nothing for a whole
//! period (`HC_Period`, 60 s by default). A destination that is down shows up in the probe
//! instead of only in a log nobody reads.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use hydrant_flb::metrics::{Metrics, PluginLabels};
use tokio_util::sync::CancellationToken;

/// Tracks whether outputs deliver, from their counters.
pub struct Health {
    metrics: Arc<Metrics>,
    outputs: Vec<String>,
    period: Duration,
    state: Mutex<Vec<OutputState>>,
}

#[derive(Clone)]
struct OutputState {
    records: u64,
    errors: u64,
    /// Since when the output has failed without delivering (None while it is fine).
    failing_since: Option<Instant>,
}

impl Health {
    /// Health of `outputs` (instance names) judged over `period`.
    pub fn new(metrics: Arc<Metrics>, outputs: Vec<String>, period: Duration) -> Self {
        let state = vec![OutputState { records: 0, errors: 0, failing_since: None }; outputs.len()];
        Health { metrics, outputs, period, state: Mutex::new(state) }
    }

    /// Compare the counters with the last look; returns the outputs failing for longer than
    /// the period.
    pub fn check(&self) -> Vec<String> {
        let now = Instant::now();
        let mut state = self.state.lock().expect("health lock");
        let mut failing = Vec::new();
        for (name, s) in self.outputs.iter().zip(state.iter_mut()) {
            let labels = PluginLabels::new(name);
            let records = self.metrics.output_records.get_or_create(&labels).get();
            let errors = self.metrics.output_errors.get_or_create(&labels).get();
            if records > s.records {
                s.failing_since = None;
            } else if errors > s.errors && s.failing_since.is_none() {
                s.failing_since = Some(now);
            }
            s.records = records;
            s.errors = errors;
            if s.failing_since.is_some_and(|t| now.duration_since(t) >= self.period) {
                failing.push(name.clone());
            }
        }
        failing
    }
}

/// Serve `/metrics` and `/health` on `addr` until `stop`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/api/v1/metrics/prometheus", get(metrics_handler))
        .route("/health", get(health_handler))
        .route("/api/v1/health", get(health_handler))
        .with_state((metrics, health));
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
}

type AppState = (Arc<Metrics>, Arc<Health>);

async fn metrics_handler(State((metrics, _)): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.encode())
}

async fn health_handler(State((_, health)): State<AppState>) -> impl IntoResponse {
    let failing = health.check();
    if failing.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("error: outputs failing without delivering: {}\n", failing.join(", ")),
        )
    }
}
