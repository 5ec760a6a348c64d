//! Writing records to buckets: the ExtendedS3 destination, the all-data backup of an
//! HTTP endpoint stream (the same thing: raw records concatenated into objects), and the
//! failed-data backup (one JSON error document per line under `http-endpoint-failed/`).
//!
//! Object writes are retried until they succeed: a backup that cannot be written pauses
//! delivery (through [`FailedBackup::push`]) rather than dropping anything, until either
//! the bucket or the endpoint (retried meanwhile) takes the waiting records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chrono::{TimeZone, Utc};
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::buffering::{next_batch, Limits};
use crate::delivery::Exhausted;
use crate::destination::{Destination, S3Settings};
use crate::metrics::ObjectLabels;
use crate::objects::{compress, object_key, HTTP_ENDPOINT_FAILED};
use crate::service::{Firehose, Stream};
use crate::stream::{ConsumerId, Record};

/// The bucket settings the objects consumer writes with, and whether it writes at all.
fn objects_target(d: &Destination) -> (S3Settings, &'static str, bool) {
    match d {
        Destination::ExtendedS3(s) => (s.clone(), "destination", true),
        Destination::HttpEndpoint(h) => (h.s3.clone(), "all-data-backup", h.backup_all_data),
    }
}

/// The objects consumer of a stream.
pub async fn run_objects(svc: Arc<Firehose>, stream: Arc<Stream>) {
    let mut cursor =
        stream.backlog.watermarks().into_iter().find(|(c, _)| *c == ConsumerId::Objects).map_or(0, |(_, w)| w);
    let mut published = stream.backlog.subscribe();
    let mut settings_rx = stream.settings.subscribe();
    loop {
        let settings = settings_rx.borrow_and_update().clone();
        let (s3, kind, write) = objects_target(&settings);
        if !write {
            // FailedDataOnly: nothing to write, just let the records pass.
            published.borrow_and_update();
            let end = stream.backlog.published_end();
            if end > cursor {
                stream.backlog.finalize(ConsumerId::Objects, cursor, end);
                cursor = end;
            }
            tokio::select! {
                _ = published.changed() => {}
                _ = settings_rx.changed() => {}
                _ = stream.cancel.cancelled() => return,
            }
            continue;
        }
        let batch = next_batch(&stream, cursor, |d| Limits {
            buffering: objects_target(d).0.buffering,
            max_records: usize::MAX,
        })
        .await;
        let Some(batch) = batch else { return };
        let (first, end) = (batch[0].seq, batch[batch.len() - 1].seq + 1);
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.data.len()).sum());
        for r in &batch {
            body.extend_from_slice(&r.data);
        }
        let oldest = Utc.timestamp_millis_opt(batch[0].arrival_ms as i64).single().unwrap_or_else(Utc::now);
        let key = object_key(&s3, &stream.name, stream.version_id(), oldest, None);
        let labels = ObjectLabels { stream: stream.name.clone(), kind: kind.to_string() };
        if !write_object(&svc, &stream, &s3, &key, &body, &labels).await {
            return;
        }
        stream.backlog.finalize(ConsumerId::Objects, first, end);
        svc.metrics.object_records.get_or_create(&labels).inc_by(batch.len() as u64);
        cursor = end;
    }
}

