//! PutRecordBatch batches, simple aggregation, and the per-chunk bookkeeping that decides
//! when a chunk's ack may complete.
//!
//! Limits are Firehose's: 500 records and 4,194,304 bytes per call. The byte count is
//! Fluent Bit's estimate of the request body (`firehose_api.h`): 46 bytes plus the stream
//! name, plus each record's base64 length and 12 bytes of JSON around it. Counting the
//! base64 body rather than the raw data keeps every call under the limit whichever of the two
//! the service measures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hydrant_flb::Ack;

use crate::record_data::MAX_RECORD_BYTES;

/// Most records in one PutRecordBatch.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Most bytes of request body in one PutRecordBatch.
pub const MAX_BATCH_PAYLOAD: usize = 4_194_304;
/// `{"DeliveryStreamName":"` + `","Records":[` + `]}` and slack, as Fluent Bit counts them.
const PAYLOAD_HEADER: usize = 42 + 4;
/// `{"Data":"` + `"}` + `,` per record.
const PAYLOAD_PER_RECORD: usize = 12;

/// Length of the base64 text of `n` bytes.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Identifies a chunk in the [`AckTracker`].
pub type ChunkId = u64;

/// The log records of chunks that one Firehose record carries: `(chunk, count)` pairs (one
/// pair, count 1, without aggregation).
pub type Owners = Vec<(ChunkId, u32)>;

/// One Firehose record ready to send.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The Data (compressed when asked).
    pub data: Vec<u8>,
    /// Whose records it carries.
    pub owners: Owners,
}

impl Entry {
    /// How many log records it carries.
    pub fn records(&self) -> u64 {
        self.owners.iter().map(|(_, n)| u64::from(*n)).sum()
    }

    fn cost(&self) -> usize {
        base64_len(self.data.len()) + PAYLOAD_PER_RECORD
    }
}

/// Accumulates entries into batches that respect Firehose's limits.
#[derive(Debug)]
pub struct Batcher {
    entries: Vec<Entry>,
    payload: usize,
    header: usize,
}

impl Batcher {
    /// A batcher for `stream`.
    pub fn new(stream: &str) -> Self {
        let header = PAYLOAD_HEADER + stream.len();
        Batcher { entries: Vec::new(), payload: header, header }
    }

    /// Add `entry`; returns a batch when one is full (the entry that did not fit starts the
    /// next one).
    pub fn push(&mut self, entry: Entry) -> Option<Vec<Entry>> {
        let mut full = None;
        if !self.entries.is_empty() && self.payload + entry.cost() > MAX_BATCH_PAYLOAD {
            full = self.take();
        }
        self.payload += entry.cost();
        self.entries.push(entry);
        if self.entries.len() == MAX_BATCH_RECORDS {
            debug_assert!(full.is_none(), "a batch overflowing on bytes leaves one entry behind");
            full = self.take();
        }
        full
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The batch so far, if any.
    pub fn take(&mut self) -> Option<Vec<Entry>> {
        if self.entries.is_empty() {
            return None;
        }
        self.payload = self.header;
        Some(std::mem::take(&mut self.entries))
    }
}

/// `simple_aggregation`: newline-terminated records packed into Firehose records of up to
/// 1,024,000 bytes.
///
/// Fluent Bit also appends one more newline to each aggregate and sends every aggregate in a
/// PutRecordBatch of its own; Hydrant does neither (the extra newline is an empty line for
/// every consumer that splits on newlines), and batches aggregates like any record.
#[derive(Debug, Default)]
pub struct Aggregator {
    data: Vec<u8>,
    owners: Owners,
}

impl Aggregator {
    /// Add one record's Data (uncompressed, newline-terminated) of chunk `owner`; returns the
    /// finished aggregate when this record did not fit in it.
    pub fn push(&mut self, record: &[u8], owner: ChunkId) -> Option<(Vec<u8>, Owners)> {
        let mut done = None;
        if !self.data.is_empty() && self.data.len() + record.len() > MAX_RECORD_BYTES {
            done = self.take();
        }
        self.data.extend_from_slice(record);
        match self.owners.last_mut() {
            Some((id, n)) if *id == owner => *n += 1,
            _ => self.owners.push((owner, 1)),
        }
        done
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The aggregate so far, if any.
    pub fn take(&mut self) -> Option<(Vec<u8>, Owners)> {
        if self.data.is_empty() {
            return None;
        }
        Some((std::mem::take(&mut self.data), std::mem::take(&mut self.owners)))
    }
}

struct Pending {
    remaining: u64,
    ack: Ack,
}

/// Chunks whose records are in flight, with how many remain; a chunk's ack completes when
/// its last record is delivered or deliberately dropped (and counted). Dropping the tracker
/// (shutdown before delivery) drops the remaining acks uncompleted, which marks their spans
/// abandoned: the input reads them again after a restart.
#[derive(Default)]
pub struct AckTracker {
    next: AtomicU64,
    pending: Mutex<HashMap<ChunkId, Pending>>,
}

impl AckTracker {
    /// A tracker with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Track a chunk of which `records` records are on their way; completes `ack` at once
    /// when there are none. Returns the chunk's id for [`Entry::owners`].
    pub fn register(&self, ack: Ack, records: u64) -> ChunkId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if records == 0 {
            ack.complete();
        } else {
            self.pending.lock().expect("ack tracker poisoned").insert(id, Pending { remaining: records, ack });
        }
        id
    }

