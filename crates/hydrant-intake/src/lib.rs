//! A Datadog-compatible logs intake.
//!
//! Receivers ([`receivers`]) take Firehose's HTTP endpoint deliveries and Datadog's
//! `/api/v2/logs` payloads, decode them ([`decode`], [`receive`]) into logs
//! (`hydrant-log`), and hand them to [`ingest`], which runs the pipelines, makes them
//! durable and acknowledges them; an indexer puts them in the tantivy store
//! (`hydrant-logstore`), which [`search_api`] and the explorer page query.

#![warn(missing_docs)]

pub mod config;
pub mod decode;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod pipelines_api;
pub mod receive;
pub mod receivers;
pub mod search_api;
pub mod time_range;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use hydrant_log::Log;
use hydrant_logstore::{LogStore, LogStoreOptions};

pub use config::IntakeConfig;

/// A running intake.
pub struct Intake {
    /// The configuration.
    pub config: IntakeConfig,
    /// Accepted keys.
    pub keys: keys::Keys,
    /// The ingestion path.
    pub ingest: Arc<ingest::Ingest>,
    /// The log store.
    pub store: Arc<LogStore>,
    /// The pipelines applied to new logs.
    pub pipelines: pipelines_api::Pipelines,
    /// Metrics.
    pub metrics: metrics::Metrics,
}

/// The allocator options (mimalloc's, read from the environment as a process starts) the
/// intake is meant to run with; `hydrant intake` and the ingest benchmark set them.
///
/// Documents are built on the receiving threads and freed by tantivy's, and write-ahead
/// log frames are freed by the log thread: memory keeps changing hands, and with mimalloc's
/// defaults (purge after 1 s, by `MADV_DONTNEED`) the pages went back to the kernel and
/// were faulted in again, zeroed, under load: 90-150k page faults in an 8 s run and ~20%
/// more CPU per log than with purging off (BENCHMARKS.md, intake). Freed memory is kept
/// 10 s and then given back with `MADV_FREE`, which the kernel reclaims only when it needs
/// the memory, so a burst's memory still goes back under pressure.
pub const ALLOCATOR_OPTIONS: &[(&str, &str)] = &[("MIMALLOC_PURGE_DELAY", "10000"), ("MIMALLOC_PURGE_DECOMMITS", "0")];

impl ingest::Index for LogStore {
    fn add(&self, logs: &[Log]) -> anyhow::Result<()> {
        Ok(LogStore::add(self, logs)?)
    }

    fn add_json(&self, json: &[&str]) -> anyhow::Result<()> {
        let skipped = LogStore::add_json(self, json)?;
        if skipped > 0 {
            tracing::error!(skipped, "undecodable logs in the write-ahead log; skipped");
        }
        Ok(())
    }

    fn preparer(&self) -> Option<Box<dyn ingest::Preparer>> {
        Some(Box::new(LogStore::preparer(self)))
    }

    fn add_prepared(&self, prepared: ingest::Prepared) -> anyhow::Result<()> {
        let prepared = prepared
            .downcast::<hydrant_logstore::PreparedLogs>()
            .map_err(|_| anyhow::anyhow!("documents prepared by another index"))?;
        Ok(LogStore::add_prepared(self, *prepared)?)
    }

    fn unindexed_bytes(&self) -> u64 {
        LogStore::unindexed_bytes(self)
    }

    fn commit(&self, payload: &str) -> anyhow::Result<()> {
        Ok(self.commit_with_payload(payload.to_string())?)
    }

    fn committed_payload(&self) -> Option<String> {
        self.last_commit_payload().ok().flatten()
    }
}

impl ingest::Preparer for hydrant_logstore::Preparer {
    fn push(&mut self, log: &Log, json: &str) {
        hydrant_logstore::Preparer::push(self, log, json);
    }

    fn finish(self: Box<Self>) -> ingest::Prepared {
        Box::new(hydrant_logstore::Preparer::finish(*self))
    }
}

/// What [`Intake::start`] tells the operator.
pub struct Started {
    /// The intake.
    pub intake: Arc<Intake>,
    /// The file of the generated key pair, when the keys were generated.
    pub generated_keys: Option<PathBuf>,
}

impl Intake {
    /// Opens the store and the write-ahead log under `<data-dir>/intake/`, re-indexes what
    /// was acknowledged but not committed, and starts retention.
    pub fn start(config: IntakeConfig) -> anyhow::Result<Started> {
        let dir = config.dir();
        std::fs::create_dir_all(&dir)?;
        let (keys, generated_keys) =
            keys::Keys::load_or_generate(config.api_keys.clone(), config.app_keys.clone(), &dir)?;
        let store = Arc::new(LogStore::open(&dir.join("index"), LogStoreOptions::default())?);
        let ingest = ingest::Ingest::open(
            &dir,
            store.clone(),
            ingest::Options {
                max_queued_bytes: config.max_queued_bytes,
                commit_interval: Duration::from_millis(config.commit_interval_ms.max(10)),
                ..ingest::Options::default()
            },
        )?;
        let pipelines = pipelines_api::Pipelines::load(&dir, &ingest)?;
        let intake = Arc::new(Intake { config, keys, ingest, store, pipelines, metrics: metrics::Metrics::default() });
        spawn_retention(&intake);
        Ok(Started { intake, generated_keys })
    }
}

/// Deletes logs past the retention, hourly (and once at start).
fn spawn_retention(intake: &Arc<Intake>) {
    let weak = Arc::downgrade(intake);
    std::thread::Builder::new()
        .name("hydrant-retention".into())
        .spawn(move || loop {
            let Some(intake) = weak.upgrade() else { return };
            let days = i64::from(intake.config.retention_days.max(1));
            let cutoff = chrono::Utc::now().timestamp_millis() - days * 86_400_000;
            match intake.store.delete_older_than(cutoff).and_then(|n| intake.store.commit().map(|_| n)) {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days, "logs past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
            drop(intake);
            std::thread::sleep(Duration::from_secs(3600));
        })
        .expect("spawning the retention thread");
}

const EXPLORER: &str = include_str!("explorer.html");

/// The HTTP routes of an intake.
pub fn router(intake: Arc<Intake>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(EXPLORER) }))
        .route("/explorer", get(|| async { Html(EXPLORER) }))
        .route("/v1/input", post(receivers::v1_input))
        .route("/v1/input/", post(receivers::v1_input))
        .route("/api/v2/logs", post(receivers::v2_logs))
        .route("/api/v2/logs/events/search", post(search_api::search_post))
        .route("/api/v2/logs/events", get(search_api::search_get))
        .route("/api/v2/logs/analytics/aggregate", post(search_api::aggregate))
        .route("/api/hydrant/v1/logs/facets", post(search_api::facets))
        .route("/api/v2/logs/tail", get(search_api::tail))
        .route("/api/v1/logs/config/pipelines", get(pipelines_api::list).post(pipelines_api::create))
        .route(
            "/api/v1/logs/config/pipelines/{id}",
            get(pipelines_api::get_one).put(pipelines_api::update).delete(pipelines_api::delete),
        )
        .route("/api/v1/logs/config/pipeline-order", get(pipelines_api::get_order).put(pipelines_api::put_order))
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route(
            "/metrics",
            get(|axum::extract::State(i): axum::extract::State<Arc<Intake>>| async move {
                i.metrics.render().into_response()
            }),
        )
        .with_state(intake)
}

/// The listener with TCP_NODELAY on every accepted connection: an answer is a small write
/// the client waits for, which Nagle's algorithm could hold back behind a delayed ACK.
pub fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    })
}
