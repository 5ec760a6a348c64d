//! The in-memory evaluator: [`Query::matches`] against a [`Document`].
//!
//! Nothing here allocates: constants were lowercased and patterns compiled at parse time,
//! message words are iterated in place, and JSON numbers matched against wildcards or
//! string bounds are formatted into a stack buffer.

use crate::ast::{parse_number, Bound, Field, Predicate, Query, Reserved, Term, Tok};
use crate::document::{step, Document};
use crate::{fold, is_word_char};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::IpAddr;

impl Query {
    /// Whether the document matches the query. Allocation-free.
    pub fn matches<D: Document + ?Sized>(&self, doc: &D) -> bool {
        match self {
            Query::All => true,
            Query::Not(q) => !q.matches(doc),
            Query::And(items) => items.iter().all(|q| q.matches(doc)),
            Query::Or(items) => items.iter().any(|q| q.matches(doc)),
            Query::Match { field, predicate } => match_field(field, predicate, doc),
        }
    }
}

fn match_field<D: Document + ?Sized>(field: &Field, pred: &Predicate, doc: &D) -> bool {
    match field {
        Field::Text | Field::Reserved(Reserved::Message) => doc.message().is_some_and(|m| match_text(pred, m)),
        Field::Reserved(r) => doc.reserved(*r).is_some_and(|v| match_str(pred, v, *r == Reserved::Status)),
        Field::Tag(key) => doc.tags().iter().any(|tag| match tag.split_once(':') {
            Some((k, v)) if eq_fold(k, key) => matches!(pred, Predicate::Exists) || match_str(pred, v, true),
            _ => false,
        }),
        Field::Tags => doc.tags().iter().any(|tag| match_str(pred, tag, true)),
        Field::Attribute(path) => visit_attribute(doc, path, &mut |v| match_json(pred, v)),
    }
}

/// Calls `f` on the value(s) at `path`, fanning out through arrays met on the way
/// (`@Event.Data.Name` over `{"Event":{"Data":[{"Name":..},..]}}`). Stops at the first `true`.
fn visit_attribute<D: Document + ?Sized>(doc: &D, path: &[String], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    if let Some(v) = doc.attribute(path) {
        return f(v);
    }
    // Find the longest prefix that resolves; if it is an array, continue inside its items.
    for k in (1..path.len()).rev() {
        if let Some(v) = doc.attribute(&path[..k]) {
            return walk(v, &path[k..], f);
        }
    }
    false
}

fn walk(v: &Value, rest: &[String], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    if rest.is_empty() {
        return f(v);
    }
    match v {
        Value::Object(map) => match step(map, rest) {
            Some((child, used)) => walk(child, &rest[used..], f),
            None => false,
        },
        Value::Array(items) => items.iter().any(|item| walk(item, rest, f)),
        _ => false,
    }
}

fn match_json(pred: &Predicate, v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(items) => matches!(pred, Predicate::Exists) || items.iter().any(|item| match_json(pred, item)),
        _ if matches!(pred, Predicate::Exists) => true,
        Value::String(s) => match_str(pred, s, false),
        Value::Bool(b) => match_str(pred, if *b { "true" } else { "false" }, false),
        Value::Number(n) => {
            let Some(x) = n.as_f64() else { return false };
            match pred {
                Predicate::Equals(t) => t.number == Some(x),
                Predicate::Range { lower, upper } => {
                    let mut buf = StackStr::new();
                    let text = buf.format(n);
                    in_range(lower, upper, |t| match t.number {
                        Some(b) => x.partial_cmp(&b),
                        None => text.map(|s| s.cmp(t.text.as_str())),
                    })
                }
                Predicate::Wildcard(p) => {
                    let mut buf = StackStr::new();
                    buf.format(n).is_some_and(|s| glob(&p.tokens, s, false))
                }
                Predicate::Exists | Predicate::Cidr(_) => false,
            }
        }
        Value::Object(_) => false,
    }
}

/// A predicate on a string value; `ci` for case-insensitive fields (constants are
/// already lowercase, the value is folded on the fly).
fn match_str(pred: &Predicate, s: &str, ci: bool) -> bool {
    match pred {
        Predicate::Exists => true,
        Predicate::Equals(t) => {
            if ci {
                eq_fold(s, &t.text)
            } else {
                s == t.text
            }
        }
        Predicate::Wildcard(p) => glob(&p.tokens, s, ci),
        Predicate::Range { lower, upper } => {
            let number = parse_number(s);
            in_range(lower, upper, |t| match (number, t.number) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ if ci => Some(s.chars().map(fold).cmp(t.text.chars())),
                _ => Some(s.cmp(t.text.as_str())),
            })
        }
        Predicate::Cidr(blocks) => s.trim().parse::<IpAddr>().is_ok_and(|ip| blocks.iter().any(|b| b.contains(ip))),
    }
}

