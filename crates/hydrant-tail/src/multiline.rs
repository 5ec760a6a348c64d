//! Turning a file's lines into records with the built-in `cri` and `docker` multiline
//! parsers: parse each line, join the parts a container runtime split, and fall back to the
//! raw line when no parser matches.
//!
//! The facts follow Fluent Bit's multiline core (`flb_ml.c`):
//!
//! - A parsed line joins the pending group of its parser and `stream`; the group's record is
//!   the *first* part's map with its content key (`log`) replaced by the concatenation of
//!   every part (no separator), and its time is the first part's time.
//! - `cri` ends a group on `_p` = `F`; `docker` on a `log` that ends with a newline.
//! - A group left incomplete is flushed as it is after 4 s ([`FLUSH_TIMEOUT`]).
//! - A line no parser accepts first flushes the file's pending groups (keeping order), then
//!   becomes `{"log": line}` stamped with the read time.
//!
//! One deliberate difference: Fluent Bit flushes a stream's pending group as soon as a line
//! of the *other* stream arrives, which cuts a long stdout line in two whenever stderr
//! interleaves. Here each stream keeps its own group until its final part, as the CRI format
//! intends (both streams share one file).
//!
//! Each group remembers the file offset of its first part, so the input never commits a
//! position past a half-assembled record ([`Assembler::earliest_pending`]): after a restart
//! the parts are read and joined again instead of being emitted in pieces.

use std::time::{Duration, Instant};

use hydrant_flb::{EventTime, Map, Record, Value};

use crate::{cri, docker};

/// How long an incomplete group waits for its next part before it is flushed as it is
/// (Fluent Bit's `FLB_ML_FLUSH_TIMEOUT`).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(4);

/// Content size past which a group is flushed even without its final part, so a runtime
/// that never writes `F` (or a corrupt file) cannot grow memory without bound. Containerd
/// splits at 16 KiB, so this is 128 parts.
pub const MAX_GROUP_BYTES: usize = 2 * 1024 * 1024;

/// A built-in multiline parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// containerd / CRI-O lines ([`cri`]).
    Cri,
    /// Docker json-file lines ([`docker`]).
    Docker,
}

impl Format {
    /// The parser for a configured name (`cri`, `docker`; case-insensitive).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "cri" => Some(Format::Cri),
            "docker" => Some(Format::Docker),
            _ => None,
        }
    }
}

/// A record ready to go out, with the file offset of the line it started at.
#[derive(Debug)]
pub struct Assembled {
    /// The record.
    pub record: Record,
    /// Offset of its first line in the file (for `Offset_Key`).
    pub offset: u64,
}

/// An incomplete record: the first part's map and the content joined so far.
#[derive(Debug)]
struct Group {
    format: Format,
    stream: String,
    time: EventTime,
    body: Map,
    content_key: usize,
    content: String,
    first_offset: u64,
    last_append: Instant,
}

impl Group {
    fn finish(mut self) -> Assembled {
        self.body.0[self.content_key].1 = Value::Str(self.content);
        Assembled { record: Record::new(self.time, self.body), offset: self.first_offset }
    }
}

/// One parsed line, before grouping.
struct Parsed<'a> {
    format: Format,
    time: Option<EventTime>,
    last: bool,
    kind: ParsedKind<'a>,
}

enum ParsedKind<'a> {
    Cri(cri::CriLine<'a>),
    Docker(docker::DockerLine),
}

impl ParsedKind<'_> {
    /// The group (`stream`) and the content of the line.
    fn views(&self) -> (&str, &str) {
        match self {
            ParsedKind::Cri(l) => (l.stream, l.content),
            ParsedKind::Docker(l) => (l.stream(), l.content()),
        }
    }

    /// The line's own map and the index of its content, built only when the line starts a
    /// group or stands alone, so joined parts never build one.
    fn into_body(self) -> (Map, usize) {
        match self {
            ParsedKind::Cri(l) => (
                Map(vec![
                    ("time".to_owned(), Value::Str(l.time.to_owned())),
                    ("stream".to_owned(), Value::Str(l.stream.to_owned())),
                    ("_p".to_owned(), Value::Str(if l.partial { "P" } else { "F" }.to_owned())),
                    ("log".to_owned(), Value::Str(l.content.to_owned())),
                ]),
                3,
            ),
            ParsedKind::Docker(l) => (l.body, l.log),
        }
    }
}

