//! The hand-written recursive-descent parser.
//!
//! Grammar (whitespace separates tokens; `AND`, `OR`, `NOT`, `TO` are case-sensitive):
//!
//! ```text
//! query    := or EOF | EOF                      (empty query = All)
//! or       := and (("OR" | "||") and)*
//! and      := unary (("AND" | "&&")? unary)*
//! unary    := ("NOT" | "-" | "!") unary | "+" unary | primary
//! primary  := "(" or ")" | phrase | "CIDR(" field ("," block)+ ")"
//!           | ("_exists_" | "_missing_") ":" field
//!           | field ":" value-expr | word       (free text; "*" = All)
//! value-expr := "(" vor ")" | value            (no space after ':')
//! vor/vand/vunary/vprimary: as or/and/unary/primary, with values instead of primaries
//! value    := phrase | ("[" | "{") bound "TO" bound ("]" | "}") | (">" | ">=" | "<" | "<=") word
//!           | word                              ("*" = Exists; other * ? = Wildcard)
//! ```

use crate::ast::{Bound, Cidr, Field, Pattern, PatternPart, Predicate, Query, Reserved, Term};
use crate::fold;
use std::fmt;

/// A syntax error: where (in characters from the start of the query) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Offset in characters (not bytes) from the start of the query.
    pub position: usize,
    /// What is wrong, e.g. `unexpected ')'`.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// Parses a query in Datadog's log search syntax into a simplified [`Query`].
pub fn parse(input: &str) -> Result<Query, ParseError> {
    let mut p = Parser { chars: input.chars().collect(), pos: 0 };
    p.skip_ws();
    if p.at_end() {
        return Ok(Query::All);
    }
    let q = p.parse_or(Ctx::Top)?;
    p.skip_ws();
    if let Some(c) = p.peek() {
        return Err(p.err(p.pos, format!("unexpected '{c}'")));
    }
    Ok(q.simplify())
}

impl std::str::FromStr for Query {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Query, ParseError> {
        parse(s)
    }
}

#[derive(Clone, Copy)]
enum Ctx<'a> {
    /// Top level: primaries are field expressions or free text.
    Top,
    /// Inside `field:( ... )`: primaries are values of the field.
    Value(&'a Field),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kw {
    And,
    Or,
    Not,
}

/// A word as read: its characters and whether each was escaped.
struct Word {
    chars: Vec<(char, bool)>,
    start: usize,
}

impl Word {
    fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    fn text(&self) -> String {
        self.chars.iter().map(|&(c, _)| c).collect()
    }

    /// The word is exactly `s`, with no escaped character.
    fn is_plain(&self, s: &str) -> bool {
        self.chars.len() == s.chars().count() && self.chars.iter().zip(s.chars()).all(|(&(c, e), d)| !e && c == d)
    }

