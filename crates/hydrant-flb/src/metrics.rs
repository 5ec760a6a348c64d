//! The router's Prometheus metrics, one registry per router (not a global), so several
//! routers in one process (tests, `hydrant up`) keep their numbers apart.
//!
//! Every family is labelled with the plugin instance name (`tail.0`, `kubernetes.0`,
//! `kinesis_firehose.0`), as Fluent Bit's own metrics are.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels naming a plugin instance.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// Instance name (`tail.0`).
    pub name: String,
}

impl PluginLabels {
    /// Labels for instance `name`.
    pub fn new(name: &str) -> Self {
        PluginLabels { name: name.to_owned() }
    }
}

/// Every metric the router exports.
pub struct Metrics {
    registry: Registry,
    /// Input: lines (or records) read.
    pub input_lines: Family<PluginLabels, Counter>,
    /// Input: bytes read.
    pub input_bytes: Family<PluginLabels, Counter>,
    /// Input: files currently followed.
    pub input_files: Family<PluginLabels, Gauge>,
    /// Input: lines skipped (longer than the buffer with skip_long_lines, unparsable).
    pub input_skipped: Family<PluginLabels, Counter>,
    /// Input: bytes read but not yet acknowledged by every output (the backlog).
    pub backlog_bytes: Family<PluginLabels, Gauge>,
    /// Input: times the input paused on its memory limit.
    pub input_paused: Family<PluginLabels, Counter>,
    /// Filter: records in.
    pub filter_records_in: Family<PluginLabels, Counter>,
    /// Filter: records dropped (grep, throttle, rewrite_tag without keep...).
    pub filter_dropped: Family<PluginLabels, Counter>,
    /// Filter: records emitted under a new tag.
    pub filter_emitted: Family<PluginLabels, Counter>,
    /// kubernetes filter: failed metadata lookups (each attempt).
    pub lookup_errors: Family<PluginLabels, Counter>,
    /// kubernetes filter: records sent on without metadata after the lookup gave up.
    pub lookup_gave_up: Family<PluginLabels, Counter>,
    /// Output: records delivered.
    pub output_records: Family<PluginLabels, Counter>,
    /// Output: bytes delivered (request payload).
    pub output_bytes: Family<PluginLabels, Counter>,
    /// Output: requests (or records) retried.
    pub output_retries: Family<PluginLabels, Counter>,
    /// Output: records failed for good and dropped (counted and logged).
    pub output_dropped: Family<PluginLabels, Counter>,
    /// Output: failed requests (each attempt).
    pub output_errors: Family<PluginLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered under `hydrant_router_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hydrant_router");
        macro_rules! family {
            ($name:literal, $help:literal) => {{
                let f = Family::default();
                registry.register($name, $help, f.clone());
                f
            }};
        }
        Metrics {
            input_lines: family!("input_lines", "Lines read by inputs"),
            input_bytes: family!("input_bytes", "Bytes read by inputs"),
            input_files: family!("input_files", "Files followed by tail inputs"),
            input_skipped: family!("input_skipped_lines", "Lines skipped by inputs (too long, unparsable)"),
            backlog_bytes: family!("backlog_bytes", "Bytes read and not yet acknowledged by every output"),
            input_paused: family!("input_paused", "Times an input paused on its memory limit"),
            filter_records_in: family!("filter_records_in", "Records entering filters"),
            filter_dropped: family!("filter_dropped_records", "Records dropped by filters"),
            filter_emitted: family!("filter_emitted_records", "Records re-emitted by filters under a new tag"),
            lookup_errors: family!("kubernetes_lookup_errors", "Failed Kubernetes metadata lookups"),
            lookup_gave_up: family!(
                "kubernetes_lookup_gave_up_records",
                "Records sent without Kubernetes metadata after lookups failed"
            ),
            output_records: family!("output_records", "Records delivered by outputs"),
            output_bytes: family!("output_bytes", "Payload bytes delivered by outputs"),
            output_retries: family!("output_retries", "Records retried by outputs"),
            output_dropped: family!("output_dropped_records", "Records outputs failed for good and dropped"),
            output_errors: family!("output_errors", "Failed output requests"),
            registry,
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
