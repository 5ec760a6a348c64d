//! The router's runtime: builds the plugins of a [`Config`] and moves chunks from inputs
//! through filters to outputs.
//!
//! ```text
//! input tasks ──chunks──▶ pipeline task ──per-output queues──▶ output tasks
//!                         (filters in order,                   (batch, deliver,
//!                          re-emitted records                   complete acks)
//!                          re-enter from the top,
//!                          routing by Match)
//! ```
//!
//! One pipeline task runs every filter, as Fluent Bit's single engine thread does: filters
//! keep state (caches, rates) that would otherwise be split or locked. Inputs read on their
//! own tasks or threads, and each output has its own task and bounded queue, so a slow
//! destination slows only what is routed to it, and only once its queue is full.
//!
//! Delivery is at-least-once through [`Ack`](hydrant_flb::Ack)s: a chunk routed to two
//! outputs carries two shares, and the input hears `Delivered` only once both outputs
//! completed theirs. On shutdown the inputs stop, the pipeline drains, outputs flush for
//! up to the grace period (`[SERVICE] Grace`, 5 s by default), and whatever is still held
//! is abandoned: inputs keep their positions before it and read it again after a restart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hydrant_flb::config::{units, Config, ConfigError, ConfigErrors, Plugin, Rule, TagMatcher};
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::{BuildContext, Chunk, Emitted, Filter, Input, InputContext, Output, Record};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::registry::Registry;

/// How deep records may be re-emitted (`rewrite_tag` rules that keep rewriting each other).
/// Fluent Bit has no limit and can loop forever; past this depth records are routed as
/// they are, with a warning.
const MAX_REEMIT_DEPTH: usize = 8;

/// Chunks waiting in an output's queue before the pipeline waits for it.
const OUTPUT_QUEUE_CHUNKS: usize = 8;

/// Chunks waiting between the inputs and the pipeline.
const PIPELINE_QUEUE_CHUNKS: usize = 4;

/// Tags whose routes the pipeline remembers (one per file tailed, typically).
const ROUTE_CACHE_TAGS: usize = 16_384;

/// How to build a router.
#[derive(Clone)]
pub struct RouterOptions {
    /// Where plugins keep state with no configured path.
    pub data_dir: PathBuf,
    /// The plugins known by name.
    pub registry: Registry,
    /// Shared metrics (a fresh registry when `None`).
    pub metrics: Option<Arc<Metrics>>,
    /// Ship the router's own logs to every output (`flb_log_cw`; see [`crate::own_logs`]).
    pub ship_own_logs: bool,
}

impl RouterOptions {
    /// Options with `registry` ([`Registry::builtin`] for Hydrant's plugins) and `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, registry: Registry) -> Self {
        RouterOptions { data_dir: data_dir.into(), registry, metrics: None, ship_own_logs: false }
    }
}

struct FilterSlot {
    matcher: TagMatcher,
    filter: Box<dyn Filter>,
    /// Records in, resolved once: the hot path only adds.
    records_in: prometheus_client::metrics::counter::Counter,
}

struct OutputSlot {
    name: String,
    matcher: TagMatcher,
    output: Box<dyn Output>,
}

/// A router built from a configuration, ready to [`run`](Router::run).
pub struct Router {
    inputs: Vec<(String, Box<dyn Input>)>,
    filters: Vec<FilterSlot>,
    outputs: Vec<OutputSlot>,
    metrics: Arc<Metrics>,
    grace: Duration,
    ship_own_logs: bool,
}

