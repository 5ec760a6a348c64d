//! Prometheus metrics of the intake, served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::ingest::Accepted;

/// Labels naming a receiver.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabels {
    /// `firehose`, `v2` or `v1`.
    pub receiver: String,
}

/// Labels of a refused request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// `firehose`, `v2` or `v1`.
    pub receiver: String,
    /// `auth`, `unavailable`, ...
    pub reason: String,
}

/// The intake's metrics.
pub struct Metrics {
    registry: Registry,
    logs_accepted: Family<ReceiverLabels, Counter>,
    batches_duplicate: Family<ReceiverLabels, Counter>,
    requests_refused: Family<RefusedLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hydrant_intake");
        let m = Metrics {
            logs_accepted: Family::default(),
            batches_duplicate: Family::default(),
            requests_refused: Family::default(),
            registry: Registry::default(),
        };
        registry.register("logs_accepted", "Logs durably accepted, by receiver", m.logs_accepted.clone());
        registry.register(
            "batches_duplicate",
            "Firehose retries of batches already stored",
            m.batches_duplicate.clone(),
        );
        registry.register("requests_refused", "Requests refused, by receiver and reason", m.requests_refused.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts an accepted batch.
    pub fn accepted(&self, receiver: &str, outcome: Accepted) {
        let l = ReceiverLabels { receiver: receiver.to_string() };
        match outcome {
            Accepted::Stored(n) => {
                self.logs_accepted.get_or_create(&l).inc_by(n as u64);
            }
            Accepted::Duplicate => {
                self.batches_duplicate.get_or_create(&l).inc();
            }
        }
    }

    /// Counts a refused request.
    pub fn refused(&self, receiver: &str, reason: &str) {
        self.requests_refused
            .get_or_create(&RefusedLabels { receiver: receiver.to_string(), reason: reason.to_string() })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
