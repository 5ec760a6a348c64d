//! Durable ingestion: a batch of logs is run through the pipelines, written to the
//! write-ahead log (fsync'd, group-committed) and only then acknowledged; an indexer
//! thread makes it searchable and commits the index, after which the log's segments go.
//!
//! Firehose retries a batch with the same request id until it sees a 200: the ids of
//! accepted batches are remembered (in each log entry's meta, and in a snapshot written
//! with every index commit), so a retried batch is acknowledged again without being
//! stored twice, also across restarts. Concurrent retries of one id wait for the first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hydrant_log::Log;
use hydrant_wal::{Entry, FrameBuilder, Wal};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot, OnceCell};
use uuid::Uuid;

use crate::receive::BodyError;

/// Where acknowledged logs go to be searched.
pub trait Index: Send + Sync + 'static {
    /// Adds logs (searchable after the next commit).
    fn add(&self, logs: &[Log]) -> anyhow::Result<()>;
    /// [`Index::add`] for logs given as the write-ahead log holds them
    /// (`serde_json::to_writer` of each `Log`), for an index that reads and stores that JSON
    /// as is. A record that is not a log's JSON is skipped (logged): it cannot be searched.
    fn add_json(&self, json: &[&str]) -> anyhow::Result<()> {
        let logs: Vec<Log> = json
            .iter()
            .filter_map(|j| {
                serde_json::from_str(j)
                    .map_err(|e| tracing::error!(error = %e, "undecodable log in the write-ahead log; skipped"))
                    .ok()
            })
            .collect();
        self.add(&logs)
    }
    /// A builder of this index's documents, run on the thread that received the logs as
    /// it writes them to the write-ahead log (it has each log and its JSON at hand, so
    /// nothing is read back). `None` (the default): the indexer hands over the records.
    fn preparer(&self) -> Option<Box<dyn Preparer>> {
        None
    }
    /// Indexes what this index's [`Preparer`] built.
    fn add_prepared(&self, prepared: Prepared) -> anyhow::Result<()> {
        let _ = prepared;
        anyhow::bail!("this index builds no documents ahead")
    }
    /// Memory held by prepared documents handed over and not indexed yet: how far the index
    /// is behind. Receivers hold new batches while it is over
    /// [`Options::max_unindexed_bytes`]. 0 (the default) for an index without a [`Preparer`].
    fn unindexed_bytes(&self) -> u64 {
        0
    }
    /// Makes everything added durable, recording `payload` with it.
    fn commit(&self, payload: &str) -> anyhow::Result<()>;
    /// The payload of the last commit.
    fn committed_payload(&self) -> Option<String>;
}

/// What an index's [`Preparer`] built, handed back to the same index (its own type, erased
/// so that [`Index`] stays object-safe).
pub type Prepared = Box<dyn std::any::Any + Send>;

/// Builds an index's documents where the logs are received (see [`Index::preparer`]).
pub trait Preparer: Send {
    /// Adds a log, given its JSON as the write-ahead log holds it.
    fn push(&mut self, log: &Log, json: &str);
    /// The documents, for [`Index::add_prepared`].
    fn finish(self: Box<Self>) -> Prepared;
}

/// Documents are built on the receiving side while the backlog (acknowledged JSON not yet
/// indexed) is under this fraction of [`Options::max_queued_bytes`]; past it the indexer
/// is handed the records and builds the documents itself. A built document takes about
/// three times the memory of the log's JSON, so the backlog's memory stays within about
/// 1.5 times the limit (with the default 1 GiB: at most 256 MiB of it as documents). The
/// fraction is large because the records path costs the indexer a parse per log. Since
/// receivers wait while the index is behind ([`Options::max_unindexed_bytes`]), the
/// backlog reaches it only when the index stalls for longer than [`MAX_HOLD`].
const PREPARE_BELOW_FRACTION: u64 = 4;

/// Firehose's longest retry window (RetryOptions.DurationInSeconds max 7200 s), plus margin:
/// request ids are remembered this long.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(7200 + 600);

/// The one log stream of the intake in the write-ahead log.
const GENERATION: Uuid = Uuid::nil();