impl Router {
    /// Build every plugin of `config`, or return every error found (unknown plugins, bad
    /// options), each naming its file and line.
    pub fn build(config: Config, options: RouterOptions) -> Result<Router, ConfigErrors> {
        let metrics = options.metrics.clone().unwrap_or_default();
        let config = Arc::new(config);
        let mut errors = Vec::new();
        let registry = &options.registry;
        let ctx = |name: String| BuildContext {
            config: config.clone(),
            metrics: metrics.clone(),
            name,
            data_dir: options.data_dir.clone(),
        };
        let mut inputs: Vec<(String, Box<dyn Input>)> = build_kind(
            &config.inputs,
            "input",
            false,
            |n| registry.input(n),
            registry.input_names(),
            &ctx,
            &mut errors,
        )
        .into_iter()
        .map(|(name, _, input)| (name, input))
        .collect();
        let filters = build_kind(
            &config.filters,
            "filter",
            true,
            |n| registry.filter(n),
            registry.filter_names(),
            &ctx,
            &mut errors,
        )
        .into_iter()
        .filter_map(|(name, matcher, filter)| {
            let records_in = metrics.filter_records_in.get_or_create(&PluginLabels::new(&name)).clone();
            Some(FilterSlot { matcher: matcher?, filter, records_in })
        })
        .collect();
        let outputs = build_kind(
            &config.outputs,
            "output",
            true,
            |n| registry.output(n),
            registry.output_names(),
            &ctx,
            &mut errors,
        )
        .into_iter()
        .filter_map(|(name, matcher, output)| Some(OutputSlot { name, matcher: matcher?, output }))
        .collect();
        let grace = match config.service.get("Grace").map(units::parse_time) {
            None => Duration::from_secs(5),
            Some(Ok(secs)) => Duration::from_secs(secs),
            Some(Err(e)) => {
                errors.push(ConfigError::new("[SERVICE]", None, Rule::InvalidValue, format!("`Grace`: {e}")));
                Duration::from_secs(5)
            }
        };
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let mut ship_own_logs = false;
        if options.ship_own_logs {
            match crate::own_logs::OwnLogsInput::start() {
                Some(input) => {
                    inputs.push(("own_logs.0".to_owned(), Box::new(input) as Box<dyn Input>));
                    ship_own_logs = true;
                }
                None => tracing::warn!("the router's own logs are shipped by another router of this process already"),
            }
        }
        Ok(Router { inputs, filters, outputs, metrics, grace, ship_own_logs })
    }

