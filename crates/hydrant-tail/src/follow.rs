//! The reading loop: one blocking thread that discovers files, reads them, turns lines into
//! records and hands chunks to the router.
//!
//! Reading uses plain `std::fs` on a dedicated thread (file reads do not benefit from async,
//! and a thread avoids a task hop per read). It talks to the async side only to wait: for
//! room under the memory limit and for room in the router's chunk queue, both through
//! [`Handle::block_on`] raced against shutdown.
//!
//! Each round it: scans the globs when `Refresh_Interval` is due; for each file, checks
//! a few times a second whether it was rotated, deleted or truncated, then reads what was
//! appended (up to [`READ_BUDGET`] per file per round, so one busy file cannot starve the
//! others) and emits it at once; closes rotated files once read to their end after
//! `Rotate_Wait`, and deleted ones once read to their end; and sleeps [`POLL_INTERVAL`] if
//! no file had anything new.
//!
//! # Memory limit
//!
//! Every chunk holds permits of a byte semaphore sized `Mem_Buf_Limit`, one per source byte
//! it consumed, released by its [`Ack`] callback whether delivered or abandoned. When no
//! permits are left the thread waits (counted in `input_paused`, the held bytes shown in
//! `backlog_bytes`): the input slows down to what the outputs deliver and never drops.
//!
//! # Long lines
//!
//! With `Skip_Long_Lines Off`, Fluent Bit stops following a file that has a line longer
//! than `Buffer_Max_Size`, silently for every later line: "logs stopped after a few hours"
//! is among the most reported tail problems. Hydrant skips the line in both modes and keeps
//! following; `Off` only makes it loud (an error log, at most once a minute per file) and
//! both count the line in `input_skipped`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::{Ack, AckOutcome, Chunk, EventTime, Map, Record, Value};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_util::sync::CancellationToken;

use crate::multiline::{Assembled, Assembler};
use crate::options::{expand_tag, TailOptions};
use crate::positions::{FileId, Positions};
use crate::reader::{LineEvent, LineReader};
use crate::watch::{self, Identity, PathState};

/// Sleep between rounds when no file had anything new: appended lines are seen within
/// this, and an idle input costs a few system calls per file per round.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How often a file's path and handle are checked for rotation, deletion and truncation.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// Bytes read from one file per round before moving to the next file.
pub const READ_BUDGET: usize = 4 * 1024 * 1024;

/// Size of one read: large reads make line splitting cheap; a read's records are emitted
/// at once, so this also bounds a chunk's source bytes (about 512 KiB with its carry).
const READ_SIZE: usize = 256 * 1024;

/// Records per chunk at most.
pub const MAX_CHUNK_RECORDS: usize = 1000;

/// Minimum time between two long-line errors for one file (`Skip_Long_Lines Off`).
const LONG_LINE_LOG_EVERY: Duration = Duration::from_secs(60);

/// The thread was told to stop (shutdown, or the router stopped taking chunks).
#[derive(Debug)]
pub(crate) struct Stopped;

/// What the reading thread shares with nothing else but needs everywhere.
pub(crate) struct Shared {
    pub opts: Arc<TailOptions>,
    pub positions: Arc<Positions>,
    pub metrics: Arc<Metrics>,
    pub labels: PluginLabels,
    pub chunks: mpsc::Sender<Chunk>,
    pub shutdown: CancellationToken,
    pub handle: Handle,
    pub memory: Arc<Semaphore>,
}

impl Shared {
    /// Permits for `bytes` read bytes, waiting for acks to free room if needed.
    fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Stopped> {
        let n = bytes.clamp(1, self.opts.mem_buf_limit).min(u32::MAX as usize) as u32;
        match self.memory.clone().try_acquire_many_owned(n) {
            Ok(p) => return Ok(p),
            Err(TryAcquireError::Closed) => return Err(Stopped),
            Err(TryAcquireError::NoPermits) => {}
        }
        self.metrics.input_paused.get_or_create(&self.labels).inc();
        tracing::debug!(input = %self.labels.name, limit = self.opts.mem_buf_limit, "tail: memory limit reached; paused");
        let memory = self.memory.clone();
        let shutdown = self.shutdown.clone();
        self.handle.block_on(async move {
            tokio::select! {
                p = memory.acquire_many_owned(n) => p.map_err(|_| Stopped),
                _ = shutdown.cancelled() => Err(Stopped),
            }
        })
    }