    fn has_wildcard(&self) -> bool {
        self.chars.iter().any(|&(c, e)| !e && (c == '*' || c == '?'))
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

impl Parser {
    fn err(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError { position, message: message.into() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn unexpected(&self) -> ParseError {
        match self.peek() {
            None => self.err(self.pos, "unexpected end of input"),
            Some(c) => self.err(self.pos, format!("unexpected '{c}'")),
        }
    }

    /// Whether position `i` ends a keyword: end, whitespace, a parenthesis or a quote.
    fn is_boundary(&self, i: usize) -> bool {
        self.peek_at(i).is_none_or(|c| is_ws(c) || c == '(' || c == ')' || c == '"')
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek_at(self.pos + k) == Some(c))
    }

    fn peek_keyword(&self) -> Option<(Kw, usize)> {
        for (kw, s) in [(Kw::And, "AND"), (Kw::Or, "OR"), (Kw::Not, "NOT"), (Kw::And, "&&"), (Kw::Or, "||")] {
            let len = s.len();
            if self.starts_with(s) && self.is_boundary(self.pos + len) {
                return Some((kw, len));
            }
        }
        None
    }

    fn parse_or(&mut self, ctx: Ctx<'_>) -> Result<Query, ParseError> {
        let mut items = vec![self.parse_and(ctx)?];
        loop {
            self.skip_ws();
            match self.peek_keyword() {
                Some((Kw::Or, len)) => {
                    self.pos += len;
                    items.push(self.parse_and(ctx)?);
                }
                _ => break,
            }
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Query::All) } else { Query::Or(items) })
    }

    fn parse_and(&mut self, ctx: Ctx<'_>) -> Result<Query, ParseError> {
        let mut items = vec![self.parse_unary(ctx)?];
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') {
                break;
            }
            match self.peek_keyword() {
                Some((Kw::Or, _)) => break,
                Some((Kw::And, len)) => self.pos += len,
                _ => {}
            }
            items.push(self.parse_unary(ctx)?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Query::All) } else { Query::And(items) })
    }

    fn parse_unary(&mut self, ctx: Ctx<'_>) -> Result<Query, ParseError> {
        self.skip_ws();
        match self.peek_keyword() {
            Some((Kw::Not, len)) => {
                self.pos += len;
                self.skip_ws();
                return Ok(Query::Not(Box::new(self.parse_unary(ctx)?)));
            }
            Some((kw, _)) => {
                let name = if kw == Kw::And { "AND" } else { "OR" };
                return Err(self.err(self.pos, format!("unexpected '{name}'")));
            }
            None => {}
        }
        match self.peek() {
            None => Err(self.unexpected()),
            Some(c @ ('-' | '!' | '+')) => {
                // In a value group, `-5` is a negative number, not a negation.
                let next = self.peek_at(self.pos + 1);
                if c == '-' && matches!(ctx, Ctx::Value(_)) && next.is_some_and(|n| n.is_ascii_digit()) {
                    return self.parse_primary(ctx);
                }
                if next.is_none_or(|n| is_ws(n) || n == ')') {
                    return Err(self.err(self.pos + 1, format!("expected a term after '{c}'")));
                }
                self.pos += 1;
                let inner = self.parse_unary(ctx)?;
                Ok(if c == '+' { inner } else { Query::Not(Box::new(inner)) })
            }
            Some(_) => self.parse_primary(ctx),
        }
    }

    fn parse_group(&mut self, ctx: Ctx<'_>) -> Result<Query, ParseError> {
        let open = self.pos;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(self.err(self.pos, "empty group '()'"));
        }
        let q = self.parse_or(ctx)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            if self.at_end() {
                return Err(self.err(open, "unclosed '('"));
            }
            return Err(self.unexpected());
        }
        self.pos += 1;
        Ok(q)
    }

    fn parse_primary(&mut self, ctx: Ctx<'_>) -> Result<Query, ParseError> {
        match self.peek() {
            Some('(') => return self.parse_group(ctx),
            Some(')') | None => return Err(self.unexpected()),
            _ => {}
        }
        let field = match ctx {
            Ctx::Value(field) => return self.parse_value(field),
            Ctx::Top => Field::Text,
        };
        // Phrases, and ranges and comparisons without a field (Lucene's default field).
        if matches!(self.peek(), Some('"' | '[' | '{' | '>' | '<')) {
            return self.parse_value(&field);
        }
        let word = self.read_word(|c| matches!(c, '(' | ')' | '"' | ':'))?;
        if self.peek() == Some(':') {
            if word.is_empty() {
                return Err(self.unexpected());
            }
            self.pos += 1;
            if word.is_plain("_exists_") || word.is_plain("_missing_") {
                let name = self.read_word(|c| matches!(c, '(' | ')' | '"'))?;
                if name.is_empty() {
                    return Err(self.err(self.pos, "expected a field name"));
                }
                let field = resolve_field(&name, self)?;
                let q = Query::field(field, Predicate::Exists);
                return Ok(if word.is_plain("_missing_") { Query::Not(Box::new(q)) } else { q });
            }
            let field = resolve_field(&word, self)?;
            return match self.peek() {
                Some('(') => self.parse_group(Ctx::Value(&field)),
                Some(c) if !is_ws(c) && c != ')' => self.parse_value(&field),
                _ => Err(self.err(self.pos, "expected a value after ':'")),
            };
        }
        if self.peek() == Some('(') && word.chars.iter().all(|&(_, e)| !e) && word.text().eq_ignore_ascii_case("cidr") {
            return self.parse_cidr();
        }
        if word.is_plain("*") {
            return Ok(Query::All);
        }
        Ok(value_query(&Field::Text, &word))
    }

    /// A value for `field` at the current position (not a group).
    fn parse_value(&mut self, field: &Field) -> Result<Query, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some('"') => {
                let text = self.read_quoted()?;
                Ok(Query::field(field.clone(), Predicate::Equals(term(field, text))))
            }
            Some(c @ ('[' | '{')) => self.parse_range(field, c == '['),
            Some(c @ ('>' | '<')) => {
                self.pos += 1;
                let inclusive = self.peek() == Some('=');
                if inclusive {
                    self.pos += 1;
                }
                let op_end = self.pos;
                let value = match self.peek() {
                    Some('"') => self.read_quoted()?,
                    _ => {
                        let word = self.read_word(|c| matches!(c, '(' | ')' | '"'))?;
                        if word.has_wildcard() {
                            return Err(self.err(word.start, "wildcards are not allowed in comparisons"));
                        }
                        word.text()
                    }
                };
                if self.pos == op_end {
                    return Err(self.err(op_end, format!("expected a value after '{}'", self.chars[start])));
                }
                let t = term(field, value);
                let (lower, upper) = match (c, inclusive) {
                    ('>', false) => (Bound::Excluded(t), Bound::Unbounded),
                    ('>', true) => (Bound::Included(t), Bound::Unbounded),
                    (_, false) => (Bound::Unbounded, Bound::Excluded(t)),
                    (_, true) => (Bound::Unbounded, Bound::Included(t)),
                };
                Ok(Query::field(field.clone(), Predicate::Range { lower, upper }))
            }
            _ => {
                let word = self.read_word(|c| matches!(c, '(' | ')' | '"'))?;
                if word.is_empty() {
                    return Err(self.unexpected());
                }
                Ok(value_query(field, &word))
            }
        }
    }

    fn parse_range(&mut self, field: &Field, lower_inclusive: bool) -> Result<Query, ParseError> {
        self.pos += 1;
        self.skip_ws();
        let lower = self.parse_bound(field, lower_inclusive)?;
        let had_ws = self.peek().is_some_and(is_ws);
        self.skip_ws();
        if !had_ws || !self.starts_with("TO") || !self.peek_at(self.pos + 2).is_none_or(is_ws) {
            return Err(match self.peek() {
                None => self.unexpected(),
                Some(_) => self.err(self.pos, "expected 'TO' in range"),
            });
        }
        self.pos += 2;
        self.skip_ws();
        // The closing bracket decides inclusiveness; read the bound first, then look.
        let bound = self.parse_bound(field, true)?;
        self.skip_ws();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            None => return Err(self.err(self.pos, "expected ']' or '}' to close the range")),
            Some(c) => return Err(self.err(self.pos, format!("unexpected '{c}' in range"))),
        };
        self.pos += 1;
        let upper = match bound {
            Bound::Included(t) if !upper_inclusive => Bound::Excluded(t),
            b => b,
        };
        if lower == Bound::Unbounded && upper == Bound::Unbounded {
            return Ok(Query::field(field.clone(), Predicate::Exists));
        }
        Ok(Query::field(field.clone(), Predicate::Range { lower, upper }))
    }

    fn parse_bound(&mut self, field: &Field, inclusive: bool) -> Result<Bound, ParseError> {
        let text = match self.peek() {
            None => return Err(self.err(self.pos, "expected a range bound")),
            Some('"') => self.read_quoted()?,
            Some(_) => {
                let word = self.read_word(|c| matches!(c, '(' | ')' | '"' | ']' | '}' | '[' | '{'))?;
                if word.is_empty() {
                    return Err(self.err(self.pos, "expected a range bound"));
                }
                if word.is_plain("*") {
                    return Ok(Bound::Unbounded);
                }
                if word.has_wildcard() {
                    return Err(self.err(word.start, "wildcards are not allowed in range bounds"));
                }
                word.text()
            }
        };
        let t = term(field, text);
        Ok(if inclusive { Bound::Included(t) } else { Bound::Excluded(t) })
    }

    fn parse_cidr(&mut self) -> Result<Query, ParseError> {
        self.pos += 1; // '('
        self.skip_ws();
        let name = self.read_word(|c| matches!(c, '(' | ')' | '"' | ','))?;
        if name.is_empty() {
            return Err(self.err(self.pos, "expected a field name in CIDR()"));
        }
        let field = resolve_field(&name, self)?;
        let mut blocks = Vec::new();
        self.skip_ws();
        loop {
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') if !blocks.is_empty() => {
                    self.pos += 1;
                    break;
                }
                Some(')') => return Err(self.err(self.pos, "expected a CIDR block")),
                None => return Err(self.err(self.pos, "expected ')' to close CIDR(")),
                Some(c) => return Err(self.err(self.pos, format!("unexpected '{c}' in CIDR()"))),
            }
            self.skip_ws();
            let block = self.read_word(|c| matches!(c, '(' | ')' | '"' | ','))?;
            if block.is_empty() {
                return Err(self.err(self.pos, "expected a CIDR block"));
            }
            let text = block.text();
            let cidr: Cidr =
                text.parse().map_err(|()| self.err(block.start, format!("invalid CIDR block '{text}'")))?;
            blocks.push(cidr);
            self.skip_ws();
        }
        Ok(Query::field(field, Predicate::Cidr(blocks)))
    }

    /// Reads a `"quoted string"` (`\x` is `x`), the opening quote at the current position.
    fn read_quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err(open, "unclosed '\"'")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => match self.peek_at(self.pos + 1) {
                    Some(c) => {
                        out.push(c);
                        self.pos += 2;
                    }
                    None => return Err(self.err(self.pos, "dangling '\\' at end of input")),
                },
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads a word up to whitespace or an unescaped `stop` character.
    fn read_word(&mut self, stop: impl Fn(char) -> bool) -> Result<Word, ParseError> {
        let start = self.pos;
        let mut chars = Vec::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                match self.peek_at(self.pos + 1) {
                    Some(e) => {
                        chars.push((e, true));
                        self.pos += 2;
                        continue;
                    }
                    None => return Err(self.err(self.pos, "dangling '\\' at end of input")),
                }
            }
            if is_ws(c) || stop(c) {
                break;
            }
            chars.push((c, false));
            self.pos += 1;
        }
        Ok(Word { chars, start })
    }
}

