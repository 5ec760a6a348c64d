//! The tantivy schema, the word tokenizer and the conversion of a log (its stored JSON) to a document.
//!
//! See the crate docs for the layout; the helpers here are shared by the indexer, the query
//! compiler and the aggregation collectors so that terms are spelled identically.

use crate::stored::{Node, StoredLog, Tree, TreeObject};
use hydrant_log::Log;
use hydrant_query::{fold, is_word_char, parse_number, Reserved};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name of the message tokenizer registered on the index.
pub(crate) const WORDS_TOKENIZER: &str = "hydrant_words";

/// Longest term (bytes) the store indexes; tantivy drops tokens above ~64 KiB, so longer
/// values are left out of the index and their log is flagged for post-filtering.
pub(crate) const MAX_TERM: usize = 16 * 1024;

/// Separates an attribute path from its typed value in the `attr` field.
pub(crate) const PATH_END: char = '\u{0}';

/// Type prefixes of `attr` values (after [`PATH_END`]).
pub(crate) mod ty {
    /// Boolean, as `true` / `false`.
    pub const BOOL: char = 'b';
    /// JSON number, order-preserving hex encoding of its `f64`.
    pub const NUM: char = 'n';
    /// JSON number, spelled as JSON spells it (for wildcards and lexicographic ranges).
    pub const NUM_TEXT: char = 'N';
    /// String that spells a number, encoded like [`NUM`].
    pub const NUMSTR: char = 'm';
    /// String that spells a number, as written.
    pub const NUMSTR_TEXT: char = 'u';
    /// Any other string.
    pub const STR: char = 't';
}

/// Categories of values that could not be indexed exactly; a log with such a value carries
/// the marker `amb:<category>` in the `exists` field, and predicates of that category
/// post-filter those logs.
pub(crate) mod amb {
    /// A message word longer than [`super::MAX_TERM`].
    pub const TEXT: &str = "amb:text";
    /// A reserved field longer than [`super::MAX_TERM`].
    pub const RESERVED: &str = "amb:reserved";
    /// A tag longer than [`super::MAX_TERM`].
    pub const TAGS: &str = "amb:tags";
    /// An attribute tree whose dotted keys make paths ambiguous, or a long attribute value.
    pub const ATTR: &str = "amb:attr";
}

/// Handles on the schema's fields.
#[derive(Clone, Debug)]
pub(crate) struct Fields {
    pub id: Field,
    pub timestamp: Field,
    pub host: Field,
    pub service: Field,
    pub source: Field,
    pub trace_id: Field,
    pub status: Field,
    pub status_lc: Field,
    pub message: Field,
    pub tags: Field,
    pub tags_lc: Field,
    pub attr: Field,
    pub exists: Field,
    pub log: Field,
}

pub(crate) const F_ID: &str = "id";
pub(crate) const F_TIMESTAMP: &str = "timestamp_ms";
pub(crate) const F_STATUS: &str = "status";
pub(crate) const F_TAGS: &str = "tags";
pub(crate) const F_ATTR: &str = "attr";

impl Fields {
    /// Builds the schema.
    pub fn schema() -> (Schema, Fields) {
        Self::build(FAST.into(), FAST.into())
    }

    /// The schema of indexes created before `id` and `timestamp_ms` lost their inverted
    /// index (they were `STRING | FAST` and `INDEXED | FAST`); such an index is still
    /// opened and written with it. The fields are the same, in the same order, so the same
    /// [`Fields`] handles address both, and queries read neither inverted index.
    pub fn legacy_schema() -> Schema {
        Self::build(STRING | FAST, NumericOptions::from(INDEXED) | FAST).0
    }

