//! Datadog grok on the `regex` crate: rules compiled once into one anchored regex each,
//! with a field (attribute path and filters) per named capture.
//!
//! - Rules: one per line, `name pattern`; blank lines and lines starting with `#` are
//!   skipped. Support rules and the parsing rules above a rule can be referenced as
//!   `%{name}` (cycles are refused). Every parsing rule is anchored (`\A...\z`) and `.`
//!   matches newlines; the first rule that matches wins.
//! - `%{matcher(args):attribute:filter(args)}`: the attribute may be empty (`%{data::json}`
//!   merges an object into the root) and dotted (`http.status_code` builds nested objects).
//!   String arguments are double-quoted; inside them `\"` is a quote and `\\` a backslash.
//! - Matchers: `date("pattern"[, "tz"])`, `regex("re")`, `boolean(["true", "false"])`,
//!   `integer`, `integerExt`, `number`, `numberExt` (converted), `integerStr`,
//!   `integerExtStr`, `numberStr`, `numberExtStr`, `word`, `notSpace`, `space`, `data`
//!   (lazy `.*?`), `greedyData`, `notNull`, `quotedString`/`qs`, `doubleQuotedString`,
//!   `singleQuotedString`, `uuid`, `mac`, `ip`, `ipv4`, `ipv6`, `hostname`/`host`,
//!   `ipOrHost`, `port`, `hostPort`, `user`, `path`, `unixPath`, `uri`.
//! - Filters: see [`filters`].
//! - Java-regex constructs the `regex` crate lacks are translated: atomic groups `(?>...)`
//!   become plain groups `(?:...)` and possessive quantifiers (`*+`, `++`, `?+`, `}+`) greedy
//!   ones. Both only prune backtracking, so on the anchored rules Datadog writes the match is
//!   the same; a rule that relies on the pruning to fail can match here where Datadog's does
//!   not. Lookaround and backreferences are refused at validation.
//! - Values that end up null or empty are not written (as Datadog: "properties with null
//!   or empty values are not displayed"); when a capture fails its filter (`integer` on
//!   `abc`) that attribute is skipped, the rest of the match is kept.

mod date;
pub(crate) mod filters;

use crate::path::{self, AttrPath};
use filters::GrokFilter;
use hydrant_log::Log;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;

/// A compiled grok parser: source attribute and rules in order.
#[derive(Debug, Clone)]
pub(crate) struct Grok {
    source: AttrPath,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    /// Capture group `__gN` is `fields[N]`.
    fields: Vec<Field>,
    /// Group index in `regex` of each field.
    groups: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Field {
    /// Empty: merge into the root.
    path: Vec<String>,
    filters: Vec<GrokFilter>,
}

/// Parses `name pattern` lines.
fn rule_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, pattern) = match line.split_once(char::is_whitespace) {
            Some((n, p)) => (n, p.trim()),
            None => return Err(format!("rule `{line}` has a name but no pattern")),
        };
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(format!(
                "invalid rule name `{name}`: use letters, digits, `_` and `.`, starting with a letter, digit or `_`"
            ));
        }
        if out.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(format!("duplicate rule name `{name}`"));
        }
        out.push((name.to_string(), pattern.to_string()));
    }
    Ok(out)
}

impl Grok {
    /// Compiles the rules of a grok parser reading `source`.
    pub fn compile(source: &str, match_rules: &str, support_rules: &str) -> Result<Grok, String> {
        let support: HashMap<String, String> =
            rule_lines(support_rules).map_err(|e| format!("support rules: {e}"))?.into_iter().collect();
        let parsing = rule_lines(match_rules).map_err(|e| format!("match rules: {e}"))?;
        if parsing.is_empty() {
            return Err("grok parser without match rules".to_string());
        }
        let mut earlier: HashMap<String, String> = HashMap::new();
        let mut rules = Vec::with_capacity(parsing.len());
        for (name, pattern) in &parsing {
            let mut ctx = Ctx { support: &support, earlier: &earlier, stack: vec![name.clone()], fields: Vec::new() };
            let body = ctx.expand(pattern).map_err(|e| format!("rule `{name}`: {e}"))?;
            let regex = Regex::new(&format!(r"(?s)\A(?:{body})\z"))
                .map_err(|e| format!("rule `{name}`: invalid regular expression: {}", first_line(&e.to_string())))?;
            let groups = (0..ctx.fields.len())
                .map(|i| {
                    let want = format!("__g{i}");
                    regex.capture_names().position(|n| n == Some(want.as_str())).unwrap_or(0)
                })
                .collect();
            rules.push(Rule { regex, fields: ctx.fields, groups });
            earlier.insert(name.clone(), pattern.clone());
        }
        Ok(Grok { source: AttrPath::new(source), rules })
    }

