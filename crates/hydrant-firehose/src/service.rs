//! The service: the stream catalog, the ingest path (Put -> write-ahead log -> backlog),
//! the consumers of every stream, checkpoints and recovery.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hydrant_aws::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Principals;
use crate::config::FirehoseConfig;
use crate::destination::{Destination, StoredDestination, UrlPolicy};
use crate::metrics::{Metrics, StreamLabels};
use crate::objects::Buckets;
use crate::state_file::{read_json, write_atomic};
use crate::stream::{Backlog, ConsumerId};
use crate::wal::{FrameBuilder, Wal};

/// A stream's definition, as persisted in `streams.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamDef {
    /// Owning account.
    pub account_id: String,
    /// `DeliveryStreamName`.
    pub name: String,
    /// `DeliveryStreamARN`.
    pub arn: String,
    /// This incarnation of the name: records of a deleted stream never reach a new one.
    pub generation: Uuid,
    /// `DeliveryStreamType` (only `DirectPut` is accepted).
    pub stream_type: String,
    /// `VersionId`, bumped by every UpdateDestination.
    pub version_id: u64,
    /// Creation time, ms since epoch.
    pub created_ms: i64,
    /// Last update time, ms since epoch.
    pub updated_ms: i64,
    /// The destination.
    pub destination: StoredDestination,
    /// Tags, by key.
    pub tags: BTreeMap<String, String>,
    /// Server-side encryption as StartDeliveryStreamEncryption left it.
    pub encryption: Encryption,
    /// `DirectPutSourceConfiguration`, described back.
    #[serde(default)]
    pub direct_put: Option<Value>,
}

/// The encryption status (KMS is not implemented: the calls only flip the status).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Encryption {
    /// Whether StartDeliveryStreamEncryption is in effect.
    pub enabled: bool,
    /// `KeyType` given.
    pub key_type: Option<String>,
    /// `KeyARN` given.
    pub key_arn: Option<String>,
}

/// A live stream: definition, backlog and the tasks consuming it.
pub struct Stream {
    def: RwLock<StreamDef>,
    /// The typed destination settings; consumers watch for updates.
    pub settings: watch::Sender<Arc<Destination>>,
    /// Acknowledged records not yet done with.
    pub backlog: Backlog,
    /// Next sequence number to assign; held while a frame is queued to the log so that
    /// log order is sequence order.
    next_seq: Mutex<u64>,
    /// Cancelled when the stream is deleted or the service stops.
    pub cancel: CancellationToken,
    /// The stream's name (immutable).
    pub name: String,
    /// The stream's generation (immutable).
    pub generation: Uuid,
    /// The stream's ARN (immutable).
    pub arn: String,
}

impl Stream {
    /// A copy of the definition.
    pub fn def(&self) -> StreamDef {
        self.def.read().expect("def poisoned").clone()
    }

    /// Whether StartDeliveryStreamEncryption is in effect (every Put answers it, so it is
    /// read without copying the definition).
    pub fn encrypted(&self) -> bool {
        self.def.read().expect("def poisoned").encryption.enabled
    }

    /// The current VersionId.
    pub fn version_id(&self) -> u64 {
        self.def.read().expect("def poisoned").version_id
    }
}

type StreamKey = (String, String);

#[derive(Default, Serialize, Deserialize)]
struct CatalogFile {
    streams: Vec<StreamDef>,
}

/// Per generation: per consumer, the watermark.
type CheckpointFile = HashMap<Uuid, BTreeMap<String, u64>>;

/// The Firehose service.
pub struct Firehose {
    /// The configuration.
    pub config: FirehoseConfig,
    /// API callers.
    pub principals: RwLock<Principals>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    pub(crate) buckets: Arc<Buckets>,
    pub(crate) http: reqwest::Client,
    streams: RwLock<BTreeMap<StreamKey, Arc<Stream>>>,
    /// Serializes control-plane changes and their persistence.
    control: tokio::sync::Mutex<()>,
    wal: Wal,
    shutdown: CancellationToken,
    tasks: tokio_util::task::TaskTracker,
}

/// The outcome of a Put for one record.
pub type PutResult = Result<String, (&'static str, &'static str)>;