    fn build(id: TextOptions, timestamp: NumericOptions) -> (Schema, Fields) {
        let mut b = Schema::builder();
        let fast_only = TextOptions::default().set_fast("raw");
        let message = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(WORDS_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        );
        let fields = Fields {
            // Only a fast field: ids are read per document (sort tie-break, cursors) and never
            // searched, and a unique term per log was the costliest term of the dictionary.
            id: b.add_text_field(F_ID, id),
            // Only a fast field: time ranges are `RangeQuery`s, which tantivy answers from
            // the fast field whenever there is one, so its terms (one per distinct
            // millisecond) were built and never read.
            timestamp: b.add_i64_field(F_TIMESTAMP, timestamp),
            host: b.add_text_field("host", STRING | FAST),
            service: b.add_text_field("service", STRING | FAST),
            source: b.add_text_field("source", STRING | FAST),
            trace_id: b.add_text_field("trace_id", STRING | FAST),
            status: b.add_text_field(F_STATUS, fast_only.clone()),
            status_lc: b.add_text_field("status_lc", STRING),
            message: b.add_text_field("message", message),
            tags: b.add_text_field(F_TAGS, fast_only),
            tags_lc: b.add_text_field("tags_lc", STRING),
            attr: b.add_text_field(F_ATTR, STRING | FAST),
            exists: b.add_text_field("exists", STRING),
            log: b.add_text_field("log", STORED),
        };
        (b.build(), fields)
    }

    /// The indexed field of a reserved attribute (`status` is indexed lowercased).
    pub fn reserved(&self, r: Reserved) -> Field {
        match r {
            Reserved::Host => self.host,
            Reserved::Source => self.source,
            Reserved::Status => self.status_lc,
            Reserved::Service => self.service,
            Reserved::TraceId => self.trace_id,
            Reserved::Message => self.message,
        }
    }

    /// Converts a log to a document, given its JSON (`hydrant_log::json::write_log` of
    /// it, which the document stores): read from the `Log` itself, nothing is parsed.
    pub fn document(&self, log: &Log, json: &str, scratch: &mut Scratch) -> LogDoc {
        let parts = parts_of!(log);
        self.build_document(parts, &log.tags, &log.attributes, json, scratch)
    }

    /// Converts a log's stored JSON (`serde_json::to_writer` of a [`Log`]: the intake's
    /// write-ahead log records) to a document, storing the JSON as is. The log is read as a
    /// borrowed view ([`StoredLog`]) rather than decoded into a `Log`.
    pub fn document_from_stored(&self, json: &str, scratch: &mut Scratch) -> serde_json::Result<LogDoc> {
        let log: StoredLog<'_> = serde_json::from_str(json)?;
        let parts = parts_of!(log);
        Ok(self.build_document(parts, &log.tags, &log.attributes, json, scratch))
    }

