//! The `kinesis_firehose` output (and the Go plugin's `firehose`): PutRecordBatch to Amazon
//! Kinesis Data Firehose, or to any service speaking its API (`hydrant firehose`).
//!
//! Records become Data as Fluent Bit writes it ([`crate::record_data`]), go into batches of
//! at most 500 records and 4,194,304 bytes ([`crate::batch`]), and a batch goes out when it
//! is full, `Flush` seconds after its first record arrived, or when the router stops.
//! `workers` batches are in flight at once; while all are busy the output stops taking
//! chunks, so the router's bounded queue slows the inputs down instead of memory growing.
//!
//! Failure handling is where this differs from Fluent Bit on purpose: after a partial
//! failure (`FailedPutCount > 0`) only the failed records are sent again (matched by their
//! index in the response), not the whole chunk (fluent-bit 6369); whole-request errors are
//! retried with exponential back-off and jitter; errors that waiting will not fix
//! (AccessDenied, ResourceNotFound, InvalidArgument, missing credentials) are logged as
//! errors and retried at the back-off cap; records are dropped only when `Retry_Limit`
//! says so, and then counted and logged ([`crate::retry`]). A chunk's ack completes when
//! every one of its records is delivered or deliberately dropped.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_firehose::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::operation::put_record_batch::{PutRecordBatchError, PutRecordBatchOutput};
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record as FirehoseRecord;
use hydrant_flb::config::{ConfigError, Plugin, Rule};
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::plugin::{required, BuildResult};
use hydrant_flb::{BoxFuture, BuildContext, Chunk, Output};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::batch::{AckTracker, Aggregator, Batcher, Entry, Owners};
use crate::record_data::{Compression, DataFormat, Dialect, TimeFormat, MAX_RECORD_BYTES};
use crate::retry::{parse_seconds, Backoff, RetryLimit};

/// Fluent Bit's default `time_key_format`.
pub const DEFAULT_TIME_KEY_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
/// Fluent Bit's default `Flush` ([SERVICE]).
pub const DEFAULT_FLUSH: Duration = Duration::from_secs(1);
/// Time to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one PutRecordBatch attempt: 4 MiB over a slow uplink, with margin.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Keys every output takes (Fluent Bit's generic output properties) that this output reads
/// elsewhere or has no use for.
const GENERIC_KEYS: &[&str] = &[
    "match",
    "match_regex",
    "alias",
    "log_level",
    "retry_limit",
    "storage.total_limit_size",
    "tls",
    "tls.verify",
    "tls.ca_file",
    "tls.debug",
    "tls.vhost",
    "port",
];
const FIREHOSE_KEYS: &[&str] = &[
    "region",
    "delivery_stream",
    "time_key",
    "time_key_format",
    "log_key",
    "role_arn",
    "external_id",
    "endpoint",
    "sts_endpoint",
    "compression",
    "auto_retry_requests",
    "simple_aggregation",
    "profile",
    "workers",
    "data_keys",
    "replace_dots",
];

/// Everything the options say, checked.
#[derive(Debug, Clone)]
pub struct FirehoseOptions {
    /// `region`.
    pub region: String,
    /// `delivery_stream`.
    pub delivery_stream: String,
    /// How records become Data.
    pub format: DataFormat,
    /// `compression`, per Firehose record.
    pub compression: Compression,
    /// `simple_aggregation`.
    pub simple_aggregation: bool,
    /// `role_arn`: assume this role (with the chain's credentials) for Firehose calls.
    pub role_arn: Option<String>,
    /// `external_id` for the assumed role.
    pub external_id: Option<String>,
    /// `endpoint`: Firehose API URL (`https://` added when no scheme is given).
    pub endpoint: Option<String>,
    /// `sts_endpoint`: STS URL for `role_arn`.
    pub sts_endpoint: Option<String>,
    /// `profile`: the shared-config profile to take credentials and settings from.
    pub profile: Option<String>,
    /// `auto_retry_requests`: one immediate SDK-level retry before Hydrant's back-off.
    pub auto_retry_requests: bool,
    /// `workers`: PutRecordBatch calls in flight.
    pub workers: usize,
    /// `tls.ca_file`'s PEM text, trusted besides the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// `Retry_Limit`.
    pub retry_limit: RetryLimit,
    /// Waits between retries (`[SERVICE]` `scheduler.base` / `scheduler.cap`).
    pub backoff: Backoff,
    /// `[SERVICE]` `Flush`: the longest a record waits for its batch to fill.
    pub flush: Duration,
}

