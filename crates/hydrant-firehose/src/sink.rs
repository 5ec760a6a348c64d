//! Writing records to buckets: the ExtendedS3 destination, the all-data backup of an
//! HTTP endpoint stream (the same thing: raw records concatenated into objects), and the
//! failed-data backup (one JSON error document per line under `http-endpoint-failed/`).
//!
//! Object writes are retried until they succeed: a backup that cannot be written pauses
//! delivery (through [`FailedBackup::push`]) rather than dropping anything.

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
        if !write_object(&svc, &stream, &s3, &key, &body, &labels, None).await {
            return;
        }
        stream.backlog.finalize(ConsumerId::Objects, first, end);
        svc.metrics.object_records.get_or_create(&labels).inc_by(batch.len() as u64);
        cursor = end;
    }
}

/// Compresses and writes one object, retrying with back-off until it is written.
/// Returns false if the stream was cancelled first. `healthy` is set false while
/// writes fail and true again after a success.
async fn write_object(
    svc: &Firehose,
    stream: &Stream,
    s3: &S3Settings,
    key: &str,
    body: &[u8],
    labels: &ObjectLabels,
    healthy: Option<&watch::Sender<bool>>,
) -> bool {
    let entry_name = key.rsplit('/').next().unwrap_or(key).trim_end_matches(".zip");
    let payload = match compress(s3.compression, body, entry_name) {
        Ok(p) => bytes::Bytes::from(p),
        Err(e) => {
            // Compression into memory cannot fail short of a bug; keep the data raw
            // rather than lose it.
            tracing::error!(error = %e, "compression failed; writing uncompressed");
            bytes::Bytes::copy_from_slice(body)
        }
    };
    let path = object_store::path::Path::from(key);
    let cfg = &svc.config.delivery;
    let mut backoff = cfg.backoff_base;
    loop {
        let result = match svc.buckets.get(&s3.bucket) {
            Ok(store) => store.put(&path, payload.clone().into()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if let Some(h) = healthy {
                    h.send_if_modified(|v| !std::mem::replace(v, true));
                }
                svc.metrics.objects_written.get_or_create(labels).inc();
                tracing::debug!(stream = %stream.name, bucket = %s3.bucket, key, bytes = payload.len(), "object written");
                return true;
            }
            Err(e) => {
                if let Some(h) = healthy {
                    h.send_if_modified(|v| std::mem::replace(v, false));
                }
                svc.metrics.object_write_errors.get_or_create(labels).inc();
                tracing::warn!(stream = %stream.name, bucket = %s3.bucket, key, error = %e, retry_in_ms = backoff.as_millis() as u64, "object write failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stream.cancel.cancelled() => return false,
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
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

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    ranges: Vec<(u64, u64)>,
    records: u64,
    oldest_arrival_ms: Option<u64>,
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

    /// Adds a batch that exhausted its retries. Waits while the backup is failing or
    /// already holds twice its size hint; false if the stream was cancelled meanwhile.
    pub async fn push(&self, batch: Vec<Record>, x: Exhausted) -> bool {
        let s = &self.shared;
        let mut healthy = s.healthy.subscribe();
        loop {
            let cap = s3_of(&s.stream).buffering.size_bytes * 2;
            let room = s.pending.lock().expect("pending poisoned").lines.len() as u64 <= cap;
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
            p.lines.extend_from_slice(&lines);
            p.ranges.push((batch[0].seq, batch[batch.len() - 1].seq + 1));
            p.records += batch.len() as u64;
            p.oldest_arrival_ms = Some(p.oldest_arrival_ms.map_or(batch[0].arrival_ms, |o| o.min(batch[0].arrival_ms)));
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
                    (p.lines.len() as u64 >= hints.size_bytes || Instant::now() >= due, Some(due))
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
        let taken = std::mem::take(&mut *s.pending.lock().expect("pending poisoned"));
        let s3 = s3_of(&s.stream);
        let oldest =
            Utc.timestamp_millis_opt(taken.oldest_arrival_ms.unwrap_or(0) as i64).single().unwrap_or_else(Utc::now);
        let key = object_key(&s3, &s.stream.name, s.stream.version_id(), oldest, Some(HTTP_ENDPOINT_FAILED));
        let labels = ObjectLabels { stream: s.stream.name.clone(), kind: "failed-data-backup".into() };
        if !write_object(&s.svc, &s.stream, &s3, &key, &taken.lines, &labels, Some(&s.healthy)).await {
            return;
        }
        for (first, end) in &taken.ranges {
            s.stream.backlog.finalize(ConsumerId::Http, *first, *end);
        }
        s.svc.metrics.object_records.get_or_create(&labels).inc_by(taken.records);
    }
}