    /// The one document builder, for a `Log` and for the stored view alike. The terms are
    /// built in the caller's scratch buffers, reused from log to log.
    fn build_document<T: std::ops::Deref<Target = str>>(
        &self,
        log: Parts<'_>,
        tags: &[T],
        attributes: &impl TreeObject,
        json: &str,
        scratch: &mut Scratch,
    ) -> LogDoc {
        // A quarter more than the previous document's terms: documents vary, and one that
        // outgrew its buffers was copied as it grew.
        let mut doc = LogDoc::new(
            self.timestamp,
            log.timestamp_ms,
            json.len() + scratch.text_hint + scratch.text_hint / 4,
            scratch.values_hint + scratch.values_hint / 4,
        );
        doc.add_text(self.id, log.id);
        // Which `amb:` markers the log gets, added with the other `exists` values at the end.
        let (mut amb_reserved, mut amb_text, mut amb_tags) = (false, false, false);
        // No `exists` markers: `host:*` and the like are answered from the fast columns
        // (`ExistsQuery`), and the rare value too long to index flags the log instead.
        for (field, value) in [
            (self.host, log.host),
            (self.service, log.service),
            (self.source, log.source),
            (self.trace_id, log.trace_id),
        ] {
            if let Some(v) = value {
                if v.len() <= MAX_TERM {
                    doc.add_text(field, v);
                } else {
                    amb_reserved = true;
                }
            }
        }
        doc.add_text(self.status, log.status);
        if log.status.len() <= MAX_TERM {
            doc.add_text(self.status_lc, fold_into(&mut scratch.buf, log.status));
        } else {
            amb_reserved = true;
        }
        doc.add_text(self.message, log.message);
        if log.message.len() > MAX_TERM && WordIter::new(log.message).any(|(_, w)| w.len() > MAX_TERM) {
            amb_text = true;
        }
        // No `exists` markers for tags: `tags:*` is answered from the `tags` fast column
        // and `key:*` from the `tags_lc` terms that start with `key:` (BENCHMARKS.md: a
        // marker per tag cost as much to index as the tag).
        // Values go in field order (`tags` before `tags_lc`, `attr` before `exists`): tantivy
        // sorts a document's values by field, which for values already in order is one pass.
        for tag in tags {
            doc.add_text(self.tags, tag);
        }
        for tag in tags {
            let folded = fold_into(&mut scratch.buf, tag);
            if folded.len() <= MAX_TERM {
                doc.add_text(self.tags_lc, folded);
            } else {
                amb_tags = true;
            }
        }
        scratch.buf.clear();
        let mut flat = Flattener {
            doc: &mut doc,
            fields: self,
            path: &mut scratch.buf,
            term: &mut scratch.term,
            markers: &mut scratch.markers,
            ambiguous: false,
        };
        flat.object(attributes);
        let amb_attr = flat.ambiguous;
        doc.values.append(&mut scratch.markers);
        for (flagged, marker) in
            [(amb_reserved, amb::RESERVED), (amb_text, amb::TEXT), (amb_tags, amb::TAGS), (amb_attr, amb::ATTR)]
        {
            if flagged {
                doc.add_text(self.exists, marker);
            }
        }
        doc.add_text(self.log, json);
        scratch.text_hint = doc.text.len().saturating_sub(json.len());
        scratch.values_hint = doc.values.len();
        doc
    }
}

/// [`Parts`] of a `Log` or a [`StoredLog`]: the same field names, strings that deref to `str`.
macro_rules! parts_of {
    ($log:expr) => {
        Parts {
            id: &$log.id,
            timestamp_ms: $log.timestamp_ms,
            host: $log.host.as_deref(),
            service: $log.service.as_deref(),
            source: $log.source.as_deref(),
            trace_id: $log.trace_id.as_deref(),
            status: &$log.status,
            message: &$log.message,
        }
    };
}
use parts_of;

/// The reserved attributes of a log, as the document builder reads them.
struct Parts<'a> {
    id: &'a str,
    timestamp_ms: i64,
    host: Option<&'a str>,
    service: Option<&'a str>,
    source: Option<&'a str>,
    trace_id: Option<&'a str>,
    status: &'a str,
    message: &'a str,
}

/// Buffers reused by [`Fields::document_from_stored`], and the size of the last document
/// (the next is sized like it, so that it is built without growing).
#[derive(Default)]
pub(crate) struct Scratch {
    buf: String,
    term: String,
    /// The `exists` markers of the attributes, added after their `attr` terms.
    markers: Vec<Span>,
    text_hint: usize,
    values_hint: usize,
}

/// A log as tantivy indexes it: every text value (terms, markers, the message, the stored
/// JSON) in one string, addressed by offsets, and the timestamp.
///
/// tantivy's own `TantivyDocument` encodes each value as it is added into a growing node
/// buffer, which its indexing threads then decode again; building it took most of the
/// intake indexer's time after parsing (and, growing, most of its fresh pages), and
/// reading it back a few percent of tantivy's. This document is sized from the previous
/// one and read back by slicing.
/// A text value of a [`LogDoc`]: its field, and its start and length in the document's text.
type Span = (Field, u32, u32);

#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct LogDoc {
    text: String,
    values: Vec<Span>,
    timestamp: (Field, i64),
    /// On the last document of a prepared batch: the batch's memory, released when tantivy
    /// drops the document, that is once it indexed the whole batch ([`crate::Preparer`]).
    pub(crate) ticket: Option<Ticket>,
}