/// The pipelines, as a function applied to each log before it is stored.
pub type Transform = Arc<dyn Fn(&mut Log) + Send + Sync>;

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Too much is waiting to be indexed: 503, retry later.
    #[error("the intake is overloaded; retry later")]
    Overloaded,
    /// The write-ahead log failed: 503.
    #[error("logs could not be made durable: {0}")]
    Storage(String),
    /// The batch itself was refused while it was read ([`Ingest::accept_from`]'s
    /// producer failed: a bad record, too many events): the receiver's 4xx. Nothing of
    /// the batch was stored.
    #[error("the batch was refused as it was read: {0:?}")]
    Rejected(BodyError),
}

/// What happened to an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored now (this many logs).
    Stored(usize),
    /// A retry of a batch already stored.
    Duplicate,
}

#[derive(Default, Serialize, Deserialize)]
struct Commit {
    /// Every log entry below this sequence number is in the index.
    seq: u64,
}

type DedupeMap = HashMap<String, (Arc<OnceCell<()>>, u64)>;

/// The ingestion path.
pub struct Ingest {
    wal: Arc<Wal>,
    index: Arc<dyn Index>,
    next_seq: Mutex<u64>,
    dedupe: Arc<Mutex<DedupeMap>>,
    transform: RwLock<Transform>,
    tail: broadcast::Sender<Arc<Log>>,
    queued: Arc<AtomicU64>,
    max_queued: u64,
    max_unindexed: u64,
    to_indexer: std::sync::mpsc::Sender<ToIndex>,
    /// Bytes per record of the last batch: a frame is sized for its batch up front
    /// rather than grown (and copied) as its records are written.
    record_bytes_hint: std::sync::atomic::AtomicUsize,
}

/// Options of [`Ingest::open`].
pub struct Options {
    /// Bytes acknowledged but not yet indexed before batches are refused with 503.
    pub max_queued_bytes: u64,
    /// How often the index commits (the search delay).
    pub commit_interval: Duration,
    /// fsync the log (off only for benchmarks of the rest).
    pub fsync: bool,
    /// Size of the log's segment files.
    pub segment_bytes: u64,
    /// Memory of prepared documents the index may be behind by ([`Index::unindexed_bytes`])
    /// before new batches wait, unread, for it to catch up (at most [`MAX_HOLD`]).
    pub max_unindexed_bytes: u64,
}

/// The longest a batch waits for the index to catch up ([`Options::max_unindexed_bytes`])
/// before it is stored anyway: a stuck index then fills the backlog, and
/// [`Options::max_queued_bytes`] answers 503, rather than every request hanging.
pub const MAX_HOLD: Duration = Duration::from_secs(5);

/// How often a held batch looks whether the index caught up.
const HOLD_POLL: Duration = Duration::from_millis(2);