impl Firehose {
    /// Opens the data directory, recovers every stream and its acknowledged records,
    /// and starts delivery. Must be called within a tokio runtime.
    pub async fn start(config: FirehoseConfig, principals: Principals) -> anyhow::Result<Arc<Firehose>> {
        let data = config.data_dir.clone();
        std::fs::create_dir_all(&data)?;
        let metrics = Arc::new(Metrics::new());
        let catalog: CatalogFile = read_json(&data.join("streams.json"))?.unwrap_or_default();
        let checkpoints: CheckpointFile = read_json(&data.join("checkpoints.json"))?.unwrap_or_default();
        let sync_hist = metrics.wal_sync_seconds.clone();
        // Through the page cache: a Put's latency is the service's promise, and direct
        // writes took 16-540 ms now and then on a virtual disk whose fsyncs of the same
        // data took under 1 ms (BENCHMARKS.md, session 6). The intake, which runs out of
        // CPU long before its disk, writes directly.
        let (wal, entries) = Wal::open_with(
            &data.join("wal"),
            config.wal.segment_bytes,
            !config.wal.unsafe_no_fsync,
            Some(Box::new(move |d| sync_hist.observe(d.as_secs_f64()))),
            crate::wal::WriteMode::Buffered,
        )?;
        let http = crate::delivery::client(&config.delivery)?;
        let service = Arc::new(Firehose {
            buckets: Arc::new(Buckets::new(data.join("s3"), config.s3.clone())),
            principals: RwLock::new(principals),
            metrics,
            http,
            streams: RwLock::new(BTreeMap::new()),
            control: tokio::sync::Mutex::new(()),
            wal,
            shutdown: CancellationToken::new(),
            tasks: tokio_util::task::TaskTracker::new(),
            config,
        });

        // Where each stream's numbering ends in the log.
        let mut ends: HashMap<Uuid, u64> = HashMap::new();
        for e in &entries {
            let end = ends.entry(e.generation).or_insert(0);
            *end = (*end).max(e.end_seq());
        }
        let mut by_generation = HashMap::new();
        for def in catalog.streams {
            let marks = checkpoints.get(&def.generation).cloned().unwrap_or_default();
            let next_seq =
                ends.get(&def.generation).copied().unwrap_or(0).max(marks.values().copied().max().unwrap_or(0));
            let stream = service.build_stream(def, &marks, next_seq)?;
            by_generation.insert(stream.generation, stream.clone());
            service.streams.write().expect("streams poisoned").insert(key_of(&stream.def()), stream);
        }
        let mut recovered = 0usize;
        for e in entries {
            if let Some(stream) = by_generation.get(&e.generation) {
                recovered += e.records.len();
                stream.backlog.publish(e);
            }
        }
        for stream in by_generation.values() {
            stream.backlog.reserve_recovered();
            let (records, _) = stream.backlog.size();
            if records > 0 {
                tracing::info!(stream = %stream.name, records, "recovered acknowledged records awaiting delivery");
            }
            service.spawn_consumers(stream.clone());
        }
        tracing::debug!(recovered, "write-ahead log replayed");
        service.spawn_checkpointer();
        Ok(service)
    }

    fn url_policy(&self) -> UrlPolicy {
        UrlPolicy { allow_http: self.config.delivery.allow_http_endpoints }
    }

    fn build_stream(
        &self,
        def: StreamDef,
        marks: &BTreeMap<String, u64>,
        next_seq: u64,
    ) -> anyhow::Result<Arc<Stream>> {
        let settings = def
            .destination
            .settings(self.url_policy())
            .map_err(|e| anyhow::anyhow!("stream {}: stored destination no longer valid: {}", def.name, e.message))?;
        let consumers: Vec<(ConsumerId, u64)> =
            consumers_of(&settings).into_iter().map(|c| (c, marks.get(c.name()).copied().unwrap_or(0))).collect();
        let backlog = Backlog::new(&consumers, next_seq);
        backlog.advance_published(next_seq);
        Ok(Arc::new(Stream {
            name: def.name.clone(),
            generation: def.generation,
            arn: def.arn.clone(),
            settings: watch::channel(Arc::new(settings)).0,
            backlog,
            next_seq: Mutex::new(next_seq),
            cancel: self.shutdown.child_token(),
            def: RwLock::new(def),
        }))
    }

    fn spawn_consumers(self: &Arc<Self>, stream: Arc<Stream>) {
        let kinds = consumers_of(&stream.settings.borrow());
        for c in kinds {
            let (svc, s) = (self.clone(), stream.clone());
            match c {
                ConsumerId::Http => self.tasks.spawn(crate::delivery::run(svc, s)),
                ConsumerId::Objects => self.tasks.spawn(crate::sink::run_objects(svc, s)),
            };
        }
    }