impl LogDoc {
    fn new(timestamp_field: Field, timestamp_ms: i64, text: usize, values: usize) -> Self {
        LogDoc {
            text: String::with_capacity(text),
            values: Vec::with_capacity(values),
            timestamp: (timestamp_field, timestamp_ms),
            ticket: None,
        }
    }

    /// The memory this document holds (its buffers and itself).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.text.capacity() + self.values.capacity() * std::mem::size_of::<Span>()
    }

    fn add_text(&mut self, field: Field, value: &str) {
        let value = self.push_text(field, value);
        self.values.push(value);
    }

    /// Copies `value` into the text; the value's entry, for [`LogDoc::values`].
    fn push_text(&mut self, field: Field, value: &str) -> Span {
        // A log's JSON is limited to well under 4 GiB by every receiver (and tantivy's
        // document store by far less), so the offsets fit in 32 bits.
        let start = u32::try_from(self.text.len()).expect("a log under 4 GiB");
        self.text.push_str(value);
        (field, start, value.len() as u32)
    }
}

/// Bytes counted in a shared total (documents handed to tantivy and not yet indexed) until
/// the ticket is dropped.
pub(crate) struct Ticket {
    bytes: u64,
    total: Arc<AtomicU64>,
}

impl Ticket {
    /// Adds `bytes` to `total` until the ticket is dropped.
    pub(crate) fn new(bytes: u64, total: Arc<AtomicU64>) -> Ticket {
        total.fetch_add(bytes, Ordering::AcqRel);
        Ticket { bytes, total }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.bytes)
    }
}

#[cfg(test)]
impl PartialEq for Ticket {
    fn eq(&self, other: &Ticket) -> bool {
        self.bytes == other.bytes
    }
}

/// A value of a [`LogDoc`]: text or the timestamp.
#[derive(Clone, Debug)]
pub(crate) enum LogValue<'a> {
    Str(&'a str),
    I64(i64),
}

impl<'a> Value<'a> for LogValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            LogValue::Str(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
            LogValue::I64(i) => ReferenceValue::Leaf(ReferenceValueLeaf::I64(i)),
        }
    }
}

/// The values of a [`LogDoc`], the timestamp among them in field order.
pub(crate) struct LogDocValues<'a> {
    doc: &'a LogDoc,
    next: usize,
    timestamp_done: bool,
}

impl<'a> Iterator for LogDocValues<'a> {
    type Item = (Field, LogValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let value = self.doc.values.get(self.next);
        let (ts_field, ts) = self.doc.timestamp;
        if !self.timestamp_done && value.is_none_or(|&(field, _, _)| field > ts_field) {
            self.timestamp_done = true;
            return Some((ts_field, LogValue::I64(ts)));
        }
        let &(field, start, len) = value?;
        self.next += 1;
        let (start, len) = (start as usize, len as usize);
        Some((field, LogValue::Str(&self.doc.text[start..start + len])))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.doc.values.len() - self.next + usize::from(!self.timestamp_done);
        (left, Some(left))
    }
}

impl Document for LogDoc {
    type Value<'a> = LogValue<'a>;
    type FieldsValuesIter<'a> = LogDocValues<'a>;

    fn iter_fields_and_values(&self) -> LogDocValues<'_> {
        LogDocValues { doc: self, next: 0, timestamp_done: false }
    }
}

/// [`fold_str`] into `buf` (cleared first).
fn fold_into<'a>(buf: &'a mut String, s: &str) -> &'a str {
    buf.clear();
    push_folded(buf, s);
    buf
}

/// Appends `s` lowercased with [`fold`]; ASCII text (tags, most words) in one copy and an
/// in-place lowercase rather than character by character.
fn push_folded(buf: &mut String, s: &str) {
    if s.is_ascii() {
        let start = buf.len();
        buf.push_str(s);
        buf[start..].make_ascii_lowercase();
    } else {
        buf.extend(s.chars().map(fold));
    }
}