impl Default for Options {
    fn default() -> Self {
        Options {
            max_queued_bytes: 1 << 30,
            commit_interval: Duration::from_millis(500),
            fsync: true,
            segment_bytes: 64 << 20,
            max_unindexed_bytes: 64 << 20,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Ingest {
    /// Opens the log under `dir`, re-indexes what the index had not committed, and starts
    /// the indexer.
    pub fn open(dir: &Path, index: Arc<dyn Index>, options: Options) -> anyhow::Result<Arc<Ingest>> {
        std::fs::create_dir_all(dir)?;
        let committed: Commit =
            index.committed_payload().and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default();
        let (wal, entries) = Wal::open(&dir.join("wal"), options.segment_bytes, options.fsync, None)?;
        let wal = Arc::new(wal);
        let snapshot_path = dir.join("dedupe.json");
        let mut dedupe: DedupeMap = HashMap::new();
        let cutoff = now_ms().saturating_sub(DEDUPE_WINDOW.as_millis() as u64);
        if let Ok(bytes) = std::fs::read(&snapshot_path) {
            let ids: HashMap<String, u64> = serde_json::from_slice(&bytes).unwrap_or_default();
            for (id, at) in ids.into_iter().filter(|(_, at)| *at >= cutoff) {
                dedupe.insert(id, (Arc::new(OnceCell::new_with(Some(()))), at));
            }
        }
        let queued = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<ToIndex>();
        let mut next_seq = committed.seq;
        let mut replay = 0usize;
        for e in entries {
            next_seq = next_seq.max(e.end_seq());
            if !e.meta.is_empty() {
                let id = String::from_utf8_lossy(&e.meta).to_string();
                dedupe.insert(id, (Arc::new(OnceCell::new_with(Some(()))), e.arrival_ms));
            }
            if e.end_seq() > committed.seq {
                replay += e.records.len();
                queued.fetch_add(entry_bytes(&e), Ordering::Relaxed);
                tx.send(ToIndex::Replayed(e)).expect("indexer channel open");
            }
        }
        if replay > 0 {
            tracing::info!(logs = replay, "re-indexing acknowledged logs the index had not committed");
        }
        let dedupe = Arc::new(Mutex::new(dedupe));
        let indexer = Indexer {
            index: index.clone(),
            wal: wal.clone(),
            dedupe: dedupe.clone(),
            queued: queued.clone(),
            snapshot_path,
            commit_interval: options.commit_interval,
            committed: committed.seq,
            // The first collection may happen at once.
            last_snapshot: Instant::now().checked_sub(SNAPSHOT_EVERY).unwrap_or_else(Instant::now),
        };
        std::thread::Builder::new().name("hydrant-indexer".into()).spawn(move || indexer.run(rx))?;
        Ok(Arc::new(Ingest {
            wal,
            index,
            next_seq: Mutex::new(next_seq),
            dedupe,
            transform: RwLock::new(Arc::new(|_: &mut Log| {})),
            tail: broadcast::channel(4096).0,
            queued,
            max_queued: options.max_queued_bytes,
            max_unindexed: options.max_unindexed_bytes,
            to_indexer: tx,
            record_bytes_hint: std::sync::atomic::AtomicUsize::new(512),
        }))
    }

    /// Replaces the pipelines applied to new logs.
    pub fn set_transform(&self, t: Transform) {
        *self.transform.write().expect("transform poisoned") = t;
    }

    /// Subscribes to logs as they are accepted (live tail).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Log>> {
        self.tail.subscribe()
    }

    /// Bytes acknowledged and not yet indexed.
    pub fn queued_bytes(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether a batch may be read at all. While the backlog is at its limit a batch is
    /// refused before its body is read and decoded (work that would be thrown away, when
    /// the CPU is what is short), unless it retries a request id already accepted: that is
    /// answered as a duplicate without storing anything. [`Ingest::accept`] checks the limit
    /// again with the batch's size.
    pub fn admit(&self, request_id: Option<&str>) -> Result<(), IngestError> {
        if self.queued_bytes() < self.max_queued {
            return Ok(());
        }
        let accepted = request_id.is_some_and(|id| {
            self.dedupe.lock().expect("dedupe poisoned").get(id).is_some_and(|(cell, _)| cell.initialized())
        });
        if accepted {
            Ok(())
        } else {
            Err(IngestError::Overloaded)
        }
    }

    /// Accepts a batch: durable when this returns `Ok`. With a `request_id` already
    /// accepted, nothing is stored and `Duplicate` is answered.
    pub async fn accept(&self, logs: Vec<Log>, request_id: Option<&str>) -> Result<Accepted, IngestError> {
        self.accept_from(logs.len(), request_id, |push| {
            logs.into_iter().for_each(push);
            Ok(())
        })
        .await
    }

    /// Accepts the logs that `produce` hands to its callback, about `hint` of them, as
    /// [`Ingest::accept`] does. Each log goes through the pipeline, into its record and its
    /// document as soon as it is produced, while it is still in cache: a batch decoded
    /// whole first (500 logs, ~1 MB of `Log`s) was partly evicted by the time it was
    /// stored, when tantivy's threads share the core. If `produce` fails, the batch is
    /// refused whole ([`IngestError::Rejected`]) and nothing of it is stored. For a
    /// request id already accepted, `produce` is not called.
    pub async fn accept_from<F>(
        &self,
        hint: usize,
        request_id: Option<&str>,
        produce: F,
    ) -> Result<Accepted, IngestError>
    where
        F: FnOnce(&mut dyn FnMut(Log)) -> Result<(), BodyError>,
    {
        let Some(id) = request_id else {
            return self.store(hint, produce, None).await;
        };
        let cell = {
            let mut d = self.dedupe.lock().expect("dedupe poisoned");
            d.entry(id.to_string()).or_insert_with(|| (Arc::new(OnceCell::new()), now_ms())).0.clone()
        };
        let mut outcome = Accepted::Duplicate;
        cell.get_or_try_init(|| async {
            outcome = self.store(hint, produce, Some(id)).await?;
            Ok::<(), IngestError>(())
        })
        .await?;
        Ok(outcome)
    }

    async fn store<F>(&self, hint: usize, produce: F, request_id: Option<&str>) -> Result<Accepted, IngestError>
    where
        F: FnOnce(&mut dyn FnMut(Log)) -> Result<(), BodyError>,
    {
        self.hold_while_index_behind().await;
        let transform = self.transform.read().expect("transform poisoned").clone();
        // Each record is preceded by its 4-byte length; 1/8 more for batches of longer logs;
        // past 16 MiB the frame grows as it is written.
        let record_hint = self.record_bytes_hint.load(Ordering::Relaxed);
        let capacity = hint.saturating_mul(record_hint + record_hint / 8 + 4).min(16 << 20);
        let mut frame = FrameBuilder::with_meta(GENERATION, now_ms(), request_id.unwrap_or("").as_bytes(), capacity);
        let prepare = self.queued_bytes() < self.max_queued / PREPARE_BELOW_FRACTION;
        let mut preparer = if prepare { self.index.preparer() } else { None };
        let mut for_tail = (self.tail.receiver_count() > 0).then(|| Vec::with_capacity(hint));
        // One pass per log, all stages at once (pipeline, record, document, free), so that
        // a log is read while it is still in cache.
        let produced = {
            let mut push = |mut log: Log| {
                transform(&mut log);
                // Serializing a `Log` does not fail, so every log gets its record and the
                // indexer needs nothing but the entry (or the documents).
                frame.push_with(|buf| {
                    let start = buf.len();
                    hydrant_log::json::write_log(buf, &log);
                    if let Some(p) = preparer.as_mut() {
                        // `write_log` writes UTF-8; were it ever not, the indexer reads the
                        // records instead (and skips what is not a log).
                        match std::str::from_utf8(&buf[start..]) {
                            Ok(json) => p.push(&log, json),
                            Err(_) => preparer = None,
                        }
                    }
                    true
                });
                if let Some(tail) = for_tail.as_mut() {
                    tail.push(log);
                }
            };
            produce(&mut push)
        };
        produced.map_err(IngestError::Rejected)?;
        let n = frame.len();
        if n == 0 {
            return Ok(Accepted::Stored(0));
        }
        let prepared = preparer.map(|p| p.finish());
        let bytes = frame.data_bytes() as u64;
        self.record_bytes_hint.store((bytes as usize / n).clamp(64, 4096), Ordering::Relaxed);
        if self.queued.fetch_add(bytes, Ordering::AcqRel) + bytes > self.max_queued && self.queued_bytes() > bytes {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            return Err(IngestError::Overloaded);
        }
        let (tx, rx) = oneshot::channel();
        // The logs go to the indexer from the log thread, which calls back in log order:
        // the index's commit position must never pass a batch it has not seen.
        {
            let mut next = self.next_seq.lock().expect("seq poisoned");
            let first = *next;
            *next += n as u64;
            let to_indexer = self.to_indexer.clone();
            self.wal.append(
                frame.finish().seal(first),
                Box::new(move |result| {
                    let ok = match result {
                        Ok(entry) => {
                            let item = match prepared {
                                // The frame is freed here: the documents hold what is indexed.
                                Some(prepared) => ToIndex::Prepared { end_seq: entry.end_seq(), bytes, prepared },
                                None => ToIndex::Fresh(entry),
                            };
                            let _ = to_indexer.send(item);
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(ok);
                }),
            );
        }
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.queued.fetch_sub(bytes, Ordering::AcqRel);
                return Err(IngestError::Storage(e));
            }
            Err(_) => return Err(IngestError::Storage("the log writer stopped".into())),
        }
        for log in for_tail.into_iter().flatten() {
            let _ = self.tail.send(Arc::new(log));
        }
        Ok(Accepted::Stored(n))
    }

    /// Waits, before a batch is decoded, while the index is behind by more than
    /// [`Options::max_unindexed_bytes`] (at most [`MAX_HOLD`]).
    ///
    /// Receiving is faster than indexing, so under sustained load a backlog grows. Letting
    /// it grow is costly here: each log's document takes fresh memory, which the kernel
    /// zeroes (on this VM about a tenth of all CPU in a closed-loop run, BENCHMARKS.md),
    /// and past a quarter of [`Options::max_queued_bytes`] the indexer rebuilds documents
    /// from JSON. Held back, the receivers reuse memory the index just freed, and the CPU
    /// they leave goes to the index. This is back-pressure (as Vector's `when_full: block`
    /// buffers): the sender waits for its 200 instead of being answered 503 and retrying.
    async fn hold_while_index_behind(&self) {
        if self.index.unindexed_bytes() <= self.max_unindexed {
            return;
        }
        let deadline = tokio::time::Instant::now() + MAX_HOLD;
        while self.index.unindexed_bytes() > self.max_unindexed && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(HOLD_POLL).await;
        }
    }
}

fn entry_bytes(e: &Entry) -> u64 {
    e.records.iter().map(|r| r.len() as u64).sum()
}

/// What the indexer is handed, in log order:
/// - `Fresh`: a batch just made durable, as its entry in the log. The index reads the
///   records (`serde_json::to_writer` of the logs) and stores them as they are
///   ([`Index::add_json`]): nothing is serialized twice, and the store builds documents
///   from the JSON without decoding it into `Log`s. The receiver freed the decoded logs:
///   holding them while the indexer catches up cost more CPU than reading the JSON again
///   (decoded logs take more memory than their JSON, all of it fresh pages while the
///   backlog grows, and each log was then freed by another thread than the one that built
///   it: BENCHMARKS.md, intake);
/// - `Prepared`: a batch made durable whose documents were built as it was received
///   ([`Index::preparer`], while the indexer keeps up);
/// - `Replayed`: an entry replayed from the log at start (its records are decoded and the
///   logs serialized again: records of older versions may be spelled differently).
enum ToIndex {
    Fresh(Entry),
    Prepared { end_seq: u64, bytes: u64, prepared: Prepared },
    Replayed(Entry),
}

/// The records of an entry as text (records that are not UTF-8 are skipped: no log's
/// JSON is). The index reads them without decoding them into `Log`s.
fn entry_json(entry: &Entry) -> Vec<&str> {
    entry
        .records
        .iter()
        .filter_map(|r| {
            std::str::from_utf8(r)
                .map_err(|e| tracing::error!(error = %e, "undecodable log in the write-ahead log; skipped"))
                .ok()
        })
        .collect()
}

/// The logs of an entry's records (undecodable ones are skipped).
fn decode_entry(entry: &Entry) -> Vec<Log> {
    entry
        .records
        .iter()
        .filter_map(|r| match serde_json::from_slice::<Log>(r) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(error = %e, "undecodable log in the write-ahead log; skipped");
                None
            }
        })
        .collect()
}