    /// The router's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Instance names of the outputs (`kinesis_firehose.0`), in order.
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|o| o.name.clone()).collect()
    }

    /// Run until `shutdown` is cancelled (or every input ends), then drain: stop the inputs,
    /// let the outputs flush for up to the grace period, and return.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (pipeline_tx, pipeline_rx) = mpsc::channel::<Chunk>(PIPELINE_QUEUE_CHUNKS);

        let mut output_tasks = JoinSet::new();
        let mut routes = Vec::new();
        for slot in self.outputs {
            let (tx, rx) = mpsc::channel::<Chunk>(OUTPUT_QUEUE_CHUNKS);
            routes.push(Route { name: slot.name.clone(), matcher: slot.matcher, queue: tx });
            output_tasks.spawn(slot.output.run(rx));
        }

        let mut input_tasks = JoinSet::new();
        for (name, input) in self.inputs {
            let ctx = InputContext { chunks: pipeline_tx.clone(), shutdown: shutdown.clone() };
            let run = input.run(ctx);
            input_tasks.spawn(async move { (name, run.await) });
        }
        drop(pipeline_tx);

        let pipeline = tokio::spawn(
            Pipeline { filters: self.filters, routes, ship_own_logs: self.ship_own_logs }.run(pipeline_rx),
        );

        let mut failure = None;
        while let Some(joined) = input_tasks.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(e))) => {
                    tracing::error!(input = %name, error = %format!("{e:#}"), "input failed; stopping the router");
                    failure.get_or_insert(anyhow::anyhow!("input {name}: {e:#}"));
                    shutdown.cancel();
                }
                Err(e) => {
                    tracing::error!(error = %e, "input task panicked; stopping the router");
                    failure.get_or_insert(anyhow::anyhow!("input task: {e}"));
                    shutdown.cancel();
                }
            }
        }
        // Inputs are done and their senders dropped: the pipeline drains, then drops the
        // output queues, and the outputs flush what they hold.
        if let Err(e) = pipeline.await {
            tracing::error!(error = %e, "pipeline task panicked");
            failure.get_or_insert(anyhow::anyhow!("pipeline: {e}"));
        }
        let drained = tokio::time::timeout(self.grace, async {
            while let Some(joined) = output_tasks.join_next().await {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "output task panicked");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_secs = self.grace.as_secs_f64(),
                "outputs still busy after the grace period; what they hold will be read again after a restart"
            );
            output_tasks.shutdown().await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A builder of plugins of one kind, by name.
type Builder<T> = fn(&Plugin, &BuildContext) -> hydrant_flb::plugin::BuildResult<T>;

/// Build every plugin of one kind, numbering instances per plugin name as Fluent Bit does
/// (`tail.0`, `tail.1`); errors go to `errors`. With `routed` (filters and outputs) each
/// comes with its `Match`/`Match_Regex`, and one with neither is left out: Fluent Bit loads
/// it but never runs it.
fn build_kind<T>(
    plugins: &[Plugin],
    kind: &str,
    routed: bool,
    lookup: impl Fn(&str) -> Option<Builder<T>>,
    known: String,
    ctx: &impl Fn(String) -> BuildContext,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, Option<TagMatcher>, T)> {
    let mut counters: HashMap<&str, usize> = HashMap::new();
    let mut built = Vec::new();
    for plugin in plugins {
        let Some(build) = lookup(&plugin.name) else {
            errors.push(ConfigError::new(
                plugin.origin.file.clone(),
                Some(plugin.origin.line),
                Rule::Unsupported,
                format!("`{}` {kind} is not supported by Hydrant; supported: {known}", plugin.name),
            ));
            continue;
        };
        let n = counters.entry(plugin.name.as_str()).or_default();
        let name = format!("{}.{n}", plugin.name);
        *n += 1;
        let matcher = match routed.then(|| plugin.matcher()) {
            None => None,
            Some(Ok(Some(m))) => Some(m),
            Some(Ok(None)) => continue,
            Some(Err(e)) => {
                errors.push(e);
                continue;
            }
        };
        match build(plugin, &ctx(name.clone())) {
            Ok(p) => built.push((name, matcher, p)),
            Err(e) => errors.push(e),
        }
    }
    built
}

struct Route {
    name: String,
    matcher: TagMatcher,
    queue: mpsc::Sender<Chunk>,
}

struct Pipeline {
    filters: Vec<FilterSlot>,
    routes: Vec<Route>,
    ship_own_logs: bool,
}

impl Pipeline {
    async fn run(mut self, mut chunks: mpsc::Receiver<Chunk>) {
        // Routes and filter matches per tag: tags repeat (one per file), matching does not
        // need to.
        let mut cache: HashMap<Arc<str>, Arc<TagPlan>> = HashMap::new();
        let mut unrouted_warned = std::collections::HashSet::new();
        while let Some(chunk) = chunks.recv().await {
            // (chunk, re-emission depth, the filter that emitted it). Fluent Bit never runs
            // re-emitted records through the filter that emitted them (a rewrite_tag rule
            // whose new tag it still matches would loop), and neither does Hydrant.
            let mut pending = vec![(chunk, 0usize, None::<usize>)];
            while let Some((mut chunk, depth, emitter)) = pending.pop() {
                let plan = self.plan(&mut cache, &chunk.tag);
                let mut emitted_by: Vec<(usize, Vec<Emitted>)> = Vec::new();
                for &i in &plan.filters {
                    if chunk.records.is_empty() {
                        break;
                    }
                    if emitter == Some(i) {
                        continue;
                    }
                    let slot = &mut self.filters[i];
                    slot.records_in.inc_by(chunk.records.len() as u64);
                    let mut emitted = Vec::new();
                    slot.filter.filter(&chunk.tag, &mut chunk.records, &mut emitted).await;
                    if !emitted.is_empty() {
                        emitted_by.push((i, emitted));
                    }
                }
                for (filter, emitted) in emitted_by {
                    for (tag, records) in group_by_tag(emitted) {
                        let c = Chunk::new(tag.into(), records, chunk.ack.clone());
                        if depth >= MAX_REEMIT_DEPTH {
                            tracing::warn!(tag = %c.tag, "records re-emitted {MAX_REEMIT_DEPTH} times; routing them as they are");
                            self.route(&mut cache, c, &mut unrouted_warned).await;
                        } else {
                            pending.push((c, depth + 1, Some(filter)));
                        }
                    }
                }
                self.route(&mut cache, chunk, &mut unrouted_warned).await;
            }
        }
        // Dropping `self.routes` closes the output queues: outputs flush and return.
    }

    fn plan(&self, cache: &mut HashMap<Arc<str>, Arc<TagPlan>>, tag: &Arc<str>) -> Arc<TagPlan> {
        if let Some(plan) = cache.get(tag) {
            return plan.clone();
        }
        if cache.len() >= ROUTE_CACHE_TAGS {
            cache.clear();
        }
        if self.ship_own_logs && &**tag == crate::own_logs::TAG {
            // Shipped like Fargate's flb_log_cw: everywhere, whatever the outputs match.
            let plan = Arc::new(TagPlan { filters: Vec::new(), outputs: (0..self.routes.len()).collect() });
            cache.insert(tag.clone(), plan.clone());
            return plan;
        }
        let plan = Arc::new(TagPlan {
            filters: self.filters.iter().enumerate().filter(|(_, f)| f.matcher.matches(tag)).map(|(i, _)| i).collect(),
            outputs: self.routes.iter().enumerate().filter(|(_, r)| r.matcher.matches(tag)).map(|(i, _)| i).collect(),
        });
        cache.insert(tag.clone(), plan.clone());
        plan
    }

    async fn route(
        &mut self,
        cache: &mut HashMap<Arc<str>, Arc<TagPlan>>,
        chunk: Chunk,
        unrouted_warned: &mut std::collections::HashSet<Arc<str>>,
    ) {
        if chunk.records.is_empty() {
            chunk.ack.complete();
            return;
        }
        let plan = self.plan(cache, &chunk.tag);
        let Some((&last, others)) = plan.outputs.split_last() else {
            // Fluent Bit drops records no output matches; say so once per tag.
            if unrouted_warned.len() < ROUTE_CACHE_TAGS && unrouted_warned.insert(chunk.tag.clone()) {
                tracing::warn!(tag = %chunk.tag, "no output matches this tag; its records are dropped");
            }
            chunk.ack.complete();
            return;
        };
        for &i in others {
            send(&self.routes[i], chunk.share()).await;
        }
        send(&self.routes[last], chunk).await;
    }
}

/// Queue `chunk` for an output.
async fn send(route: &Route, chunk: Chunk) {
    if let Err(mpsc::error::SendError(chunk)) = route.queue.send(chunk).await {
        // The output task ended (it panicked): its share is abandoned, so the input keeps
        // the position and the records are read again after a restart.
        tracing::error!(output = %route.name, "output is gone; records will be read again after a restart");
        chunk.ack.abandon();
    }
}

/// What applies to one tag: the filters and outputs it matches, by index.
struct TagPlan {
    filters: Vec<usize>,
    outputs: Vec<usize>,
}

/// Re-emitted records grouped by tag, keeping each tag's records in order.
fn group_by_tag(emitted: Vec<Emitted>) -> Vec<(String, Vec<Record>)> {
    let mut groups: Vec<(String, Vec<Record>)> = Vec::new();
    for Emitted { tag, record } in emitted {
        match groups.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, records)) => records.push(record),
            None => groups.push((tag, vec![record])),
        }
    }
    groups
}
