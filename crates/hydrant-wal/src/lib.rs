//! The write-ahead log: where records become durable before they are acknowledged
//! (a Firehose Put, an intake batch).
//!
//! One log serves every stream of a service, so that concurrent writers share fsyncs
//! (group commit):
//! a dedicated thread takes every frame waiting in its queue, writes them with one
//! `writev`, makes them durable with one `fdatasync`, hands each frame's records to its
//! stream and only then acknowledges the Puts. The log is a directory of segment files
//! named by sequence number; a segment is removed once every stream that has records in
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
//! Segments start with a header (older segments have none and are still read):
//!
//! ```text
//! [u8; 8] magic "HYDWAL2\n" | u64 segment id | u32 salt | u32 crc32 of the 20 bytes before
//! ```
//!
//! and each frame's stored CRC is `crc32(body) ^ salt`.
//!
//! Collected segments are recycled rather than deleted (up to a few at a time, like
//! RocksDB's `recycle_log_file_num` and PostgreSQL's WAL recycling): writing into blocks a
//! file already owns lets `fdatasync` flush data alone, where appending to a new file also
//! commits its size and block allocation to the file system's journal (the slow, spiky
//! part of an fsync on ext4). [`Wal::collect_garbage`] renames a collected segment to
//! `{future id:020}.wal.spare` and fsyncs the directory; the log thread, when it rolls,
//! renames the lowest spare to `{id:020}.wal` (no directory fsync: recovery takes a spare
//! whose header carries its own id as the segment, whichever name a crash left) and
//! overwrites it from the start, header first.
//!
//! What a recycled file still holds from its previous lives past the new frames is never
//! replayed. Each life's salt is the previous one plus 1 (never 0, the headerless frames'
//! salt), starting from a random value, so it differs from every earlier life's salt in
//! that file, and a CRC-32 XOR'd with two different salts always differs: an old frame
//! fails its CRC even when the new frames end exactly where it starts. A file whose header
//! names another id (renamed for reuse, crash before its new header was durable) holds
//! nothing of this life and replays nothing.
//!
//! With fsync on, segments are written with direct writes (`O_DIRECT`) where the file
//! system takes them, and through the page cache where it does not (see [`WriteMode`] and
//! the `direct` module). A file ends where its last frame does either way.
//!
//! A torn or corrupt tail (power loss mid-write) is detected by length and CRC on
//! recovery: it was never acknowledged. Headerless segments are cut there; recycled ones
//! keep their length (the rest is stale data no salt matches) so they can be recycled again.

mod direct;

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Write};
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
/// Starts a segment file with a header (see the module docs).
const SEGMENT_MAGIC: [u8; 8] = *b"HYDWAL2\n";
const SEGMENT_HEADER: usize = 8 + 8 + 4 + 4;
/// At most this many collected segments wait to be reused; more are deleted. Each one is
/// disk space held (a segment's size) for a roll that costs no file creation.
const MAX_RECYCLED: usize = 4;
/// Fewer buffers than the kernel's `IOV_MAX` (1024) per `writev`.
const MAX_IOVECS: usize = 512;

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
    /// The salt of the segment's frames (0: a headerless segment of the older format).
    salt: u32,
    ends: HashMap<Uuid, u64>,
}

/// Segment ids and the collected files waiting to be reused, shared by the log thread
/// (which rolls) and [`Wal::collect_garbage`] (which recycles).
#[derive(Debug, Default)]
struct Pool {
    /// The next id not given to any file.
    next_id: u64,
    /// Collected files already renamed (durably) to `{id}.wal`, ascending ids, each with
    /// the salt of its previous life. Every id here is above every segment's, so rolling
    /// into the lowest one keeps segments in log order.
    recycled: VecDeque<(u64, u32)>,
    /// The id of the segment the log thread writes (or last wrote).
    newest: u64,
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
    /// Segments started.
    pub rolls: u64,
    /// Segments started in a recycled file (the rest were new files).
    pub recycled_rolls: u64,
}