/// The per-file multiline state: which parsers to try and the pending groups.
#[derive(Debug)]
pub struct Assembler {
    formats: Vec<Format>,
    groups: Vec<Group>,
}

impl Assembler {
    /// An assembler trying `formats` in order on each line.
    pub fn new(formats: Vec<Format>) -> Self {
        Assembler { formats, groups: Vec::new() }
    }

    /// Process one line (without its newline) that starts at `offset`, read at `read_time`
    /// (the record time when the line has none) and `now`. Completed records go to `out`,
    /// in the order they complete. Returns whether a parser accepted the line.
    pub fn push(
        &mut self,
        line: &str,
        offset: u64,
        read_time: EventTime,
        now: Instant,
        out: &mut impl FnMut(Assembled),
    ) -> bool {
        let Some(p) = self.parse(line) else {
            self.flush_all(out);
            let body = Map(vec![("log".to_owned(), Value::Str(line.to_owned()))]);
            out(Assembled { record: Record::new(read_time, body), offset });
            return false;
        };
        let (stream, content) = p.kind.views();
        let pending = self.groups.iter().position(|g| g.format == p.format && g.stream == stream);
        match pending {
            // The common case: a complete line with nothing pending goes straight out.
            None if p.last => {
                let (body, _) = p.kind.into_body();
                out(Assembled { record: Record::new(p.time.unwrap_or(read_time), body), offset });
            }
            None => {
                let (stream, content) = (stream.to_owned(), content.to_owned());
                let (body, content_key) = p.kind.into_body();
                self.groups.push(Group {
                    format: p.format,
                    stream,
                    time: p.time.unwrap_or(read_time),
                    content,
                    body,
                    content_key,
                    first_offset: offset,
                    last_append: now,
                });
            }
            Some(i) => {
                let group = &mut self.groups[i];
                group.content.push_str(content);
                group.last_append = now;
                if p.last || group.content.len() >= MAX_GROUP_BYTES {
                    out(self.groups.remove(i).finish());
                }
            }
        }
        true
    }

