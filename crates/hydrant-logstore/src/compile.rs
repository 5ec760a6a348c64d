//! Compiles hydrant-query's AST to tantivy queries.
//!
//! Each node compiles under a *polarity*: [`Pol::Sup`] asks for a query matching at least
//! the logs the evaluator matches (a candidate set), [`Pol::Sub`] for one matching at most
//! those. Exact leaves give the same query either way; a leaf the index cannot answer
//! exactly gives a broader candidate for `Sup` and a narrower (often empty) set for `Sub`.
//! `Not` flips the polarity, so the top-level `Sup` query is always a superset of the true
//! answer, and equal to it when every leaf was exact. Otherwise the caller post-filters the
//! candidates with [`hydrant_query::Query::matches`] on the stored log.

use crate::schema::{
    amb, attr_prefix, attr_term, encode_f64, reserved_field_name, ty, Fields, WordIter, EXISTS_ATTR, F_TAGS,
};
use hydrant_query::{is_word_char, Bound, Field, Pattern, PatternPart, Predicate, Query, Reserved, Term};
use std::collections::HashSet;
use std::ops::Bound as B;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query as TQuery,
    RegexPhraseQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{Field as TField, IndexRecordOption};
use tantivy::Term as TTerm;

/// Which approximation a node must give.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pol {
    /// At least the true matches.
    Sup,
    /// At most the true matches.
    Sub,
}

impl Pol {
    fn flip(self) -> Pol {
        match self {
            Pol::Sup => Pol::Sub,
            Pol::Sub => Pol::Sup,
        }
    }
}

/// An intermediate tree, simplified before building tantivy queries.
pub(crate) enum Q {
    All,
    Empty,
    Leaf(Box<dyn TQuery>),
    And(Vec<Q>),
    Or(Vec<Q>),
    Not(Box<Q>),
    /// A leaf tantivy could not build (a regex too large): the whole `Match` becomes a
    /// candidate for every log.
    Unsupported,
}

impl Q {
    fn and(items: Vec<Q>) -> Q {
        let mut out = Vec::new();
        for q in items {
            match q {
                Q::All => {}
                Q::Empty => return Q::Empty,
                Q::And(nested) => out.extend(nested),
                q => out.push(q),
            }
        }
        match out.len() {
            0 => Q::All,
            1 => out.pop().unwrap_or(Q::All),
            _ => Q::And(out),
        }
    }

    fn or(items: Vec<Q>) -> Q {
        let mut out = Vec::new();
        for q in items {
            match q {
                Q::Empty => {}
                Q::All => return Q::All,
                Q::Or(nested) => out.extend(nested),
                q => out.push(q),
            }
        }
        match out.len() {
            0 => Q::Empty,
            1 => out.pop().unwrap_or(Q::Empty),
            _ => Q::Or(out),
        }
    }

    fn not(q: Q) -> Q {
        match q {
            Q::All => Q::Empty,
            Q::Empty => Q::All,
            Q::Not(inner) => *inner,
            q => Q::Not(Box::new(q)),
        }
    }

    fn leaf(q: impl TQuery) -> Q {
        Q::Leaf(Box::new(q))
    }

    fn unsupported(&self) -> bool {
        match self {
            Q::Unsupported => true,
            Q::And(items) | Q::Or(items) => items.iter().any(Q::unsupported),
            Q::Not(inner) => inner.unsupported(),
            _ => false,
        }
    }

    /// `time AND q`.
    pub fn and_time(time: impl TQuery, q: Q) -> Q {
        Q::and(vec![Q::leaf(time), q])
    }

    /// Whether the tree matches nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Q::Empty)
    }

    /// Builds the tantivy query.
    pub fn build(self) -> Box<dyn TQuery> {
        match self {
            Q::All | Q::Unsupported => Box::new(AllQuery),
            Q::Empty => Box::new(EmptyQuery),
            Q::Leaf(q) => q,
            Q::And(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                let mut positive = false;
                for q in items {
                    match q {
                        Q::Not(inner) => clauses.push((Occur::MustNot, inner.build())),
                        q => {
                            positive = true;
                            clauses.push((Occur::Must, q.build()))
                        }
                    }
                }
                if !positive {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Q::Or(items) => {
                Box::new(BooleanQuery::new(items.into_iter().map(|q| (Occur::Should, q.build())).collect()))
            }
            Q::Not(inner) => {
                Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(AllQuery)), (Occur::MustNot, inner.build())]))
            }
        }
    }
}