    /// Parses `text` with the first matching rule: the attributes it extracts, in order.
    pub fn parse(&self, text: &str) -> Option<Vec<(&[String], Value)>> {
        for rule in &self.rules {
            let Some(caps) = rule.regex.captures(text) else { continue };
            let mut out = Vec::with_capacity(rule.fields.len());
            for (field, &group) in rule.fields.iter().zip(&rule.groups) {
                let Some(m) = caps.get(group) else { continue };
                let mut value = Value::String(m.as_str().to_string());
                let mut ok = true;
                for f in &field.filters {
                    match f.apply(value) {
                        Some(v) => value = v,
                        None => {
                            ok = false;
                            value = Value::Null;
                            break;
                        }
                    }
                }
                let empty = match &value {
                    Value::Null => true,
                    Value::String(s) => s.is_empty(),
                    _ => false,
                };
                if ok && !empty {
                    out.push((field.path.as_slice(), value));
                }
            }
            return Some(out);
        }
        None
    }

    /// Runs on a log: parses the source and merges what it extracts into the attributes.
    pub fn apply(&self, log: &mut Log) {
        let Some(text) = path::get_str(log, &self.source) else { return };
        let Some(values) = self.parse(text) else { return };
        for (p, v) in values {
            path::merge(&mut log.attributes, p, v);
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().trim_start_matches("error: ").to_string()
}

struct Ctx<'a> {
    support: &'a HashMap<String, String>,
    earlier: &'a HashMap<String, String>,
    stack: Vec<String>,
    fields: Vec<Field>,
}

/// A parsed `%{...}`.
struct Call {
    matcher: String,
    matcher_args: Vec<String>,
    extract: Option<String>,
    filter: Option<(String, Vec<String>)>,
}

impl Ctx<'_> {
    /// Expands a rule's pattern to regex syntax.
    fn expand(&mut self, pattern: &str) -> Result<String, String> {
        let mut out = String::with_capacity(pattern.len() * 2);
        let mut literal = String::new();
        let mut rest = pattern;
        while let Some(at) = rest.find("%{") {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let end = call_end(after).ok_or_else(|| format!("unterminated `%{{` in `{pattern}`"))?;
            out.push_str(&translate(&std::mem::take(&mut literal)));
            let call = parse_call(&after[..end])?;
            out.push_str(&self.resolve(&call)?);
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        out.push_str(&translate(&literal));
        Ok(out)
    }

    fn resolve(&mut self, call: &Call) -> Result<String, String> {
        let index = call.extract.as_ref().map(|name| {
            let path = if name.is_empty() { Vec::new() } else { AttrPath::new(name).segs };
            self.fields.push(Field { path, filters: Vec::new() });
            self.fields.len() - 1
        });
        let mut implicit: Option<GrokFilter> = None;
        let name = call.matcher.as_str();
        let args = &call.matcher_args;
        let fragment = match name {
            "regex" => {
                let re = args.first().ok_or("regex() needs a pattern argument")?;
                translate(re)
            }
            "date" => {
                let pattern = args.first().ok_or("date() needs a pattern argument")?;
                let (format, fragment) = date::DateFormat::compile(pattern, args.get(1).map(String::as_str))?;
                implicit = Some(GrokFilter::Date(format));
                fragment
            }
            "boolean" => {
                let (t, f) = match args.as_slice() {
                    [] => ("true".to_string(), "false".to_string()),
                    [t, f] => (t.clone(), f.clone()),
                    _ => return Err("boolean() takes no argument or two (true and false strings)".to_string()),
                };
                let fragment = format!("(?i:{}|{})", regex::escape(&t), regex::escape(&f));
                implicit = Some(GrokFilter::Boolean(Some(t)));
                fragment
            }
            _ if self.support.contains_key(name) || self.earlier.contains_key(name) => {
                if self.stack.iter().any(|s| s == name) {
                    return Err(format!("rule `{name}` references itself (through {})", self.stack.join(" -> ")));
                }
                let def = self.support.get(name).or_else(|| self.earlier.get(name)).cloned().unwrap_or_default();
                self.stack.push(name.to_string());
                let inner = self.expand(&def)?;
                self.stack.pop();
                format!("(?:{inner})")
            }
            _ => {
                let (fragment, filter) = builtin(name).ok_or_else(|| format!("unknown matcher or rule `{name}`"))?;
                implicit = filter;
                fragment.to_string()
            }
        };
        if let Some(i) = index {
            if let Some(f) = implicit {
                self.fields[i].filters.push(f);
            }
            if let Some((fname, fargs)) = &call.filter {
                self.fields[i].filters.push(GrokFilter::compile(fname, fargs)?);
            }
            Ok(format!("(?P<__g{i}>{fragment})"))
        } else {
            if let Some((fname, fargs)) = &call.filter {
                // Validated even though nothing is extracted.
                GrokFilter::compile(fname, fargs)?;
            }
            Ok(format!("(?:{fragment})"))
        }
    }
}

/// Built-in matchers: regex fragment and implied filter.
fn builtin(name: &str) -> Option<(&'static str, Option<GrokFilter>)> {
    const NUMBER: &str = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)";
    const NUMBER_EXT: &str = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?";
    const INTEGER: &str = r"[+-]?\d+";
    const INTEGER_EXT: &str = r"[+-]?\d+(?:[eE][+-]?\d+)?";
    const IPV4: &str = r"(?:(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})";
    const IPV6: &str = r"(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:)|(?:[0-9A-Fa-f]{1,4}:){6}(?:(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})|::(?:[fF]{4}:)?(?:(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|[0-1]?[0-9]{1,2}))(?:%[0-9A-Za-z]+)?";
    const HOSTNAME: &str = r"\b(?:[0-9A-Za-z][0-9A-Za-z_-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z_-]{0,62}))*\.?";
    Some(match name {
        "integer" => (INTEGER, Some(GrokFilter::Integer)),
        "integerExt" => (INTEGER_EXT, Some(GrokFilter::IntegerExt)),
        "number" => (NUMBER, Some(GrokFilter::Number)),
        "numberExt" => (NUMBER_EXT, Some(GrokFilter::Number)),
        "integerStr" => (INTEGER, None),
        "integerExtStr" => (INTEGER_EXT, None),
        "numberStr" => (NUMBER, None),
        "numberExtStr" => (NUMBER_EXT, None),
        "word" => (r"\b\w+\b", None),
        "notSpace" => (r"\S+", None),
        "space" => (r"\s+", None),
        "data" => (r".*?", None),
        "greedyData" => (r".*", None),
        "notNull" => (r".+?", None),
        "doubleQuotedString" => (r#""[^"]*""#, None),
        "singleQuotedString" => (r"'[^']*'", None),
        "quotedString" | "qs" => (r#"(?:"[^"]*"|'[^']*')"#, None),
        "uuid" => (r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}", None),
        "mac" => (
            r"(?:(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}|(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}|(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2})",
            None,
        ),
        "ipv4" => (IPV4, None),
        "ipv6" => (IPV6, None),
        "ip" => (concat_ip(), None),
        "hostname" | "host" => (HOSTNAME, None),
        "ipOrHost" => (ip_or_host(), None),
        "port" => (r"[1-9]\d{0,4}", None),
        "hostPort" => (host_port(), None),
        "user" => (r"[\w.-]+", None),
        "unixPath" => (r"(?:/[\w_%!$@:.,~-]*)+", None),
        "path" => (r"(?:(?:/[\w_%!$@:.,~-]*)+|(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+)", None),
        "uri" => (r"[A-Za-z]+(?:\+[A-Za-z+]+)?://\S+", None),
        _ => return None,
    })
}

// `ip`, `ipOrHost` and `hostPort` combine the constants above; built once.
fn concat_ip() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| format!("(?:{}|{})", builtin("ipv6").unwrap().0, builtin("ipv4").unwrap().0))
}
fn ip_or_host() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| format!("(?:{}|{})", concat_ip(), builtin("hostname").unwrap().0))
}
fn host_port() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| format!("{}:{}", ip_or_host(), builtin("port").unwrap().0))
}