/// `cmp(term)` orders the value against a bound's term; `None` means incomparable.
fn in_range(lower: &Bound, upper: &Bound, cmp: impl Fn(&Term) -> Option<Ordering>) -> bool {
    let lower_ok = match lower {
        Bound::Unbounded => true,
        Bound::Included(t) => matches!(cmp(t), Some(Ordering::Greater | Ordering::Equal)),
        Bound::Excluded(t) => matches!(cmp(t), Some(Ordering::Greater)),
    };
    lower_ok
        && match upper {
            Bound::Unbounded => true,
            Bound::Included(t) => matches!(cmp(t), Some(Ordering::Less | Ordering::Equal)),
            Bound::Excluded(t) => matches!(cmp(t), Some(Ordering::Less)),
        }
}

/// Free text on the message.
fn match_text(pred: &Predicate, msg: &str) -> bool {
    match pred {
        Predicate::Exists => true,
        Predicate::Equals(t) => sequence_match(msg, Words::new(&t.text), |q, w| eq_fold(w, q)),
        Predicate::Wildcard(p) => {
            let segments = p.tokens.split(is_separator as fn(&Tok) -> bool).filter(not_empty as fn(&&[Tok]) -> bool);
            sequence_match(msg, segments, |seg, w| glob(seg, w, true))
        }
        // Ranges and CIDR on free text apply to the whole message.
        Predicate::Range { .. } | Predicate::Cidr(_) => match_str(pred, msg, true),
    }
}

fn is_separator(t: &Tok) -> bool {
    matches!(t, Tok::Char(c) if !is_word_char(*c))
}

fn not_empty(s: &&[Tok]) -> bool {
    !s.is_empty()
}

/// Whether the items of `query` match consecutive words of `msg` (an empty query matches).
/// Each message word is tokenized once unless the first item matched it.
fn sequence_match<Q: Copy, I>(msg: &str, query: I, eq: impl Fn(Q, &str) -> bool) -> bool
where
    I: Iterator<Item = Q> + Clone,
{
    let mut rest = query;
    let Some(first) = rest.next() else { return true };
    let mut start = Words::new(msg);
    while let Some(word) = start.next() {
        if eq(first, word) {
            let mut words = start.clone();
            if rest.clone().all(|item| words.next().is_some_and(|w| eq(item, w))) {
                return true;
            }
        }
    }
    false
}

/// The words of a text: maximal runs of alphanumeric characters and `_`.
#[derive(Clone)]
pub(crate) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    pub(crate) fn new(s: &'a str) -> Words<'a> {
        Words { rest: s }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = word_boundary(self.rest, true)?;
        let tail = &self.rest[start..];
        let end = word_boundary(tail, false).unwrap_or(tail.len());
        self.rest = &tail[end..];
        Some(&tail[..end])
    }
}

/// Byte offset of the first character that is (`want_word`) or is not a word character;
/// ASCII is tested byte by byte, other characters are decoded.
fn word_boundary(s: &str, want_word: bool) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (is_word, len) = if b < 0x80 {
            (b.is_ascii_alphanumeric() || b == b'_', 1)
        } else {
            let c = s[i..].chars().next()?;
            (is_word_char(c), c.len_utf8())
        };
        if is_word == want_word {
            return Some(i);
        }
        i += len;
    }
    None
}

/// `a` equals the already-lowercase `folded`, ignoring case.
fn eq_fold(a: &str, folded: &str) -> bool {
    if a.eq_ignore_ascii_case(folded) {
        return true;
    }
    if a.is_ascii() {
        // An ASCII `a` lowercases to ASCII of the same length: the check above was exact.
        return false;
    }
    a.chars().map(fold).eq(folded.chars())
}

/// Wildcard matching with single-star backtracking; linear in practice, allocation-free.
pub(crate) fn glob(pattern: &[Tok], s: &str, ci: bool) -> bool {
    let norm = |c: char| if ci { fold(c) } else { c };
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(c) = s[si..].chars().next() {
            match pattern.get(pi) {
                Some(Tok::Star) => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                Some(Tok::Any) => {
                    pi += 1;
                    si += c.len_utf8();
                    continue;
                }
                Some(Tok::Char(pc)) if *pc == norm(c) => {
                    pi += 1;
                    si += c.len_utf8();
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, ss)) => {
                    let skipped = s[ss..].chars().next().map_or(1, char::len_utf8);
                    star = Some((sp, ss + skipped));
                    pi = sp + 1;
                    si = ss + skipped;
                }
                None => return false,
            }
        } else {
            return pattern[pi..].iter().all(|t| *t == Tok::Star);
        }
    }
}

/// A small stack buffer to format a JSON number without allocating.
struct StackStr {
    buf: [u8; 64],
    len: usize,
}

impl StackStr {
    fn new() -> StackStr {
        StackStr { buf: [0; 64], len: 0 }
    }

    fn format(&mut self, n: &serde_json::Number) -> Option<&str> {
        write!(self, "{n}").ok()?;
        std::str::from_utf8(&self.buf[..self.len]).ok()
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