    /// Persists watermarks periodically and deletes log segments nobody needs.
    fn spawn_checkpointer(self: &Arc<Self>) {
        let svc = self.clone();
        self.tasks.spawn(async move {
            let mut last: HashMap<Uuid, u64> = HashMap::new();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = svc.shutdown.cancelled() => {
                        let _ = svc.checkpoint();
                        return;
                    }
                }
                let streams = svc.all_streams();
                let changed = streams.iter().any(|s| last.get(&s.generation) != Some(&s.backlog.change_count()))
                    || last.len() != streams.len();
                for s in &streams {
                    let (records, bytes) = s.backlog.size();
                    let l = StreamLabels::new(&s.name);
                    svc.metrics.backlog_records.get_or_create(&l).set(records as i64);
                    svc.metrics.backlog_bytes.get_or_create(&l).set(bytes as i64);
                }
                if changed {
                    last = streams.iter().map(|s| (s.generation, s.backlog.change_count())).collect();
                    // Two fsyncs and renames (1-5 ms) block this worker, yet Put latency
                    // measured better than with the checkpoint on a blocking thread: at a
                    // fixed 400 Puts/s, p99 8.9-12.1 ms and worst 21-27 ms here against
                    // 9.7-16.8 ms and 44-49 ms there (BENCHMARKS.md, firehose).
                    if let Err(e) = svc.checkpoint() {
                        tracing::error!(error = %e, "checkpoint failed");
                    }
                }
            }
        });
    }

    /// Writes the watermarks, then deletes the log segments they make unnecessary.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        let streams = self.all_streams();
        let mut file = CheckpointFile::new();
        let mut low = HashMap::new();
        for s in &streams {
            let marks = s.backlog.watermarks();
            low.insert(s.generation, marks.iter().map(|&(_, w)| w).min().unwrap_or(0));
            file.insert(s.generation, marks.into_iter().map(|(c, w)| (c.name().to_string(), w)).collect());
        }
        write_atomic(&self.config.data_dir.join("checkpoints.json"), &serde_json::to_vec(&file)?)?;
        // Only what the file now on disk says is done may leave the log.
        self.wal.collect_garbage(|g, end| low.get(g).is_none_or(|&w| w >= end))?;
        self.metrics.wal_segments.set(self.wal.segment_count() as i64);
        Ok(())
    }

    fn all_streams(&self) -> Vec<Arc<Stream>> {
        self.streams.read().expect("streams poisoned").values().cloned().collect()
    }

    /// The stream `name` of `account`.
    pub fn stream(&self, account: &str, name: &str) -> Result<Arc<Stream>, AwsError> {
        self.streams
            .read()
            .expect("streams poisoned")
            .get(&(account.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| not_found(name, account))
    }

    /// Names of `account`'s streams, in order.
    pub fn stream_names(&self, account: &str) -> Vec<String> {
        self.streams
            .read()
            .expect("streams poisoned")
            .keys()
            .filter(|(a, _)| a == account)
            .map(|(_, n)| n.clone())
            .collect()
    }

    fn persist_catalog(&self) -> Result<(), AwsError> {
        let streams = self.all_streams().iter().map(|s| s.def()).collect();
        let bytes =
            serde_json::to_vec_pretty(&CatalogFile { streams }).map_err(|e| AwsError::internal(e.to_string()))?;
        write_atomic(&self.config.data_dir.join("streams.json"), &bytes).map_err(|e| {
            tracing::error!(error = %e, "persisting the stream catalog failed");
            AwsError::service_unavailable("The stream catalog could not be persisted.")
        })
    }

    /// Creates a stream (validated by the caller) and starts its delivery.
    pub async fn create_stream(self: &Arc<Self>, def: StreamDef) -> Result<(), AwsError> {
        let _guard = self.control.lock().await;
        let key = key_of(&def);
        if self.streams.read().expect("streams poisoned").contains_key(&key) {
            return Err(AwsError::resource_in_use(format!(
                "Firehose {} under accountId {} already exists",
                def.name, def.account_id
            )));
        }
        if self.stream_names(&def.account_id).len() >= self.config.limits.max_streams {
            return Err(AwsError::limit_exceeded(format!(
                "You have already consumed your firehose quota of {} hoses. Firehose names: {:?}",
                self.config.limits.max_streams,
                self.stream_names(&def.account_id)
            )));
        }
        let stream =
            self.build_stream(def, &BTreeMap::new(), 0).map_err(|e| AwsError::invalid_argument(e.to_string()))?;
        self.streams.write().expect("streams poisoned").insert(key.clone(), stream.clone());
        if let Err(e) = self.persist_catalog() {
            self.streams.write().expect("streams poisoned").remove(&key);
            return Err(e);
        }
        self.spawn_consumers(stream);
        Ok(())
    }

    /// Deletes a stream: delivery stops, records not yet delivered are discarded (as the
    /// real service does).
    pub async fn delete_stream(&self, account: &str, name: &str) -> Result<(), AwsError> {
        let _guard = self.control.lock().await;
        let key = (account.to_string(), name.to_string());
        let stream =
            self.streams.write().expect("streams poisoned").remove(&key).ok_or_else(|| not_found(name, account))?;
        stream.cancel.cancel();
        if let Err(e) = self.persist_catalog() {
            self.streams.write().expect("streams poisoned").insert(key, stream);
            return Err(e);
        }
        Ok(())
    }

    /// Applies `change` to a stream's definition under the control lock, persists it and
    /// publishes new destination settings to the consumers.
    pub async fn modify_stream<T>(
        &self,
        account: &str,
        name: &str,
        change: impl FnOnce(&mut StreamDef) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let _guard = self.control.lock().await;
        let stream = self.stream(account, name)?;
        let before = stream.def();
        let mut def = before.clone();
        let out = change(&mut def)?;
        let settings = def.destination.settings(self.url_policy())?;
        *stream.def.write().expect("def poisoned") = def;
        if let Err(e) = self.persist_catalog() {
            *stream.def.write().expect("def poisoned") = before;
            return Err(e);
        }
        stream.settings.send_if_modified(|s| {
            let changed = **s != settings;
            *s = Arc::new(settings);
            changed
        });
        Ok(out)
    }

    /// Accepts a frame of records for `stream`: durable when this returns `Ok`, with one
    /// result per record (a record id, or the per-record error of a throttled Put).
    pub async fn put(&self, stream: &Arc<Stream>, frame: FrameBuilder) -> Result<Vec<PutResult>, AwsError> {
        let n = frame.len();
        let bytes = frame.data_bytes() as u64;
        if !stream.backlog.try_reserve(bytes, self.config.limits.max_backlog_bytes) {
            return Ok(vec![Err(("ServiceUnavailableException", "Slow down.")); n]);
        }
        let unsealed = frame.finish();
        let (tx, rx) = oneshot::channel();
        let first_seq = {
            let mut next = stream.next_seq.lock().expect("seq poisoned");
            let first = *next;
            *next += n as u64;
            let s = stream.clone();
            self.wal.append(
                unsealed.seal(first),
                Box::new(move |result| {
                    match &result {
                        Ok(entry) => s.backlog.publish(entry.clone()),
                        Err(_) => {
                            // These numbers will never be published: let every
                            // consumer's watermark pass them.
                            s.backlog.release(bytes);
                            for (c, _) in s.backlog.watermarks() {
                                s.backlog.finalize(c, first, first + n as u64);
                            }
                        }
                    }
                    let _ = tx.send(result.map(|_| ()));
                }),
            );
            first
        };
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(stream = %stream.name, error = %e, "records not made durable");
                return Err(AwsError::service_unavailable("The records could not be made durable; retry later."));
            }
            Err(_) => return Err(AwsError::service_unavailable("The service is shutting down.")),
        }
        let labels = StreamLabels::new(&stream.name);
        self.metrics.records_in.get_or_create(&labels).inc_by(n as u64);
        self.metrics.bytes_in.get_or_create(&labels).inc_by(bytes);
        Ok((0..n as u64).map(|i| Ok(record_id(stream.generation, first_seq + i))).collect())
    }

    /// Stops every task after writing a last checkpoint.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
    }

    /// The write-ahead log (benchmarks and tests read its statistics).
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Where the service keeps its state.
    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }
}

fn key_of(def: &StreamDef) -> StreamKey {
    (def.account_id.clone(), def.name.clone())
}

/// Which consumers a destination needs. An HTTP endpoint stream always has the objects
/// consumer, so that switching `S3BackupMode` to AllData takes effect without restart;
/// in FailedDataOnly mode it just passes records by.
pub fn consumers_of(d: &Destination) -> Vec<ConsumerId> {
    match d {
        Destination::HttpEndpoint(_) => vec![ConsumerId::Http, ConsumerId::Objects],
        Destination::ExtendedS3(_) => vec![ConsumerId::Objects],
    }
}

/// The real service's message for an unknown stream.
pub fn not_found(name: &str, account: &str) -> AwsError {
    AwsError::resource_not_found(format!("Firehose {name} under account {account} not found."))
}

/// A record id: the stream generation and sequence number, base64url. Opaque to clients
/// like the real service's, unique across re-created streams of the same name.
fn record_id(generation: Uuid, seq: u64) -> String {
    use base64::Engine;
    let mut raw = [0u8; 24];
    raw[..16].copy_from_slice(generation.as_bytes());
    raw[16..].copy_from_slice(&seq.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