/// Tracks whether a scan is inside a `"quoted"` argument (with `\\` escapes).
#[derive(Default)]
struct Quotes {
    inside: bool,
    escaped: bool,
}

impl Quotes {
    /// Feeds `c`; true when `c` belongs to a quoted string (its quotes included), so the
    /// caller must not interpret it.
    fn quoted(&mut self, c: char) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == '"' {
                self.inside = false;
            }
            true
        } else if c == '"' {
            self.inside = true;
            true
        } else {
            false
        }
    }
}

/// Index of the `}` closing a call (quotes respected), in `s` that follows `%{`.
fn call_end(s: &str) -> Option<usize> {
    let mut quotes = Quotes::default();
    s.char_indices().find(|&(_, c)| !quotes.quoted(c) && c == '}').map(|(i, _)| i)
}

/// Splits `matcher(args):extract:filter(args)`.
fn parse_call(s: &str) -> Result<Call, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let mut quotes = Quotes::default();
    for (i, c) in s.char_indices() {
        if quotes.quoted(c) {
            continue;
        }
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    if parts.len() > 3 {
        return Err(format!("too many `:` in `%{{{s}}}`"));
    }
    let (matcher, matcher_args) = parse_fn(parts[0]).map_err(|e| format!("in `%{{{s}}}`: {e}"))?;
    if matcher.is_empty() {
        return Err(format!("missing matcher in `%{{{s}}}`"));
    }
    let extract = parts.get(1).map(|e| e.trim().to_string());
    let filter = match parts.get(2) {
        Some(f) => Some(parse_fn(f).map_err(|e| format!("in `%{{{s}}}`: {e}"))?),
        None => None,
    };
    Ok(Call { matcher, matcher_args, extract, filter })
}

