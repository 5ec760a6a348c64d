//! Hydrant's `kubernetes` filter: Fluent Bit's `filter_kubernetes`, adding each record's pod
//! metadata (`kubernetes`, and `kubernetes_namespace` when asked for) in Fluent Bit's shape and
//! key order, with `Merge_Log` and the `fluentbit.io/*` pod annotations.
//!
//! # How it runs
//!
//! The tag (`kube.var.log.containers.<pod>_<ns>_<container>-<id>.log`) names the pod. The
//! first chunk of a tag resolves it: tag regex, then the pod (and namespace) from the API
//! server, or the kubelet's `/pods` with `Use_Kubelet`, through a [`cache::Cache`] shared by
//! concurrent lookups. The result, one `kubernetes` map per container, is kept per tag behind
//! an [`Arc`] and attached to every record as [`Value::Shared`]: a record's cost on the hot path
//! is one hash lookup per chunk and one reference-count increment per record.
//!
//! # Where Hydrant differs from Fluent Bit
//!
//! - **Failed lookups wait instead of leaving records bare.** A lookup that fails with a
//!   connection error, a timeout, a 5xx, 429 or 401 is retried with exponential back-off
//!   (250 ms doubling to 5 s) while the chunk waits, up to `Hydrant.Lookup_Wait` (default
//!   30s; `0` = Fluent Bit's single attempt). Only then do the records go on without metadata.
//!   After such a give-up the API counts as down: later lookups make one attempt each, at most
//!   once per back-off interval (1 s doubling to 30 s), without waiting, until one succeeds,
//!   so an outage does not hold every chunk for `Hydrant.Lookup_Wait`.
//! - A 404 (the pod is gone) does not wait; its records go on without metadata.
//! - Every failed request counts in `hydrant_router_kubernetes_lookup_errors`; every record sent
//!   on without metadata in `hydrant_router_kubernetes_lookup_gave_up_records`, and is logged
//!   (at most one line per 10 s, with the count since the last line).
//! - When an expired cache entry (`Kube_Meta_Cache_TTL`) cannot be refreshed, the metadata
//!   fetched before is kept (see [`cache`]).
//! - `Buffer_Size` no longer drops metadata: a response larger than it is kept, with a warning.
//! - Container-specific annotations (`fluentbit.io/exclude-web`) match the whole container
//!   name, not a prefix of it.
//!
//! # Options
//!
//! See [`options::Options`] for every option, its default and what is ignored.

#![warn(missing_docs)]

pub mod api;
pub mod cache;
pub mod fixtures;
pub mod merge;
pub mod metadata;
pub mod options;
pub mod recorded;
pub mod tag;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_flb::config::Plugin;
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::plugin::{BoxFuture, BuildContext, BuildResult, Emitted, Filter};
use hydrant_flb::{Map, Record, Value};

use api::{ApiClient, LookupError};
use cache::Cache;
use merge::{LogParser, MergeOptions, ParserSet};
use metadata::{Include, Props};
use options::{Options, DEFAULT_TAG_REGEX};
use tag::{TagInfo, TagParser};

/// Most pods (and tags) remembered; far above a node's pod count.
const CACHE_CAPACITY: usize = 4096;

/// Build the filter from its `[FILTER]` section.
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Box<dyn Filter>> {
    let parsers = parsers_from_config(ctx)?;
    Ok(Box::new(KubernetesFilter::new(plugin, ctx, parsers)?))
}

/// Build the filter with the given parsers (for `Merge_Parser` and `fluentbit.io/parser`).
pub fn build_with_parsers(
    plugin: &Plugin,
    ctx: &BuildContext,
    parsers: Arc<dyn ParserSet>,
) -> BuildResult<Box<dyn Filter>> {
    Ok(Box::new(KubernetesFilter::new(plugin, ctx, parsers)?))
}

fn parsers_from_config(ctx: &BuildContext) -> BuildResult<Arc<dyn ParserSet>> {
    Ok(Arc::new(ConfigParsers(hydrant_filters::parser::Parsers::from_config(&ctx.config)?)))
}

/// The configuration's `[PARSER]`s, compiled by `hydrant-filters`.
struct ConfigParsers(hydrant_filters::parser::Parsers);