/// What the compiler needs to know about the index.
pub(crate) struct Ctx<'a> {
    pub fields: &'a Fields,
    /// The `amb:*` markers present in the searched index.
    pub ambiguous: HashSet<&'static str>,
}

/// The compiled tree, and whether it is exact (no post-filter needed).
pub(crate) fn compile(ctx: &Ctx<'_>, q: &Query, pol: Pol) -> (Q, bool) {
    match q {
        Query::All => (Q::All, true),
        Query::Not(inner) => {
            let (q, exact) = compile(ctx, inner, pol.flip());
            (Q::not(q), exact)
        }
        Query::And(items) => {
            let (qs, exact) = compile_all(ctx, items, pol);
            (Q::and(qs), exact)
        }
        Query::Or(items) => {
            let (qs, exact) = compile_all(ctx, items, pol);
            (Q::or(qs), exact)
        }
        Query::Match { field, predicate } => {
            let leaf = match compile_match(ctx, field, predicate) {
                Leaf::Exact(q) | Leaf::Candidate(q) if q.unsupported() => Leaf::Candidate(Q::All),
                leaf => leaf,
            };
            let category = match field {
                Field::Text | Field::Reserved(Reserved::Message) => amb::TEXT,
                Field::Reserved(_) => amb::RESERVED,
                Field::Tag(_) | Field::Tags => amb::TAGS,
                Field::Attribute(_) => amb::ATTR,
            };
            match leaf {
                Leaf::Exact(q) if !ctx.ambiguous.contains(category) => (q, true),
                Leaf::Exact(q) => {
                    let marker = Q::leaf(term_query(ctx.fields.exists, category));
                    match pol {
                        Pol::Sup => (Q::or(vec![q, marker]), false),
                        Pol::Sub => (Q::and(vec![q, Q::not(marker)]), false),
                    }
                }
                Leaf::Candidate(q) => match pol {
                    Pol::Sup => (q, false),
                    Pol::Sub => (Q::Empty, false),
                },
            }
        }
    }
}

fn compile_all(ctx: &Ctx<'_>, items: &[Query], pol: Pol) -> (Vec<Q>, bool) {
    let mut exact = true;
    let qs = items
        .iter()
        .map(|item| {
            let (q, e) = compile(ctx, item, pol);
            exact &= e;
            q
        })
        .collect();
    (qs, exact)
}

/// A compiled leaf.
enum Leaf {
    /// Matches exactly what the evaluator matches (on logs without an `amb:` marker).
    Exact(Q),
    /// Matches a superset; the evaluator decides.
    Candidate(Q),
}