    /// Hand a chunk to the router, waiting while its queue is full.
    fn send(&self, chunk: Chunk) -> Result<(), Stopped> {
        match self.chunks.try_send(chunk) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stopped),
            Err(mpsc::error::TrySendError::Full(chunk)) => {
                let chunks = self.chunks.clone();
                let shutdown = self.shutdown.clone();
                self.handle.block_on(async move {
                    tokio::select! {
                        r = chunks.send(chunk) => r.map_err(|_| Stopped),
                        _ = shutdown.cancelled() => Err(Stopped),
                    }
                })
            }
        }
    }
}

/// A followed file.
struct TailFile {
    id: FileId,
    identity: Identity,
    /// The path it was found at: checked for rotation, and for the new file after one.
    watch_path: PathBuf,
    /// The path as found, for `Path_Key` (Fluent Bit keeps the original name too).
    orig_name: Arc<str>,
    tag: Arc<str>,
    file: File,
    reader: LineReader,
    assembler: Option<Assembler>,
    records: Vec<Record>,
    consumed_since_emit: usize,
    /// Where the next chunk's span starts.
    emitted_to: u64,
    at_eof: bool,
    rotated_at: Option<Instant>,
    deleted: bool,
    next_check: Instant,
    long_line_logged: Option<Instant>,
}

impl TailFile {
    /// The offset the position may move to: before any unfinished line and any pending
    /// multiline group.
    fn safe_offset(&self) -> u64 {
        let line = self.reader.line_start();
        match self.assembler.as_ref().and_then(Assembler::earliest_pending) {
            Some(p) => line.min(p),
            None => line,
        }
    }
}

/// The reading loop's state.
pub(crate) struct Follower {
    shared: Shared,
    files: Vec<TailFile>,
    /// Rotated files closed during this run, with the offset read to, so a glob that also
    /// matches rotated names does not read them again.
    closed: HashMap<Identity, u64>,
    first_scan: bool,
    next_scan: Instant,
    scratch: Vec<u8>,
}

impl Follower {
    pub fn new(shared: Shared) -> Self {
        let read_size = shared.opts.buffer_chunk_size.max(READ_SIZE);
        Follower {
            shared,
            files: Vec::new(),
            closed: HashMap::new(),
            first_scan: true,
            next_scan: Instant::now(),
            scratch: vec![0; read_size],
        }
    }

