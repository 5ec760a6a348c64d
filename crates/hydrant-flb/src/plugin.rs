//! The plugin interfaces the router's runtime is built from: [`Input`]s emit [`Chunk`]s,
//! [`Filter`]s rewrite records in place, [`Output`]s deliver chunks and complete their
//! [`Ack`](crate::chunk::Ack)s.
//!
//! Each plugin crate offers a `build(plugin, &BuildContext)` function that turns a
//! [`Plugin`] section into one of these, refusing bad options with a [`ConfigError`] that
//! names the file and line.
//!
//! Filters run inside each input's pipeline task, in configuration order, on every chunk
//! whose tag they match; they are async only so the kubernetes filter can wait for a lookup
//! (every other filter is plain code inside an `async` block). Outputs each run as their
//! own task with their own queue, so a slow destination does not hold up the others beyond
//! their queue's bound.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chunk::Chunk;
use crate::config::{Config, ConfigError, Plugin};
use crate::metrics::Metrics;
use crate::record::Record;

/// A boxed, sendable future (what the plugin traits return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a plugin's `build` function gets besides its own section.
#[derive(Clone)]
pub struct BuildContext {
    /// The whole configuration (parsers, service keys).
    pub config: Arc<Config>,
    /// The router's metrics.
    pub metrics: Arc<Metrics>,
    /// The instance name used in metrics and logs: plugin name and index among plugins of
    /// its kind (`tail.0`, `kubernetes.0`, `kinesis_firehose.1`), as Fluent Bit names them.
    pub name: String,
    /// Where plugins keep state that has no configured path (`--data-dir`).
    pub data_dir: PathBuf,
}

/// What an input gets to run.
pub struct InputContext {
    /// Where to send chunks; bounded, so a full pipeline slows the input down.
    pub chunks: mpsc::Sender<Chunk>,
    /// Cancelled when the router stops: stop reading, persist what is acknowledged, return.
    pub shutdown: CancellationToken,
}

/// A source of records.
pub trait Input: Send + 'static {
    /// Read until `ctx.shutdown` is cancelled (or the source ends), sending chunks.
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// A record re-emitted by a filter under another tag (`rewrite_tag`); it goes through the
/// filter chain again from the start, as Fluent Bit's emitter does.
#[derive(Debug)]
pub struct Emitted {
    /// The new tag.
    pub tag: String,
    /// The record.
    pub record: Record,
}

/// A record transformation.
pub trait Filter: Send + 'static {
    /// Process `records` (all of tag `tag`) in place: modify, drop or keep them, and push
    /// records to re-emit under another tag to `emitted`.
    fn filter<'a>(
        &'a mut self,
        tag: &'a str,
        records: &'a mut Vec<Record>,
        emitted: &'a mut Vec<Emitted>,
    ) -> BoxFuture<'a, ()>;
}

/// A destination.
pub trait Output: Send + 'static {
    /// Deliver every chunk received, completing each chunk's ack once its records are
    /// delivered (or deliberately dropped, counted and logged). When `chunks` is closed,
    /// flush what is buffered at once and return when done; the router stops waiting after
    /// its grace period, which abandons whatever is still held.
    fn run(self: Box<Self>, chunks: mpsc::Receiver<Chunk>) -> BoxFuture<'static, ()>;
}

/// A build function's result.
pub type BuildResult<T> = Result<T, ConfigError>;

/// Read a required property, or fail with [`crate::config::Rule::MissingKey`] at the
/// section's origin.
pub fn required<'a>(plugin: &'a Plugin, key: &str) -> BuildResult<&'a str> {
    plugin.get(key).ok_or_else(|| {
        ConfigError::new(
            plugin.origin.file.clone(),
            Some(plugin.origin.line),
            crate::config::Rule::MissingKey,
            format!("{}: `{key}` is required", plugin.name),
        )
    })
}