    /// Records of these owners are settled (delivered, or dropped and counted).
    pub fn settle<'a>(&self, owners: impl IntoIterator<Item = &'a (ChunkId, u32)>) {
        let mut done = Vec::new();
        {
            let mut pending = self.pending.lock().expect("ack tracker poisoned");
            for (id, n) in owners {
                if let Some(p) = pending.get_mut(id) {
                    p.remaining = p.remaining.saturating_sub(u64::from(*n));
                    if p.remaining == 0 {
                        done.push(pending.remove(id).expect("present").ack);
                    }
                }
            }
        }
        // Completing runs the input's callback: outside the lock.
        for ack in done {
            ack.complete();
        }
    }

    /// Chunks still waiting for records.
    pub fn pending(&self) -> usize {
        self.pending.lock().expect("ack tracker poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: usize) -> Entry {
        Entry { data: vec![b'x'; len], owners: vec![(0, 1)] }
    }

    #[test]
    fn five_hundred_records_make_a_batch() {
        let mut b = Batcher::new("s");
        for _ in 0..499 {
            assert!(b.push(entry(10)).is_none());
        }
        assert_eq!(b.push(entry(10)).unwrap().len(), 500);
        assert!(b.is_empty());
        assert!(b.push(entry(10)).is_none());
        assert_eq!(b.take().unwrap().len(), 1);
    }

    #[test]
    fn payload_limit_counts_base64_and_framing() {
        // A stream name of 230 bytes makes the header 276; one record of 3,145,500 bytes
        // (4,194,000 in base64, 4,194,012 with framing) and one of 3 bytes (16) then fill
        // the 4,194,304 bytes exactly.
        let stream = "s".repeat(230);
        let mut b = Batcher::new(&stream);
        assert!(b.push(entry(3_145_500)).is_none());
        assert_eq!(46 + 230 + base64_len(3_145_500) + 12 + 16, MAX_BATCH_PAYLOAD);
        assert!(b.push(entry(3)).is_none(), "exactly at the limit still fits");
        let full = b.push(entry(1)).expect("over the limit: the batch goes");
        assert_eq!(full.len(), 2);
        assert_eq!(b.take().unwrap().len(), 1);
    }

    #[test]
    fn aggregation_packs_up_to_the_record_limit() {
        let mut a = Aggregator::default();
        let rec = vec![b'a'; 1000];
        let mut aggregates = Vec::new();
        for i in 0..2100u64 {
            if let Some(done) = a.push(&rec, i / 1000) {
                aggregates.push(done);
            }
        }
        aggregates.extend(a.take());
        let sizes: Vec<usize> = aggregates.iter().map(|(d, _)| d.len()).collect();
        assert_eq!(sizes, vec![1_024_000, 1_024_000, 52_000]);
        assert_eq!(aggregates[0].1, vec![(0, 1000), (1, 24)]);
        assert_eq!(aggregates[1].1, vec![(1, 976), (2, 48)]);
        assert_eq!(aggregates[2].1, vec![(2, 52)]);
    }

    #[test]
    fn acks_complete_when_every_record_settles() {
        use hydrant_flb::AckOutcome;
        let (tx, rx) = std::sync::mpsc::channel();
        let tracker = AckTracker::new();
        let id = tracker.register(Ack::new(move |o| tx.send(o).unwrap()), 3);
        tracker.settle(&[(id, 2)]);
        assert!(rx.try_recv().is_err());
        tracker.settle(&[(id, 1)]);
        assert_eq!(rx.try_recv().unwrap(), AckOutcome::Delivered);

        let (tx, rx) = std::sync::mpsc::channel();
        let tracker = AckTracker::new();
        tracker.register(Ack::new(move |o| tx.send(o).unwrap()), 1);
        drop(tracker);
        assert_eq!(rx.try_recv().unwrap(), AckOutcome::Abandoned);
    }
}
