//! Fluent Bit's record accessor: `$log`, `$kubernetes['labels']['app']`, `$items[0]`,
//! and templates mixing text with `$key`, `$TAG`, `$TAG[n]` and regex captures `$0..$9`
//! (`src/flb_record_accessor.c`, `src/flb_ra_key.c`).
//!
//! [`RecordAccessor`] is one key path, compiled once and looked up per record without
//! allocating. [`Template`] is a string with references, translated per record.

use std::fmt::Write as _;

use hydrant_flb::{Map, Value};

/// One step below the root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subkey {
    /// `['name']` or `["name"]`: a map key.
    Key(String),
    /// `[N]`: an array index.
    Index(usize),
}

/// A compiled key path: `$kubernetes['labels']['app']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAccessor {
    key: String,
    subkeys: Vec<Subkey>,
}

impl RecordAccessor {
    /// Parse `$key['sub'][0]`. The leading `$` is optional (Fluent Bit's grep and
    /// rewrite_tag add it to a bare key name).
    pub fn parse(text: &str) -> Result<RecordAccessor, String> {
        let body = text.trim();
        let body = body.strip_prefix('$').unwrap_or(body);
        let (key, mut rest) = match body.find('[') {
            Some(i) => (&body[..i], &body[i..]),
            None => (body, ""),
        };
        if key.is_empty() {
            return Err(format!("record accessor `{text}`: no key name"));
        }
        let mut subkeys = Vec::new();
        while !rest.is_empty() {
            let inner = rest.strip_prefix('[').ok_or_else(|| format!("record accessor `{text}`: expected `[`"))?;
            if let Some(q) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
                let after = &inner[1..];
                let end = after.find(q).ok_or_else(|| format!("record accessor `{text}`: unterminated subkey"))?;
                subkeys.push(Subkey::Key(after[..end].to_string()));
                rest = after[end + 1..]
                    .strip_prefix(']')
                    .ok_or_else(|| format!("record accessor `{text}`: expected `]` after subkey"))?;
            } else {
                let end = inner.find(']').ok_or_else(|| format!("record accessor `{text}`: expected `]`"))?;
                let index = inner[..end]
                    .trim()
                    .parse()
                    .map_err(|_| format!("record accessor `{text}`: `{}` is not an array index", &inner[..end]))?;
                subkeys.push(Subkey::Index(index));
                rest = &inner[end + 1..];
            }
        }
        Ok(RecordAccessor { key: key.to_string(), subkeys })
    }

    /// The root key (`kubernetes` in `$kubernetes['labels']`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The steps below the root key.
    pub fn subkeys(&self) -> &[Subkey] {
        &self.subkeys
    }

    /// The value at this path, looking through shared values.
    pub fn get<'a>(&self, map: &'a Map) -> Option<&'a Value> {
        let mut v = map.get(&self.key)?;
        for sub in &self.subkeys {
            v = match (sub, v.resolve()) {
                (Subkey::Key(k), Value::Map(m)) => m.get(k)?,
                (Subkey::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v.resolve())
    }

    /// The value at this path, mutable (shared values on the way are un-shared).
    pub fn get_mut<'a>(&self, map: &'a mut Map) -> Option<&'a mut Value> {
        let mut v = map.get_mut(&self.key)?;
        for sub in &self.subkeys {
            v = match (sub, v.make_mut()) {
                (Subkey::Key(k), Value::Map(m)) => m.get_mut(k)?,
                (Subkey::Index(i), Value::Array(a)) => a.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(v.make_mut())
    }
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Key(RecordAccessor),
    Tag,
    TagPart(usize),
    Capture(usize),
}

/// A string with references, as rewrite_tag's new tag: `app.$TAG[1].$kubernetes['labels']['app'].$1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Piece>,
}