/// Compresses and writes one object, retrying with back-off until it is written.
/// Returns false if the stream was cancelled first.
async fn write_object(
    svc: &Firehose,
    stream: &Stream,
    s3: &S3Settings,
    key: &str,
    body: &[u8],
    labels: &ObjectLabels,
) -> bool {
    let cfg = &svc.config.delivery;
    let mut backoff = cfg.backoff_base;
    loop {
        if write_once(svc, stream, s3, key, body, labels, backoff).await {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stream.cancel.cancelled() => return false,
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

/// Compresses and writes one object once; whether it was written (failures are
/// counted and logged, with `retry_in` for the log line).
async fn write_once(
    svc: &Firehose,
    stream: &Stream,
    s3: &S3Settings,
    key: &str,
    body: &[u8],
    labels: &ObjectLabels,
    retry_in: Duration,
) -> bool {
    let entry_name = key.rsplit('/').next().unwrap_or(key).trim_end_matches(".zip").to_string();
    let format = s3.compression;
    let raw = body.to_vec();
    // Compressing an object (up to 128 MiB) is long CPU work: off the async workers.
    let compressed = tokio::task::spawn_blocking(move || compress(format, &raw, &entry_name))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let payload = match compressed {
        Ok(p) => bytes::Bytes::from(p),
        Err(e) => {
            // Compression into memory cannot fail short of a bug; keep the data raw
            // rather than lose it.
            tracing::error!(error = %e, "compression failed; writing uncompressed");
            bytes::Bytes::copy_from_slice(body)
        }
    };
    let path = object_store::path::Path::from(key);
    let result = match svc.buckets.get(&s3.bucket) {
        Ok(store) => store.put(&path, payload.clone().into()).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            svc.metrics.objects_written.get_or_create(labels).inc();
            tracing::debug!(stream = %stream.name, bucket = %s3.bucket, key, bytes = payload.len(), "object written");
            true
        }
        Err(e) => {
            svc.metrics.object_write_errors.get_or_create(labels).inc();
            tracing::warn!(stream = %stream.name, bucket = %s3.bucket, key, error = %e, retry_in_ms = retry_in.as_millis() as u64, "object write failed; retrying");
            false
        }
    }
}

/// One line of a failed-data backup object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDocument<'a> {
    attempts_made: u32,
    arrival_timestamp: u64,
    error_code: &'a str,
    error_message: &'a str,
    attempt_ending_timestamp: u64,
    raw_data: String,
    subsequence_number: u32,
    data_id: String,
}

/// A batch waiting in the backup buffer: its error documents, and its records, which go
/// back to the endpoint if it recovers while the bucket is failing.
struct Parked {
    lines: Vec<u8>,
    records: Vec<Record>,
}

impl Parked {
    fn range(&self) -> (u64, u64) {
        (self.records[0].seq, self.records[self.records.len() - 1].seq + 1)
    }
}

#[derive(Default)]
struct Pending {
    batches: Vec<Parked>,
    bytes: u64,
    since: Option<Instant>,
}

struct Shared {
    svc: Arc<Firehose>,
    stream: Arc<Stream>,
    pending: Mutex<Pending>,
    wake: Notify,
    healthy: watch::Sender<bool>,
}

/// The failed-data backup of an HTTP endpoint stream: buffers error documents per the
/// backup's own buffering hints and finalizes the HTTP consumer's records once they are
/// in the bucket.
pub struct FailedBackup {
    shared: Arc<Shared>,
}

impl FailedBackup {
    /// Starts the backup's flusher for `stream`.
    pub fn spawn(svc: Arc<Firehose>, stream: Arc<Stream>) -> FailedBackup {
        let shared = Arc::new(Shared {
            svc,
            stream,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            healthy: watch::channel(true).0,
        });
        tokio::spawn(flush_loop(shared.clone()));
        FailedBackup { shared }
    }

    /// Adds a batch that exhausted its retries. Waits while the backup is failing (until
    /// the bucket or the endpoint takes what is parked) or already holds twice its size
    /// hint; false if the stream was cancelled meanwhile.
    pub async fn push(&self, batch: Vec<Record>, x: Exhausted) -> bool {
        let s = &self.shared;
        let mut healthy = s.healthy.subscribe();
        loop {
            let cap = s3_of(&s.stream).buffering.size_bytes * 2;
            let room = s.pending.lock().expect("pending poisoned").bytes <= cap;
            if *healthy.borrow_and_update() && room {
                break;
            }
            tokio::select! {
                _ = healthy.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = s.stream.cancel.cancelled() => return false,
            }
        }
        let mut lines = Vec::new();
        for r in &batch {
            let doc = ErrorDocument {
                attempts_made: x.attempts,
                arrival_timestamp: r.arrival_ms,
                error_code: x.failure.code,
                error_message: &x.failure.message,
                attempt_ending_timestamp: x.ending_ms,
                raw_data: base64::engine::general_purpose::STANDARD.encode(&r.data),
                subsequence_number: 0,
                data_id: format!("{}.{}", s.stream.generation.simple(), r.seq),
            };
            serde_json::to_writer(&mut lines, &doc).expect("serializing to memory");
            lines.push(b'\n');
        }
        {
            let mut p = s.pending.lock().expect("pending poisoned");
            p.bytes += lines.len() as u64;
            p.batches.push(Parked { lines, records: batch });
            p.since.get_or_insert_with(Instant::now);
        }
        s.wake.notify_one();
        true
    }
}

fn s3_of(stream: &Stream) -> S3Settings {
    objects_target(&stream.settings.borrow()).0
}

async fn flush_loop(s: Arc<Shared>) {
    loop {
        let (ready, deadline) = {
            let p = s.pending.lock().expect("pending poisoned");
            let hints = s3_of(&s.stream).buffering;
            match p.since {
                None => (false, None),
                Some(since) => {
                    let due = since + hints.interval;
                    (p.bytes >= hints.size_bytes || Instant::now() >= due, Some(due))
                }
            }
        };
        if !ready {
            tokio::select! {
                _ = s.wake.notified() => {}
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {}
                _ = s.stream.cancel.cancelled() => return,
            }
            continue;
        }
        let mut parked = std::mem::take(&mut *s.pending.lock().expect("pending poisoned")).batches;
        let labels = ObjectLabels { stream: s.stream.name.clone(), kind: "failed-data-backup".into() };
        let cfg = &s.svc.config.delivery;
        let mut backoff = cfg.backoff_base;
        // Retries of the same content go to the same key, so a write that failed after
        // all leaves no second copy.
        let mut target: Option<(S3Settings, String)> = None;
        loop {
            let s3 = s3_of(&s.stream);
            let (s3, key) = match target.take() {
                Some((t, key)) if t == s3 => (t, key),
                _ => {
                    let oldest_ms = parked.iter().map(|b| b.records[0].arrival_ms).min().unwrap_or(0);
                    let oldest = Utc.timestamp_millis_opt(oldest_ms as i64).single().unwrap_or_else(Utc::now);
                    let key =
                        object_key(&s3, &s.stream.name, s.stream.version_id(), oldest, Some(HTTP_ENDPOINT_FAILED));
                    (s3, key)
                }
            };
            let body: Vec<u8> = parked.iter().flat_map(|b| b.lines.iter().copied()).collect();
            if write_once(&s.svc, &s.stream, &s3, &key, &body, &labels, backoff).await {
                s.healthy.send_if_modified(|v| !std::mem::replace(v, true));
                for b in &parked {
                    let (first, end) = b.range();
                    s.stream.backlog.finalize(ConsumerId::Http, first, end);
                }
                let records = parked.iter().map(|b| b.records.len() as u64).sum();
                s.svc.metrics.object_records.get_or_create(&labels).inc_by(records);
                break;
            }
            s.healthy.send_if_modified(|v| std::mem::replace(v, false));
            // The bucket is failing too: delivery pauses until either path succeeds, so
            // the parked batches go back to the endpoint, which may have recovered.
            let parked_count = parked.len();
            let mut kept = Vec::new();
            for b in parked {
                let result = tokio::select! {
                    r = crate::delivery::attempt_once(&s.svc, &s.stream, &b.records) => r,
                    _ = s.stream.cancel.cancelled() => return,
                };
                // A 413 is final there too: neither retried nor backed up.
                let delivered = match result {
                    Ok(()) => true,
                    Err(f) => f.permanent,
                };
                if delivered {
                    let (first, end) = b.range();
                    tracing::info!(stream = %s.stream.name, records = b.records.len(), "endpoint took a batch waiting for the failing backup");
                    s.stream.backlog.finalize(ConsumerId::Http, first, end);
                } else {
                    kept.push(b);
                }
            }
            if kept.len() == parked_count {
                target = Some((s3, key));
            }
            parked = kept;
            if parked.is_empty() {
                // Nothing is waiting any more: let delivery go on.
                s.healthy.send_if_modified(|v| !std::mem::replace(v, true));
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = s.stream.cancel.cancelled() => return,
            }
            backoff = (backoff * 2).min(cfg.backoff_max);
        }
    }
}