    /// Follow files until shutdown (or until the router stops taking chunks).
    pub fn run(mut self) {
        loop {
            // A closed queue means the router is gone: stop rather than read for nobody.
            if self.shared.shutdown.is_cancelled() || self.shared.chunks.is_closed() {
                return;
            }
            let now = Instant::now();
            if now >= self.next_scan {
                self.scan();
                self.next_scan = now + self.shared.opts.refresh_interval;
            }
            let mut progressed = false;
            let mut i = 0;
            // Files opened during the round (a rotation's new file) are read in the same round.
            while i < self.files.len() {
                match self.service(i) {
                    Ok(p) => progressed |= p,
                    Err(Stopped) => return,
                }
                i += 1;
            }
            if self.close_finished().is_err() {
                return;
            }
            self.shared.metrics.input_files.get_or_create(&self.shared.labels).set(self.files.len() as i64);
            if !progressed {
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    }

    fn scan(&mut self) {
        let initial = std::mem::replace(&mut self.first_scan, false);
        let found = watch::scan(&self.shared.opts.paths, &self.shared.opts.exclude);
        let mut seen = HashSet::with_capacity(found.len());
        for (path, meta) in found {
            seen.insert(Identity::of(&meta));
            self.open(&path, Identity::of(&meta), initial);
        }
        self.closed.retain(|id, _| seen.contains(id));
    }

    /// Start following the file at `path` unless it is followed already.
    fn open(&mut self, path: &Path, identity: Identity, initial: bool) {
        if self.files.iter().any(|f| f.identity == identity) {
            return;
        }
        let opts = &self.shared.opts;
        let name = path.to_string_lossy().into_owned();
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "tail: cannot open file");
                return;
            }
        };
        let Ok(meta) = file.metadata() else { return };
        // The path may have been replaced between the scan and the open: trust the handle.
        let identity = Identity::of(&meta);
        if self.files.iter().any(|f| f.identity == identity) {
            return;
        }
        let size = meta.len();
        let stored = self.shared.positions.lookup(identity.ino);
        let start = match (self.closed.remove(&identity), &stored) {
            (Some(read_to), _) if read_to <= size => read_to,
            (_, Some(s)) if s.offset <= size => s.offset,
            (_, Some(s)) => {
                tracing::info!(
                    file = %name, saved = s.offset, size,
                    "tail: file is shorter than its saved position (truncated or replaced); reading from the start"
                );
                0
            }
            _ if initial && !opts.read_from_head => size,
            _ => 0,
        };
        if start > 0 {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                tracing::warn!(file = %name, error = %e, "tail: cannot seek");
                return;
            }
        }
        let id = self.shared.positions.register(&name, identity.ino, start, stored.as_ref());
        tracing::info!(input = %self.shared.labels.name, file = %name, offset = start, "tail: following file");
        let assembler = (!opts.parsers.is_empty()).then(|| Assembler::new(opts.parsers.clone()));
        self.files.push(TailFile {
            id,
            identity,
            watch_path: path.to_path_buf(),
            tag: expand_tag(&opts.tag, &name).into(),
            orig_name: name.into(),
            file,
            reader: LineReader::new(start, opts.buffer_max_size),
            assembler,
            records: Vec::new(),
            consumed_since_emit: 0,
            emitted_to: start,
            at_eof: false,
            rotated_at: None,
            deleted: false,
            next_check: Instant::now(),
            long_line_logged: None,
        });
    }

    /// Check and read file `i`; returns whether it had new bytes.
    fn service(&mut self, i: usize) -> Result<bool, Stopped> {
        let now = Instant::now();
        if now >= self.files[i].next_check {
            self.files[i].next_check = now + CHECK_INTERVAL;
            self.check(i)?;
        }
        let mut budget = READ_BUDGET;
        let mut progressed = false;
        loop {
            let f = &mut self.files[i];
            let n = match f.file.read(&mut self.scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(file = %f.orig_name, error = %e, "tail: read failed; retrying later");
                    0
                }
            };
            if n == 0 {
                f.at_eof = true;
                break;
            }
            f.at_eof = false;
            progressed = true;
            process(&self.shared, f, &self.scratch[..n]);
            emit(&self.shared, f)?;
            budget = budget.saturating_sub(n);
            if budget == 0 {
                break;
            }
        }
        let f = &mut self.files[i];
        if let Some(a) = f.assembler.as_mut().filter(|a| a.has_pending()) {
            let (records, opts, name) = (&mut f.records, &self.shared.opts, &f.orig_name);
            a.flush_expired(Instant::now(), &mut |asm| records.push(with_keys(opts, name, asm)));
        }
        emit(&self.shared, f)?;
        Ok(progressed)
    }

    /// Look for truncation, rotation and deletion of file `i`.
    fn check(&mut self, i: usize) -> Result<(), Stopped> {
        let f = &mut self.files[i];
        if let Ok(meta) = f.file.metadata() {
            if meta.len() < f.reader.read_offset() {
                // copytruncate: what was read stays valid and goes out first.
                emit(&self.shared, f)?;
                tracing::info!(file = %f.orig_name, "tail: file truncated; reading from the start");
                let _ = f.file.seek(SeekFrom::Start(0));
                f.reader.reset(0);
                if let Some(a) = f.assembler.as_mut() {
                    a.clear();
                }
                f.records.clear();
                f.consumed_since_emit = 0;
                f.emitted_to = 0;
                f.at_eof = false;
                self.shared.positions.truncated(f.id);
            }
        }
        if f.deleted {
            return Ok(());
        }
        if f.rotated_at.is_some() {
            // Rotated: pick up the file that replaces it as soon as it appears.
            let path = f.watch_path.clone();
            self.open_replacement(&path);
            return Ok(());
        }
        match watch::path_state(&f.watch_path, &f.file, f.identity) {
            Ok(PathState::Same) => {}
            Ok(PathState::Moved { deleted, replaced }) => {
                if deleted {
                    tracing::info!(file = %f.orig_name, "tail: file deleted; reading what is left");
                    f.deleted = true;
                } else {
                    f.rotated_at = Some(Instant::now());
                    let new_name = watch::current_name(&f.file).map(|p| p.to_string_lossy().into_owned());
                    let new_name = new_name.unwrap_or_else(|| f.orig_name.to_string());
                    tracing::info!(file = %f.orig_name, now = %new_name, "tail: file rotated");
                    self.shared.positions.rotated(f.id, &new_name);
                }
                if replaced {
                    let path = f.watch_path.clone();
                    self.open_replacement(&path);
                }
            }
            Err(e) => tracing::debug!(file = %f.orig_name, error = %e, "tail: cannot check file"),
        }
        Ok(())
    }

    /// Follow the new file at a rotated file's path, from its start (it appeared after
    /// the input started).
    fn open_replacement(&mut self, path: &Path) {
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.is_file() && !watch::excluded(path, &self.shared.opts.exclude) {
                self.open(path, Identity::of(&meta), false);
            }
        }
    }

    /// Close deleted files read to their end, and rotated ones read to their end once
    /// `Rotate_Wait` has passed. (A rotated file with data left is read to its end first:
    /// closing it earlier would lose lines.)
    fn close_finished(&mut self) -> Result<(), Stopped> {
        let rotate_wait = self.shared.opts.rotate_wait;
        let mut i = 0;
        while i < self.files.len() {
            let f = &self.files[i];
            let done = f.at_eof && (f.deleted || f.rotated_at.is_some_and(|t| t.elapsed() >= rotate_wait));
            if !done {
                i += 1;
                continue;
            }
            let mut f = self.files.remove(i);
            if let Some(a) = f.assembler.as_mut() {
                let (records, opts, name) = (&mut f.records, &self.shared.opts, &f.orig_name);
                a.flush_all(&mut |asm| records.push(with_keys(opts, name, asm)));
            }
            emit(&self.shared, &mut f)?;
            self.shared.positions.close(f.id, f.deleted);
            if !f.deleted {
                self.closed.insert(f.identity, f.reader.read_offset());
            }
            tracing::info!(input = %self.shared.labels.name, file = %f.orig_name, "tail: file closed");
        }
        Ok(())
    }
}