fn compile_match(ctx: &Ctx<'_>, field: &Field, pred: &Predicate) -> Leaf {
    let f = ctx.fields;
    match field {
        Field::Text | Field::Reserved(Reserved::Message) => text(f, pred),
        Field::Reserved(r) => {
            let exists = match r {
                Reserved::Status => Q::All,
                // From the fast column: every present value is in it (an over-long one
                // flags the log `amb:reserved`, which the post-filter decides).
                r => Q::leaf(ExistsQuery::new(reserved_field_name(*r).to_string(), false)),
            };
            let field = f.reserved(*r);
            match pred {
                Predicate::Exists => Leaf::Exact(exists),
                // An empty value may not be indexed as a term: left to the evaluator.
                Predicate::Equals(t) if t.text.is_empty() => Leaf::Candidate(exists),
                Predicate::Equals(t) => Leaf::Exact(Q::leaf(term_query(field, &t.text))),
                Predicate::Wildcard(p) => Leaf::Exact(regex_query(field, &glob_regex(p))),
                Predicate::Range { lower, upper } => match lexicographic(lower, upper) {
                    Some((lo, hi)) => Leaf::Exact(range_query(field, "", lo, hi)),
                    None => Leaf::Candidate(exists),
                },
                Predicate::Cidr(_) => Leaf::Candidate(exists),
            }
        }
        Field::Tag(key) => {
            if key.contains(':') {
                // The evaluator splits a tag at its first `:`: such a key never matches.
                return Leaf::Exact(Q::Empty);
            }
            let prefix = format!("{key}:");
            // Any `tags_lc` term that starts with `key:` (an over-long tag is not a term
            // and flags the log `amb:tags`).
            let exists = regex_query(f.tags_lc, &format!("{}(?s:.*)", regex_syntax::escape(&prefix)));
            match pred {
                Predicate::Exists => Leaf::Exact(exists),
                Predicate::Equals(t) => Leaf::Exact(Q::leaf(term_query(f.tags_lc, &format!("{prefix}{}", t.text)))),
                Predicate::Wildcard(p) => {
                    Leaf::Exact(regex_query(f.tags_lc, &format!("{}{}", regex_syntax::escape(&prefix), glob_regex(p))))
                }
                Predicate::Range { lower, upper } => match lexicographic(lower, upper) {
                    Some((lo, hi)) => Leaf::Exact(range_query(f.tags_lc, &prefix, lo, hi)),
                    None => Leaf::Candidate(exists),
                },
                Predicate::Cidr(_) => Leaf::Candidate(exists),
            }
        }
        Field::Tags => {
            // From the fast column, which holds every tag whatever its length.
            let exists = Q::leaf(ExistsQuery::new(F_TAGS.to_string(), false));
            match pred {
                Predicate::Exists => Leaf::Exact(exists),
                Predicate::Equals(t) => Leaf::Exact(Q::leaf(term_query(f.tags_lc, &t.text))),
                Predicate::Wildcard(p) => Leaf::Exact(regex_query(f.tags_lc, &glob_regex(p))),
                Predicate::Range { lower, upper } => match lexicographic(lower, upper) {
                    Some((lo, hi)) => Leaf::Exact(range_query(f.tags_lc, "", lo, hi)),
                    None => Leaf::Candidate(exists),
                },
                Predicate::Cidr(_) => Leaf::Candidate(exists),
            }
        }
        Field::Attribute(path) => attribute(f, path, pred),
    }
}

/// Free text on the message's words.
fn text(f: &Fields, pred: &Predicate) -> Leaf {
    match pred {
        // Every log has a message (possibly empty).
        Predicate::Exists => Leaf::Exact(Q::All),
        Predicate::Equals(t) => {
            let words: Vec<&str> = WordIter::new(&t.text).map(|(_, w)| w).collect();
            Leaf::Exact(match words.as_slice() {
                [] => Q::All,
                [w] => Q::leaf(term_query(f.message, w)),
                _ => Q::leaf(PhraseQuery::new(words.iter().map(|w| TTerm::from_field_text(f.message, w)).collect())),
            })
        }
        Predicate::Wildcard(p) => {
            let segments = word_segments(p);
            Leaf::Exact(match segments.as_slice() {
                [] => Q::All,
                [(re, false)] => Q::leaf(term_query(f.message, re)),
                [(re, true)] => regex_query(f.message, re),
                segs if segs.iter().all(|(_, wild)| !wild) => {
                    Q::leaf(PhraseQuery::new(segs.iter().map(|(w, _)| TTerm::from_field_text(f.message, w)).collect()))
                }
                segs => {
                    let regexes =
                        segs.iter().map(|(s, wild)| if *wild { s.clone() } else { regex_syntax::escape(s) }).collect();
                    let mut q = RegexPhraseQuery::new(f.message, regexes);
                    q.set_max_expansions(1 << 20);
                    Q::leaf(q)
                }
            })
        }
        // Ranges and CIDR apply to the whole message: left to the evaluator.
        Predicate::Range { .. } | Predicate::Cidr(_) => Leaf::Candidate(Q::All),
    }
}

