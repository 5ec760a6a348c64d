//! Renders a [`Query`] back to search syntax; `parse(&q.to_string()) == Ok(q)` for every
//! query the parser returns.

use crate::ast::{Bound, Field, Pattern, PatternPart, Predicate, Query, Reserved, Term};
use std::fmt::{self, Display, Formatter, Write};

/// Characters that must be escaped (or quoted) in a bare word.
const SPECIAL: &str = "+-=&|><!(){}[]^\"~*?:\\#,";

fn is_special(c: char) -> bool {
    SPECIAL.contains(c) || c.is_whitespace()
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_query(self, f, Prec::Or)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Not,
}

fn write_query(q: &Query, f: &mut Formatter<'_>, ctx: Prec) -> fmt::Result {
    match q {
        Query::All => f.write_char('*'),
        Query::Or(items) => write_group(items, " OR ", ctx > Prec::Or, Prec::Or, f),
        Query::And(items) => write_group(items, " AND ", ctx > Prec::And, Prec::And, f),
        Query::Not(inner) => {
            if matches!(**inner, Query::Match { .. } | Query::All) {
                f.write_char('-')?;
            } else {
                f.write_str("NOT ")?;
            }
            write_query(inner, f, Prec::Not)
        }
        Query::Match { field, predicate } => write_match(field, predicate, f),
    }
}

fn write_group(items: &[Query], sep: &str, parens: bool, prec: Prec, f: &mut Formatter<'_>) -> fmt::Result {
    if parens {
        f.write_char('(')?;
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write_query(item, f, prec)?;
    }
    if parens {
        f.write_char(')')?;
    }
    Ok(())
}

impl Display for Field {
    /// The field as written before `:` (`@a.b`, `host`, `env`, `tags`, `message`).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Field::Text | Field::Reserved(Reserved::Message) => f.write_str("message"),
            Field::Reserved(r) => f.write_str(r.name()),
            Field::Tags => f.write_str("tags"),
            Field::Tag(key) => {
                // An escape keeps `_exists_` / `_missing_` a tag key rather than the operator.
                let operator = key == "_exists_" || key == "_missing_";
                for (i, c) in key.chars().enumerate() {
                    if is_special(c) || (i == 0 && (c == '@' || operator)) {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                Ok(())
            }
            Field::Attribute(path) => {
                f.write_char('@')?;
                for (i, seg) in path.iter().enumerate() {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    for c in seg.chars() {
                        if is_special(c) || c == '.' {
                            f.write_char('\\')?;
                        }
                        f.write_char(c)?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl Display for Pattern {
    /// The pattern as a bare word: literals escaped, `*` and `?` as wildcards.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts().iter().enumerate() {
            match part {
                PatternPart::AnyString => f.write_char('*')?,
                PatternPart::AnyChar => f.write_char('?')?,
                PatternPart::Literal(s) => {
                    for (j, c) in s.chars().enumerate() {
                        if is_special(c) && (c != '-' || (i == 0 && j == 0)) {
                            f.write_char('\\')?;
                        }
                        f.write_char(c)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn write_match(field: &Field, pred: &Predicate, f: &mut Formatter<'_>) -> fmt::Result {
    let text = matches!(field, Field::Text | Field::Reserved(Reserved::Message));
    match pred {
        Predicate::Cidr(blocks) => {
            write!(f, "CIDR({field}")?;
            for b in blocks {
                write!(f, ", {b}")?;
            }
            return f.write_char(')');
        }
        // Free-text words and patterns need no field prefix.
        Predicate::Equals(t) if text => return write_term(&t.text, false, f),
        Predicate::Wildcard(p) if text => return write!(f, "{p}"),
        _ => {}
    }
    write!(f, "{field}:")?;
    match pred {
        Predicate::Equals(t) => write_term(&t.text, t.number.is_some(), f),
        Predicate::Wildcard(p) => write!(f, "{p}"),
        Predicate::Exists => f.write_char('*'),
        Predicate::Range { lower, upper } => match (lower, upper) {
            (Bound::Excluded(t), Bound::Unbounded) => write_cmp(">", t, f),
            (Bound::Included(t), Bound::Unbounded) => write_cmp(">=", t, f),
            (Bound::Unbounded, Bound::Excluded(t)) => write_cmp("<", t, f),
            (Bound::Unbounded, Bound::Included(t)) => write_cmp("<=", t, f),
            _ => {
                f.write_char(if matches!(lower, Bound::Excluded(_)) { '{' } else { '[' })?;
                write_bound(lower, f)?;
                f.write_str(" TO ")?;
                write_bound(upper, f)?;
                f.write_char(if matches!(upper, Bound::Excluded(_)) { '}' } else { ']' })
            }
        },
        Predicate::Cidr(_) => Ok(()),
    }
}

fn write_cmp(op: &str, t: &Term, f: &mut Formatter<'_>) -> fmt::Result {
    f.write_str(op)?;
    write_term(&t.text, t.number.is_some(), f)
}

fn write_bound(b: &Bound, f: &mut Formatter<'_>) -> fmt::Result {
    match b {
        Bound::Unbounded => f.write_char('*'),
        Bound::Included(t) | Bound::Excluded(t) => write_term(&t.text, t.number.is_some(), f),
    }
}

/// A constant: bare when safe (numbers may start with `-` outside free text), else quoted.
fn write_term(text: &str, bare_number: bool, f: &mut Formatter<'_>) -> fmt::Result {
    let keyword = matches!(text, "AND" | "OR" | "NOT" | "TO");
    // `-` only negates at the start of a word, so `us-east-1` stays bare.
    let special = text.chars().enumerate().any(|(i, c)| is_special(c) && (i == 0 || c != '-'));
    if bare_number || (!text.is_empty() && !keyword && !special) {
        return f.write_str(text);
    }
    f.write_char('"')?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}