/// Split `data` (the next bytes of `f`) into lines and records.
fn process(shared: &Shared, f: &mut TailFile, data: &[u8]) {
    let opts = &*shared.opts;
    let read_time = EventTime::now();
    let now = Instant::now();
    f.consumed_since_emit += data.len();
    let (mut lines, mut unparsed, mut too_long) = (0u64, 0u64, Vec::new());
    let TailFile { reader, assembler, records, orig_name, .. } = f;
    reader.feed(data, |event| match event {
        LineEvent::Line { bytes, offset } => {
            lines += 1;
            if opts.skip_empty_lines && (bytes.is_empty() || bytes == b"\r") {
                return;
            }
            let text = String::from_utf8_lossy(bytes);
            match assembler {
                None => records.push(raw_record(opts, orig_name, text.into_owned(), offset, read_time)),
                Some(a) => {
                    if !a.push(&text, offset, read_time, now, &mut |asm| records.push(with_keys(opts, orig_name, asm)))
                    {
                        unparsed += 1;
                    }
                }
            }
        }
        LineEvent::TooLong { offset } => too_long.push(offset),
    });
    let m = &shared.metrics;
    m.input_bytes.get_or_create(&shared.labels).inc_by(data.len() as u64);
    m.input_lines.get_or_create(&shared.labels).inc_by(lines);
    let skipped = unparsed + too_long.len() as u64;
    if skipped > 0 {
        m.input_skipped.get_or_create(&shared.labels).inc_by(skipped);
    }
    if let Some(&offset) = too_long.first() {
        let limit = opts.buffer_max_size;
        if opts.skip_long_lines {
            if f.long_line_logged.is_none() {
                tracing::warn!(file = %f.orig_name, offset, limit, "tail: skipping lines longer than Buffer_Max_Size");
                f.long_line_logged = Some(Instant::now());
            }
        } else if f.long_line_logged.is_none_or(|t| t.elapsed() >= LONG_LINE_LOG_EVERY) {
            tracing::error!(
                file = %f.orig_name, offset, limit, skipped = too_long.len(),
                "tail: line longer than Buffer_Max_Size skipped (Skip_Long_Lines is Off; Fluent Bit would stop \
                 following this file, Hydrant keeps following it)"
            );
            f.long_line_logged = Some(Instant::now());
        }
    }
}