    fn parse<'a>(&self, line: &'a str) -> Option<Parsed<'a>> {
        self.formats.iter().find_map(|format| match format {
            Format::Cri => cri::parse(line).map(|l| Parsed {
                format: Format::Cri,
                time: cri::parse_time(l.time),
                last: !l.partial,
                kind: ParsedKind::Cri(l),
            }),
            Format::Docker => docker::parse(line).map(|l| Parsed {
                format: Format::Docker,
                time: l.time,
                last: l.is_final(),
                kind: ParsedKind::Docker(l),
            }),
        })
    }

    /// Flush the groups that have waited [`FLUSH_TIMEOUT`] for their next part.
    pub fn flush_expired(&mut self, now: Instant, out: &mut impl FnMut(Assembled)) {
        while let Some(i) = self.groups.iter().position(|g| now.duration_since(g.last_append) >= FLUSH_TIMEOUT) {
            out(self.groups.remove(i).finish());
        }
    }

    /// Flush every pending group, oldest first (a raw line arrived, or the file closes).
    pub fn flush_all(&mut self, out: &mut impl FnMut(Assembled)) {
        self.groups.sort_by_key(|g| g.first_offset);
        for g in self.groups.drain(..) {
            out(g.finish());
        }
    }

    /// Drop the pending groups (the file was truncated: their parts are gone).
    pub fn clear(&mut self) {
        self.groups.clear();
    }

    /// Offset of the first line of the oldest pending group: the input's position may not
    /// pass it.
    pub fn earliest_pending(&self) -> Option<u64> {
        self.groups.iter().map(|g| g.first_offset).min()
    }

    /// Whether any group is pending.
    pub fn has_pending(&self) -> bool {
        !self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &mut Assembler, lines: &[&str], now: Instant) -> Vec<(String, EventTime, u64)> {
        let mut out = Vec::new();
        let mut offset = 0;
        for l in lines {
            a.push(l, offset, EventTime::new(7, 0), now, &mut |r| {
                out.push((r.record.body.to_json_string(), r.record.time, r.offset))
            });
            offset += l.len() as u64 + 1;
        }
        out
    }

    #[test]
    fn cri_joins_partials_per_stream() {
        let mut a = Assembler::new(vec![Format::Cri]);
        let t0 = Instant::now();
        let out = run(
            &mut a,
            &[
                "2024-01-15T10:00:00Z stdout P one ",
                "2024-01-15T10:00:01Z stderr F err",
                "2024-01-15T10:00:02Z stdout P two ",
                "2024-01-15T10:00:03Z stdout F three",
                "2024-01-15T10:00:04Z stdout F solo",
            ],
            t0,
        );
        assert_eq!(
            out,
            vec![
                (
                    r#"{"time":"2024-01-15T10:00:01Z","stream":"stderr","_p":"F","log":"err"}"#.to_owned(),
                    EventTime::new(1_705_312_801, 0),
                    35
                ),
                (
                    r#"{"time":"2024-01-15T10:00:00Z","stream":"stdout","_p":"P","log":"one two three"}"#.to_owned(),
                    EventTime::new(1_705_312_800, 0),
                    0
                ),
                (
                    r#"{"time":"2024-01-15T10:00:04Z","stream":"stdout","_p":"F","log":"solo"}"#.to_owned(),
                    EventTime::new(1_705_312_804, 0),
                    140
                ),
            ]
        );
        assert!(!a.has_pending());
    }

    #[test]
    fn pending_groups_flush_after_the_timeout_and_hold_the_position() {
        let mut a = Assembler::new(vec![Format::Cri]);
        let t0 = Instant::now();
        let mut out = Vec::new();
        a.push("2024-01-15T10:00:00Z stdout P half", 100, EventTime::new(7, 0), t0, &mut |r| out.push(r));
        assert_eq!(a.earliest_pending(), Some(100));
        a.flush_expired(t0 + Duration::from_millis(3_999), &mut |r| out.push(r));
        assert!(out.is_empty());
        a.flush_expired(t0 + FLUSH_TIMEOUT, &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].record.body.get("log").unwrap().as_str(), Some("half"));
        assert_eq!(a.earliest_pending(), None);
    }

    #[test]
    fn unparsable_lines_flush_pending_groups_then_go_raw() {
        let mut a = Assembler::new(vec![Format::Cri]);
        let out = run(&mut a, &["2024-01-15T10:00:00Z stdout P part", "not cri"], Instant::now());
        assert_eq!(out[0].0, r#"{"time":"2024-01-15T10:00:00Z","stream":"stdout","_p":"P","log":"part"}"#);
        assert_eq!(out[1], (r#"{"log":"not cri"}"#.to_owned(), EventTime::new(7, 0), 35));
    }

    #[test]
    fn docker_joins_lines_without_newline() {
        let mut a = Assembler::new(vec![Format::Cri, Format::Docker]);
        let out = run(
            &mut a,
            &[
                r#"{"log":"one, ","stream":"stdout","time":"2021-02-01T01:40:03.53413Z"}"#,
                r#"{"log":"two\n","stream":"stdout","time":"2021-02-01T01:40:03.53414Z"}"#,
                r#"{"log":"done\n","stream":"stderr","time":"2021-02-01T01:40:03.53415Z"}"#,
            ],
            Instant::now(),
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, r#"{"log":"one, two\n","stream":"stdout","time":"2021-02-01T01:40:03.53413Z"}"#);
        assert_eq!(out[0].1, EventTime::new(1_612_143_603, 534_130_000));
        assert_eq!(out[1].0, r#"{"log":"done\n","stream":"stderr","time":"2021-02-01T01:40:03.53415Z"}"#);
    }
}