/// `exists` marker prefix: the attribute at this joined path exists (not null).
///
/// Indexes written before 2026-12 also hold `r:<name>` (a reserved attribute is present),
/// `tags` (the log has a tag) and `k:<key>` (a tag with that key exists); queries no
/// longer read them (see [`crate::compile`]), so those indexes answer the same.
pub(crate) const EXISTS_ATTR: &str = "@";

/// The name of the indexed field of a reserved attribute (as in [`Fields::reserved`]).
pub(crate) fn reserved_field_name(r: Reserved) -> &'static str {
    match r {
        Reserved::Host => "host",
        Reserved::Source => "source",
        Reserved::Status => "status_lc",
        Reserved::Service => "service",
        Reserved::TraceId => "trace_id",
        Reserved::Message => "message",
    }
}

/// Walks the attribute tree, indexing every leaf under its joined path (objects joined with
/// `.`, arrays fanned out) and an `exists` marker for every non-null value.
struct Flattener<'a> {
    doc: &'a mut LogDoc,
    fields: &'a Fields,
    path: &'a mut String,
    /// The marker or term being added (the document copies it).
    term: &'a mut String,
    /// `exists` markers, kept apart so that the document's values stay in field order.
    markers: &'a mut Vec<Span>,
    ambiguous: bool,
}

impl Flattener<'_> {
    fn object<O: TreeObject>(&mut self, map: &O) {
        // Keys that make the joined path differ from how the evaluator resolves a path:
        // empty dot-segments, or a key that is a dotted prefix of a sibling (`a` and `a.b`).
        for (k, _) in map.members() {
            if k.is_empty() || k.starts_with('.') || k.ends_with('.') || k.contains("..") {
                self.ambiguous = true;
            } else if k.contains('.') {
                let mut prefix = k;
                while let Some((head, _)) = prefix.rsplit_once('.') {
                    if map.has(head) {
                        self.ambiguous = true;
                    }
                    prefix = head;
                }
            }
        }
        for (k, v) in map.members() {
            let len = self.path.len();
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(k);
            self.value(v, true);
            self.path.truncate(len);
        }
    }

    fn value<T: Tree>(&mut self, v: &T, mark: bool) {
        let node = v.node();
        if matches!(node, Node::Null) {
            return;
        }
        if mark {
            self.term.clear();
            self.term.push_str(EXISTS_ATTR);
            self.term.push_str(self.path);
            self.markers.push(self.doc.push_text(self.fields.exists, &*self.term));
        }
        match node {
            Node::Null => {}
            Node::Object(map) => self.object(map),
            Node::Array(items) => {
                for item in items {
                    // An array "exists" itself; its items add no marker of their own except
                    // through objects below them.
                    self.value(item, false);
                }
            }
            Node::Bool(b) => self.term(ty::BOOL, if b { "true" } else { "false" }),
            Node::String(s) => match parse_number(s) {
                Some(x) => {
                    self.term(ty::NUMSTR_TEXT, s);
                    self.term(ty::NUMSTR, &encode_f64(x));
                }
                None => self.term(ty::STR, s),
            },
            Node::Number(n) => {
                if let Some(x) = n.as_f64() {
                    self.term(ty::NUM, &encode_f64(x));
                }
                self.term_with(ty::NUM_TEXT, |t| {
                    use std::fmt::Write;
                    let _ = write!(t, "{n}");
                });
            }
        }
    }

    fn term(&mut self, ty: char, value: &str) {
        self.term_with(ty, |t| t.push_str(value));
    }

    /// Adds the `attr` term `path \0 type value`, `value` written by `write`.
    fn term_with(&mut self, ty: char, write: impl FnOnce(&mut String)) {
        self.term.clear();
        self.term.push_str(self.path);
        self.term.push(PATH_END);
        self.term.push(ty);
        write(self.term);
        if self.term.len() > MAX_TERM {
            self.ambiguous = true;
            return;
        }
        self.doc.add_text(self.fields.attr, &*self.term);
    }
}

