//! Segment writes that bypass the page cache (`O_DIRECT`).
//!
//! A buffered write copies every frame into the page cache. The kernel then allocates,
//! charges and dirties each page, and later writes it back and reclaims it. On the
//! intake's ingest that was most of the log thread's CPU (`copy_folio_from_iter_atomic`,
//! BENCHMARKS.md), and the firehose writes several hundred MB/s this way. With `O_DIRECT`
//! the log thread copies a group once into an aligned buffer of its own, and the device
//! reads it from there.
//!
//! `O_DIRECT` takes only whole, aligned blocks, and a group rarely ends on a block
//! boundary. The whole blocks go out directly. The last, partial block goes through the
//! page cache, with an ordinary write on a second descriptor. So a segment still ends
//! exactly where its last frame does, and recovery and torn-tail handling see the same
//! files as with buffered writes. The next group starts with that partial block (kept in
//! memory) and overwrites it directly, with the same bytes first. Linux writes back and
//! drops the cached page of a range before a direct write to it. The `fdatasync` after the
//! two writes covers both.
//!
//! A direct write waits for the device. On a virtual disk whose latency spikes, a group
//! can then take far longer than its fsync would have: 16-544 ms, against under 1 ms,
//! for the firehose's 0.5-1 MB groups (BENCHMARKS.md). So a service whose promise is
//! latency opens its log with [`crate::WriteMode::Buffered`].
//!
//! Overwriting a block that holds acknowledged frames is no new exposure. A buffered
//! append to a partly filled page rewrites the whole page on writeback too. The bytes
//! already acknowledged are the same in the old and new versions of the block.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Alignment of direct writes: offsets, lengths and the buffer's address. 4096 covers
/// the logical block size of every common device (512 or 4096).
pub(crate) const BLOCK: usize = 4096;

/// Name of the file [`supported`] writes to find out (removed right after).
const PROBE: &str = ".direct-io-probe";

/// True when files in `dir` take direct writes. Some file systems refuse `O_DIRECT` at
/// open (tmpfs before Linux 6.6, some FUSE and network file systems) or at the first
/// write. The log then writes through the page cache, as before.
pub(crate) fn supported(dir: &Path) -> bool {
    let path = dir.join(PROBE);
    let result = (|| {
        let file = open_direct(&path, true)?;
        let mut buf = AlignedBuf::with_capacity(BLOCK);
        buf.window(BLOCK).fill(0);
        file.write_all_at(buf.window(BLOCK), 0)
    })();
    let _ = std::fs::remove_file(&path);
    result.is_ok()
}

fn open_direct(path: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new().write(true).create(create).truncate(create).custom_flags(libc::O_DIRECT).open(path)
}

/// A heap buffer with a [`BLOCK`]-aligned window, without `unsafe`: over-allocated by a
/// block, and the window starts at the first aligned address.
pub(crate) struct AlignedBuf {
    bytes: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn with_capacity(capacity: usize) -> Self {
        let bytes = vec![0u8; capacity + BLOCK];
        let start = bytes.as_ptr().align_offset(BLOCK);
        AlignedBuf { bytes, start }
    }

    fn capacity(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// The first `len` bytes of the window (at most [`AlignedBuf::capacity`]).
    fn window(&mut self, len: usize) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + len]
    }
}

/// One segment file written with direct writes (see the module docs).
pub(crate) struct DirectFile {
    direct: File,
    buffered: File,
    buf: AlignedBuf,
    /// The window's first `tail` bytes: the start of the block at `block_start`, to be
    /// written again before the next group's bytes.
    tail: usize,
    block_start: u64,
}

impl DirectFile {
    /// Writes the segment file at `path` (open for writing as `buffered`) from its start,
    /// `first` (the segment header) first: it goes out with the first group.
    /// `buf` is the previous segment's buffer ([`DirectFile::into_buf`]), if any.
    pub(crate) fn new(buffered: File, path: &Path, first: &[u8], buf: Option<AlignedBuf>) -> io::Result<DirectFile> {
        let direct = open_direct(path, false)?;
        let mut buf = buf.unwrap_or_else(|| AlignedBuf::with_capacity(1 << 20));
        buf.window(first.len()).copy_from_slice(first);
        Ok(DirectFile { direct, buffered, buf, tail: first.len(), block_start: 0 })
    }

    /// Writes `parts` (`len` bytes in all) after everything written so far: whole blocks
    /// directly, the rest through the page cache. Durable after [`DirectFile::sync_data`].
    pub(crate) fn write<'a>(&mut self, parts: impl IntoIterator<Item = &'a [u8]>, len: usize) -> io::Result<()> {
        let total = self.tail + len;
        let needed = total.div_ceil(BLOCK) * BLOCK;
        if needed > self.buf.capacity() {
            // Grown to the largest group seen (bounded by the log's group size plus one
            // frame), then kept: the log thread writes every group through it.
            let mut bigger = AlignedBuf::with_capacity(needed.max(self.buf.capacity() * 3 / 2));
            let tail = self.tail;
            bigger.window(tail).copy_from_slice(self.buf.window(tail));
            self.buf = bigger;
        }
        let window = self.buf.window(needed);
        let mut at = self.tail;
        for part in parts {
            let Some(to) = window.get_mut(at..at + part.len()) else {
                return Err(io::Error::other(format!("group longer than the {len} bytes announced")));
            };
            to.copy_from_slice(part);
            at += part.len();
        }
        if at != total {
            return Err(io::Error::other(format!("group of {at} bytes announced as {total}")));
        }
        let full = total / BLOCK * BLOCK;
        if full > 0 {
            self.direct.write_all_at(&window[..full], self.block_start)?;
        }
        if total > full {
            self.buffered.write_all_at(&window[full..total], self.block_start + full as u64)?;
        }
        window.copy_within(full..total, 0);
        self.tail = total - full;
        self.block_start += full as u64;
        Ok(())
    }

    /// The buffer, for the next segment.
    pub(crate) fn into_buf(self) -> AlignedBuf {
        self.buf
    }

    /// `fdatasync`: the direct writes are on the device already; this flushes the cached
    /// tail, the device's own cache and, for a file that grew, its size.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.buffered.sync_data()
    }
}
