//! Prometheus metrics of the service, served on `/metrics`.
//!
//! One registry per service instance (not a global), so several services in one
//! process, as in tests and `hydrant up`, keep their numbers apart.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels naming a stream.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// Stream name.
    pub stream: String,
}

/// Labels of an API call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// Operation name.
    pub operation: String,
    /// `ok` or the error code.
    pub outcome: String,
}

/// Labels of a delivery attempt or outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Stream name.
    pub stream: String,
    /// `ok` or the Firehose error code (`HttpEndpoint.DestinationException`, ...).
    pub outcome: String,
}

/// Labels of objects written to buckets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// Stream name.
    pub stream: String,
    /// `destination`, `all-data-backup` or `failed-data-backup`.
    pub kind: String,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// API calls by operation and outcome.
    pub api_requests: Family<ApiLabels, Counter>,
    /// Records accepted by Puts.
    pub records_in: Family<StreamLabels, Counter>,
    /// Bytes of record data accepted by Puts.
    pub bytes_in: Family<StreamLabels, Counter>,
    /// HTTP endpoint delivery attempts by outcome.
    pub delivery_attempts: Family<DeliveryLabels, Counter>,
    /// Records by final delivery outcome (`ok`, `backed_up`, `dropped_413`).
    pub delivery_records: Family<DeliveryLabels, Counter>,
    /// Objects written to buckets.
    pub objects_written: Family<ObjectLabels, Counter>,
    /// Records written to buckets.
    pub object_records: Family<ObjectLabels, Counter>,
    /// Failed object writes (they are retried).
    pub object_write_errors: Family<ObjectLabels, Counter>,
    /// Records acknowledged and not yet done with, per stream.
    pub backlog_records: Family<StreamLabels, Gauge>,
    /// Bytes acknowledged and not yet done with, per stream.
    pub backlog_bytes: Family<StreamLabels, Gauge>,
    /// Write-ahead log fsync latency.
    pub wal_sync_seconds: Histogram,
    /// Segments in the write-ahead log.
    pub wal_segments: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hydrant_firehose");
        let m = Metrics {
            api_requests: Family::default(),
            records_in: Family::default(),
            bytes_in: Family::default(),
            delivery_attempts: Family::default(),
            delivery_records: Family::default(),
            objects_written: Family::default(),
            object_records: Family::default(),
            object_write_errors: Family::default(),
            backlog_records: Family::default(),
            backlog_bytes: Family::default(),
            wal_sync_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            wal_segments: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("api_requests", "API calls by operation and outcome", m.api_requests.clone());
        registry.register("records_in", "Records accepted by PutRecord and PutRecordBatch", m.records_in.clone());
        registry.register("bytes_in", "Bytes of record data accepted", m.bytes_in.clone());
        registry.register(
            "delivery_attempts",
            "HTTP endpoint delivery attempts by outcome",
            m.delivery_attempts.clone(),
        );
        registry.register("delivery_records", "Records by final HTTP delivery outcome", m.delivery_records.clone());
        registry.register("objects_written", "Objects written to buckets", m.objects_written.clone());
        registry.register("object_records", "Records written to buckets", m.object_records.clone());
        registry.register("object_write_errors", "Failed object writes (retried)", m.object_write_errors.clone());
        registry.register(
            "backlog_records",
            "Acknowledged records not yet delivered or backed up",
            m.backlog_records.clone(),
        );
        registry.register(
            "backlog_bytes",
            "Acknowledged bytes not yet delivered or backed up",
            m.backlog_bytes.clone(),
        );
        registry.register("wal_sync_seconds", "Write-ahead log group commit fsync latency", m.wal_sync_seconds.clone());
        registry.register("wal_segments", "Write-ahead log segment files", m.wal_segments.clone());
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

impl StreamLabels {
    /// Labels for `stream`.
    pub fn new(stream: &str) -> Self {
        StreamLabels { stream: stream.to_string() }
    }
}