impl ParserSet for ConfigParsers {
    fn get(&self, name: &str) -> Option<Arc<dyn LogParser>> {
        self.0.get(name).map(|p| p as Arc<dyn LogParser>)
    }
}

impl LogParser for hydrant_filters::parser::Parser {
    fn parse(&self, text: &str) -> Option<(Option<hydrant_flb::EventTime>, Map)> {
        hydrant_filters::parser::Parser::parse(self, text)
    }
}

/// What a tag resolved to.
#[derive(Clone)]
enum Resolved {
    /// The tag names no pod: records pass untouched (Fluent Bit's `FLB_FILTER_NOTOUCH`).
    NoTouch,
    /// Metadata (either part may be missing when its lookup failed).
    Meta(Arc<View>),
}

/// What is added to the records of one tag.
struct View {
    kubernetes: Option<Value>,
    namespace: Option<Value>,
    props: Props,
    stdout_parser: Option<Arc<dyn LogParser>>,
    stderr_parser: Option<Arc<dyn LogParser>>,
}

impl View {
    fn bare() -> View {
        View { kubernetes: None, namespace: None, props: Props::default(), stdout_parser: None, stderr_parser: None }
    }
}

struct TagEntry {
    resolved: Resolved,
    expires: Option<Instant>,
}

/// Whether the API is considered down after a give-up, and when to try it next.
#[derive(Default)]
struct Health {
    down: bool,
    next_try: Option<Instant>,
    backoff: Duration,
}

impl Health {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(30);

    fn may_try(&self, now: Instant) -> bool {
        !self.down || self.next_try.is_none_or(|t| now >= t)
    }

    fn failed_while_down(&mut self, now: Instant) {
        self.backoff = (self.backoff * 2).clamp(Self::FIRST, Self::MAX);
        self.next_try = Some(now + self.backoff);
    }

    fn gave_up(&mut self, now: Instant) {
        self.down = true;
        self.backoff = Self::FIRST;
        self.next_try = Some(now + self.backoff);
    }

    fn ok(&mut self) {
        if self.down {
            tracing::info!("the Kubernetes API answers again");
        }
        *self = Health::default();
    }
}