impl ToIndex {
    /// Indexes the logs; (end sequence number, queued bytes).
    fn index(self, index: &dyn Index) -> (u64, u64, anyhow::Result<()>) {
        match self {
            ToIndex::Fresh(entry) => (entry.end_seq(), entry_bytes(&entry), index.add_json(&entry_json(&entry))),
            ToIndex::Prepared { end_seq, bytes, prepared } => (end_seq, bytes, index.add_prepared(prepared)),
            ToIndex::Replayed(entry) => (entry.end_seq(), entry_bytes(&entry), index.add(&decode_entry(&entry))),
        }
    }
}

struct Indexer {
    index: Arc<dyn Index>,
    wal: Arc<Wal>,
    dedupe: Arc<Mutex<DedupeMap>>,
    queued: Arc<AtomicU64>,
    snapshot_path: PathBuf,
    commit_interval: Duration,
    committed: u64,
    last_snapshot: Instant,
}

/// How often, at most, the request id snapshot is rewritten.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(5);

impl Indexer {
    fn run(mut self, rx: std::sync::mpsc::Receiver<ToIndex>) {
        let mut pending_bytes = 0u64;
        let mut next = self.committed;
        let mut last_commit = Instant::now();
        loop {
            let wait = self.commit_interval.saturating_sub(last_commit.elapsed());
            match rx.recv_timeout(if pending_bytes > 0 { wait } else { Duration::from_secs(3600) }) {
                Ok(item) => {
                    let (end_seq, bytes, added) = item.index(&*self.index);
                    if let Err(e) = added {
                        tracing::error!(error = %e, "indexing failed");
                    }
                    pending_bytes += bytes;
                    next = next.max(end_seq);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    if pending_bytes > 0 {
                        self.commit(next, &mut pending_bytes);
                    }
                    return;
                }
            }
            if pending_bytes > 0 && last_commit.elapsed() >= self.commit_interval {
                self.commit(next, &mut pending_bytes);
                last_commit = Instant::now();
            }
        }
    }

