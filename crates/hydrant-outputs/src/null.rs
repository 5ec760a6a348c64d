//! The `null` output: takes every record and throws it away, completing acks at once.
//!
//! Useful to measure the rest of the pipeline (the benchmark routes to it) and to keep a tag
//! from reaching any other output. Records are counted in `output_records`.

use std::sync::Arc;

use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::{BoxFuture, BuildContext, Chunk, Output};
use tokio::sync::mpsc;

/// The output.
pub struct NullOutput {
    labels: PluginLabels,
    metrics: Arc<Metrics>,
}

impl NullOutput {
    /// A null output named as `ctx` says.
    pub fn new(ctx: &BuildContext) -> Self {
        NullOutput { labels: PluginLabels::new(&ctx.name), metrics: ctx.metrics.clone() }
    }
}

impl Output for NullOutput {
    fn run(self: Box<Self>, mut chunks: mpsc::Receiver<Chunk>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let records = self.metrics.output_records.get_or_create(&self.labels).clone();
            while let Some(chunk) = chunks.recv().await {
                records.inc_by(chunk.records.len() as u64);
                chunk.ack.complete();
            }
        })
    }
}
