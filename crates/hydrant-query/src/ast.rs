//! The store-neutral AST of a parsed search query.
//!
//! Every backend (the in-memory evaluator in [`crate::eval`], a tantivy index, ClickHouse)
//! compiles this same tree, so it says *what* to match and leaves *how* to the backend.
//! The parser normalises it once (see "Normalisation" below) so that backends never
//! re-interpret the query text.
//!
//! # Normalisation done by the parser
//!
//! - Case: values (terms, pattern literals, range bounds) on case-insensitive fields
//!   ([`Field::is_case_insensitive`]: free text, tags, `status`) are lowercased; backends
//!   compare them against the lowercased (or case-folded) document value. Values on the
//!   other fields are kept exactly as written.
//! - Numbers: every [`Term`] carries `number: Some(f64)` when its text is a number
//!   (`-?digits[.digits][e[+-]digits]`), so backends need not parse it again.
//! - Comparisons are half-open ranges: `>x` is `Range { lower: Excluded(x), upper: Unbounded }`,
//!   `<=x` is `Range { lower: Unbounded, upper: Included(x) }`, and so on.
//! - `field:*`, `_exists_:field` and `[* TO *]` are [`Predicate::Exists`]; `_missing_:field`
//!   is `Not(Exists)`; a bare `*` (or an empty query) is [`Query::All`].
//! - `message:x` is the same as the free-text `x` ([`Field::Text`]).
//! - `key:(a OR b)` is distributed: `Or([key:a, key:b])`.
//! - [`Query::simplify`] has been applied: nested `And`/`Or` are flattened, `All` is
//!   dropped from `And` (and absorbs an `Or`), `Not(Not(q))` is `q`, single-child groups
//!   are unwrapped.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Query {
    /// Matches every log (`*` or the empty query).
    All,
    /// Matches the logs the inner query does not match (`NOT q`, `-q`, `!q`).
    Not(Box<Query>),
    /// Matches when every child matches (implicit, `AND`, `&&`). At least two children
    /// after simplification.
    And(Vec<Query>),
    /// Matches when any child matches (`OR`, `||`). At least two children after
    /// simplification.
    Or(Vec<Query>),
    /// One field tested with one predicate.
    Match {
        /// What is tested.
        field: Field,
        /// How it is tested.
        predicate: Predicate,
    },
}

/// The part of a log a [`Query::Match`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Field {
    /// Free text: the words of the message (bare terms, quoted phrases, `message:`).
    /// Case-insensitive; matches whole words (see the crate docs for the tokenizer).
    Text,
    /// A reserved attribute (`host:`, `source:`, `status:`, `service:`, `trace_id:`).
    /// The parser never produces `Reserved(Message)` (it produces [`Field::Text`]); an
    /// AST built by hand with it is evaluated like `Text`.
    Reserved(Reserved),
    /// The value of the tags whose key (text before the first `:`) is this lowercased key
    /// (`env:prod` on the tag `env:prod`). Case-insensitive.
    Tag(String),
    /// Whole tag strings, including bare tags without a key (`tags:mytag`, Datadog's syntax
    /// for tags that are not `key:value`). Case-insensitive.
    Tags,
    /// An attribute (`@http.status_code`), as its path of keys into the nested JSON.
    /// Case-sensitive. Arrays on the way or at the end are searched element by element.
    Attribute(Vec<String>),
}

impl Field {
    /// Whether values on this field compare case-insensitively (and were lowercased by the
    /// parser): free text, tags and `status`.
    pub fn is_case_insensitive(&self) -> bool {
        matches!(
            self,
            Field::Text | Field::Tag(_) | Field::Tags | Field::Reserved(Reserved::Status | Reserved::Message)
        )
    }
}

/// The reserved attributes of a log (spec section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Reserved {
    /// `host`.
    Host,
    /// `source` (also `ddsource`, as the intake receives it).
    Source,
    /// `status` (case-insensitive).
    Status,
    /// `service`.
    Service,
    /// `trace_id`.
    TraceId,
    /// `message`.
    Message,
}

impl Reserved {
    /// The name as written in queries and in the log model.
    pub fn name(self) -> &'static str {
        match self {
            Reserved::Host => "host",
            Reserved::Source => "source",
            Reserved::Status => "status",
            Reserved::Service => "service",
            Reserved::TraceId => "trace_id",
            Reserved::Message => "message",
        }
    }
}

/// What a [`Query::Match`] requires of its field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Predicate {
    /// The value equals the term. On [`Field::Text`] the term's words must appear as a
    /// consecutive sequence of words of the message (a single word or a quoted phrase);
    /// on other fields the whole value must be equal. Numbers compare numerically against
    /// JSON numbers; `true`/`false` match JSON booleans.
    Equals(Term),
    /// The value matches a pattern with `*` / `?` wildcards. On [`Field::Text`] the pattern
    /// is matched word by word (wildcards do not cross word boundaries).
    Wildcard(Pattern),
    /// The field is present (and not JSON null); for [`Field::Tag`] a tag with that key
    /// exists, for [`Field::Tags`] any tag exists.
    Exists,
    /// The value lies within the bounds: numerically when both the value and the bound are
    /// numbers, otherwise lexicographically (by Unicode scalar value, after lowercasing on
    /// case-insensitive fields). Never both unbounded (that is [`Predicate::Exists`]).
    Range {
        /// Lower bound.
        lower: Bound,
        /// Upper bound.
        upper: Bound,
    },
    /// The value is an IP address inside any of the blocks (`CIDR(@ip, 10.0.0.0/8, ...)`).
    Cidr(Vec<Cidr>),
}