impl FirehoseOptions {
    /// Read and check the options of `plugin` (`kinesis_firehose` with [`Dialect::C`],
    /// `firehose` with [`Dialect::Go`]).
    pub fn from_plugin(plugin: &Plugin, ctx: &BuildContext, dialect: Dialect) -> BuildResult<Self> {
        for (key, _) in plugin.properties.iter() {
            let k = key.to_ascii_lowercase();
            if !GENERIC_KEYS.contains(&k.as_str()) && !FIREHOSE_KEYS.contains(&k.as_str()) && !k.starts_with("net.") {
                tracing::warn!(output = %ctx.name, key = %key, "{}: unknown option `{key}` is ignored", plugin.name);
            }
        }
        let opt = |key: &str| plugin.get(key).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let region = required(plugin, "region")?.trim().to_owned();
        let delivery_stream = required(plugin, "delivery_stream")?.trim().to_owned();

        let time_key = opt("time_key");
        let log_key = opt("log_key");
        if dialect == Dialect::C && time_key.is_some() && log_key.is_some() {
            return Err(plugin.invalid_value("log_key", "`time_key` and `log_key` can not be used together"));
        }
        let time_key = match time_key {
            None => None,
            Some(key) => {
                let text = opt("time_key_format").unwrap_or_else(|| DEFAULT_TIME_KEY_FORMAT.to_owned());
                let format =
                    TimeFormat::parse(&text, dialect).map_err(|e| plugin.invalid_value("time_key_format", &e))?;
                Some((key, format))
            }
        };
        let data_keys = opt("data_keys").map(|v| v.split(',').map(|k| k.trim().to_owned()).collect());
        let replace_dots = plugin.get("replace_dots").filter(|v| !v.is_empty()).map(str::to_owned);
        if dialect == Dialect::C {
            for key in ["data_keys", "replace_dots"] {
                if plugin.get(key).is_some() {
                    return Err(plugin.invalid_value(key, "is an option of the Go plugin (`Name firehose`)"));
                }
            }
        }
        let format = DataFormat { dialect, time_key, log_key, data_keys, replace_dots };

        let compression = match opt("compression") {
            None => Compression::None,
            Some(c) => Compression::parse(&c).map_err(|e| plugin.invalid_value("compression", &e))?,
        };
        let workers = match opt("workers") {
            None => 1,
            Some(w) => match w.parse::<usize>() {
                Ok(n @ 1..=64) => n,
                _ => return Err(plugin.invalid_value("workers", &format!("`{w}`: expected 1 to 64"))),
            },
        };
        if plugin.get_bool("tls.verify")? == Some(false) {
            return Err(ConfigError::new(
                plugin.origin.file.clone(),
                Some(plugin.origin.line),
                Rule::Unsupported,
                format!(
                    "{}: `tls.verify off` is not supported: the AWS SDK always verifies certificates; \
                     give the endpoint's CA with `tls.ca_file` instead",
                    plugin.name
                ),
            ));
        }
        if plugin.get_bool("tls")? == Some(false) {
            tracing::warn!(output = %ctx.name, "{}: `tls off` is ignored: the scheme of `endpoint` decides", plugin.name);
        }
        let ca_pem = match opt("tls.ca_file") {
            None => None,
            Some(path) => Some(read_ca_file(&path).map_err(|e| plugin.invalid_value("tls.ca_file", &e))?),
        };
        let endpoint = opt("endpoint").map(|e| with_scheme(&e));
        let sts_endpoint = opt("sts_endpoint").map(|e| with_scheme(&e));
        for (key, value) in [("endpoint", &endpoint), ("sts_endpoint", &sts_endpoint)] {
            if let Some(v) = value {
                let host = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
                if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace)) {
                    return Err(plugin.invalid_value(key, &format!("`{v}` is not an http:// or https:// URL")));
                }
            }
        }
        let service = &ctx.config.service;
        let backoff = Backoff::from_service(service).map_err(|e| service_error(plugin, &e))?;
        let flush = match service.get("Flush") {
            None => DEFAULT_FLUSH,
            Some(v) => parse_seconds(v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| service_error(plugin, &format!("[SERVICE] Flush `{v}`: expected seconds")))?,
        };
        Ok(FirehoseOptions {
            region,
            delivery_stream,
            format,
            compression,
            simple_aggregation: plugin.get_bool("simple_aggregation")?.unwrap_or(false),
            role_arn: opt("role_arn"),
            external_id: opt("external_id"),
            endpoint,
            sts_endpoint,
            profile: opt("profile"),
            auto_retry_requests: plugin.get_bool("auto_retry_requests")?.unwrap_or(true),
            workers,
            ca_pem,
            retry_limit: RetryLimit::from_plugin(plugin)?,
            backoff,
            flush,
        })
    }

    /// The Firehose client these options describe: the default credential chain (env,
    /// shared files or `profile`, web identity, ECS/EKS container endpoint, IMDS), then
    /// `role_arn` assumed through STS (at `sts_endpoint`), the `endpoint` override, the
    /// `tls.ca_file` trust store, Hydrant's timeouts and retry settings.
    pub async fn client(&self) -> aws_sdk_firehose::Client {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            // Hydrant's own retries see every failure (and count it); the SDK's are at most
            // the one quick retry Fluent Bit's `auto_retry_requests` stands for.
            .retry_config(if self.auto_retry_requests {
                RetryConfig::standard().with_max_attempts(2)
            } else {
                RetryConfig::disabled()
            });
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(pem) = &self.ca_pem {
            loader = loader.http_client(https_client_with_ca(pem.clone()));
        }
        let sdk = loader.load().await;
        let mut builder = aws_sdk_firehose::config::Builder::from(&sdk);
        if let Some(role) = &self.role_arn {
            let sts_config = match &self.sts_endpoint {
                Some(url) => sdk.to_builder().endpoint_url(url).build(),
                None => sdk.clone(),
            };
            let session = format!("hydrant-{:016x}", rand::random::<u64>());
            let mut provider =
                aws_config::sts::AssumeRoleProvider::builder(role).session_name(session).configure(&sts_config);
            if let Some(id) = &self.external_id {
                provider = provider.external_id(id);
            }
            builder = builder.credentials_provider(provider.build().await);
        }
        if let Some(url) = &self.endpoint {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_firehose::Client::from_conf(builder.build())
    }
}

