//! The write-ahead log: where records become durable before they are acknowledged
//! (a Firehose Put, an intake batch).
//!
//! One log serves every stream of a service, so that concurrent writers share fsyncs
//! (group commit):
//! a dedicated thread takes every frame waiting in its queue, writes them with one
//! `write`, makes them durable with one `fdatasync`, hands each frame's records to its
//! stream and only then acknowledges the Puts. The log is a directory of segment files
//! named by sequence number; a segment is deleted once every stream that has records in
//! it has checkpointed past them (see [`Wal::collect_garbage`]).
//!
//! Frame layout (little-endian):
//!
//! ```text
//! u32 length of the rest | u32 crc32 of the body | body:
//!   u8 version (1) | [u8; 16] stream generation | u64 first sequence number |
//!   u64 arrival time (ms since epoch) | u32 record count |
//!   u16 meta length | meta | (u32 length, bytes) * count
//! ```
//!
//! `meta` is the writer's own per-entry data (the intake keeps the Firehose request id
//! there, so that deduplication survives a restart); empty for most entries.
//!
//! ```text
//! ```
//!
//! A torn or corrupt tail (power loss mid-write) is detected by length and CRC on
//! recovery and cut off: it was never acknowledged.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;
#[cfg(test)]
use tokio::sync::oneshot;
use uuid::Uuid;

const VERSION: u8 = 1;
const FRAME_HEADER: usize = 8;
const BODY_HEADER: usize = 1 + 16 + 8 + 8 + 4 + 2;
/// Longest `meta` an entry can carry.
pub const MAX_META: usize = u16::MAX as usize;
/// Frames are taken from the queue until this many bytes are gathered for one write.
const MAX_GROUP_BYTES: usize = 32 << 20;

/// A frame being built by a Put handler: records are decoded straight into it, so the
/// bytes the log writes are the bytes the stream later delivers (no second copy).
pub struct FrameBuilder {
    buf: BytesMut,
    offsets: Vec<(usize, usize)>,
}

impl FrameBuilder {
    /// A frame for records of `generation`, expected to hold about `capacity` bytes.
    pub fn new(generation: Uuid, arrival_ms: u64, capacity: usize) -> Self {
        Self::with_meta(generation, arrival_ms, &[], capacity)
    }

    /// A frame carrying `meta` (at most [`MAX_META`] bytes; longer is cut).
    pub fn with_meta(generation: Uuid, arrival_ms: u64, meta: &[u8], capacity: usize) -> Self {
        let meta = &meta[..meta.len().min(MAX_META)];
        let mut buf = BytesMut::with_capacity(FRAME_HEADER + BODY_HEADER + meta.len() + capacity);
        buf.put_u32_le(0); // length, patched in `finish`
        buf.put_u32_le(0); // crc, patched in `seal`
        buf.put_u8(VERSION);
        buf.put_slice(generation.as_bytes());
        buf.put_u64_le(0); // first sequence number, patched in `seal`
        buf.put_u64_le(arrival_ms);
        buf.put_u32_le(0); // count, patched in `finish`
        buf.put_u16_le(meta.len() as u16);
        buf.put_slice(meta);
        FrameBuilder { buf, offsets: Vec::new() }
    }

    /// Appends one record, produced by `write` into the frame's buffer. `write` returns
    /// false to reject the record (nothing of it stays in the frame).
    pub fn push_with(&mut self, write: impl FnOnce(&mut BytesMut) -> bool) -> bool {
        let len_at = self.buf.len();
        self.buf.put_u32_le(0);
        let start = self.buf.len();
        if !write(&mut self.buf) {
            self.buf.truncate(len_at);
            return false;
        }
        let len = self.buf.len() - start;
        self.buf[len_at..start].copy_from_slice(&(len as u32).to_le_bytes());
        self.offsets.push((start, len));
        true
    }

    /// Appends one record.
    pub fn push(&mut self, record: &[u8]) {
        self.push_with(|b| {
            b.put_slice(record);
            true
        });
    }

    /// Bytes of record data in the frame.
    pub fn data_bytes(&self) -> usize {
        self.offsets.iter().map(|&(_, l)| l).sum()
    }