/// The `attr` term of a value: `path \0 type value`.
pub(crate) fn attr_term(path: &str, ty: char, value: &str) -> String {
    let mut s = attr_prefix(path, ty);
    s.push_str(value);
    s
}

/// The `attr` prefix of a path and type.
pub(crate) fn attr_prefix(path: &str, ty: char) -> String {
    let mut s = String::with_capacity(path.len() + 2);
    s.push_str(path);
    s.push(PATH_END);
    s.push(ty);
    s
}

/// Order-preserving encoding of an `f64` as 16 hex digits (`-0.0` is `0.0`).
pub(crate) fn encode_f64(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x };
    let bits = x.to_bits();
    let key = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    format!("{key:016x}")
}

/// Inverse of [`encode_f64`].
pub(crate) fn decode_f64(s: &str) -> Option<f64> {
    let key = u64::from_str_radix(s, 16).ok()?;
    let bits = if key >> 63 == 1 { key & !(1 << 63) } else { !key };
    Some(f64::from_bits(bits))
}

/// Lowercases like the query parser (character by character with [`fold`]).
pub(crate) fn fold_str(s: &str) -> String {
    s.chars().map(fold).collect()
}

/// The words of a text with their byte offsets: maximal runs of word characters.
pub(crate) struct WordIter<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> WordIter<'a> {
    pub fn new(text: &'a str) -> Self {
        WordIter { text, pos: 0 }
    }
}

impl<'a> Iterator for WordIter<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let start = self.pos + find_word_char(&self.text[self.pos..], true)?;
        let tail = &self.text[start..];
        let end = start + find_word_char(tail, false).unwrap_or(tail.len());
        self.pos = end;
        Some((start, &self.text[start..end]))
    }
}

/// Byte offset of the first character of `text` that is (`word`) or is not a word
/// character. ASCII bytes are classified directly; a non-ASCII character is decoded and
/// asked [`is_word_char`] (log lines are mostly ASCII, and decoding every character cost
/// more than the test itself).
fn find_word_char(text: &str, word: bool) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            if (b.is_ascii_alphanumeric() || b == b'_') == word {
                return Some(i);
            }
            i += 1;
        } else {
            let c = text[i..].chars().next()?;
            if is_word_char(c) == word {
                return Some(i);
            }
            i += c.len_utf8();
        }
    }
    None
}

/// The message tokenizer: hydrant-query's words, lowercased with [`fold`]. Words longer
/// than [`MAX_TERM`] are skipped but keep their position.
#[derive(Clone, Default)]
pub(crate) struct WordsTokenizer {
    token: Token,
}

/// Token stream of [`WordsTokenizer`].
pub(crate) struct WordsStream<'a> {
    words: WordIter<'a>,
    token: &'a mut Token,
    position: usize,
}

impl Tokenizer for WordsTokenizer {
    type TokenStream<'a> = WordsStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordsStream<'a> {
        self.token.reset();
        WordsStream { words: WordIter::new(text), token: &mut self.token, position: 0 }
    }
}