/// An HTTPS client for the SDK that trusts `pem`'s certificates besides the system's.
fn https_client_with_ca(pem: Vec<u8>) -> aws_sdk_firehose::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem))
        .build()
        .expect("a trust store without extra server names is valid");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

fn read_ca_file(path: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{path}` is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{path}` holds no PEM certificate"));
    }
    Ok(pem)
}

fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        // Fluent Bit takes a host name and always speaks TLS.
        format!("https://{url}")
    }
}

fn service_error(plugin: &Plugin, message: &str) -> ConfigError {
    ConfigError::new(plugin.origin.file.clone(), Some(plugin.origin.line), Rule::InvalidValue, message.to_owned())
}

/// The output (see the module docs).
pub struct FirehoseOutput {
    name: String,
    plugin: String,
    options: FirehoseOptions,
    metrics: Arc<Metrics>,
    client: Option<aws_sdk_firehose::Client>,
}

impl FirehoseOutput {
    /// Build from a `kinesis_firehose` ([`Dialect::C`]) or `firehose` ([`Dialect::Go`])
    /// section.
    pub fn from_plugin(plugin: &Plugin, ctx: &BuildContext, dialect: Dialect) -> BuildResult<Self> {
        Ok(FirehoseOutput {
            name: ctx.name.clone(),
            plugin: plugin.name.clone(),
            options: FirehoseOptions::from_plugin(plugin, ctx, dialect)?,
            metrics: ctx.metrics.clone(),
            client: None,
        })
    }