/// Splits a wildcard pattern into per-word segments, as the evaluator does: non-word
/// literal characters separate words. Each segment is `(text, has_wildcard)`: the plain
/// word when it has no wildcard, else a regex.
fn word_segments(p: &Pattern) -> Vec<(String, bool)> {
    let mut segments = Vec::new();
    let mut plain = String::new();
    let mut re = String::new();
    let mut wild = false;
    let mut open = false;
    let mut close = |plain: &mut String, re: &mut String, wild: &mut bool, open: &mut bool| {
        if *open {
            segments.push(if *wild { (std::mem::take(re), true) } else { (std::mem::take(plain), false) });
        }
        plain.clear();
        re.clear();
        *wild = false;
        *open = false;
    };
    for part in p.parts() {
        match part {
            PatternPart::Literal(s) => {
                for c in s.chars() {
                    if is_word_char(c) {
                        plain.push(c);
                        re.push_str(&regex_syntax::escape(c.encode_utf8(&mut [0; 4])));
                        open = true;
                    } else {
                        close(&mut plain, &mut re, &mut wild, &mut open);
                    }
                }
            }
            PatternPart::AnyChar => {
                re.push('.');
                wild = true;
                open = true;
            }
            PatternPart::AnyString => {
                re.push_str(".*");
                wild = true;
                open = true;
            }
        }
    }
    close(&mut plain, &mut re, &mut wild, &mut open);
    segments
}

/// A regex matching what the pattern matches on a whole value (any character, newlines too).
fn glob_regex(p: &Pattern) -> String {
    let mut re = String::new();
    for part in p.parts() {
        match part {
            PatternPart::Literal(s) => re.push_str(&regex_syntax::escape(s)),
            PatternPart::AnyChar => re.push_str("(?s:.)"),
            PatternPart::AnyString => re.push_str("(?s:.*)"),
        }
    }
    re
}

/// Lexicographic bounds `(lower, upper)` when no bound is a number (each is then compared
/// as text); `None` when a numeric bound makes the comparison numeric for some values.
fn lexicographic<'a>(lower: &'a Bound, upper: &'a Bound) -> Option<(B<&'a str>, B<&'a str>)> {
    let conv = |b: &'a Bound| match b {
        Bound::Unbounded => Some(B::Unbounded),
        Bound::Included(t) if t.number.is_none() => Some(B::Included(t.text.as_str())),
        Bound::Excluded(t) if t.number.is_none() => Some(B::Excluded(t.text.as_str())),
        _ => None,
    };
    Some((conv(lower)?, conv(upper)?))
}

/// A term range on `field` between `prefix + lo` and `prefix + hi`, within `prefix`.
fn range_query(field: TField, prefix: &str, lo: B<&str>, hi: B<&str>) -> Q {
    let term = |s: &str| TTerm::from_field_text(field, &format!("{prefix}{s}"));
    let lower = match lo {
        B::Unbounded if prefix.is_empty() => B::Unbounded,
        B::Unbounded => B::Included(term("")),
        B::Included(s) => B::Included(term(s)),
        B::Excluded(s) => B::Excluded(term(s)),
    };
    let upper = match hi {
        B::Unbounded if prefix.is_empty() => B::Unbounded,
        B::Unbounded => B::Excluded(TTerm::from_field_text(field, &prefix_end(prefix))),
        B::Included(s) => B::Included(term(s)),
        B::Excluded(s) => B::Excluded(term(s)),
    };
    if matches!((&lower, &upper), (B::Unbounded, B::Unbounded)) {
        // Any value (not produced by the parser: that is `Exists`).
        return regex_query(field, "(?s:.*)");
    }
    Q::leaf(InvertedIndexRangeQuery::new(lower, upper))
}

/// The smallest string above every string starting with `prefix` (its last char + 1).
fn prefix_end(prefix: &str) -> String {
    let mut s = prefix.to_string();
    match s.pop() {
        Some(c) => {
            let next = char::from_u32(c as u32 + 1).unwrap_or(char::MAX);
            s.push(next);
            s
        }
        None => s,
    }
}