impl Template {
    /// Parse a template. A reference ends at `.`, space, `,` or `"` outside quotes, as in
    /// Fluent Bit's `ra_parse_buffer`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let b = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' || i + 1 >= b.len() {
                let ch = text[i..].chars().next().expect("in bounds");
                literal.push(ch);
                i += ch.len_utf8();
                continue;
            }
            let flush = |literal: &mut String, parts: &mut Vec<Piece>| {
                if !literal.is_empty() {
                    parts.push(Piece::Text(std::mem::take(literal)));
                }
            };
            if b[i + 1].is_ascii_digit() {
                flush(&mut literal, &mut parts);
                parts.push(Piece::Capture(usize::from(b[i + 1] - b'0')));
                i += 2;
                continue;
            }
            if text[i + 1..].starts_with("TAG") {
                flush(&mut literal, &mut parts);
                let after = i + 4;
                if b.get(after) == Some(&b'[') {
                    let end = text[after..].find(']').ok_or_else(|| format!("`{text}`: `$TAG[` without `]`"))?;
                    let n = text[after + 1..after + end]
                        .trim()
                        .parse()
                        .map_err(|_| format!("`{text}`: `$TAG[{}]` needs a number", &text[after + 1..after + end]))?;
                    parts.push(Piece::TagPart(n));
                    i = after + end + 1;
                } else {
                    parts.push(Piece::Tag);
                    i = after;
                }
                continue;
            }
            let mut quotes = 0;
            let mut end = i + 1;
            while end < b.len() {
                match b[end] {
                    b'\'' => quotes += 1,
                    b'.' if quotes % 2 == 1 => {}
                    b'.' | b' ' | b',' | b'"' => break,
                    _ => {}
                }
                end += 1;
            }
            flush(&mut literal, &mut parts);
            parts.push(Piece::Key(RecordAccessor::parse(&text[i..end])?));
            i = end;
        }
        if !literal.is_empty() {
            parts.push(Piece::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Whether the template reads the record (a `$key` reference).
    pub fn uses_record(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Piece::Key(_)))
    }

    /// Translate for one record into `out` (cleared first). `captures` are the regex groups
    /// (`$0` the whole match). Missing keys and captures translate to nothing.
    pub fn render_into(&self, out: &mut String, tag: &str, record: &Map, captures: Option<&regex::Captures<'_>>) {
        out.clear();
        for part in &self.parts {
            match part {
                Piece::Text(t) => out.push_str(t),
                Piece::Tag => out.push_str(tag),
                Piece::TagPart(n) => {
                    if let Some(p) = tag.split('.').nth(*n) {
                        out.push_str(p);
                    }
                }
                Piece::Capture(n) => {
                    if let Some(m) = captures.and_then(|c| c.get(*n)) {
                        out.push_str(m.as_str());
                    }
                }
                Piece::Key(ra) => {
                    if let Some(v) = ra.get(record) {
                        write_value(out, v);
                    }
                }
            }
        }
    }

    /// Translate for one record.
    pub fn render(&self, tag: &str, record: &Map, captures: Option<&regex::Captures<'_>>) -> String {
        let mut out = String::new();
        self.render_into(&mut out, tag, record, captures);
        out
    }
}

/// A value as Fluent Bit's record accessor prints it into a string: maps as JSON, floats
/// with `%f`, `null` for null; arrays print nothing.
fn write_value(out: &mut String, v: &Value) {
    match v.resolve() {
        Value::Str(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f:.6}");
        }
        Value::Null => out.push_str("null"),
        Value::Map(m) => out.push_str(&m.to_json_string()),
        Value::Array(_) | Value::Shared(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Map {
        let v = Value::from_json(
            br#"{"log":"hello","kubernetes":{"labels":{"app":"web","a.b":"dot"},"namespace_name":"prod"},"items":[1,{"x":"y"}],"n":3}"#,
        )
        .unwrap();
        match v {
            Value::Map(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn key_paths() {
        let r = record();
        let get = |p: &str| RecordAccessor::parse(p).unwrap().get(&r).cloned();
        assert_eq!(get("$log"), Some(Value::from("hello")));
        assert_eq!(get("log"), Some(Value::from("hello")));
        assert_eq!(get("$kubernetes['labels']['app']"), Some(Value::from("web")));
        assert_eq!(get(r#"$kubernetes["labels"]["a.b"]"#), Some(Value::from("dot")));
        assert_eq!(get("$items[1]['x']"), Some(Value::from("y")));
        assert_eq!(get("$items[5]"), None);
        assert_eq!(get("$log['x']"), None);
        assert!(RecordAccessor::parse("$").is_err());
        assert!(RecordAccessor::parse("$a['b'").is_err());
    }

    #[test]
    fn templates() {
        let r = record();
        let t = Template::parse("app.$TAG[1].$kubernetes['namespace_name'].$kubernetes['labels']['a.b'].$n.$missing.x")
            .unwrap();
        assert_eq!(t.render("kube.var.log", &r, None), "app.var.prod.dot.3..x");
        let re = regex::Regex::new(r"^(\w+)-(\w+)$").unwrap();
        let caps = re.captures("foo-bar");
        let t = Template::parse("new.$2.$1.$TAG").unwrap();
        assert_eq!(t.render("t", &r, caps.as_ref()), "new.bar.foo.t");
    }
}