/// Handle to the write-ahead log.
pub struct Wal {
    tx: mpsc::UnboundedSender<Append>,
    dir: PathBuf,
    fsync: bool,
    segments: Arc<Mutex<Vec<SegmentInfo>>>,
    pool: Arc<Mutex<Pool>>,
    /// Serializes [`Wal::collect_garbage`]: two collections must not recycle one file.
    collecting: Mutex<()>,
    stats: Arc<Mutex<WalStats>>,
    direct: bool,
}

/// How the log thread writes segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// With direct writes (`O_DIRECT`, see the `direct` module) when fsync is on and the
    /// directory's file system takes them; through the page cache otherwise.
    Auto,
    /// Always through the page cache.
    Buffered,
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
        Self::open_with(dir, segment_bytes, fsync, on_sync, WriteMode::Auto)
    }

    /// [`Wal::open`], writing segments as `mode` says.
    pub fn open_with(
        dir: &Path,
        segment_bytes: u64,
        fsync: bool,
        on_sync: Option<SyncObserver>,
        mode: WriteMode,
    ) -> std::io::Result<(Wal, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        // Without fsync the page cache is the point (nothing waits for the device).
        let direct = mode == WriteMode::Auto && fsync && direct::supported(dir);
        tracing::info!(dir = %dir.display(), direct, "write-ahead log segments written {}", if direct { "with direct writes" } else { "through the page cache" });
        let files = list_files(dir)?;
        let mut entries = Vec::new();
        let mut segments = Vec::new();
        let mut spares = Vec::new();
        let last_wal = files.iter().rev().find(|f| !f.spare).map(|f| f.id);
        for file in &files {
            let data = read_file(&file.path)?;
            let header = parse_header(&data);
            // A file is a segment when it is named as one and is not a stale spare (see the
            // module docs), or when it is a spare that was written as its id (the log
            // thread's rename into the segment name was lost in a crash).
            let written_as_named = header.is_some_and(|h| h.id == file.id);
            if file.spare && !written_as_named {
                spares.push((file, header));
                continue;
            }
            let (found, salt) = match header {
                Some(h) if h.id == file.id => {
                    let (found, valid_len) = decode_frames(&data, SEGMENT_HEADER, h.salt);
                    // What follows the last valid frame is a torn write (never acknowledged)
                    // or the file's previous life, which no salt of this life matches: kept,
                    // so that the file's blocks can be reused.
                    if valid_len < data.len() {
                        tracing::debug!(segment = %file.path.display(), valid_len, total_len = data.len(), "end of frames in recycled write-ahead log segment");
                    }
                    (found, h.salt)
                }
                Some(h) => {
                    // Renamed for reuse, then the crash came before its new header was
                    // durable: nothing in it was acknowledged in this life.
                    tracing::debug!(segment = %file.path.display(), header_id = h.id, "write-ahead log segment not yet written");
                    (Vec::new(), h.salt)
                }
                None => {
                    // A segment of the older, headerless format (salt 0).
                    let (found, valid_len) = decode_frames(&data, 0, 0);
                    if valid_len < data.len() {
                        // Only the newest segment can have a torn tail from a crash;
                        // anything else is corruption, which we report and cut the same
                        // way, since the frames after it cannot be trusted.
                        let total_len = data.len();
                        if Some(file.id) != last_wal {
                            tracing::error!(segment = %file.path.display(), valid_len, total_len, "corrupt frame inside write-ahead log segment; truncating");
                        } else {
                            tracing::warn!(segment = %file.path.display(), valid_len, total_len, "torn tail in write-ahead log; truncating");
                        }
                        // Cutting it also means the file holds only frames of salt 0,
                        // which any later salt rejects once it is recycled.
                        let f = OpenOptions::new().write(true).open(&file.path)?;
                        f.set_len(valid_len as u64)?;
                        f.sync_all()?;
                    }
                    (found, 0)
                }
            };
            let mut info = SegmentInfo { id: file.id, salt, ends: HashMap::new() };
            for e in &found {
                let end = info.ends.entry(e.generation).or_insert(0);
                *end = (*end).max(e.end_seq());
            }
            segments.push(info);
            entries.extend(found);
        }
        let newest = segments.last().map_or(0, |s| s.id);
        let mut pool = Pool { next_id: files.iter().map(|f| f.id + 1).max().unwrap_or(1), newest, ..Pool::default() };
        for (file, header) in spares {
            match header {
                // Reusable in order, and its last salt is known, so the next differs.
                Some(h) if file.id > newest => pool.recycled.push_back((file.id, h.salt)),
                _ => std::fs::remove_file(&file.path)?,
            }
        }
        let segments = Arc::new(Mutex::new(segments));
        let pool = Arc::new(Mutex::new(pool));
        let stats = Arc::new(Mutex::new(WalStats::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            dir: dir.to_path_buf(),
            file: None,
            direct,
            salt: 0,
            written: 0,
            segment_bytes,
            fsync,
            segments: segments.clone(),
            pool: pool.clone(),
            stats: stats.clone(),
            failed: None,
            on_sync,
        };
        std::thread::Builder::new().name("hydrant-wal".into()).spawn(move || writer.run(rx))?;
        let wal = Wal { tx, dir: dir.to_path_buf(), fsync, direct, segments, pool, collecting: Mutex::new(()), stats };
        Ok((wal, entries))
    }

    /// Queues a frame; `on_durable` runs on the log thread once it is on disk (or the
    /// write failed). Callers queue frames of one stream in sequence-number order.
    pub fn append(&self, frame: Frame, on_durable: OnDurable) {
        if let Err(mpsc::error::SendError(a)) = self.tx.send(Append { frame, on_durable }) {
            (a.on_durable)(Err(Arc::new(std::io::Error::other("write-ahead log is closed"))));
        }
    }

    /// Removes closed segments in which every stream's records are done: `done(gen, end)`
    /// says whether all records of `gen` below `end` no longer need the log. Up to a few
    /// of them are kept as spares for the log to reuse (see the module docs); the rest
    /// are deleted. Returns how many segments were removed.
    pub fn collect_garbage(&self, done: impl Fn(&Uuid, u64) -> bool) -> std::io::Result<usize> {
        let _one_at_a_time = self.collecting.lock().expect("collecting poisoned");
        let doomed: Vec<(u64, u32)> = {
            let segments = self.segments.lock().expect("segments poisoned");
            // The last entry is the segment being written (or will be): never deleted.
            let closed = segments.len().saturating_sub(1);
            segments[..closed]
                .iter()
                .filter(|s| s.ends.iter().all(|(g, &end)| done(g, end)))
                .map(|s| (s.id, s.salt))
                .collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        // Give the files to keep their future ids now, off the log thread: ids must grow in
        // log order, and the log takes the lowest spare when it rolls.
        let mut renamed = Vec::new();
        {
            let mut pool = self.pool.lock().expect("pool poisoned");
            let room = MAX_RECYCLED.saturating_sub(pool.recycled.len());
            for &(id, salt) in doomed.iter().take(room) {
                renamed.push((id, pool.next_id, salt));
                pool.next_id += 1;
            }
        }
        let mut spares = Vec::new();
        for &(id, spare_id, salt) in &renamed {
            match std::fs::rename(segment_path(&self.dir, id), spare_path(&self.dir, spare_id)) {
                Ok(()) => spares.push((spare_id, salt)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for &(id, _) in &doomed[renamed.len()..] {
            match std::fs::remove_file(segment_path(&self.dir, id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.segments.lock().expect("segments poisoned").retain(|s| !doomed.iter().any(|&(id, _)| id == s.id));
        if spares.is_empty() {
            return Ok(doomed.len());
        }
        // A spare is reused without touching the directory on the log thread, so its new
        // name must be durable first: were the rename lost in a crash, a segment written
        // into the file would be found under its previous life's name.
        if self.fsync {
            File::open(&self.dir)?.sync_all()?;
        }
        let mut late = Vec::new();
        {
            let mut pool = self.pool.lock().expect("pool poisoned");
            for (id, salt) in spares {
                // The log rolled past this id (it found no spare meanwhile and took a
                // fresh one): reusing it would put it out of order.
                if id <= pool.newest {
                    late.push(id);
                } else {
                    let at = pool.recycled.partition_point(|&(other, _)| other < id);
                    pool.recycled.insert(at, (id, salt));
                }
            }
        }
        for id in late {
            std::fs::remove_file(spare_path(&self.dir, id))?;
        }
        Ok(doomed.len())
    }

    /// Segment files on disk (spares kept for reuse excluded).
    pub fn segment_count(&self) -> usize {
        self.segments.lock().expect("segments poisoned").len()
    }

    /// True when segments are written with direct writes (see [`WriteMode`]).
    pub fn direct_io(&self) -> bool {
        self.direct
    }

    /// What the log thread has done so far.
    pub fn stats(&self) -> WalStats {
        *self.stats.lock().expect("stats poisoned")
    }
}

struct Writer {
    dir: PathBuf,
    file: Option<SegmentFile>,
    /// Segments are written with direct writes ([`direct`]); decided at open.
    direct: bool,
    /// The current segment's salt.
    salt: u32,
    written: u64,
    segment_bytes: u64,
    fsync: bool,
    segments: Arc<Mutex<Vec<SegmentInfo>>>,
    pool: Arc<Mutex<Pool>>,
    stats: Arc<Mutex<WalStats>>,
    failed: Option<Arc<std::io::Error>>,
    on_sync: Option<SyncObserver>,
}

/// The segment being written: through the page cache, or with direct writes.
enum SegmentFile {
    Buffered(File),
    Direct(direct::DirectFile),
}

impl SegmentFile {
    fn sync_data(&self) -> std::io::Result<()> {
        match self {
            SegmentFile::Buffered(file) => file.sync_data(),
            SegmentFile::Direct(file) => file.sync_data(),
        }
    }
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
        // Frames were sealed before their segment was known: each goes out with its CRC
        // salted for this segment, in a header of its own, next to the rest of its
        // (shared, immutable) bytes.
        let headers: Vec<[u8; FRAME_HEADER]> = group
            .iter()
            .map(|a| {
                let b = &a.frame.bytes;
                let crc = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")) ^ self.salt;
                let mut h = [0u8; FRAME_HEADER];
                h[..4].copy_from_slice(&b[..4]);
                h[4..].copy_from_slice(&crc.to_le_bytes());
                h
            })
            .collect();
        let bytes: u64 = group.iter().map(|a| a.frame.bytes.len() as u64).sum();
        match file {
            SegmentFile::Buffered(file) => {
                for (headers, group) in headers.chunks(MAX_IOVECS / 2).zip(group.chunks(MAX_IOVECS / 2)) {
                    let mut slices = Vec::with_capacity(2 * group.len());
                    for (h, a) in headers.iter().zip(group) {
                        slices.push(IoSlice::new(h));
                        slices.push(IoSlice::new(&a.frame.bytes[FRAME_HEADER..]));
                    }
                    write_all_vectored(file, &mut slices)?;
                }
            }
            SegmentFile::Direct(file) => {
                let parts = headers.iter().zip(group).flat_map(|(h, a)| [&h[..], &a.frame.bytes[FRAME_HEADER..]]);
                file.write(parts, bytes as usize)?;
            }
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

    /// Starts the next segment: a spare when there is one, else a new file.
    fn roll(&mut self) -> std::io::Result<()> {
        let spare = {
            let mut pool = self.pool.lock().expect("pool poisoned");
            let spare = pool.recycled.pop_front();
            let id = match spare {
                Some((id, _)) => id,
                None => {
                    pool.next_id += 1;
                    pool.next_id - 1
                }
            };
            pool.newest = id;
            spare.ok_or(id)
        };
        let recycled = spare.is_ok();
        let (id, file, salt) = match spare {
            Ok((id, old_salt)) => {
                let path = segment_path(&self.dir, id);
                // No directory fsync: recovery also reads a spare whose header carries its
                // id as a segment, whichever of the two names the crash left.
                std::fs::rename(spare_path(&self.dir, id), &path)?;
                let file = OpenOptions::new().write(true).open(&path)?;
                (id, file, next_salt(old_salt))
            }
            Err(id) => {
                let file = OpenOptions::new().write(true).create_new(true).open(segment_path(&self.dir, id))?;
                // The new file's directory entry must be durable before anything in it is
                // acknowledged, or a crash could lose the whole segment.
                if self.fsync {
                    File::open(&self.dir)?.sync_all()?;
                }
                (id, file, next_salt(0))
            }
        };
        // Durable with the first group's fdatasync, before anything in it is acknowledged.
        let header = encode_header(id, salt);
        let buf = match self.file.take() {
            Some(SegmentFile::Direct(previous)) => Some(previous.into_buf()),
            _ => None,
        };
        self.file = Some(if self.direct {
            SegmentFile::Direct(direct::DirectFile::new(file, &segment_path(&self.dir, id), &header, buf)?)
        } else {
            let mut file = file;
            file.write_all(&header)?;
            SegmentFile::Buffered(file)
        });
        self.salt = salt;
        self.written = SEGMENT_HEADER as u64;
        self.segments.lock().expect("segments poisoned").push(SegmentInfo { id, salt, ends: HashMap::new() });
        let mut stats = self.stats.lock().expect("stats poisoned");
        stats.rolls += 1;
        stats.recycled_rolls += u64::from(recycled);
        Ok(())
    }
}

/// `write_all` over several buffers, with one `writev` per call when the kernel takes all.
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The salt of a file's next life: never 0 (the older format's frames), never the one
/// of its previous life, and, counting up from a random start, none of its earlier lives'
/// either (for 2^32 - 1 lives). Random rather than derived from the id so that record data
/// from a file's previous life, which a client chose, cannot be shaped into a frame that
/// passes for the new life's.
fn next_salt(previous: u32) -> u32 {
    if previous == 0 {
        loop {
            let r = u32::from_le_bytes(Uuid::new_v4().as_bytes()[..4].try_into().expect("4 bytes"));
            if r != 0 {
                return r;
            }
        }
    }
    match previous.wrapping_add(1) {
        0 => 1,
        s => s,
    }
}

#[derive(Debug, Clone, Copy)]
struct Header {
    id: u64,
    salt: u32,
}

fn encode_header(id: u64, salt: u32) -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..16].copy_from_slice(&id.to_le_bytes());
    h[16..20].copy_from_slice(&salt.to_le_bytes());
    let crc = crc32fast::hash(&h[..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The segment header, if the file starts with a valid one. A headerless segment starts
/// with a frame, whose length field can never read as the magic (about 1.4 GiB).
fn parse_header(data: &[u8]) -> Option<Header> {
    let h = data.get(..SEGMENT_HEADER)?;
    if h[..8] != SEGMENT_MAGIC || crc32fast::hash(&h[..20]).to_le_bytes() != h[20..24] {
        return None;
    }
    let salt = u32::from_le_bytes(h[16..20].try_into().ok()?);
    Some(Header { id: u64::from_le_bytes(h[8..16].try_into().ok()?), salt }).filter(|h| h.salt != 0)
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

/// Where a collected segment waits to be reused as segment `id`.
fn spare_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal.spare"))
}

struct LogFile {
    id: u64,
    path: PathBuf,
    spare: bool,
}

/// Segments and spares in the directory, by id.
fn list_files(dir: &Path) -> std::io::Result<Vec<LogFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let (id, spare) = match (name.strip_suffix(".wal"), name.strip_suffix(".wal.spare")) {
            (Some(id), _) => (id, false),
            (_, Some(id)) => (id, true),
            _ => continue,
        };
        if let Ok(id) = id.parse() {
            files.push(LogFile { id, path: entry.path(), spare });
        }
    }
    files.sort_unstable_by_key(|f| f.id);
    Ok(files)
}

#[cfg(test)]
fn segment_ids(dir: &Path) -> std::io::Result<Vec<u64>> {
    Ok(list_files(dir)?.into_iter().filter(|f| !f.spare).map(|f| f.id).collect())
}

fn read_file(path: &Path) -> std::io::Result<Bytes> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    Ok(Bytes::from(data))
}

/// The valid frames from `pos` on, and where they end.
fn decode_frames(data: &Bytes, mut pos: usize, salt: u32) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    while let Some((e, next)) = decode_frame(data, pos, salt) {
        entries.push(e);
        pos = next;
    }
    (entries, pos)
}

fn decode_frame(data: &Bytes, pos: usize, salt: u32) -> Option<(Entry, usize)> {
    let header = data.get(pos..pos + FRAME_HEADER)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let body_at = pos + FRAME_HEADER;
    let body = data.get(body_at..body_at + len)?;
    if len < BODY_HEADER || crc32fast::hash(body) ^ salt != crc || body[0] != VERSION {
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
        assert_eq!(decode_frame(&f.bytes, 0, 0).unwrap().0.first_seq, 7);
    }

    /// Writes frames until the log has rolled into a recycled spare, returning the
    /// entries appended into it.
    async fn fill_then_recycle(wal: &Wal, dir: &Path, g: Uuid) -> u64 {
        // Segment 1 gets big frames; it is collected and becomes spare 3 (2 is current).
        append(wal, frame(g, 0, &[&[7u8; 300]])).await;
        append(wal, frame(g, 1, &[&[8u8; 300]])).await;
        assert_eq!(wal.collect_garbage(|_, end| end <= 1).unwrap(), 1);
        assert!(spare_path(dir, 3).exists());
        2
    }

    #[tokio::test]
    async fn collected_segments_are_reused_in_log_order() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        let (wal, _) = Wal::open(dir.path(), 100, true, None).unwrap();
        let next = fill_then_recycle(&wal, dir.path(), g).await;
        let size = std::fs::metadata(spare_path(dir.path(), 3)).unwrap().len();
        // Segment 2 is full: the next frame rolls into the spare, renamed to segment 3.
        append(&wal, frame(g, next, &[b"new life"])).await;
        assert!(!spare_path(dir.path(), 3).exists());
        assert_eq!(segment_ids(dir.path()).unwrap(), vec![2, 3]);
        assert_eq!((wal.stats().rolls, wal.stats().recycled_rolls), (3, 1));
        // Overwritten in place: the file kept its blocks (its old length).
        assert_eq!(std::fs::metadata(segment_path(dir.path(), 3)).unwrap().len(), size);
        drop(wal);
        let (_, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.first_seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(entries[1].records, vec![Bytes::from("new life")]);
    }

    /// A crash in the middle of a recycled segment: replay returns exactly the frames of
    /// the new life, none of the stale ones after them, including at a frame boundary.
    #[tokio::test]
    async fn crash_in_recycled_segment_replays_only_the_new_life() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        let (wal, _) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        // The first life: many small frames, so that the new life ends on one of their
        // boundaries (same sizes), where a stale frame starts.
        for seq in 0..20 {
            append(&wal, frame(g, seq, &[b"old-record"])).await;
        }
        let old_salt = wal.segments.lock().unwrap()[0].salt;
        drop(wal);
        // Reopen (rolls to segment 2 on the next write), collect segment 1 as a spare.
        let (wal, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(entries.len(), 20);
        append(&wal, frame(g, 20, &[b"seg-2"])).await;
        // Closed segments: 1 (done) and 2 (current, kept).
        assert_eq!(wal.collect_garbage(|_, end| end <= 20).unwrap(), 1);
        drop(wal);
        // A new log rolls into the spare (id 3) and writes 5 frames of the same size as
        // the old ones, then "crashes" (dropped without anything else).
        let (wal, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        assert_eq!(entries.len(), 1);
        for seq in 21..26 {
            append(&wal, frame(g, seq, &[b"new-record"])).await;
        }
        let new_salt = wal.segments.lock().unwrap().last().map(|s| (s.id, s.salt)).unwrap();
        assert_eq!(new_salt.0, 3);
        assert_ne!(new_salt.1, old_salt);
        drop(wal);
        let data = std::fs::read(segment_path(dir.path(), 3)).unwrap();
        let frame_len = frame(g, 0, &[b"old-record"]).bytes.len();
        assert_eq!(data.len(), SEGMENT_HEADER + 20 * frame_len, "the file kept its first life's length");
        let (_, entries) = Wal::open(dir.path(), 1 << 20, true, None).unwrap();
        let replayed: Vec<(u64, Bytes)> = entries.iter().map(|e| (e.first_seq, e.records[0].clone())).collect();
        let mut expected = vec![(20, Bytes::from("seg-2"))];
        expected.extend((21..26).map(|s| (s, Bytes::from("new-record"))));
        assert_eq!(replayed, expected);
    }

    #[test]
    fn stale_frame_fails_under_another_salt() {
        let f = frame(Uuid::nil(), 3, &[b"x"]);
        let mut stored = f.bytes.to_vec();
        let crc = u32::from_le_bytes(stored[4..8].try_into().unwrap());
        stored[4..8].copy_from_slice(&(crc ^ 0x1234).to_le_bytes());
        let stored = Bytes::from(stored);
        assert_eq!(decode_frame(&stored, 0, 0x1234).unwrap().0.first_seq, 3);
        assert!(decode_frame(&stored, 0, 0x1235).is_none());
        assert!(decode_frame(&stored, 0, 0).is_none());
        // Salts never repeat along a file's lives, and never are 0 (headerless frames).
        assert_ne!(next_salt(0), 0);
        assert_eq!(next_salt(u32::MAX), 1);
        assert_eq!(next_salt(41), 42);
    }

    /// A spare renamed to a segment whose new header never reached the disk holds only
    /// its previous life, which is not replayed; it is reused again with a later salt.
    #[tokio::test]
    async fn renamed_but_unwritten_segment_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, _) = Wal::open(dir.path(), 100, true, None).unwrap();
            fill_then_recycle(&wal, dir.path(), g).await;
        }
        // As if the log had renamed spare 3 and crashed before writing its header.
        std::fs::rename(spare_path(dir.path(), 3), segment_path(dir.path(), 3)).unwrap();
        let (wal, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![1]);
        append(&wal, frame(g, 2, &[b"after"])).await;
        drop(wal);
        let (_, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![1, 2]);
    }

    /// The log thread's rename of a spare into its segment name can be lost in a crash
    /// (no directory fsync): what it acknowledged is still found under the spare's name.
    #[tokio::test]
    async fn written_spare_under_its_old_name_is_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, _) = Wal::open(dir.path(), 100, true, None).unwrap();
            fill_then_recycle(&wal, dir.path(), g).await;
            append(&wal, frame(g, 2, &[b"acknowledged"])).await;
        }
        std::fs::rename(segment_path(dir.path(), 3), spare_path(dir.path(), 3)).unwrap();
        let (_, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(entries[1].records, vec![Bytes::from("acknowledged")]);
    }

    /// Spares left by a previous run are reused after a restart; spares beyond the limit
    /// are deleted rather than kept.
    #[tokio::test]
    async fn spares_survive_a_restart_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        {
            let (wal, _) = Wal::open(dir.path(), 10, true, None).unwrap();
            for seq in 0..(MAX_RECYCLED as u64 + 3) {
                append(&wal, frame(g, seq, &[b"r"])).await;
            }
            let collected = wal.collect_garbage(|_, _| true).unwrap();
            assert_eq!(collected, MAX_RECYCLED + 2);
            assert_eq!(wal.pool.lock().unwrap().recycled.len(), MAX_RECYCLED);
        }
        let spares = || list_files(dir.path()).unwrap().iter().filter(|f| f.spare).count();
        assert_eq!(spares(), MAX_RECYCLED);
        let (wal, entries) = Wal::open(dir.path(), 10, true, None).unwrap();
        assert_eq!(entries.len(), 1);
        append(&wal, frame(g, 100, &[b"s"])).await;
        assert_eq!(spares(), MAX_RECYCLED - 1);
        drop(wal);
        let (_, entries) = Wal::open(dir.path(), 10, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![MAX_RECYCLED as u64 + 2, 100]);
    }

    /// Segments of the previous, headerless format (frames CRC'd without salt) replay,
    /// keep having torn tails cut, and are recycled like any other.
    #[tokio::test]
    async fn headerless_segments_still_replay() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        let mut old = Vec::new();
        for seq in 0..3 {
            old.extend_from_slice(&frame(g, seq, &[b"legacy"]).bytes);
        }
        std::fs::write(segment_path(dir.path(), 1), &old).unwrap();
        let mut torn = frame(g, 3, &[b"legacy-last"]).bytes.to_vec();
        let whole = torn.len();
        torn.extend_from_slice(&frame(g, 4, &[b"torn"]).bytes[..10]);
        std::fs::write(segment_path(dir.path(), 2), &torn).unwrap();
        let (wal, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(entries[3].records, vec![Bytes::from("legacy-last")]);
        assert_eq!(std::fs::metadata(segment_path(dir.path(), 2)).unwrap().len(), whole as u64);
        // New frames go to a new segment (3) of the current format; segment 1 becomes
        // spare 4, which the log rolls into once segment 3 is full.
        append(&wal, frame(g, 4, &[b"new"])).await;
        assert_eq!(wal.collect_garbage(|_, end| end <= 3).unwrap(), 1);
        append(&wal, frame(g, 5, &[&[1u8; 100]])).await;
        append(&wal, frame(g, 6, &[b"in old file"])).await;
        drop(wal);
        assert!(parse_header(&std::fs::read(segment_path(dir.path(), 4)).unwrap()).is_some_and(|h| h.id == 4));
        let (_, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    }

    /// Frames of every size around the block boundaries, one group each and in bursts,
    /// written with direct writes and through the page cache: both replay the same
    /// entries, and both files end where the last frame does (no padding).
    #[tokio::test]
    async fn direct_and_buffered_writes_replay_the_same() {
        let g = Uuid::new_v4();
        let sizes: Vec<usize> = (0..40)
            .map(|i| match i % 8 {
                0 => 1,
                1 => direct::BLOCK - 60,
                2 => direct::BLOCK,
                3 => 3 * direct::BLOCK + 17,
                4 => 0,
                5 => 3 << 20, // grows the direct buffer
                6 => 100 + i,
                _ => direct::BLOCK * 2 - 1,
            })
            .collect();
        let records: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| vec![i as u8; n]).collect();
        let mut replayed = Vec::new();
        for mode in [WriteMode::Auto, WriteMode::Buffered] {
            let dir = tempfile::tempdir().unwrap();
            {
                let (wal, _) = Wal::open_with(dir.path(), 64 << 20, true, None, mode).unwrap();
                assert_eq!(
                    wal.direct_io(),
                    mode == WriteMode::Auto,
                    "{} must take O_DIRECT writes for this test to cover them",
                    dir.path().display()
                );
                // One at a time (each its own group), then all at once (a few groups).
                for (i, r) in records.iter().enumerate().take(20) {
                    append(&wal, frame(g, i as u64, &[r])).await;
                }
                let waits: Vec<_> = records
                    .iter()
                    .enumerate()
                    .skip(20)
                    .map(|(i, r)| {
                        let (tx, rx) = oneshot::channel();
                        wal.append(frame(g, i as u64, &[r]), Box::new(move |r| drop(tx.send(r))));
                        rx
                    })
                    .collect();
                for w in waits {
                    w.await.unwrap().unwrap();
                }
                let stats = wal.stats();
                let len = std::fs::metadata(segment_path(dir.path(), 1)).unwrap().len();
                assert_eq!(len, SEGMENT_HEADER as u64 + stats.bytes, "{mode:?}: the file ends at its last frame");
            }
            let (_, entries) = Wal::open_with(dir.path(), 64 << 20, true, None, mode).unwrap();
            replayed.push(entries.iter().map(|e| (e.first_seq, e.records.clone())).collect::<Vec<_>>());
        }
        assert_eq!(replayed[0].len(), records.len());
        for (i, (seq, recs)) in replayed[0].iter().enumerate() {
            assert_eq!((*seq, recs[0].as_ref()), (i as u64, &records[i][..]));
        }
        assert_eq!(replayed[0], replayed[1]);
    }

    /// A segment file reused in direct mode: the new life replays, none of the old.
    #[tokio::test]
    async fn direct_writes_into_a_recycled_file() {
        let dir = tempfile::tempdir().unwrap();
        let g = Uuid::new_v4();
        let big = vec![7u8; 3 * direct::BLOCK];
        {
            let (wal, _) = Wal::open(dir.path(), 100, true, None).unwrap();
            assert!(wal.direct_io());
            append(&wal, frame(g, 0, &[&big, &big])).await; // segment 1, then a roll
            append(&wal, frame(g, 2, &[&big])).await; // segment 2, full
            wal.collect_garbage(|_, end| end <= 2).unwrap(); // segment 1 becomes a spare
            append(&wal, frame(g, 3, &[b"short"])).await; // into the recycled file
            assert_eq!(wal.stats().recycled_rolls, 1);
        }
        let (_, entries) = Wal::open(dir.path(), 100, true, None).unwrap();
        assert_eq!(entries.iter().map(|e| e.first_seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(entries[1].records[0], Bytes::from("short"));
    }
}
