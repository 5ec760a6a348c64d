//! A Datadog-compatible logs intake.
//!
//! Receivers ([`receivers`]) take Firehose's HTTP endpoint deliveries and Datadog's
//! `/api/v2/logs` payloads, decode them ([`decode`], [`receive`]) into logs
//! (`hydrant-log`), and hand them to [`ingest`], which runs the pipelines, makes them
//! durable and acknowledges them; an indexer makes them searchable.

#![warn(missing_docs)]

pub mod config;
pub mod decode;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod receive;
pub mod receivers;
pub mod time_range;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use config::IntakeConfig;

/// A running intake.
pub struct Intake {
    /// The configuration.
    pub config: IntakeConfig,
    /// Accepted keys.
    pub keys: keys::Keys,
    /// The ingestion path.
    pub ingest: Arc<ingest::Ingest>,
    /// Metrics.
    pub metrics: metrics::Metrics,
}

/// The HTTP routes of an intake.
pub fn router(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/v1/input", post(receivers::v1_input))
        .route("/v1/input/", post(receivers::v1_input))
        .route("/api/v2/logs", post(receivers::v2_logs))
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route(
            "/metrics",
            get(|axum::extract::State(i): axum::extract::State<Arc<Intake>>| async move { i.metrics.render() }),
        )
        .with_state(intake)
}
