//! A stream's records between acknowledgement and delivery.
//!
//! Records get a per-stream sequence number when a Put is accepted. Once durable in the
//! write-ahead log they are published to the stream's [`Backlog`], which every consumer
//! of the stream (HTTP delivery, the all-data backup, an S3 destination) reads at its
//! own cursor. Each consumer *finalizes* ranges of sequence numbers when they no longer
//! need the log: delivered, written to a bucket, or dropped on a permanent error.
//! Ranges may finalize out of order (a failed batch waits in the backup buffer while
//! the next one is delivered), so each consumer has an [`AckTracker`] whose watermark
//! is the first sequence number not yet finalized. The watermarks are what checkpoints
//! persist and what write-ahead log garbage collection and replay start from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

use crate::wal::Entry;

/// The watermark of finalized sequence numbers, with out-of-order completions above it.
#[derive(Debug, Clone)]
pub struct AckTracker {
    watermark: u64,
    done: BTreeMap<u64, u64>,
}

impl AckTracker {
    /// A tracker whose records below `watermark` are already finalized.
    pub fn new(watermark: u64) -> Self {
        AckTracker { watermark, done: BTreeMap::new() }
    }

    /// The first sequence number not yet finalized.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// Marks `[start, end)` finalized; returns whether the watermark moved.
    pub fn finalize(&mut self, start: u64, end: u64) -> bool {
        if end <= self.watermark || start >= end {
            return false;
        }
        let start = start.max(self.watermark);
        self.done.insert(start, end.max(self.done.get(&start).copied().unwrap_or(0)));
        let before = self.watermark;
        while let Some((&s, &e)) = self.done.first_key_value() {
            if s > self.watermark {
                break;
            }
            self.watermark = self.watermark.max(e);
            self.done.pop_first();
        }
        self.watermark != before
    }
}

/// A record as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Sequence number in the stream.
    pub seq: u64,
    /// When its Put arrived (ms since epoch).
    pub arrival_ms: u64,
    /// The data.
    pub data: Bytes,
}

/// The consumers a stream can have; each has its own cursor and watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsumerId {
    /// HTTP endpoint delivery (finalizes on success, 413, or once backed up).
    Http,
    /// Objects to a bucket: the all-data backup of an HTTP endpoint stream, or the
    /// ExtendedS3 destination itself.
    Objects,
}

impl ConsumerId {
    /// Name used in checkpoints and metrics.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerId::Http => "http",
            ConsumerId::Objects => "objects",
        }
    }

    /// Parses [`ConsumerId::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(ConsumerId::Http),
            "objects" => Some(ConsumerId::Objects),
            _ => None,
        }
    }
}

/// A published entry with the byte count of everything published before it, so that
/// "how much is waiting after this cursor" costs a binary search, not a scan.
struct Slot {
    entry: Entry,
    bytes_before: u64,
}

struct Inner {
    entries: VecDeque<Slot>,
    trackers: BTreeMap<ConsumerId, AckTracker>,
    /// Bytes held in `entries`.
    bytes: u64,
    /// Bytes ever published (the `bytes_before` of the next slot).
    published_bytes: u64,
}

impl Inner {
    /// Index of the slot holding `cursor` (or the first after it).
    fn slot_of(&self, cursor: u64) -> usize {
        self.entries.partition_point(|s| s.entry.end_seq() <= cursor)
    }

    fn low_watermark(&self) -> u64 {
        self.trackers.values().map(AckTracker::watermark).min().unwrap_or(0)
    }
}

/// Acknowledged records of one stream that some consumer still needs.
pub struct Backlog {
    inner: Mutex<Inner>,
    /// One past the last published sequence number: consumers wait on it.
    published: watch::Sender<u64>,
    /// Bytes accepted (including those on their way to disk) and not yet trimmed.
    reserved: AtomicU64,
    /// Watermark changes, for the checkpoint writer.
    dirty: AtomicU64,
}

