//! The `tail` input: follows log files as Fluent Bit's `in_tail` does (the input EKS
//! Fargate runs on `/var/log/containers/*.log`), with at-least-once delivery across
//! restarts.
//!
//! - [`options`]: the options, with Fluent Bit's names, defaults and units, and the tag
//!   expansion of `Tag kube.*`.
//! - [`watch`]: finding files (globs, `Exclude_Path`) and noticing rotation, truncation and
//!   deletion.
//! - [`reader`]: splitting bytes into lines with the `Buffer_Max_Size` limit.
//! - [`cri`], [`docker`], [`multiline`]: the built-in `cri` and `docker` parsers and the
//!   reassembly of lines the container runtime split.
//! - [`positions`]: offsets committed only once delivered, in Fluent Bit's SQLite schema.
//! - `follow`: the reading loop tying them together.
//!
//! Records: without a parser each line becomes `{Key: line}` (Fargate's fidelity mode: the
//! raw CRI line) stamped with the read time; with `multiline.parser cri` (or `docker`) the
//! record is what Fluent Bit's built-in parser produces, stamped with the line's own time.
//! Chunks hold one file's records (one tag), at most [`follow::MAX_CHUNK_RECORDS`], and
//! are sent as soon as a read yields lines.

#![warn(missing_docs)]

pub mod cri;
pub mod docker;
pub mod follow;
pub mod multiline;
pub mod options;
pub mod positions;
pub mod reader;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_flb::config::Plugin;
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::plugin::BuildResult;
use hydrant_flb::{BoxFuture, BuildContext, Input, InputContext};
use tokio::sync::Semaphore;

pub use options::TailOptions;

/// How long a stopping input waits for the acks of what it sent before it returns. It has
/// already dropped its chunk sender, so the pipeline can drain and the outputs flush
/// meanwhile; the positions writer keeps recording acks that come later.
pub const SHUTDOWN_ACK_WAIT: Duration = Duration::from_secs(5);

/// Build a `tail` input from its section, refusing bad options (a missing `Path`, a parser
/// other than the built-in `cri` and `docker`, malformed sizes and times).
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Box<dyn Input>> {
    let opts = TailOptions::from_plugin(plugin, ctx)?;
    Ok(Box::new(TailInput::new(opts, ctx.metrics.clone(), &ctx.name)))
}

/// The `tail` input (see the crate docs).
pub struct TailInput {
    opts: Arc<TailOptions>,
    metrics: Arc<Metrics>,
    name: String,
}

impl TailInput {
    /// An input with these options, counting into `metrics` under instance `name`.
    pub fn new(opts: TailOptions, metrics: Arc<Metrics>, name: &str) -> Self {
        TailInput { opts: Arc::new(opts), metrics, name: name.to_owned() }
    }

    /// The options in use.
    pub fn options(&self) -> &TailOptions {
        &self.opts
    }
}

impl Input for TailInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let db = self.opts.db.clone();
            let positions = tokio::task::spawn_blocking(move || positions::Positions::open(db.as_ref())).await??;
            positions.spawn_writer()?;
            let shared = follow::Shared {
                memory: Arc::new(Semaphore::new(self.opts.mem_buf_limit.min(Semaphore::MAX_PERMITS))),
                opts: self.opts.clone(),
                positions: positions.clone(),
                metrics: self.metrics.clone(),
                labels: PluginLabels::new(&self.name),
                chunks: ctx.chunks,
                shutdown: ctx.shutdown.clone(),
                handle: tokio::runtime::Handle::current(),
            };
            let follower = follow::Follower::new(shared);
            let reading = tokio::task::spawn_blocking(move || follower.run()).await;

            // The follower is gone, and with it the chunk sender: wait briefly for the acks
            // of what was sent, then record the final positions.
            let deadline = Instant::now() + SHUTDOWN_ACK_WAIT;
            while positions.outstanding() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let p = positions.clone();
            tokio::task::spawn_blocking(move || p.flush()).await?;
            positions.stop();
            if let Err(e) = reading {
                anyhow::bail!("tail {}: reading thread failed: {e}", self.name);
            }
            Ok(())
        })
    }
}