    /// Send with `client` instead of one built from the options (embedding, tests).
    pub fn with_client(mut self, client: aws_sdk_firehose::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The checked options.
    pub fn options(&self) -> &FirehoseOptions {
        &self.options
    }
}

impl Output for FirehoseOutput {
    fn run(self: Box<Self>, chunks: mpsc::Receiver<Chunk>) -> BoxFuture<'static, ()> {
        Box::pin(self.run_inner(chunks))
    }
}

/// What the delivery tasks share.
struct Shared {
    name: String,
    stream: String,
    client: aws_sdk_firehose::Client,
    tracker: AckTracker,
    metrics: Arc<Metrics>,
    labels: PluginLabels,
    retry_limit: RetryLimit,
    backoff: Backoff,
}

/// The state of the loop that takes chunks: the open aggregate and batch, and the delivery
/// tasks in flight.
struct Pipeline {
    shared: Arc<Shared>,
    format: DataFormat,
    compression: Compression,
    aggregate: Option<Aggregator>,
    batcher: Batcher,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
}

impl FirehoseOutput {
    async fn run_inner(self, mut chunks: mpsc::Receiver<Chunk>) {
        let client = match self.client {
            Some(c) => c,
            None => self.options.client().await,
        };
        let o = &self.options;
        tracing::info!(
            output = %self.name,
            stream = %o.delivery_stream,
            region = %o.region,
            endpoint = o.endpoint.as_deref().unwrap_or("(AWS)"),
            workers = o.workers,
            "{} output started", self.plugin
        );
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            stream: o.delivery_stream.clone(),
            client,
            tracker: AckTracker::new(),
            labels: PluginLabels::new(&self.name),
            metrics: self.metrics.clone(),
            retry_limit: o.retry_limit,
            backoff: o.backoff,
        });
        let mut p = Pipeline {
            shared,
            format: o.format.clone(),
            compression: o.compression,
            aggregate: o.simple_aggregation.then(Aggregator::default),
            batcher: Batcher::new(&o.delivery_stream),
            permits: Arc::new(Semaphore::new(o.workers)),
            tasks: JoinSet::new(),
        };
        // When the oldest buffered record must go out even if its batch is not full.
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                chunk = chunks.recv() => {
                    let Some(chunk) = chunk else { break };
                    p.accept(chunk).await;
                    if p.is_empty() {
                        deadline = None;
                    } else if deadline.is_none() {
                        deadline = Some(Instant::now() + o.flush);
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    deadline = None;
                    p.flush().await;
                }
                Some(done) = p.tasks.join_next(), if !p.tasks.is_empty() => report_panic(&self.name, done),
            }
        }
        // The router is stopping: send what is buffered at once, and wait for every batch.
        // If the router's grace period ends first, this future is dropped: the JoinSet
        // aborts the tasks and the tracker's remaining acks are dropped uncompleted, so
        // their spans are read again after a restart.
        p.flush().await;
        while let Some(done) = p.tasks.join_next().await {
            report_panic(&self.name, done);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn report_panic(name: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(output = %name, "a delivery task panicked; its records' acks are abandoned: {e}");
        }
    }
}

impl Pipeline {
    fn is_empty(&self) -> bool {
        self.batcher.is_empty() && self.aggregate.as_ref().is_none_or(Aggregator::is_empty)
    }