impl Backlog {
    /// A backlog whose consumers start at the given watermarks; `next_seq` is the first
    /// sequence number not yet assigned.
    pub fn new(consumers: &[(ConsumerId, u64)], next_seq: u64) -> Self {
        let trackers = consumers.iter().map(|&(c, w)| (c, AckTracker::new(w))).collect();
        Backlog {
            inner: Mutex::new(Inner { entries: VecDeque::new(), trackers, bytes: 0, published_bytes: 0 }),
            published: watch::channel(next_seq).0,
            reserved: AtomicU64::new(0),
            dirty: AtomicU64::new(0),
        }
    }

    /// Reserves room for `bytes` of new records, unless the backlog is over `limit`.
    pub fn try_reserve(&self, bytes: u64, limit: u64) -> bool {
        let mut current = self.reserved.load(Ordering::Relaxed);
        loop {
            if current > 0 && current + bytes > limit {
                return false;
            }
            match self.reserved.compare_exchange_weak(current, current + bytes, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Gives back a reservation whose records were not accepted after all.
    pub fn release(&self, bytes: u64) {
        self.reserved.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Adds a durable entry (called in sequence order). Records below the lowest
    /// watermark (already finalized before a restart) are skipped.
    pub fn publish(&self, entry: Entry) {
        let end = entry.end_seq();
        {
            let mut inner = self.inner.lock().expect("backlog poisoned");
            let low = inner.low_watermark();
            if end > low {
                let bytes = entry.records.iter().map(|r| r.len() as u64).sum::<u64>();
                let bytes_before = inner.published_bytes;
                inner.bytes += bytes;
                inner.published_bytes += bytes;
                inner.entries.push_back(Slot { entry, bytes_before });
            }
        }
        self.published.send_if_modified(|p| {
            let moved = end > *p;
            *p = (*p).max(end);
            moved
        });
    }

    /// Marks a publish position without records (recovery of a stream whose records
    /// were all finalized).
    pub fn advance_published(&self, end: u64) {
        self.published.send_if_modified(|p| {
            let moved = end > *p;
            *p = (*p).max(end);
            moved
        });
    }

    /// Waits-on handle for new records.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// One past the last published sequence number.
    pub fn published_end(&self) -> u64 {
        *self.published.borrow()
    }

    /// Records from `cursor` on, at most `max_records` and stopping before `max_bytes`
    /// would be exceeded (but always at least one record when any is there).
    pub fn read(&self, cursor: u64, max_bytes: u64, max_records: usize) -> Vec<Record> {
        let inner = self.inner.lock().expect("backlog poisoned");
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let start = inner.slot_of(cursor);
        for e in inner.entries.iter().skip(start).map(|s| &s.entry) {
            for (i, data) in e.records.iter().enumerate() {
                let seq = e.first_seq + i as u64;
                if seq < cursor {
                    continue;
                }
                if out.len() >= max_records || (!out.is_empty() && bytes + data.len() as u64 > max_bytes) {
                    return out;
                }
                bytes += data.len() as u64;
                out.push(Record { seq, arrival_ms: e.arrival_ms, data: data.clone() });
            }
        }
        out
    }

    /// How much is readable from `cursor`: (bytes, records, oldest arrival ms).
    pub fn available(&self, cursor: u64) -> (u64, u64, Option<u64>) {
        let inner = self.inner.lock().expect("backlog poisoned");
        let Some(slot) = inner.entries.get(inner.slot_of(cursor)) else {
            return (0, 0, None);
        };
        let e = &slot.entry;
        let skipped = cursor.saturating_sub(e.first_seq) as usize;
        let before: u64 = e.records[..skipped].iter().map(|r| r.len() as u64).sum();
        let last = inner.entries.back().expect("non-empty").entry.end_seq();
        let from = cursor.max(e.first_seq);
        (inner.published_bytes - slot.bytes_before - before, last - from, Some(e.arrival_ms))
    }

    /// Finalizes `[start, end)` for `consumer`; trims what no consumer needs any more.
    pub fn finalize(&self, consumer: ConsumerId, start: u64, end: u64) {
        let mut inner = self.inner.lock().expect("backlog poisoned");
        let moved = inner.trackers.get_mut(&consumer).is_some_and(|t| t.finalize(start, end));
        if !moved {
            return;
        }
        self.dirty.fetch_add(1, Ordering::Relaxed);
        let low = inner.low_watermark();
        let mut freed = 0u64;
        while inner.entries.front().is_some_and(|s| s.entry.end_seq() <= low) {
            let s = inner.entries.pop_front().expect("checked");
            freed += s.entry.records.iter().map(|r| r.len() as u64).sum::<u64>();
        }
        inner.bytes -= freed;
        drop(inner);
        self.release(freed);
    }

    /// The consumers' watermarks.
    pub fn watermarks(&self) -> Vec<(ConsumerId, u64)> {
        let inner = self.inner.lock().expect("backlog poisoned");
        inner.trackers.iter().map(|(&c, t)| (c, t.watermark())).collect()
    }

    /// The lowest watermark: everything below it is done with the log.
    pub fn low_watermark(&self) -> u64 {
        self.inner.lock().expect("backlog poisoned").low_watermark()
    }

    /// A counter that changes whenever a watermark moves.
    pub fn change_count(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Records and bytes held.
    pub fn size(&self) -> (u64, u64) {
        let inner = self.inner.lock().expect("backlog poisoned");
        let low = inner.low_watermark();
        let end = inner.entries.back().map_or(low, |s| s.entry.end_seq());
        (end.saturating_sub(low), inner.bytes)
    }

    /// Charges recovered records to the reservation, so the backlog limit counts them.
    pub fn reserve_recovered(&self) {
        let inner = self.inner.lock().expect("backlog poisoned");
        self.reserved.fetch_add(inner.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn entry(first_seq: u64, n: usize) -> Entry {
        Entry {
            generation: Uuid::nil(),
            first_seq,
            arrival_ms: 1000 + first_seq,
            meta: Bytes::new(),
            records: (0..n).map(|i| Bytes::from(format!("r{}", first_seq + i as u64))).collect(),
        }
    }

    #[test]
    fn tracker_handles_out_of_order() {
        let mut t = AckTracker::new(0);
        assert!(!t.finalize(5, 10));
        assert_eq!(t.watermark(), 0);
        assert!(t.finalize(0, 5));
        assert_eq!(t.watermark(), 10);
        assert!(!t.finalize(3, 8));
        assert!(!t.finalize(12, 15));
        assert!(t.finalize(10, 12));
        assert_eq!(t.watermark(), 15);
    }

    #[test]
    fn read_respects_cursor_and_limits() {
        let b = Backlog::new(&[(ConsumerId::Http, 0)], 0);
        b.publish(entry(0, 3));
        b.publish(entry(3, 2));
        let r = b.read(1, 1000, 3);
        assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(r[2].arrival_ms, 1003);
        let r = b.read(0, 4, 100);
        assert_eq!(r.len(), 2, "two 2-byte records fit in 4 bytes");
        assert_eq!(b.available(2), (6, 3, Some(1000)));
        assert_eq!(b.published_end(), 5);
    }

    #[test]
    fn trims_only_when_every_consumer_is_done() {
        let b = Backlog::new(&[(ConsumerId::Http, 0), (ConsumerId::Objects, 0)], 0);
        assert!(b.try_reserve(10, 100));
        b.publish(entry(0, 5));
        b.finalize(ConsumerId::Http, 0, 5);
        assert_eq!(b.size().0, 5);
        b.finalize(ConsumerId::Objects, 0, 5);
        assert_eq!(b.size(), (0, 0));
        assert_eq!(b.low_watermark(), 5);
    }

    #[test]
    fn reservations_bound_the_backlog() {
        let b = Backlog::new(&[(ConsumerId::Http, 0)], 0);
        assert!(b.try_reserve(60, 100));
        assert!(!b.try_reserve(60, 100));
        b.release(60);
        assert!(b.try_reserve(60, 100));
        // A single Put larger than the limit is still taken when nothing is pending,
        // or a stream with a small limit could never accept a maximal batch.
        let b = Backlog::new(&[(ConsumerId::Http, 0)], 0);
        assert!(b.try_reserve(500, 100));
    }

    #[test]
    fn publish_skips_finalized_records_on_replay() {
        let b = Backlog::new(&[(ConsumerId::Http, 4)], 0);
        b.publish(entry(0, 3));
        assert_eq!(b.size().0, 0);
        b.publish(entry(3, 3));
        let r = b.read(4, 100, 100);
        assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
    }
}