/// `name` or `name(arg, "arg", ...)`.
fn parse_fn(s: &str) -> Result<(String, Vec<String>), String> {
    let s = s.trim();
    let Some(open) = s.find('(') else {
        return Ok((s.to_string(), Vec::new()));
    };
    let name = s[..open].trim().to_string();
    let inner = s[open + 1..].strip_suffix(')').ok_or_else(|| format!("missing `)` after `{name}(`"))?;
    let mut args = Vec::new();
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        if chars[i] == '"' {
            let mut arg = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string in `{s}`")),
                    Some('"') => break,
                    Some('\\') if matches!(chars.get(i + 1), Some('"') | Some('\\')) => {
                        arg.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        arg.push(c);
                        i += 1;
                    }
                }
            }
            i += 1;
            args.push(arg);
        } else {
            let mut arg = String::new();
            while i < chars.len() && chars[i] != ',' {
                arg.push(chars[i]);
                i += 1;
            }
            args.push(arg.trim().to_string());
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(c) => return Err(format!("unexpected `{c}` in the arguments of `{s}`")),
        }
    }
    Ok((name, args))
}

/// Java regex -> `regex` crate: `(?>` -> `(?:`, possessive quantifiers -> greedy.
fn translate(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let chars: Vec<char> = re.chars().collect();
    let (mut i, mut in_class) = (0, false);
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.push(c);
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if in_class {
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is literal.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push(']');
                    i += 1;
                }
            }
            '(' if chars.get(i + 1) == Some(&'?') && chars.get(i + 2) == Some(&'>') => {
                out.push_str("(?:");
                i += 3;
                continue;
            }
            '*' | '+' | '?' | '}' if chars.get(i + 1) == Some(&'+') => {
                out.push(c);
                i += 2;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rules: &str, support: &str, text: &str) -> Option<Value> {
        let g = Grok::compile("message", rules, support).unwrap();
        let mut m = serde_json::Map::new();
        for (p, v) in g.parse(text)? {
            path::merge(&mut m, p, v);
        }
        Some(Value::Object(m))
    }

    #[test]
    fn basics() {
        assert_eq!(
            run(
                r#"MyParsingRule %{word:user} connected on %{date("MM/dd/yyyy"):date}"#,
                "",
                "john connected on 11/08/2017"
            ),
            Some(json!({"user": "john", "date": 1_510_099_200_000i64}))
        );
        assert_eq!(run("r %{integer:a.b} %{number:a.c}", "", "12 1.5"), Some(json!({"a": {"b": 12, "c": 1.5}})));
        assert_eq!(run("r %{word:x}", "", "two words"), None);
        assert_eq!(translate(r"(?>a|b)++[*+]?+\(?>"), r"(?:a|b)+[*+]?\(?>");
    }

    #[test]
    fn errors() {
        assert!(Grok::compile("message", "r %{nope:x}", "").unwrap_err().contains("unknown matcher or rule `nope`"));
        assert!(Grok::compile("message", "r %{a}", "a %{b}\nb %{a}").unwrap_err().contains("references itself"));
        assert!(Grok::compile("message", "r %{word:x:frobnicate}", "").unwrap_err().contains("frobnicate"));
        assert!(Grok::compile("message", "r (?<=a)b", "").unwrap_err().contains("invalid regular expression"));
        assert!(Grok::compile("message", "", "").is_err());
        assert!(Grok::compile("message", "r %{word", "").is_err());
    }
}