impl TokenStream for WordsStream<'_> {
    fn advance(&mut self) -> bool {
        for (offset, word) in self.words.by_ref() {
            let position = self.position;
            self.position += 1;
            if word.len() > MAX_TERM {
                continue;
            }
            self.token.text.clear();
            push_folded(&mut self.token.text, word);
            self.token.offset_from = offset;
            self.token.offset_to = offset + word.len();
            self.token.position = position;
            self.token.position_length = 1;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_encoding_orders() {
        let xs = [-1e300, -5.5, -1.0, -0.0, 0.0, 1e-10, 1.0, 2.0, 200.0, 1e300];
        for w in xs.windows(2) {
            assert!(encode_f64(w[0]) <= encode_f64(w[1]), "{w:?}");
            assert_eq!(decode_f64(&encode_f64(w[0])), Some(if w[0] == 0.0 { 0.0 } else { w[0] }));
        }
    }

    #[test]
    fn ascii_fast_paths_agree_with_the_character_rules() {
        let texts = [
            "GET /api/v1/Orders?id=7 HTTP/1.1 200",
            "Foo-bar, été_1 ..x",
            "ÉCOLE İstanbul straße x² ٣٤ 日本語テキスト 😀ok_😀",
            "__ _a_ a\u{0301}b \t\n",
            "",
            "mixed ASCII then ÀÉÎ then ascii",
        ];
        for text in texts {
            let mut expected = Vec::new();
            let mut rest = text;
            let mut offset = 0;
            while let Some(start) = rest.find(is_word_char) {
                let tail = &rest[start..];
                let len = tail.find(|c: char| !is_word_char(c)).unwrap_or(tail.len());
                expected.push((offset + start, &tail[..len]));
                offset += start + len;
                rest = &tail[len..];
            }
            assert_eq!(WordIter::new(text).collect::<Vec<_>>(), expected, "{text}");
            let mut folded = String::from("kept:");
            push_folded(&mut folded, text);
            assert_eq!(folded, format!("kept:{}", text.chars().map(fold).collect::<String>()), "{text}");
        }
    }

    /// The builder reads a `Log` and the stored view of its JSON alike: same document.
    #[test]
    fn documents_from_a_log_and_from_its_json_are_the_same() {
        let (_, fields) = Fields::schema();
        let mut logs = Vec::new();
        for attributes in [
            serde_json::json!({}),
            serde_json::json!({"kubernetes": {"pod_name": "web-1", "labels": {"app": "web"}}, "stream": "stdout"}),
            serde_json::json!({"n": 1.5, "i": -3, "u": u64::MAX, "s": "42", "b": true, "z": null, "e": "a\"b\n"}),
            serde_json::json!({"a": [1, {"k": "v"}, [true, null]], "a.b": {"c": 1}, "": 2, "x..y": "w", "o": {}}),
            serde_json::json!({"long": "v".repeat(MAX_TERM + 5), "é": {"日本": "😀"}}),
        ] {
            let mut log = Log::new(1_764_000_000_000);
            log.message = "GET /api HTTP/1.1 200 \"quoted\" é".into();
            log.host = Some("web-1".into());
            log.trace_id = Some("abc".into());
            log.status = "Warn".into();
            log.tags = vec!["env:prod".into(), "bare".into(), format!("big:{}", "t".repeat(MAX_TERM))];
            log.attributes = attributes.as_object().cloned().expect("object");
            logs.push(log);
        }
        logs.push(Log::new(0));
        let mut scratch = Scratch::default();
        for log in &logs {
            let mut json = Vec::new();
            hydrant_log::json::write_log(&mut json, log);
            let json = std::str::from_utf8(&json).expect("utf-8");
            let from_log = fields.document(log, json, &mut scratch);
            let from_json = fields.document_from_stored(json, &mut scratch).expect("parses");
            assert_eq!(from_log, from_json, "{json}");
            assert!(from_log.values.len() > 3, "{json}");
            // In field order, so that tantivy's sort of the values is a single pass.
            let order: Vec<Field> = from_log.iter_fields_and_values().map(|(f, _)| f).collect();
            assert!(order.windows(2).all(|w| w[0] <= w[1]), "{json}: {order:?}");
        }
    }

    #[test]
    fn words() {
        let w: Vec<_> = WordIter::new("Foo-bar, été_1 ..x").map(|(_, w)| w).collect();
        assert_eq!(w, ["Foo", "bar", "été_1", "x"]);
        let mut t = WordsTokenizer::default();
        let mut s = t.token_stream("Hello WORLD");
        let mut out = Vec::new();
        while s.advance() {
            out.push((s.token().text.clone(), s.token().position));
        }
        assert_eq!(out, [("hello".to_string(), 0), ("world".to_string(), 1)]);
    }
}