    /// Number of records in the frame.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// True when the frame has no records.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Completes everything but the sequence number (which must be assigned in log
    /// order, under the stream's lock: see [`UnsealedFrame::seal`]).
    pub fn finish(mut self) -> UnsealedFrame {
        let total = self.buf.len() - FRAME_HEADER;
        self.buf[0..4].copy_from_slice(&(total as u32).to_le_bytes());
        let count_at = FRAME_HEADER + 1 + 16 + 8 + 8;
        self.buf[count_at..count_at + 4].copy_from_slice(&(self.offsets.len() as u32).to_le_bytes());
        // The CRC of everything after the sequence number is computed here, outside the
        // stream's lock; `seal` combines it with the CRC of the few header bytes.
        let mut tail = crc32fast::Hasher::new();
        tail.update(&self.buf[FRAME_HEADER + 1 + 16 + 8..]);
        UnsealedFrame { buf: self.buf, offsets: self.offsets, tail_crc: tail }
    }
}

/// A frame that only lacks its first sequence number.
pub struct UnsealedFrame {
    buf: BytesMut,
    offsets: Vec<(usize, usize)>,
    tail_crc: crc32fast::Hasher,
}

impl UnsealedFrame {
    /// Sets the first sequence number and the CRC; the frame is ready for the log.
    pub fn seal(mut self, first_seq: u64) -> Frame {
        let seq_at = FRAME_HEADER + 1 + 16;
        self.buf[seq_at..seq_at + 8].copy_from_slice(&first_seq.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.buf[FRAME_HEADER..seq_at + 8]);
        crc.combine(&self.tail_crc);
        self.buf[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        let bytes = self.buf.freeze();
        let records = self.offsets.iter().map(|&(s, l)| bytes.slice(s..s + l)).collect();
        let arrival_at = FRAME_HEADER + 1 + 16 + 8;
        let arrival_ms = u64::from_le_bytes(bytes[arrival_at..arrival_at + 8].try_into().expect("8 bytes"));
        let generation = Uuid::from_slice(&bytes[FRAME_HEADER + 1..FRAME_HEADER + 17]).expect("16 bytes");
        let meta_at = FRAME_HEADER + BODY_HEADER;
        let meta_len = u16::from_le_bytes(bytes[meta_at - 2..meta_at].try_into().expect("2 bytes")) as usize;
        let meta = bytes.slice(meta_at..meta_at + meta_len);
        Frame { bytes, entry: Entry { generation, first_seq, arrival_ms, meta, records } }
    }
}

/// A sealed frame: its encoded bytes and the entry they hold.
pub struct Frame {
    bytes: Bytes,
    /// The decoded view of the frame (record slices share the frame's buffer).
    pub entry: Entry,
}

/// One log entry: consecutive records of one stream that arrived in one Put.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The stream incarnation (a re-created stream of the same name has a new one).
    pub generation: Uuid,
    /// Sequence number of the first record, in the stream's own numbering.
    pub first_seq: u64,
    /// When the Put arrived.
    pub arrival_ms: u64,
    /// The writer's per-entry data (see the module docs).
    pub meta: Bytes,
    /// The records' data.
    pub records: Vec<Bytes>,
}

impl Entry {
    /// One past the last record's sequence number.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }
}

/// What the log thread calls, in log order, once a frame is durable.
pub type OnDurable = Box<dyn FnOnce(Result<Entry, Arc<std::io::Error>>) + Send>;

struct Append {
    frame: Frame,
    on_durable: OnDurable,
}

/// Per segment: for each stream generation, one past the last sequence number in it.
#[derive(Debug, Default, Clone)]
struct SegmentInfo {
    id: u64,
    ends: HashMap<Uuid, u64>,
}

/// Observations of the log thread, for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalStats {
    /// fsyncs performed.
    pub syncs: u64,
    /// Frames written.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Total time spent in fdatasync, in microseconds.
    pub sync_micros: u64,
}

/// Handle to the write-ahead log.
pub struct Wal {
    tx: mpsc::UnboundedSender<Append>,
    dir: PathBuf,
    segments: Arc<Mutex<Vec<SegmentInfo>>>,
    stats: Arc<Mutex<WalStats>>,
}

