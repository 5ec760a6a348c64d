//! Splitting a file's bytes into lines, with Fluent Bit's line-length limit.
//!
//! Bytes arrive in blocks of whatever size a `read` returned. Complete lines inside a block
//! are handed out as slices of it (no copy); only the unfinished line at a block's end is
//! carried over, into a per-file buffer that never grows past `Buffer_Max_Size`. That keeps
//! one large read buffer shared by every file (fast) while each idle file costs only its
//! carried partial line.
//!
//! A line that does not fit (its bytes plus newline exceed `Buffer_Max_Size`, the limit of
//! Fluent Bit's per-file buffer) is reported once as [`LineEvent::TooLong`] and skipped to
//! its newline. Fluent Bit with `Skip_Long_Lines Off` would instead stop following the file;
//! the caller decides how loudly to say so, but the file keeps flowing either way.
//!
//! Offsets: [`LineReader::line_start`] is the offset of the first byte not yet handed out
//! as part of a complete line (the start of the carried or skipped line). A position saved
//! there always resumes at a line boundary.

/// What [`LineReader::feed`] finds.
#[derive(Debug, PartialEq, Eq)]
pub enum LineEvent<'a> {
    /// A complete line, without its newline (and without a trailing `\r` for lines of two
    /// bytes or more, as Fluent Bit strips CRLF), starting at `offset` in the file.
    Line {
        /// The line's bytes.
        bytes: &'a [u8],
        /// Offset of its first byte in the file.
        offset: u64,
    },
    /// A line longer than the limit, starting at `offset`; its bytes are being skipped.
    TooLong {
        /// Offset of its first byte in the file.
        offset: u64,
    },
}

/// The per-file line splitter.
#[derive(Debug)]
pub struct LineReader {
    carry: Vec<u8>,
    skipping: bool,
    max_line: usize,
    line_start: u64,
    read_offset: u64,
}

impl LineReader {
    /// A reader positioned at `offset`, for lines of at most `max_line` bytes including
    /// the newline.
    pub fn new(offset: u64, max_line: usize) -> Self {
        LineReader {
            carry: Vec::new(),
            skipping: false,
            max_line: max_line.max(2),
            line_start: offset,
            read_offset: offset,
        }
    }

    /// Offset just past the bytes fed so far (the file position).
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Offset of the first byte not yet handed out in a complete line.
    pub fn line_start(&self) -> u64 {
        self.line_start
    }

    /// Bytes held for an unfinished line.
    pub fn carried(&self) -> usize {
        self.carry.len()
    }

    /// Start again at `offset`, forgetting any unfinished line (truncated file).
    pub fn reset(&mut self, offset: u64) {
        self.carry.clear();
        self.skipping = false;
        self.line_start = offset;
        self.read_offset = offset;
    }

    /// Process the next `data` read from the file, calling `on` for each line or overlong
    /// line found, in order.
    pub fn feed(&mut self, mut data: &[u8], mut on: impl FnMut(LineEvent<'_>)) {
        let mut base = self.read_offset;
        self.read_offset += data.len() as u64;
        // NUL bytes at the start of a read, when no line is pending, are skipped as Fluent
        // Bit does: copytruncate leaves a hole of zeros where the writer's old offset was.
        if self.carry.is_empty() && !self.skipping && self.line_start == base {
            let zeros = data.iter().position(|&b| b != 0).unwrap_or(data.len());
            data = &data[zeros..];
            base += zeros as u64;
            self.line_start = base;
        }
        let limit = self.max_line - 1;
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &data[pos..]) {
            let end = pos + i;
            let start_offset = self.line_start;
            if self.skipping {
                self.skipping = false;
            } else if self.carry.is_empty() {
                if end - pos > limit {
                    on(LineEvent::TooLong { offset: start_offset });
                } else {
                    on(LineEvent::Line { bytes: strip_cr(&data[pos..end]), offset: start_offset });
                }
            } else if self.carry.len() + (end - pos) > limit {
                self.carry.clear();
                on(LineEvent::TooLong { offset: start_offset });
            } else {
                self.carry.extend_from_slice(&data[pos..end]);
                on(LineEvent::Line { bytes: strip_cr(&self.carry), offset: start_offset });
                self.carry.clear();
            }
            pos = end + 1;
            self.line_start = base + pos as u64;
        }
        let rest = &data[pos..];
        if rest.is_empty() || self.skipping {
            return;
        }
        if self.carry.len() + rest.len() > limit {
            // Already too long without its newline: say so now and skip to the newline.
            self.carry.clear();
            self.carry.shrink_to(self.max_line.min(64 * 1024));
            self.skipping = true;
            on(LineEvent::TooLong { offset: self.line_start });
        } else {
            self.carry.extend_from_slice(rest);
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    match line {
        [head @ .., b'\r'] if line.len() >= 2 => head,
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(r: &mut LineReader, blocks: &[&[u8]]) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for b in blocks {
            r.feed(b, |e| match e {
                LineEvent::Line { bytes, offset } => out.push((String::from_utf8_lossy(bytes).into_owned(), offset)),
                LineEvent::TooLong { offset } => out.push(("<too long>".to_owned(), offset)),
            });
        }
        out
    }

    #[test]
    fn splits_across_blocks_with_offsets() {
        let mut r = LineReader::new(10, 100);
        let out = feed_all(&mut r, &[b"ab\ncd", b"e\r\nf", b"g\n\n"]);
        assert_eq!(out, vec![("ab".into(), 10), ("cde".into(), 13), ("fg".into(), 18), ("".into(), 21)]);
        assert_eq!(r.line_start(), 22);
        assert_eq!(r.read_offset(), 22);
        r.feed(b"par", |_| panic!("no line yet"));
        assert_eq!(r.line_start(), 22);
        assert_eq!(r.read_offset(), 25);
    }

    #[test]
    fn long_lines_are_reported_once_and_skipped() {
        // Limit 8 bytes with the newline: 7 bytes of content fit.
        let mut r = LineReader::new(0, 8);
        let out = feed_all(&mut r, &[b"1234567\n12345678\nok\n0123", b"456789", b"abc\nnext\n"]);
        assert_eq!(
            out,
            vec![
                ("1234567".into(), 0),
                ("<too long>".into(), 8),
                ("ok".into(), 17),
                ("<too long>".into(), 20),
                ("next".into(), 34)
            ]
        );
        assert_eq!(r.line_start(), 39);
    }

    #[test]
    fn skipped_long_line_holds_the_position_until_its_newline() {
        let mut r = LineReader::new(0, 4);
        r.feed(b"a\nlonglong", |_| {});
        assert_eq!(r.line_start(), 2);
        r.feed(b"more\nb\n", |_| {});
        assert_eq!(r.line_start(), 17);
    }

    #[test]
    fn leading_zeros_after_copytruncate_are_skipped() {
        let mut r = LineReader::new(0, 100);
        let out = feed_all(&mut r, &[b"\0\0\0x\n"]);
        assert_eq!(out, vec![("x".into(), 3)]);
    }
}