fn fold_if(field: &Field, text: String) -> String {
    if field.is_case_insensitive() {
        text.chars().map(fold).collect()
    } else {
        text
    }
}

fn term(field: &Field, text: String) -> Term {
    Term::new(fold_if(field, text))
}

/// The query for an unquoted word as a value of `field`: `*` is Exists, a word with
/// unescaped `*`/`?` a wildcard, anything else an equality.
fn value_query(field: &Field, word: &Word) -> Query {
    if word.is_plain("*") {
        return Query::field(field.clone(), Predicate::Exists);
    }
    if !word.has_wildcard() {
        return Query::field(field.clone(), Predicate::Equals(term(field, word.text())));
    }
    let ci = field.is_case_insensitive();
    let parts = word.chars.iter().map(|&(c, escaped)| match c {
        '*' if !escaped => PatternPart::AnyString,
        '?' if !escaped => PatternPart::AnyChar,
        c => PatternPart::Literal(if ci { fold(c).to_string() } else { c.to_string() }),
    });
    let pattern = Pattern::new(parts);
    if pattern.is_match_all() {
        return Query::field(field.clone(), Predicate::Exists);
    }
    Query::field(field.clone(), Predicate::Wildcard(pattern))
}

/// The field a key names: `@a.b` an attribute path (split on unescaped dots), a reserved
/// name, `message`, `tags`, or else a tag key.
fn resolve_field(word: &Word, p: &Parser) -> Result<Field, ParseError> {
    if let Some(&('@', false)) = word.chars.first() {
        let mut path = Vec::new();
        let mut seg = String::new();
        let mut seg_start = word.start + 1;
        if word.chars.len() == 1 {
            return Err(p.err(word.start + 1, "expected an attribute name after '@'"));
        }
        for (i, &(c, escaped)) in word.chars.iter().enumerate().skip(1) {
            if c == '.' && !escaped {
                if seg.is_empty() {
                    return Err(p.err(seg_start, "empty attribute path segment"));
                }
                path.push(std::mem::take(&mut seg));
                seg_start = word.start + i + 1;
            } else {
                seg.push(c);
            }
        }
        if seg.is_empty() {
            return Err(p.err(seg_start, "empty attribute path segment"));
        }
        path.push(seg);
        return Ok(Field::Attribute(path));
    }
    let key: String = word.text().chars().map(fold).collect();
    Ok(match key.as_str() {
        "host" => Field::Reserved(Reserved::Host),
        "source" => Field::Reserved(Reserved::Source),
        "status" => Field::Reserved(Reserved::Status),
        "service" => Field::Reserved(Reserved::Service),
        "trace_id" => Field::Reserved(Reserved::TraceId),
        "message" => Field::Text,
        "tags" => Field::Tags,
        "*" => return Err(p.err(word.start, "full-text search '*:' is not supported")),
        _ => Field::Tag(key),
    })
}