/// Logs records sent without metadata, at most once per interval.
struct GaveUpLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl GaveUpLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn record(&mut self, tag: &str, records: usize, why: &str) {
        let now = Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l) < Self::INTERVAL) {
            self.suppressed += records as u64;
            return;
        }
        tracing::warn!(
            "{records} records of {tag} sent without Kubernetes metadata: {why} ({} more since the last such \
             message)",
            self.suppressed
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

enum Mode {
    Dummy,
    TagOnly,
    /// Lookups, created on first use: the kube client must be built inside the runtime.
    Api(Option<Arc<Lookups>>),
}

/// The API client and caches, shared with the futures that fetch.
struct Lookups {
    client: ApiClient,
    pods: Arc<Cache<Map>>,
    namespaces: Arc<Cache<Map>>,
    use_kubelet: bool,
    metrics: Arc<Metrics>,
    labels: PluginLabels,
}

/// The filter.
struct KubernetesFilter {
    opts: Arc<Options>,
    tags: TagParser,
    include: Include,
    merge: MergeOptions,
    parsers: Arc<dyn ParserSet>,
    merge_parser: Option<Arc<dyn LogParser>>,
    mode: Mode,
    by_tag: HashMap<String, TagEntry>,
    health: Health,
    gave_up_log: GaveUpLog,
    metrics: Arc<Metrics>,
    labels: PluginLabels,
}

impl KubernetesFilter {
    fn new(plugin: &Plugin, ctx: &BuildContext, parsers: Arc<dyn ParserSet>) -> BuildResult<KubernetesFilter> {
        let opts = Options::from_plugin(plugin, |k| std::env::var(k).ok())?;
        let regex = match &opts.regex_parser {
            None => DEFAULT_TAG_REGEX.to_owned(),
            Some(name) => {
                let section = ctx
                    .config
                    .parser(name)
                    .ok_or_else(|| plugin.invalid_value("Regex_Parser", &format!("no [PARSER] named `{name}`")))?;
                section
                    .get("Regex")
                    .ok_or_else(|| plugin.invalid_value("Regex_Parser", &format!("parser `{name}` has no Regex")))?
                    .to_owned()
            }
        };
        let tags = TagParser::new(&opts.kube_tag_prefix, &regex)
            .map_err(|e| plugin.invalid_value("Regex_Parser", &format!("the regex does not compile: {e}")))?;
        let merge_parser = match &opts.merge_parser {
            None => None,
            Some(name) => Some(
                parsers
                    .get(name)
                    .ok_or_else(|| plugin.invalid_value("Merge_Parser", &format!("no [PARSER] named `{name}`")))?,
            ),
        };
        // The kube client picks rustls' process-wide provider; make sure there is one even if
        // another crate of the binary enabled a second provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mode = if opts.dummy_meta {
            tracing::warn!("{}: using dummy metadata", ctx.name);
            Mode::Dummy
        } else if opts.use_tag_for_meta {
            Mode::TagOnly
        } else {
            Mode::Api(None)
        };
        Ok(KubernetesFilter {
            include: Include {
                labels: opts.labels,
                annotations: opts.annotations,
                owner_references: opts.owner_references,
                k8s_logging_parser: opts.k8s_logging_parser,
                k8s_logging_exclude: opts.k8s_logging_exclude,
            },
            merge: MergeOptions { key: opts.merge_log_key.clone(), trim: opts.merge_log_trim, keep_log: opts.keep_log },
            opts: Arc::new(opts),
            tags,
            parsers,
            merge_parser,
            mode,
            by_tag: HashMap::new(),
            health: Health::default(),
            gave_up_log: GaveUpLog { last: None, suppressed: 0 },
            metrics: ctx.metrics.clone(),
            labels: PluginLabels::new(&ctx.name),
        })
    }

    fn lookups(&mut self) -> Option<Arc<Lookups>> {
        if let Mode::Api(None) = self.mode {
            let o = &self.opts;
            self.mode = Mode::Api(Some(Arc::new(Lookups {
                client: ApiClient::new(o),
                pods: Cache::new(o.kube_meta_cache_ttl, CACHE_CAPACITY),
                namespaces: Cache::new(o.kube_meta_namespace_cache_ttl, CACHE_CAPACITY),
                use_kubelet: o.use_kubelet,
                metrics: self.metrics.clone(),
                labels: self.labels.clone(),
            })));
        }
        match &self.mode {
            Mode::Api(l) => l.clone(),
            _ => None,
        }
    }

    /// The metadata for `tag`: from the per-tag map when fresh, else resolved (and possibly
    /// waited for).
    async fn resolve(&mut self, tag: &str, records: usize) -> Resolved {
        let now = Instant::now();
        if let Some(entry) = self.by_tag.get(tag) {
            if entry.expires.is_none_or(|e| now < e) {
                return entry.resolved.clone();
            }
        }
        if let Mode::Dummy = self.mode {
            // Before the tag regex, as Fluent Bit's cb_kube_filter: every record gets it.
            let map = metadata::dummy_metadata(hydrant_flb::EventTime::now().secs);
            let view = View { kubernetes: Some(shared(map)), ..View::bare() };
            // Not remembered: Fluent Bit stamps each chunk with the time.
            return Resolved::Meta(Arc::new(view));
        }
        let Some(info) = self.tags.parse(tag) else {
            tracing::warn!("invalid pattern for given tag {tag}");
            self.remember(tag, Resolved::NoTouch, None);
            return Resolved::NoTouch;
        };
        match &self.mode {
            Mode::Dummy => return Resolved::NoTouch,
            Mode::TagOnly => {
                let view = View { kubernetes: Some(shared(metadata::tag_metadata(&info))), ..View::bare() };
                let resolved = Resolved::Meta(Arc::new(view));
                self.remember(tag, resolved.clone(), None);
                return resolved;
            }
            Mode::Api(_) => {}
        }
        let Some(lookups) = self.lookups() else { return Resolved::NoTouch };
        let (view, expires) = self.lookup(&lookups, tag, &info, records).await;
        let resolved = Resolved::Meta(Arc::new(view));
        // A lookup that gave up is not remembered: the next chunk tries again.
        if let Some(expires) = expires {
            self.remember(tag, resolved.clone(), expires);
        }
        resolved
    }

    fn remember(&mut self, tag: &str, resolved: Resolved, expires: Option<Instant>) {
        if self.by_tag.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            self.by_tag.retain(|_, e| e.expires.is_some_and(|x| now < x));
            if self.by_tag.len() >= CACHE_CAPACITY {
                self.by_tag.clear();
            }
        }
        self.by_tag.insert(tag.to_owned(), TagEntry { resolved, expires });
    }

    /// Look up the pod and namespace of `info`. Returns the view and, when every lookup
    /// asked for succeeded, when to look again (`Some(None)`: never).
    async fn lookup(
        &mut self,
        lookups: &Arc<Lookups>,
        tag: &str,
        info: &TagInfo,
        records: usize,
    ) -> (View, Option<Option<Instant>>) {
        let (Some(ns), pod) = (info.namespace_name.clone(), info.pod_name.clone()) else {
            return (View::bare(), Some(None));
        };
        let mut view = View::bare();
        let mut complete = true;
        let mut expires: Option<Instant> = None;
        let mut earliest = |e: Option<Instant>| {
            if let Some(e) = e {
                expires = Some(expires.map_or(e, |x: Instant| x.min(e)));
            }
        };

        if self.opts.wants_namespace() {
            let key = ns.clone();
            let l = lookups.clone();
            let fetch = move || {
                let l = l.clone();
                let ns = key.clone();
                async move { l.counted(l.client.namespace(&ns).await) }
            };
            match self.with_wait(tag, records, |l| l.namespaces.clone(), &ns, fetch).await {
                Ok(found) => {
                    earliest(found.expires);
                    let map = metadata::namespace_metadata(
                        &ns,
                        Some(&found.value),
                        self.opts.namespace_labels,
                        self.opts.namespace_annotations,
                    );
                    view.namespace = Some(shared(map));
                }
                Err(_) => complete = false,
            }
        }

        if !self.opts.namespace_metadata_only {
            if let Some(pod) = pod {
                let key = format!("{ns}/{pod}");
                let l = lookups.clone();
                let (ns2, pod2) = (ns.clone(), pod.clone());
                let fetch = move || {
                    let l = l.clone();
                    let (ns2, pod2) = (ns2.clone(), pod2.clone());
                    async move {
                        if l.use_kubelet {
                            l.kubelet_pod(&ns2, &pod2).await
                        } else {
                            l.counted(l.client.pod(&ns2, &pod2).await)
                        }
                    }
                };
                match self.with_wait(tag, records, |l| l.pods.clone(), &key, fetch).await {
                    Ok(found) => {
                        earliest(found.expires);
                        let parsers = &self.parsers;
                        let exists = |name: &str| parsers.get(name).is_some();
                        let (map, props) = metadata::pod_metadata(self.include, info, &found.value, &exists);
                        view.stdout_parser = props.stdout_parser.as_deref().and_then(|p| self.parsers.get(p));
                        view.stderr_parser = props.stderr_parser.as_deref().and_then(|p| self.parsers.get(p));
                        view.kubernetes = Some(shared(map));
                        view.props = props;
                    }
                    Err(_) => complete = false,
                }
            }
        }
        (view, complete.then_some(expires))
    }

    /// Run `fetch` through `cache`, retrying transient failures with back-off for up to
    /// `Hydrant.Lookup_Wait` (or once, when the API is considered down).
    async fn with_wait<F, Fut>(
        &mut self,
        tag: &str,
        records: usize,
        cache: impl Fn(&Lookups) -> Arc<Cache<Map>>,
        key: &str,
        fetch: F,
    ) -> Result<cache::Found<Map>, LookupError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Map, LookupError>> + Send + 'static,
    {
        let Mode::Api(Some(lookups)) = &self.mode else { return Err(LookupError::Rejected("no API".into())) };
        let cache = cache(lookups);
        if let Some(found) = cache.peek(key) {
            return Ok(found);
        }
        let start = Instant::now();
        let deadline = start + self.opts.lookup_wait;
        let mut backoff = Duration::from_millis(250);
        let mut waited = false;
        loop {
            let now = Instant::now();
            if !self.health.may_try(now) {
                self.gave_up(tag, records, "the Kubernetes API is not answering");
                return Err(LookupError::Transient("API down".into()));
            }
            match cache.get(key, &fetch).await {
                Ok(found) => {
                    self.health.ok();
                    if waited {
                        tracing::info!("metadata for {key} found after waiting {:?}", start.elapsed());
                    }
                    return Ok(found);
                }
                Err(e) if e.is_transient() => {
                    let now = Instant::now();
                    if self.health.down {
                        self.health.failed_while_down(now);
                        self.gave_up(tag, records, &format!("{key}: {e}"));
                        return Err(e);
                    }
                    if now + backoff > deadline {
                        self.health.gave_up(now);
                        self.gave_up(tag, records, &format!("{key}: {e} (gave up after {:?})", start.elapsed()));
                        return Err(e);
                    }
                    tracing::debug!("{key}: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    waited = true;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    self.gave_up(tag, records, &format!("{key}: {e}"));
                    return Err(e);
                }
            }
        }
    }

    fn gave_up(&mut self, tag: &str, records: usize, why: &str) {
        self.metrics.lookup_gave_up.get_or_create(&self.labels).inc_by(records as u64);
        self.gave_up_log.record(tag, records, why);
    }

    fn apply(&self, view: &View, records: &mut Vec<Record>) -> usize {
        let before = records.len();
        if !view.props.is_empty() && (view.props.stdout_exclude.is_some() || view.props.stderr_exclude.is_some()) {
            records.retain(|r| !view.props.excludes(r.body.get("stream").and_then(Value::as_str)));
        }
        let dropped = before - records.len();
        for record in records.iter_mut() {
            if self.opts.merge_log {
                let parser = match record.body.get("stream").and_then(Value::as_str) {
                    Some("stdout") => view.stdout_parser.as_deref(),
                    Some("stderr") => view.stderr_parser.as_deref(),
                    _ if view.props.parser(None).is_some() => view.stdout_parser.as_deref(),
                    _ => None,
                }
                .or(self.merge_parser.as_deref());
                merge::merge_log(record, parser, &self.merge);
            }
            if let Some(k) = &view.kubernetes {
                record.body.push("kubernetes", k.clone());
            }
            if let Some(n) = &view.namespace {
                record.body.push("kubernetes_namespace", n.clone());
            }
        }
        dropped
    }
}