/// A raw line's record: `{Path_Key, Offset_Key, Key: line}` in Fluent Bit's order.
fn raw_record(opts: &TailOptions, name: &str, line: String, offset: u64, time: EventTime) -> Record {
    let mut body = Map::with_capacity(1 + opts.path_key.is_some() as usize + opts.offset_key.is_some() as usize);
    if let Some(k) = &opts.path_key {
        body.push(k.clone(), Value::Str(name.to_owned()));
    }
    if let Some(k) = &opts.offset_key {
        body.push(k.clone(), Value::Int(offset as i64));
    }
    body.push(opts.key.clone(), Value::Str(line));
    Record::new(time, body)
}

/// A multiline record with `Path_Key` and `Offset_Key` appended, as Fluent Bit's multiline
/// flush does.
fn with_keys(opts: &TailOptions, name: &str, asm: Assembled) -> Record {
    let mut record = asm.record;
    if let Some(k) = &opts.path_key {
        record.body.push(k.clone(), Value::Str(name.to_owned()));
    }
    if let Some(k) = &opts.offset_key {
        record.body.push(k.clone(), Value::Int(asm.offset as i64));
    }
    record
}

/// Send what `f` has read since its last chunk, as chunks of at most
/// [`MAX_CHUNK_RECORDS`] sharing one ack, and open the span they cover.
fn emit(shared: &Shared, f: &mut TailFile) -> Result<(), Stopped> {
    let end = f.safe_offset();
    let start = f.emitted_to;
    if f.records.is_empty() && end <= start {
        return Ok(());
    }
    let mut records = std::mem::take(&mut f.records);
    let bytes = std::mem::take(&mut f.consumed_since_emit);
    let span = if end > start {
        f.emitted_to = end;
        shared.positions.span(f.id, end)
    } else {
        None
    };
    if records.is_empty() {
        // Only skipped lines: nothing to deliver, the position may move at once.
        if let Some(s) = span {
            shared.positions.ack(s, AckOutcome::Delivered);
        }
        return Ok(());
    }
    let permit = match shared.reserve(bytes) {
        Ok(p) => p,
        Err(Stopped) => {
            if let Some(s) = span {
                shared.positions.ack(s, AckOutcome::Abandoned);
            }
            return Err(Stopped);
        }
    };
    let held = permit.num_permits() as i64;
    let backlog = shared.metrics.backlog_bytes.get_or_create(&shared.labels).clone();
    backlog.inc_by(held);
    let positions = shared.positions.clone();
    let ack = Ack::new(move |outcome| {
        drop(permit);
        backlog.dec_by(held);
        if let Some(s) = span {
            positions.ack(s, outcome);
        }
    });
    let total = records.len();
    while records.len() > MAX_CHUNK_RECORDS {
        let rest = records.split_off(MAX_CHUNK_RECORDS);
        let piece_bytes = bytes * records.len() / total;
        shared.send(Chunk { tag: f.tag.clone(), records, ack: ack.clone(), source_bytes: piece_bytes })?;
        records = rest;
    }
    let piece_bytes = bytes * records.len() / total;
    shared.send(Chunk { tag: f.tag.clone(), records, ack, source_bytes: piece_bytes })
}