    /// Encode a chunk's records and queue them, sending the batches they fill.
    async fn accept(&mut self, chunk: Chunk) {
        let Chunk { tag, records, ack, .. } = chunk;
        let mut data = Vec::with_capacity(records.len());
        let mut dropped = 0u64;
        for record in &records {
            match self.format.encode(record) {
                Ok(d) => data.push(d),
                Err(why) => {
                    if dropped == 0 {
                        tracing::warn!(output = %self.shared.name, tag = %tag, "dropping a record: {why}");
                    }
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            self.shared.metrics.output_dropped.get_or_create(&self.shared.labels).inc_by(dropped);
            if dropped > 1 {
                tracing::warn!(output = %self.shared.name, tag = %tag, "dropped {dropped} records of this chunk in all");
            }
        }
        let id = self.shared.tracker.register(ack, data.len() as u64);
        for d in data {
            let entry = match &mut self.aggregate {
                Some(agg) => match agg.push(&d, id) {
                    Some((aggregate, owners)) => self.entry(aggregate, owners),
                    None => None,
                },
                None => self.entry(d, vec![(id, 1)]),
            };
            if let Some(batch) = entry.and_then(|e| self.batcher.push(e)) {
                self.send(batch).await;
            }
        }
    }

    /// Send everything buffered, full or not.
    async fn flush(&mut self) {
        if let Some((aggregate, owners)) = self.aggregate.as_mut().and_then(Aggregator::take) {
            if let Some(batch) = self.entry(aggregate, owners).and_then(|e| self.batcher.push(e)) {
                self.send(batch).await;
            }
        }
        if let Some(batch) = self.batcher.take() {
            self.send(batch).await;
        }
    }

    /// A Firehose record from newline-terminated data, compressed as asked; `None` (the
    /// records dropped, counted and settled) when compression fails or makes it too large.
    fn entry(&self, data: Vec<u8>, owners: Owners) -> Option<Entry> {
        let result = self.compression.apply(data);
        let problem = match &result {
            Ok(d) if d.len() <= MAX_RECORD_BYTES => None,
            Ok(d) => Some(format!("compressed record of {} bytes is over Firehose's {MAX_RECORD_BYTES}", d.len())),
            Err(e) => Some(format!("compression failed: {e}")),
        };
        let entry = Entry { data: result.unwrap_or_default(), owners };
        match problem {
            None => Some(entry),
            Some(why) => {
                let n = entry.records();
                tracing::warn!(output = %self.shared.name, "dropping {n} records: {why}");
                self.shared.metrics.output_dropped.get_or_create(&self.shared.labels).inc_by(n);
                self.shared.tracker.settle(&entry.owners);
                None
            }
        }
    }

    /// Hand a batch to a delivery task, waiting for a free worker first.
    async fn send(&mut self, batch: Vec<Entry>) {
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let shared = self.shared.clone();
        self.tasks.spawn(async move {
            deliver(&shared, batch).await;
            drop(permit);
        });
    }
}

/// Send `entries` until each is delivered or dropped by `Retry_Limit`, resending only the
/// records that failed.
async fn deliver(s: &Shared, mut entries: Vec<Entry>) {
    let mut failures = 0u32;
    loop {
        let attempt = put(s, &entries).await;
        let wait = match attempt {
            Ok(out) if out.request_responses().len() == entries.len() => {
                let total = entries.len();
                let mut failed = Vec::new();
                let mut settled: Owners = Vec::new();
                let (mut records, mut bytes) = (0u64, 0u64);
                let mut first_error = None;
                let mut throttled = false;
                for (entry, response) in entries.drain(..).zip(out.request_responses()) {
                    match response.error_code() {
                        Some(code) => {
                            throttled |= code == "ServiceUnavailableException";
                            first_error.get_or_insert_with(|| {
                                format!("{code}: {}", response.error_message().unwrap_or_default())
                            });
                            failed.push(entry);
                        }
                        None => {
                            records += entry.records();
                            bytes += entry.data.len() as u64;
                            settled.extend_from_slice(&entry.owners);
                        }
                    }
                }
                s.metrics.output_records.get_or_create(&s.labels).inc_by(records);
                s.metrics.output_bytes.get_or_create(&s.labels).inc_by(bytes);
                s.tracker.settle(&settled);
                if failed.is_empty() {
                    return;
                }
                let n: u64 = failed.iter().map(Entry::records).sum();
                s.metrics.output_retries.get_or_create(&s.labels).inc_by(n);
                tracing::warn!(
                    output = %s.name,
                    stream = %s.stream,
                    "{} of {} records failed ({}); resending only those{}",
                    failed.len(),
                    total,
                    first_error.unwrap_or_default(),
                    if throttled { "; the stream's throughput limits may have been exceeded" } else { "" }
                );
                entries = failed;
                s.backoff.delay(failures + 1)
            }
            Ok(out) => {
                // Without one response per record there is no telling which failed.
                s.metrics.output_errors.get_or_create(&s.labels).inc();
                tracing::error!(
                    output = %s.name,
                    stream = %s.stream,
                    "PutRecordBatch answered {} responses for {} records; resending the batch",
                    out.request_responses().len(),
                    entries.len()
                );
                s.backoff.delay(failures + 1)
            }
            Err(e) => {
                s.metrics.output_errors.get_or_create(&s.labels).inc();
                let n: u64 = entries.iter().map(Entry::records).sum();
                s.metrics.output_retries.get_or_create(&s.labels).inc_by(n);
                let (kind, message) = classify(&e);
                match kind {
                    ErrorKind::Transient => {
                        tracing::warn!(output = %s.name, stream = %s.stream, "PutRecordBatch failed, will retry: {message}");
                        s.backoff.delay(failures + 1)
                    }
                    ErrorKind::Persistent => {
                        tracing::error!(
                            output = %s.name,
                            stream = %s.stream,
                            "PutRecordBatch failed with an error that needs fixing (permissions, stream name, \
                             credentials, endpoint); retrying every {:?} or so: {message}",
                            s.backoff.cap
                        );
                        s.backoff.capped()
                    }
                }
            }
        };
        failures += 1;
        if s.retry_limit.exhausted(failures) {
            let n: u64 = entries.iter().map(Entry::records).sum();
            s.metrics.output_dropped.get_or_create(&s.labels).inc_by(n);
            tracing::error!(
                output = %s.name,
                stream = %s.stream,
                "dropping {n} records after {failures} failed attempts (Retry_Limit)"
            );
            let owners: Owners = entries.into_iter().flat_map(|e| e.owners).collect();
            s.tracker.settle(&owners);
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

async fn put(s: &Shared, entries: &[Entry]) -> Result<PutRecordBatchOutput, SdkError<PutRecordBatchError>> {
    let records = entries
        .iter()
        .map(|e| FirehoseRecord::builder().data(Blob::new(e.data.clone())).build().expect("data is set"))
        .collect();
    s.client.put_record_batch().delivery_stream_name(&s.stream).set_records(Some(records)).send().await
}

/// Whether waiting helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// Throttling, 5xx, timeouts, network: retry with growing back-off.
    Transient,
    /// Permissions, unknown stream, bad request, no credentials: someone must act.
    Persistent,
}

fn classify(e: &SdkError<PutRecordBatchError>) -> (ErrorKind, String) {
    let message = DisplayErrorContext(e).to_string();
    let kind = match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let transient_code = matches!(
                code,
                "ServiceUnavailableException"
                    | "ThrottlingException"
                    | "Throttling"
                    | "LimitExceededException"
                    | "InternalFailure"
                    | "InternalServerError"
                    | "RequestTimeout"
                    | "RequestTimeoutException"
                    | "RequestExpired"
                    | "ExpiredToken"
                    | "ExpiredTokenException"
            );
            let status = se.raw().status().as_u16();
            if transient_code || status >= 500 || status == 429 {
                ErrorKind::Transient
            } else if se.err().is_invalid_argument_exception() || se.err().is_resource_not_found_exception() {
                ErrorKind::Persistent
            } else if code.is_empty() || code.contains("Throttl") {
                ErrorKind::Transient
            } else {
                ErrorKind::Persistent
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ErrorKind::Transient,
        _ => ErrorKind::Persistent,
    };
    (kind, message)
}