    fn commit(&mut self, next: u64, pending_bytes: &mut u64) {
        let payload = serde_json::to_string(&Commit { seq: next }).expect("serializable");
        if let Err(e) = self.index.commit(&payload) {
            tracing::error!(error = %e, "index commit failed; will retry");
            return;
        }
        self.committed = next;
        self.queued.fetch_sub((*pending_bytes).min(self.queued.load(Ordering::Relaxed)), Ordering::AcqRel);
        *pending_bytes = 0;
        // Request ids live in the log's entries until their segment goes; only then must
        // the snapshot hold them. So the snapshot (all ids of the window, possibly large)
        // is written only when a closed segment can be collected, at most every few
        // seconds, and right before the collection.
        if self.wal.segment_count() <= 1 || self.last_snapshot.elapsed() < SNAPSHOT_EVERY {
            return;
        }
        if let Err(e) = self.write_snapshot() {
            tracing::error!(error = %e, "writing the request id snapshot failed; keeping the log");
            return;
        }
        self.last_snapshot = Instant::now();
        let committed = self.committed;
        if let Err(e) = self.wal.collect_garbage(|_, end| end <= committed) {
            tracing::warn!(error = %e, "write-ahead log cleanup failed");
        }
    }

    fn write_snapshot(&self) -> std::io::Result<()> {
        let cutoff = now_ms().saturating_sub(DEDUPE_WINDOW.as_millis() as u64);
        let ids: HashMap<String, u64> = {
            let mut d = self.dedupe.lock().expect("dedupe poisoned");
            d.retain(|_, (_, at)| *at >= cutoff);
            d.iter().filter(|(_, (cell, _))| cell.initialized()).map(|(k, (_, at))| (k.clone(), *at)).collect()
        };
        let tmp = self.snapshot_path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&ids)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.snapshot_path)?;
        if let Some(dir) = self.snapshot_path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index kept in a JSON file, rewritten at each commit: enough to test what the
    /// ingest path promises across restarts without the real store.
    struct FileIndex {
        path: PathBuf,
        pending: Mutex<Vec<Log>>,
        committed: Mutex<(Vec<Log>, Option<String>)>,
        /// What [`Index::unindexed_bytes`] answers.
        unindexed: AtomicU64,
    }

    impl FileIndex {
        fn open(path: PathBuf) -> Arc<FileIndex> {
            let committed = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
            Arc::new(FileIndex {
                path,
                pending: Mutex::new(Vec::new()),
                committed: Mutex::new(committed),
                unindexed: AtomicU64::new(0),
            })
        }
        fn messages(&self) -> Vec<String> {
            self.committed.lock().unwrap().0.iter().map(|l| l.message.clone()).collect()
        }
    }

    impl Index for FileIndex {
        fn add(&self, logs: &[Log]) -> anyhow::Result<()> {
            self.pending.lock().unwrap().extend_from_slice(logs);
            Ok(())
        }
        fn commit(&self, payload: &str) -> anyhow::Result<()> {
            let mut c = self.committed.lock().unwrap();
            c.0.append(&mut self.pending.lock().unwrap());
            c.1 = Some(payload.to_string());
            std::fs::write(&self.path, serde_json::to_vec(&*c)?)?;
            Ok(())
        }
        fn committed_payload(&self) -> Option<String> {
            self.committed.lock().unwrap().1.clone()
        }
        fn unindexed_bytes(&self) -> u64 {
            self.unindexed.load(Ordering::SeqCst)
        }
    }

    fn log(m: &str) -> Log {
        let mut l = Log::new(1);
        l.message = m.to_string();
        l
    }

    async fn wait_for(index: &FileIndex, n: usize) {
        for _ in 0..200 {
            if index.messages().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("index has {:?}", index.messages());
    }

    fn options() -> Options {
        Options { commit_interval: Duration::from_millis(20), ..Options::default() }
    }

    #[tokio::test]
    async fn accepted_logs_are_transformed_and_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let index = FileIndex::open(dir.path().join("index.json"));
        let ingest = Ingest::open(dir.path(), index.clone(), options()).unwrap();
        ingest.set_transform(Arc::new(|l: &mut Log| l.add_tag("seen:yes")));
        let mut tail = ingest.subscribe();
        assert_eq!(ingest.accept(vec![log("a"), log("b")], None).await.unwrap(), Accepted::Stored(2));
        assert_eq!(tail.recv().await.unwrap().message, "a");
        wait_for(&index, 2).await;
        assert_eq!(index.committed.lock().unwrap().0[0].tags, vec!["seen:yes"]);
    }

    #[tokio::test]
    async fn batches_wait_while_the_index_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let index = FileIndex::open(dir.path().join("index.json"));
        let ingest =
            Ingest::open(dir.path(), index.clone(), Options { max_unindexed_bytes: 1000, ..options() }).unwrap();
        index.unindexed.store(1001, Ordering::SeqCst);
        let held = tokio::spawn({
            let ingest = ingest.clone();
            async move { ingest.accept(vec![log("a")], Some("req-1")).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!held.is_finished(), "answered while the index was behind");
        // Held before it was read: nothing of it is in the write-ahead log or the backlog.
        assert_eq!(ingest.queued_bytes(), 0);
        index.unindexed.store(1000, Ordering::SeqCst);
        assert_eq!(held.await.unwrap().unwrap(), Accepted::Stored(1));
        wait_for(&index, 1).await;
        assert_eq!(index.messages(), ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_index_holds_a_batch_no_longer_than_max_hold() {
        let dir = tempfile::tempdir().unwrap();
        let index = FileIndex::open(dir.path().join("index.json"));
        let ingest =
            Ingest::open(dir.path(), index.clone(), Options { max_unindexed_bytes: 1000, ..options() }).unwrap();
        index.unindexed.store(u64::MAX, Ordering::SeqCst);
        let start = tokio::time::Instant::now();
        assert_eq!(ingest.accept(vec![log("a")], None).await.unwrap(), Accepted::Stored(1));
        let held = start.elapsed();
        assert!(held >= MAX_HOLD && held < MAX_HOLD + Duration::from_secs(1), "held {held:?}");
    }

    #[tokio::test]
    async fn a_full_backlog_refuses_batches_before_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let index = FileIndex::open(dir.path().join("index.json"));
        // A one-byte limit and no commit for a while: the first batch fills the backlog.
        let options = Options { max_queued_bytes: 1, commit_interval: Duration::from_secs(3600), ..options() };
        let ingest = Ingest::open(dir.path(), index.clone(), options).unwrap();
        assert!(ingest.admit(Some("req-1")).is_ok());
        assert_eq!(ingest.accept(vec![log("a")], Some("req-1")).await.unwrap(), Accepted::Stored(1));
        assert!(matches!(ingest.admit(Some("req-2")), Err(IngestError::Overloaded)));
        assert!(matches!(ingest.admit(None), Err(IngestError::Overloaded)));
        // A retry of the accepted batch is still answered, as a duplicate.
        assert!(ingest.admit(Some("req-1")).is_ok());
        assert_eq!(ingest.accept(vec![log("a")], Some("req-1")).await.unwrap(), Accepted::Duplicate);
        assert!(matches!(ingest.accept(vec![log("b")], Some("req-2")).await, Err(IngestError::Overloaded)));
    }

    #[tokio::test]
    async fn request_ids_deduplicate_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = FileIndex::open(dir.path().join("index.json"));
            let ingest = Ingest::open(dir.path(), index.clone(), options()).unwrap();
            assert_eq!(ingest.accept(vec![log("a")], Some("req-1")).await.unwrap(), Accepted::Stored(1));
            assert_eq!(ingest.accept(vec![log("a")], Some("req-1")).await.unwrap(), Accepted::Duplicate);
            // Concurrent retries of one id: one stores, the other waits and is a duplicate.
            let (x, y) = tokio::join!(
                ingest.accept(vec![log("c")], Some("req-2")),
                ingest.accept(vec![log("c")], Some("req-2"))
            );
            let mut outcomes = [x.unwrap(), y.unwrap()];
            outcomes.sort_by_key(|o| *o == Accepted::Duplicate);
            assert_eq!(outcomes, [Accepted::Stored(1), Accepted::Duplicate]);
            wait_for(&index, 2).await;
        }
        let index = FileIndex::open(dir.path().join("index.json"));
        let ingest = Ingest::open(dir.path(), index.clone(), options()).unwrap();
        assert_eq!(ingest.accept(vec![log("a")], Some("req-1")).await.unwrap(), Accepted::Duplicate);
        assert_eq!(ingest.accept(vec![log("d")], Some("req-3")).await.unwrap(), Accepted::Stored(1));
        wait_for(&index, 3).await;
        assert_eq!(index.messages(), vec!["a", "c", "d"]);
    }

    #[tokio::test]
    async fn request_ids_outlive_the_log_segments_that_carried_them() {
        let dir = tempfile::tempdir().unwrap();
        let tiny = || Options { segment_bytes: 64, ..options() };
        {
            let index = FileIndex::open(dir.path().join("index.json"));
            let ingest = Ingest::open(dir.path(), index.clone(), tiny()).unwrap();
            ingest.accept(vec![log("first")], Some("id-1")).await.unwrap();
            wait_for(&index, 1).await;
            ingest.accept(vec![log("second")], Some("id-2")).await.unwrap();
            wait_for(&index, 2).await;
            // The segment holding id-1 is collected once the snapshot has it.
            let mut segments = usize::MAX;
            for _ in 0..200 {
                segments = std::fs::read_dir(dir.path().join("wal"))
                    .unwrap()
                    .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".wal"))
                    .count();
                if segments == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(segments, 1, "old segments collected");
        }
        let index = FileIndex::open(dir.path().join("index.json"));
        let ingest = Ingest::open(dir.path(), index.clone(), tiny()).unwrap();
        assert_eq!(ingest.accept(vec![log("first")], Some("id-1")).await.unwrap(), Accepted::Duplicate);
        assert_eq!(ingest.accept(vec![log("second")], Some("id-2")).await.unwrap(), Accepted::Duplicate);
        assert_eq!(index.messages(), vec!["first", "second"]);
    }

    #[tokio::test]
    async fn logs_the_index_had_not_committed_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        // An index that never commits: as if the process died before the commit.
        struct Forgetful;
        impl Index for Forgetful {
            fn add(&self, _: &[Log]) -> anyhow::Result<()> {
                Ok(())
            }
            fn commit(&self, _: &str) -> anyhow::Result<()> {
                anyhow::bail!("disk on fire")
            }
            fn committed_payload(&self) -> Option<String> {
                None
            }
        }
        {
            let ingest = Ingest::open(dir.path(), Arc::new(Forgetful), options()).unwrap();
            ingest.accept(vec![log("x"), log("y")], Some("r")).await.unwrap();
        }
        let index = FileIndex::open(dir.path().join("index.json"));
        let _ingest = Ingest::open(dir.path(), index.clone(), options()).unwrap();
        wait_for(&index, 2).await;
        assert_eq!(index.messages(), vec!["x", "y"]);
    }
}