/// A constant of the query: its text (lowercased on case-insensitive fields) and its value
/// as a number when the text is one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// The text, unescaped.
    pub text: String,
    /// The number the text spells, if it is one (`200`, `-1.5`, `1e3`).
    pub number: Option<f64>,
}

impl Term {
    /// A term from its text, recognising numbers.
    pub fn new(text: impl Into<String>) -> Term {
        let text = text.into();
        let number = parse_number(&text);
        Term { text, number }
    }
}

/// Parses `-?(digits[.digits*] | .digits)([eE][+-]?digits)?` (no `inf`, `nan`, hex, `+`).
/// Allocation-free; used on document strings during evaluation too.
pub fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i = 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// One end of a [`Predicate::Range`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Bound {
    /// No limit (`*` in a range, or the open side of a comparison).
    Unbounded,
    /// The value may equal the term (`[`, `]`, `>=`, `<=`).
    Included(Term),
    /// The value must differ from the term (`{`, `}`, `>`, `<`).
    Excluded(Term),
}

/// One piece of a wildcard [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PatternPart {
    /// Characters matched literally (already lowercased on case-insensitive fields).
    Literal(String),
    /// `?`: exactly one character.
    AnyChar,
    /// `*`: any run of characters, possibly empty.
    AnyString,
}

/// A wildcard pattern, compiled once at parse time.
///
/// The public view is [`Pattern::parts`] (what a store compiles to `LIKE`, a regex or a
/// tantivy wildcard query); the evaluator uses a private per-character form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pattern {
    parts: Vec<PatternPart>,
    #[serde(skip)]
    pub(crate) tokens: Vec<Tok>,
}

/// The evaluator's per-character form of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Char(char),
    Any,
    Star,
}

impl Pattern {
    /// Builds a pattern, normalising its parts: adjacent literals are merged, empty
    /// literals dropped, runs of `*` collapsed.
    pub fn new(parts: impl IntoIterator<Item = PatternPart>) -> Pattern {
        let mut norm: Vec<PatternPart> = Vec::new();
        for part in parts {
            match (norm.last_mut(), part) {
                (_, PatternPart::Literal(s)) if s.is_empty() => {}
                (Some(PatternPart::Literal(prev)), PatternPart::Literal(s)) => prev.push_str(&s),
                (Some(PatternPart::AnyString), PatternPart::AnyString) => {}
                (_, part) => norm.push(part),
            }
        }
        let mut tokens = Vec::new();
        for part in &norm {
            match part {
                PatternPart::Literal(s) => tokens.extend(s.chars().map(Tok::Char)),
                PatternPart::AnyChar => tokens.push(Tok::Any),
                PatternPart::AnyString => tokens.push(Tok::Star),
            }
        }
        Pattern { parts: norm, tokens }
    }

    /// The normalised parts.
    pub fn parts(&self) -> &[PatternPart] {
        &self.parts
    }

    /// Whether the pattern is only `*` (matches anything).
    pub fn is_match_all(&self) -> bool {
        self.parts == [PatternPart::AnyString]
    }

    /// Whether `s` matches the whole pattern. With `case_insensitive`, characters of `s` are
    /// lowercased before comparison (the pattern's literals must already be lowercase).
    /// Does not allocate.
    pub fn matches(&self, s: &str, case_insensitive: bool) -> bool {
        crate::eval::glob(&self.tokens, s, case_insensitive)
    }
}

/// An IPv4 or IPv6 network block (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The address as written (host bits are not cleared; they are ignored when matching).
    pub addr: IpAddr,
    /// Prefix length: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the block. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`)
    /// count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = ();

    /// `addr/prefix`, or a single address (a full-length prefix).
    fn from_str(s: &str) -> Result<Cidr, ()> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| ())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().map_err(|_| ())?,
            Some(_) => return Err(()),
        };
        if prefix > max {
            return Err(());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Query {
    /// A match of `field` with `predicate`.
    pub fn field(field: Field, predicate: Predicate) -> Query {
        Query::Match { field, predicate }
    }

    /// Simplifies the tree: flattens nested `And`/`Or`, drops `All` from `And`, makes an
    /// `Or` containing `All` into `All`, removes double negation and unwraps single-child
    /// groups (an empty `And` is `All`). The parser returns simplified queries.
    pub fn simplify(self) -> Query {
        match self {
            Query::Not(inner) => match inner.simplify() {
                Query::Not(q) => *q,
                q => Query::Not(Box::new(q)),
            },
            Query::And(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.simplify() {
                        Query::All => {}
                        Query::And(nested) => out.extend(nested),
                        q => out.push(q),
                    }
                }
                match out.len() {
                    0 => Query::All,
                    1 => out.pop().unwrap_or(Query::All),
                    _ => Query::And(out),
                }
            }
            Query::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.simplify() {
                        Query::All => return Query::All,
                        Query::Or(nested) => out.extend(nested),
                        q => out.push(q),
                    }
                }
                match out.len() {
                    // An empty Or matches nothing; keep it explicit as NOT *.
                    0 => Query::Not(Box::new(Query::All)),
                    1 => out.pop().unwrap_or(Query::All),
                    _ => Query::Or(out),
                }
            }
            q => q,
        }
    }
}