impl Lookups {
    /// Count a failed request.
    fn counted(&self, result: Result<Map, LookupError>) -> Result<Map, LookupError> {
        if let Err(e) = &result {
            self.metrics.lookup_errors.get_or_create(&self.labels).inc();
            tracing::debug!("lookup failed: {e}");
        }
        result
    }

    /// The pod from the kubelet's list; every other pod of the list goes into the cache too,
    /// so one request serves the whole node.
    async fn kubelet_pod(&self, namespace: &str, pod: &str) -> Result<Map, LookupError> {
        let items = match self.client.kubelet_pods().await {
            Ok(items) => items,
            Err(e) => {
                self.metrics.lookup_errors.get_or_create(&self.labels).inc();
                return Err(e);
            }
        };
        let mut wanted = None;
        for item in items {
            let meta = item.get("metadata").and_then(Value::as_map);
            let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).map(str::to_owned);
            let ns = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(str::to_owned);
            let (Some(name), Some(ns)) = (name, ns) else { continue };
            if name == pod && ns == namespace {
                wanted = Some(item);
            } else {
                self.pods.insert(&format!("{ns}/{name}"), item);
            }
        }
        wanted.ok_or_else(|| {
            self.metrics.lookup_errors.get_or_create(&self.labels).inc();
            LookupError::NotFound
        })
    }
}

fn shared(map: Map) -> Value {
    Value::Shared(Arc::new(Value::Map(map)))
}

impl Filter for KubernetesFilter {
    fn filter<'a>(
        &'a mut self,
        tag: &'a str,
        records: &'a mut Vec<Record>,
        _emitted: &'a mut Vec<Emitted>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if records.is_empty() {
                return;
            }
            let view = match self.resolve(tag, records.len()).await {
                Resolved::NoTouch => return,
                Resolved::Meta(view) => view,
            };
            let dropped = self.apply(&view, records);
            if dropped > 0 {
                self.metrics.filter_dropped.get_or_create(&self.labels).inc_by(dropped as u64);
            }
        })
    }
}