impl Wal {
    /// Opens the log in `dir`, returning every entry that survived (in log order) and
    /// starting the log thread on a fresh segment.
    /// `on_sync` observes each group commit's fsync duration (for metrics).
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        fsync: bool,
        on_sync: Option<SyncObserver>,
    ) -> std::io::Result<(Wal, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        let mut ids = segment_ids(dir)?;
        ids.sort_unstable();
        let mut entries = Vec::new();
        let mut segments = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let path = segment_path(dir, id);
            let (found, valid_len, total_len) = read_segment(&path)?;
            if valid_len < total_len {
                // Only the newest segment can have a torn tail from a crash; anything
                // else is corruption, which we report and cut the same way, since the
                // frames after it cannot be trusted.
                if i + 1 != ids.len() {
                    tracing::error!(segment = %path.display(), valid_len, total_len, "corrupt frame inside write-ahead log segment; truncating");
                } else {
                    tracing::warn!(segment = %path.display(), valid_len, total_len, "torn tail in write-ahead log; truncating");
                }
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(valid_len)?;
                f.sync_all()?;
            }
            let mut info = SegmentInfo { id, ends: HashMap::new() };
            for e in &found {
                let end = info.ends.entry(e.generation).or_insert(0);
                *end = (*end).max(e.end_seq());
            }
            segments.push(info);
            entries.extend(found);
        }
        let next_id = ids.last().map_or(1, |id| id + 1);
        let segments = Arc::new(Mutex::new(segments));
        let stats = Arc::new(Mutex::new(WalStats::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            dir: dir.to_path_buf(),
            file: None,
            id: next_id,
            written: 0,
            segment_bytes,
            fsync,
            segments: segments.clone(),
            stats: stats.clone(),
            failed: None,
            on_sync,
        };
        std::thread::Builder::new().name("hydrant-wal".into()).spawn(move || writer.run(rx))?;
        Ok((Wal { tx, dir: dir.to_path_buf(), segments, stats }, entries))
    }

    /// Queues a frame; `on_durable` runs on the log thread once it is on disk (or the
    /// write failed). Callers queue frames of one stream in sequence-number order.
    pub fn append(&self, frame: Frame, on_durable: OnDurable) {
        if let Err(mpsc::error::SendError(a)) = self.tx.send(Append { frame, on_durable }) {
            (a.on_durable)(Err(Arc::new(std::io::Error::other("write-ahead log is closed"))));
        }
    }

    /// Deletes closed segments in which every stream's records are done: `done(gen, end)`
    /// says whether all records of `gen` below `end` no longer need the log.
    pub fn collect_garbage(&self, done: impl Fn(&Uuid, u64) -> bool) -> std::io::Result<usize> {
        let doomed: Vec<u64> = {
            let segments = self.segments.lock().expect("segments poisoned");
            // The last entry is the segment being written (or will be): never deleted.
            let closed = segments.len().saturating_sub(1);
            segments[..closed].iter().filter(|s| s.ends.iter().all(|(g, &end)| done(g, end))).map(|s| s.id).collect()
        };
        for id in &doomed {
            match std::fs::remove_file(segment_path(&self.dir, *id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if !doomed.is_empty() {
            self.segments.lock().expect("segments poisoned").retain(|s| !doomed.contains(&s.id));
        }
        Ok(doomed.len())
    }

    /// Segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.lock().expect("segments poisoned").len()
    }

    /// What the log thread has done so far.
    pub fn stats(&self) -> WalStats {
        *self.stats.lock().expect("stats poisoned")
    }
}

struct Writer {
    dir: PathBuf,
    file: Option<File>,
    id: u64,
    written: u64,
    segment_bytes: u64,
    fsync: bool,
    segments: Arc<Mutex<Vec<SegmentInfo>>>,
    stats: Arc<Mutex<WalStats>>,
    failed: Option<Arc<std::io::Error>>,
    on_sync: Option<SyncObserver>,
}

/// Observer of group commit fsync durations.
pub type SyncObserver = Box<dyn Fn(std::time::Duration) + Send>;

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Append>) {
        let mut group: Vec<Append> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut bytes = first.frame.bytes.len();
            group.push(first);
            while bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(a) => {
                        bytes += a.frame.bytes.len();
                        group.push(a);
                    }
                    Err(_) => break,
                }
            }
            let result = self.write_group(&group);
            for a in group.drain(..) {
                match &result {
                    Ok(()) => (a.on_durable)(Ok(a.frame.entry)),
                    Err(e) => (a.on_durable)(Err(e.clone())),
                }
            }
        }
    }

    fn write_group(&mut self, group: &[Append]) -> Result<(), Arc<std::io::Error>> {
        // After a failed write or fsync the file's state is unknown (a failed fsync may
        // have dropped dirty pages): refuse everything rather than acknowledge on top.
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.try_write_group(group);
        if let Err(e) = &result {
            tracing::error!(error = %e, "write-ahead log write failed; refusing further writes");
            self.failed = Some(Arc::new(std::io::Error::new(e.kind(), e.to_string())));
        }
        result.map_err(Arc::new)
    }

    fn try_write_group(&mut self, group: &[Append]) -> std::io::Result<()> {
        if self.file.is_none() || self.written >= self.segment_bytes {
            self.roll()?;
        }
        let file = self.file.as_mut().expect("segment open");
        let mut bytes = 0u64;
        for a in group {
            file.write_all(&a.frame.bytes)?;
            bytes += a.frame.bytes.len() as u64;
        }
        let started = Instant::now();
        if self.fsync {
            file.sync_data()?;
        }
        let elapsed = started.elapsed();
        if let Some(observe) = &self.on_sync {
            observe(elapsed);
        }
        let sync_micros = elapsed.as_micros() as u64;
        self.written += bytes;
        {
            let mut segments = self.segments.lock().expect("segments poisoned");
            let info = segments.last_mut().expect("current segment registered");
            for a in group {
                let end = info.ends.entry(a.frame.entry.generation).or_insert(0);
                *end = (*end).max(a.frame.entry.end_seq());
            }
        }
        let mut stats = self.stats.lock().expect("stats poisoned");
        stats.syncs += 1;
        stats.frames += group.len() as u64;
        stats.bytes += bytes;
        stats.sync_micros += sync_micros;
        Ok(())
    }

    fn roll(&mut self) -> std::io::Result<()> {
        if self.file.is_some() {
            self.id += 1;
        }
        let path = segment_path(&self.dir, self.id);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        // The new file's directory entry must be durable before anything in it is
        // acknowledged, or a crash could lose the whole segment.
        if self.fsync {
            File::open(&self.dir)?.sync_all()?;
        }
        self.file = Some(file);
        self.written = 0;
        self.segments.lock().expect("segments poisoned").push(SegmentInfo { id: self.id, ends: HashMap::new() });
        Ok(())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

fn segment_ids(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".wal").and_then(|s| s.parse().ok()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Reads a segment's valid frames; returns them, the length of the valid prefix and the
/// file's length.
fn read_segment(path: &Path) -> std::io::Result<(Vec<Entry>, u64, u64)> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let data = Bytes::from(data);
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while let Some(entry) = decode_frame(&data, pos) {
        let (e, next) = entry;
        entries.push(e);
        pos = next;
    }
    Ok((entries, pos as u64, data.len() as u64))
}

fn decode_frame(data: &Bytes, pos: usize) -> Option<(Entry, usize)> {
    let header = data.get(pos..pos + FRAME_HEADER)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let body_at = pos + FRAME_HEADER;
    let body = data.get(body_at..body_at + len)?;
    if len < BODY_HEADER || crc32fast::hash(body) != crc || body[0] != VERSION {
        return None;
    }
    let generation = Uuid::from_slice(&body[1..17]).ok()?;
    let first_seq = u64::from_le_bytes(body[17..25].try_into().ok()?);
    let arrival_ms = u64::from_le_bytes(body[25..33].try_into().ok()?);
    let count = u32::from_le_bytes(body[33..37].try_into().ok()?) as usize;
    let meta_len = u16::from_le_bytes(body[37..39].try_into().ok()?) as usize;
    if BODY_HEADER + meta_len > len {
        return None;
    }
    let meta = data.slice(body_at + BODY_HEADER..body_at + BODY_HEADER + meta_len);
    let mut records = Vec::with_capacity(count.min(len / 4));
    let mut at = BODY_HEADER + meta_len;
    for _ in 0..count {
        let l = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        if at + l > len {
            return None;
        }
        records.push(data.slice(body_at + at..body_at + at + l));
        at += l;
    }
    (at == len).then_some((Entry { generation, first_seq, arrival_ms, meta, records }, body_at + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(generation: Uuid, seq: u64, records: &[&[u8]]) -> Frame {
        let mut b = FrameBuilder::new(generation, 1_700_000_000_000, 64);
        for r in records {
            b.push(r);
        }
        b.finish().seal(seq)
    }

    async fn append(wal: &Wal, f: Frame) -> Entry {
        let (tx, rx) = oneshot::channel();
        wal.append(f, Box::new(move |r| drop(tx.send(r))));
        rx.await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, old) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
            assert!(old.is_empty());
            let e = append(&wal, frame(g, 0, &[b"a", b"", b"ccc"])).await;
            assert_eq!(e.records, vec![Bytes::from("a"), Bytes::new(), Bytes::from("ccc")]);
            append(&wal, frame(g, 3, &[b"d"])).await;
        }
        let (_wal, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].first_seq, 0);
        assert_eq!(entries[0].arrival_ms, 1_700_000_000_000);
        assert_eq!(entries[1].first_seq, 3);
        assert_eq!(entries[1].records[0], Bytes::from("d"));
    }

    #[tokio::test]
    async fn torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, _) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
            append(&wal, frame(g, 0, &[b"kept"])).await;
            append(&wal, frame(g, 1, &[b"torn record"])).await;
        }
        let path = segment_path(dir.path(), 1);
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 3).unwrap();
        let (wal, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].records[0], Bytes::from("kept"));
        // Writing continues on a new segment; the old one was truncated to its valid part.
        append(&wal, frame(g, 1, &[b"again"])).await;
        drop(wal);
        let (_, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(entries.len(), 2);
    }

    #[tokio::test]
    async fn corrupt_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, _) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
            append(&wal, frame(g, 0, &[b"first"])).await;
            append(&wal, frame(g, 1, &[b"second"])).await;
        }
        let path = segment_path(dir.path(), 1);
        let mut data = std::fs::read(&path).unwrap();
        let n = data.len();
        data[n - 2] ^= 0xff;
        std::fs::write(&path, data).unwrap();
        let (_, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(entries.len(), 1);
    }

    #[tokio::test]
    async fn segments_roll_and_are_collected() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (wal, _) = Wal::open(dir.path(), 100, true, None).unwrap();
        append(&wal, frame(a, 0, &[&[1u8; 200]])).await;
        append(&wal, frame(b, 0, &[&[2u8; 200]])).await;
        append(&wal, frame(a, 1, &[&[3u8; 200]])).await;
        assert_eq!(wal.segment_count(), 3);
        // Stream `a` is done below 1, `b` not at all: only the first segment goes.
        let removed = wal.collect_garbage(|g, end| if *g == a { end <= 1 } else { false }).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(segment_ids(dir.path()).unwrap().len(), 2);
        // The segment being written is never collected.
        let removed = wal.collect_garbage(|_, _| true).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(wal.segment_count(), 1);
    }

    #[tokio::test]
    async fn meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, _) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
            let mut b = FrameBuilder::with_meta(g, 5, b"request-id-1", 16);
            b.push(b"r");
            let e = append(&wal, b.finish().seal(0)).await;
            assert_eq!(&e.meta[..], b"request-id-1");
            append(&wal, frame(g, 1, &[b"s"])).await;
        }
        let (_, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(&entries[0].meta[..], b"request-id-1");
        assert_eq!(entries[0].records[0], Bytes::from("r"));
        assert!(entries[1].meta.is_empty());
    }

    #[test]
    fn rejected_record_leaves_nothing() {
        let mut b = FrameBuilder::new(Uuid::nil(), 0, 16);
        b.push(b"ok");
        assert!(!b.push_with(|buf| {
            buf.put_slice(b"partial");
            false
        }));
        assert_eq!(b.len(), 1);
        assert_eq!(b.data_bytes(), 2);
        let f = b.finish().seal(7);
        assert_eq!(f.entry.records, vec![Bytes::from("ok")]);
        assert_eq!(decode_frame(&f.bytes, 0).unwrap().0.first_seq, 7);
    }
}