fn attribute(f: &Fields, path: &[String], pred: &Predicate) -> Leaf {
    let joined = path.join(".");
    let exists = Q::leaf(term_query(f.exists, &format!("{EXISTS_ATTR}{joined}")));
    if path.is_empty() || path.iter().any(|s| s.is_empty() || s.contains('.')) {
        // A key with a dot inside, or an empty key: the joined path is ambiguous.
        return Leaf::Candidate(Q::All);
    }
    let typed = |t: char, value: &str| Q::leaf(term_query(f.attr, &attr_term(&joined, t, value)));
    match pred {
        Predicate::Exists => Leaf::Exact(exists),
        Predicate::Equals(t) => {
            let mut alts = Vec::new();
            if let Some(x) = t.number {
                alts.push(typed(ty::NUM, &encode_f64(x)));
                alts.push(typed(ty::NUMSTR_TEXT, &t.text));
            } else {
                alts.push(typed(ty::STR, &t.text));
            }
            if t.text == "true" || t.text == "false" {
                alts.push(typed(ty::BOOL, &t.text));
            }
            Leaf::Exact(Q::or(alts))
        }
        Predicate::Wildcard(p) => {
            let prefix = regex_syntax::escape(&joined);
            Leaf::Exact(regex_query(f.attr, &format!("{prefix}\\x00[btuN]{}", glob_regex(p))))
        }
        Predicate::Range { lower, upper } => {
            let numeric = |b: &Bound| {
                matches!(
                    b,
                    Bound::Included(Term { number: Some(_), .. }) | Bound::Excluded(Term { number: Some(_), .. })
                )
            };
            let textual = |b: &Bound| {
                matches!(b, Bound::Included(Term { number: None, .. }) | Bound::Excluded(Term { number: None, .. }))
            };
            let text_bounds = (text_bound(lower), text_bound(upper));
            let range = |t: char, (lo, hi): (B<String>, B<String>)| {
                range_query(f.attr, &attr_prefix(&joined, t), as_str(&lo), as_str(&hi))
            };
            if !textual(lower) && !textual(upper) {
                // Numeric bounds: numbers and numeric strings numerically, other strings and
                // booleans as text against the bounds' spelling.
                let num_bounds = (num_bound(lower), num_bound(upper));
                Leaf::Exact(Q::or(vec![
                    range(ty::NUM, num_bounds.clone()),
                    range(ty::NUMSTR, num_bounds),
                    range(ty::STR, text_bounds.clone()),
                    range(ty::BOOL, text_bounds),
                ]))
            } else if !numeric(lower) && !numeric(upper) {
                // Text bounds: everything compares as text (numbers by their JSON spelling).
                Leaf::Exact(Q::or(vec![
                    range(ty::STR, text_bounds.clone()),
                    range(ty::BOOL, text_bounds.clone()),
                    range(ty::NUMSTR_TEXT, text_bounds.clone()),
                    range(ty::NUM_TEXT, text_bounds),
                ]))
            } else {
                // One numeric and one text bound: left to the evaluator.
                Leaf::Candidate(exists)
            }
        }
        Predicate::Cidr(_) => Leaf::Candidate(exists),
    }
}

fn text_bound(b: &Bound) -> B<String> {
    match b {
        Bound::Unbounded => B::Unbounded,
        Bound::Included(t) => B::Included(t.text.clone()),
        Bound::Excluded(t) => B::Excluded(t.text.clone()),
    }
}

fn num_bound(b: &Bound) -> B<String> {
    let enc = |t: &Term| encode_f64(t.number.unwrap_or(f64::NAN));
    match b {
        Bound::Unbounded => B::Unbounded,
        Bound::Included(t) => B::Included(enc(t)),
        Bound::Excluded(t) => B::Excluded(enc(t)),
    }
}

fn as_str(b: &B<String>) -> B<&str> {
    match b {
        B::Unbounded => B::Unbounded,
        B::Included(s) => B::Included(s),
        B::Excluded(s) => B::Excluded(s),
    }
}

fn term_query(field: TField, text: &str) -> TermQuery {
    TermQuery::new(TTerm::from_field_text(field, text), IndexRecordOption::Basic)
}

fn regex_query(field: TField, re: &str) -> Q {
    match RegexQuery::from_pattern(re, field) {
        Ok(q) => Q::leaf(q),
        // The pattern is built from escaped literals; a failure is a bug, answer nothing.
        Err(e) => {
            tracing::warn!(regex = re, error = %e, "could not compile regex");
            Q::Unsupported
        }
    }
}
