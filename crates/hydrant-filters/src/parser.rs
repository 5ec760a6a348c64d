//! Fluent Bit's `[PARSER]`s: `regex`, `json`, `logfmt` and `ltsv`, with `Time_Key`,
//! `Time_Format`, `Time_Keep`, `Time_Offset`, `Time_Strict`, `Time_System_Timezone`,
//! `Types`, `Skip_Empty_Values`, `Logfmt_No_Bare_Keys` and the `Decode_Field(_As)`
//! decoders.
//!
//! [`Parsers`] holds every parser of a configuration, compiled once; the parser filter,
//! the kubernetes filter's `Merge_Parser` and pod annotations look them up by name.
//!
//! Behaviour follows `src/flb_parser*.c`:
//!
//! - **regex**: the pattern is searched (not anchored); named groups become string keys
//!   in pattern order; empty captures are skipped with `Skip_Empty_Values` (on by
//!   default); a time that does not parse drops the time key (and logs a warning) but the
//!   record still parses.
//! - **json**: the text must be one JSON object; key order is kept; `Types` do not apply
//!   (Fluent Bit's JSON parser ignores them); a time that does not parse keeps the key.
//! - **logfmt**, **ltsv**: the first line is read; a time that does not parse fails the
//!   whole parse.
//! - The time key (`time` unless `Time_Key`) is read only when `Time_Format` is set, and is
//!   removed unless `Time_Keep` is on.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone};
use hydrant_flb::config::{Config, ConfigError, Rule, Section, SectionKind};
use hydrant_flb::plugin::BuildResult;
use hydrant_flb::{EventTime, Map, Value};

use crate::onigmo;
use crate::time_format::{self, TimeFormat};

/// Every `[PARSER]` of a configuration, by name. Cloning is cheap (an [`Arc`]).
#[derive(Clone, Default, Debug)]
pub struct Parsers {
    by_name: Arc<HashMap<String, Arc<Parser>>>,
}

impl Parsers {
    /// Compile every `[PARSER]` section of `config` (multiline parsers are not parsers and
    /// are left out). The first bad parser is refused with an error at its section, as
    /// Fluent Bit refuses to start; when a name repeats, the first definition is kept, as
    /// Fluent Bit does ("parser named '...' already exists, skip").
    pub fn from_config(config: &Config) -> BuildResult<Parsers> {
        let mut by_name = HashMap::new();
        for section in config.parsers.iter().filter(|s| s.kind == SectionKind::Parser) {
            if by_name.contains_key(&section.name) {
                tracing::warn!(parser = %section.name, origin = %section.origin, "parser defined twice; the first definition is used");
                continue;
            }
            let parser = Parser::from_section(section)?;
            by_name.insert(section.name.clone(), Arc::new(parser));
        }
        Ok(Parsers { by_name: Arc::new(by_name) })
    }

    /// The parser named `name` (exact, case-sensitive, as in Fluent Bit).
    pub fn get(&self, name: &str) -> Option<Arc<Parser>> {
        self.by_name.get(name).cloned()
    }

    /// How many parsers there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A compiled parser.
#[derive(Debug)]
pub struct Parser {
    name: String,
    format: Format,
    time: Option<TimeSpec>,
    time_key: String,
    time_keep: bool,
    types: Vec<(String, Type)>,
    skip_empty: bool,
    no_bare_keys: bool,
    decoders: Vec<Decoder>,
}

#[derive(Debug)]
enum Format {
    /// The compiled pattern and its named groups (index, name) in pattern order.
    Regex(regex::Regex, Vec<(usize, String)>),
    Json,
    Logfmt,
    Ltsv,
}

#[derive(Debug)]
struct TimeSpec {
    format: TimeFormat,
    /// The format as written, for messages.
    text: String,
    /// `Time_Offset`, seconds east of UTC, for times without a zone.
    offset: i32,
    strict: bool,
    system_timezone: bool,
}

/// `Types` conversions.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Type {
    Integer,
    Float,
    Bool,
    Hex,
    String,
}

/// A `Decode_Field` / `Decode_Field_As` rule.
#[derive(Debug)]
struct Decoder {
    /// `Decode_Field_As` replaces the value; `Decode_Field` (json) appends the decoded keys.
    replace: bool,
    backend: Backend,
    key: String,
    /// `do_next`: go on with the next rule of the same key after success.
    do_next: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Json,
    Escaped,
    EscapedUtf8,
}

/// Why a time could not be read.
enum TimeError {
    /// The text does not match the format (and `Time_Strict` is on).
    Invalid,
    /// Not strict: leave the record's time alone, but treat the key as found.
    Lenient,
}

fn section_error(section: &Section, message: String) -> ConfigError {
    ConfigError::new(
        section.origin.file.clone(),
        Some(section.origin.line),
        Rule::InvalidValue,
        format!("parser `{}`: {message}", section.name),
    )
}

fn section_bool(section: &Section, key: &str, default: bool) -> BuildResult<bool> {
    match section.get(key) {
        None => Ok(default),
        Some(v) => {
            hydrant_flb::config::units::parse_bool(v).map_err(|e| section_error(section, format!("`{key}`: {e}")))
        }
    }
}

impl Parser {
    /// Compile one `[PARSER]` section.
    pub fn from_section(section: &Section) -> BuildResult<Parser> {
        let format_name = section.get("Format").ok_or_else(|| {
            ConfigError::new(
                section.origin.file.clone(),
                Some(section.origin.line),
                Rule::MissingKey,
                format!("parser `{}`: `Format` is required", section.name),
            )
        })?;
        let format = match format_name.trim().to_ascii_lowercase().as_str() {
            "regex" => {
                let pattern = section.get("Regex").filter(|r| !r.is_empty()).ok_or_else(|| {
                    ConfigError::new(
                        section.origin.file.clone(),
                        Some(section.origin.line),
                        Rule::MissingKey,
                        format!("parser `{}`: `Regex` is required with `Format regex`", section.name),
                    )
                })?;
                let re = onigmo::compile(pattern).map_err(|e| section_error(section, e))?;
                let names = re.capture_names().enumerate().filter_map(|(i, n)| n.map(|n| (i, n.to_string()))).collect();
                Format::Regex(re, names)
            }
            "json" => Format::Json,
            "logfmt" => Format::Logfmt,
            "ltsv" => Format::Ltsv,
            other => {
                return Err(section_error(
                    section,
                    format!("unknown `Format {other}` (expected regex, json, logfmt or ltsv)"),
                ))
            }
        };
        let time = match section.get("Time_Format").filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => {
                let format = TimeFormat::new(f).map_err(|e| section_error(section, e))?;
                let offset = match section.get("Time_Offset").filter(|o| !o.is_empty()) {
                    None => 0,
                    Some(o) => time_format::parse_time_offset(o)
                        .ok_or_else(|| section_error(section, format!("invalid `Time_Offset {o}`")))?,
                };
                Some(TimeSpec {
                    format,
                    text: f.to_string(),
                    offset,
                    strict: section_bool(section, "Time_Strict", true)?,
                    system_timezone: section_bool(section, "Time_System_Timezone", false)?,
                })
            }
        };
        let types = section.get("Types").map(parse_types).unwrap_or_default();
        let mut decoders = Vec::new();
        for (key, value) in section.properties.iter() {
            let replace = if key.eq_ignore_ascii_case("Decode_Field_As") {
                true
            } else if key.eq_ignore_ascii_case("Decode_Field") {
                false
            } else {
                continue;
            };
            let words: Vec<&str> = value.split_whitespace().collect();
            let (backend, field, action) = match words.as_slice() {
                [b, f] => (*b, *f, None),
                [b, f, a] => (*b, *f, Some(*a)),
                _ => return Err(section_error(section, format!("`{key} {value}`: expected `TYPE FIELD [ACTION]`"))),
            };
            let backend = match backend.to_ascii_lowercase().as_str() {
                "json" => Backend::Json,
                "escaped" => Backend::Escaped,
                "escaped_utf8" => Backend::EscapedUtf8,
                other => {
                    return Err(section_error(
                        section,
                        format!("`{key}`: unknown decoder `{other}` (expected json, escaped or escaped_utf8)"),
                    ))
                }
            };
            let do_next = match action.map(str::to_ascii_lowercase).as_deref() {
                None | Some("try_next") => false,
                Some("do_next") => true,
                Some(other) => {
                    return Err(section_error(section, format!("`{key}`: unknown action `{other}`")));
                }
            };
            decoders.push(Decoder { replace, backend, key: field.to_string(), do_next });
        }
        Ok(Parser {
            name: section.name.clone(),
            format,
            time,
            time_key: section.get("Time_Key").filter(|k| !k.is_empty()).unwrap_or("time").to_string(),
            time_keep: section_bool(section, "Time_Keep", false)?,
            types,
            skip_empty: section_bool(section, "Skip_Empty_Values", true)?,
            no_bare_keys: section_bool(section, "Logfmt_No_Bare_Keys", false)?,
            decoders,
        })
    }

    /// The parser's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parse `text` into a map, with the time read from it when `Time_Format` is set and
    /// the time key is present and valid. `None` when the text does not match.
    pub fn parse(&self, text: &str) -> Option<(Option<EventTime>, Map)> {
        let (time, mut map) = match &self.format {
            Format::Regex(re, names) => self.parse_regex(re, names, text)?,
            Format::Json => self.parse_json(text)?,
            Format::Logfmt => self.parse_logfmt(text)?,
            Format::Ltsv => self.parse_ltsv(text)?,
        };
        if !self.decoders.is_empty() {
            self.decode(&mut map);
        }
        Some((time, map))
    }

    fn read_time(&self, text: &str) -> Result<EventTime, TimeError> {
        let spec = self.time.as_ref().expect("read_time is called only with a Time_Format");
        let fail = if spec.strict { TimeError::Invalid } else { TimeError::Lenient };
        let parsed = spec.format.parse(text).ok_or(fail)?;
        let today = chrono::Utc::now().date_naive();
        let secs = if spec.system_timezone && parsed.offset.is_none() {
            local_epoch(&parsed, spec, today)
        } else {
            parsed.to_epoch(spec.format.has_year, spec.offset, today)
        };
        let fail = if spec.strict { TimeError::Invalid } else { TimeError::Lenient };
        secs.map(|s| EventTime::new(s, parsed.nanos)).ok_or(fail)
    }

    fn warn_time(&self, value: &str) {
        let format = self.time.as_ref().map_or("", |t| t.text.as_str());
        tracing::warn!(parser = %self.name, "invalid time format {format} for '{value}'");
    }

    fn parse_regex(
        &self,
        re: &regex::Regex,
        names: &[(usize, String)],
        text: &str,
    ) -> Option<(Option<EventTime>, Map)> {
        let caps = re.captures(text)?;
        let mut map = Map::with_capacity(names.len());
        let mut time = None;
        for (index, name) in names {
            let Some(m) = caps.get(*index) else { continue };
            let value = m.as_str();
            if value.is_empty() && self.skip_empty {
                continue;
            }
            if self.time.is_some() && *name == self.time_key {
                match self.read_time(value) {
                    Ok(t) => time = Some(t),
                    Err(TimeError::Invalid) => {
                        self.warn_time(value);
                        continue;
                    }
                    Err(TimeError::Lenient) => {}
                }
                if !self.time_keep {
                    continue;
                }
            }
            map.push(name.clone(), self.typed(name, value));
        }
        Some((time, map))
    }

    fn parse_json(&self, text: &str) -> Option<(Option<EventTime>, Map)> {
        let trimmed = text.trim_start();
        if !trimmed.starts_with('{') {
            return None;
        }
        let Ok(Value::Map(mut map)) = Value::from_json(trimmed.as_bytes()) else { return None };
        let mut time = None;
        if self.time.is_some() {
            if let Some(pos) = map.position(&self.time_key) {
                let ok = match map.0[pos].1.resolve() {
                    Value::Str(s) => match self.read_time(s) {
                        Ok(t) => {
                            time = Some(t);
                            true
                        }
                        Err(TimeError::Invalid) => {
                            self.warn_time(s);
                            false
                        }
                        Err(TimeError::Lenient) => true,
                    },
                    _ => false,
                };
                if ok && !self.time_keep {
                    map.0.remove(pos);
                }
            }
        }
        Some((time, map))
    }

    fn parse_logfmt(&self, text: &str) -> Option<(Option<EventTime>, Map)> {
        let b = text.as_bytes();
        let ident = |c: u8| c > b' ' && c != b'=' && c != b'"';
        let mut map = Map::new();
        let mut time = None;
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && !ident(b[i]) {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let key_start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let key = &text[key_start..i];
            let mut value: Option<String> = None;
            let mut quoted = false;
            if i < b.len() && b[i] == b'=' {
                i += 1;
                if i < b.len() && b[i] == b'"' {
                    quoted = true;
                    i += 1;
                    let start = i;
                    let mut escaped = false;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\\' {
                            escaped = true;
                            i += 1;
                        }
                        i += 1;
                    }
                    let end = i.min(b.len());
                    let raw = &text[start..end];
                    value = Some(if escaped { unescape_utf8(raw, false) } else { raw.to_string() });
                    if i < b.len() {
                        i += 1;
                    }
                } else {
                    let start = i;
                    while i < b.len() && ident(b[i]) {
                        i += 1;
                    }
                    value = Some(text[start..i].to_string());
                }
            }
            let value_set = value.is_some();
            let value = value.unwrap_or_default();
            if self.no_bare_keys && !value_set {
                return None;
            }
            let mut keep = true;
            if self.time.is_some() && key == self.time_key && !value.is_empty() {
                match self.read_time(&value) {
                    Ok(t) => time = Some(t),
                    Err(TimeError::Invalid) => {
                        self.warn_time(&value);
                        return None;
                    }
                    Err(TimeError::Lenient) => {}
                }
                keep = self.time_keep;
            }
            if keep {
                let v = if !self.types.is_empty() {
                    self.typed(key, &value)
                } else if value.is_empty() && !quoted {
                    Value::Bool(true)
                } else {
                    Value::Str(value)
                };
                map.push(key, v);
            }
            // A line break right after a pair ends the record (only the first line is read).
            if i < b.len() && (b[i] == b'\n' || b[i] == b'\r') {
                break;
            }
        }
        // Fluent Bit fails a parse that yields no key (the time key removed counts as none).
        (!map.is_empty()).then_some((time, map))
    }

    fn parse_ltsv(&self, text: &str) -> Option<(Option<EventTime>, Map)> {
        let b = text.as_bytes();
        let label_byte = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
        let field_byte = |c: u8| !matches!(c, 0 | b'\t' | b'\n' | b'\r');
        let mut map = Map::new();
        let mut time = None;
        let mut i = 0;
        while i < b.len() {
            let label_start = i;
            while i < b.len() && label_byte(b[i]) {
                i += 1;
            }
            let label = &text[label_start..i];
            if i == b.len() || b[i] != b':' {
                break;
            }
            i += 1;
            let field_start = i;
            while i < b.len() && field_byte(b[i]) {
                i += 1;
            }
            let field = &text[field_start..i];
            if !label.is_empty() {
                let mut keep = true;
                if self.time.is_some() && label == self.time_key && !field.is_empty() {
                    match self.read_time(field) {
                        Ok(t) => time = Some(t),
                        Err(TimeError::Invalid) => {
                            self.warn_time(field);
                            return None;
                        }
                        Err(TimeError::Lenient) => {}
                    }
                    keep = self.time_keep;
                }
                if keep {
                    map.push(label, self.typed(label, field));
                }
            }
            if i < b.len() && b[i] == b'\t' {
                i += 1;
            }
            if i < b.len() && (b[i] == b'\r' || b[i] == b'\n') {
                break;
            }
        }
        (!map.is_empty()).then_some((time, map))
    }

    /// The value of `key` after `Types`.
    fn typed(&self, key: &str, value: &str) -> Value {
        match self.types.iter().find(|(k, _)| k == key).map(|(_, t)| *t) {
            None | Some(Type::String) => Value::Str(value.to_string()),
            Some(Type::Integer) => Value::Int(atoll(value)),
            Some(Type::Hex) => {
                let v = strtoull16(value);
                i64::try_from(v).map(Value::Int).unwrap_or(Value::UInt(v))
            }
            Some(Type::Float) => Value::Float(atof(value)),
            Some(Type::Bool) => {
                let lower = value.get(..5).unwrap_or(value);
                if value.len() >= 4 && value[..4].eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if value.len() >= 5 && lower.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else {
                    tracing::warn!(parser = %self.name, "key={key} cast error. save as string.");
                    Value::Str(value.to_string())
                }
            }
        }
    }

    fn decode(&self, map: &mut Map) {
        let mut extra = Map::new();
        for (key, value) in map.0.iter_mut() {
            let mut done = false;
            for dec in self.decoders.iter().filter(|d| d.key == *key) {
                if done {
                    break;
                }
                let Some(text) = value.as_str() else { break };
                let decoded = match dec.backend {
                    Backend::Json => {
                        let unescaped = unescape(text);
                        match Value::from_json(unescaped.as_bytes()) {
                            Ok(Value::Map(m)) if unescaped.starts_with('{') => Some(Value::Map(m)),
                            _ => None,
                        }
                    }
                    Backend::Escaped => Some(Value::Str(unescape(text))),
                    Backend::EscapedUtf8 => Some(Value::Str(unescape_utf8(text, true))),
                };
                let Some(decoded) = decoded else { continue };
                match (dec.replace, decoded) {
                    (false, Value::Map(m)) => extra.0.extend(m.0),
                    (_, v) => *value = v,
                }
                done = !dec.do_next;
            }
        }
        map.0.extend(extra.0);
    }
}

/// Epoch seconds of a zone-less time read in the system's local time zone.
fn local_epoch(parsed: &time_format::Parsed, spec: &TimeSpec, today: NaiveDate) -> Option<i64> {
    let as_utc = parsed.to_epoch(spec.format.has_year, 0, today)?;
    let naive = chrono::DateTime::from_timestamp(as_utc, 0)?.naive_utc();
    chrono::Local.from_local_datetime(&naive).earliest().map(|t| t.timestamp())
}

fn parse_types(text: &str) -> Vec<(String, Type)> {
    text.split(' ')
        .filter_map(|entry| {
            let (key, ty) = entry.split_once(':')?;
            let ty = match ty.to_ascii_lowercase().as_str() {
                "integer" => Type::Integer,
                "bool" => Type::Bool,
                "float" => Type::Float,
                "hex" => Type::Hex,
                _ => Type::String,
            };
            Some((key.to_string(), ty))
        })
        .collect()
}

/// C's `atoll`: leading spaces, a sign, digits; 0 when there are none; saturating.
pub(crate) fn atoll(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        v = if neg { v.saturating_mul(10).saturating_sub(d) } else { v.saturating_mul(10).saturating_add(d) };
    }
    v
}

/// C's `strtoull(s, NULL, 16)`.
fn strtoull16(s: &str) -> u64 {
    let s = s.trim_start();
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let mut v: u64 = 0;
    for c in s.chars().map_while(|c| c.to_digit(16)) {
        v = v.saturating_mul(16).saturating_add(u64::from(c));
    }
    v
}

/// C's `atof`: the longest prefix that is a float; 0 when there is none.
pub(crate) fn atof(s: &str) -> f64 {
    let s = s.trim_start();
    let b = s.as_bytes();
    let mut end = 0;
    let mut best = 0.0;
    // Grow the prefix while it still parses: inputs are short, so this stays cheap.
    while end < b.len() {
        end += 1;
        if !s.is_char_boundary(end) {
            break;
        }
        if let Ok(v) = s[..end].parse::<f64>() {
            best = v;
        } else if !matches!(b[end - 1], b'e' | b'E' | b'+' | b'-' | b'.') {
            break;
        }
    }
    best
}

/// Fluent Bit's `escaped` decoder: `\n \a \b \t \v \f \r` become control characters,
/// any other escaped character stands for itself.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\x0b'),
            Some('f') => out.push('\x0c'),
            Some('r') => out.push('\r'),
            // Fluent Bit drops the backslash of any other escape.
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Fluent Bit's `escaped_utf8` decoder (`keep_json_escapes`: `\"`, `\'`, `\\`, `\/` stay
/// as written) and logfmt's quoted values (every escape is read): C escapes, `\xHH`,
/// `\uHHHH`, `\UHHHHHHHH` and octal become characters.
fn unescape_utf8(s: &str, keep_json_escapes: bool) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c != '\\' || (keep_json_escapes && matches!(next, Some('"' | '\'' | '\\' | '/'))) {
            out.push(c);
            if c == '\\' {
                out.push(next.unwrap_or_default());
                i += 1;
            }
            i += 1;
            continue;
        }
        let Some(n) = next else { break };
        i += 2;
        let hex = |i: &mut usize, max: usize| -> Option<u32> {
            let start = *i;
            while *i < chars.len() && *i - start < max && chars[*i].is_ascii_hexdigit() {
                *i += 1;
            }
            (start < *i).then(|| u32::from_str_radix(&chars[start..*i].iter().collect::<String>(), 16).ok())?
        };
        let ch = match n {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'v' => Some('\x0b'),
            'a' => Some('\x07'),
            'x' => hex(&mut i, 2).and_then(char::from_u32).or(Some('x')),
            'u' => hex(&mut i, 4).and_then(char::from_u32).or(Some('u')),
            'U' => hex(&mut i, 8).and_then(char::from_u32).or(Some('U')),
            '0'..='7' => {
                let start = i - 1;
                while i < chars.len() && i - start < 3 && ('0'..='7').contains(&chars[i]) {
                    i += 1;
                }
                let digits: String = chars[start..i].iter().collect();
                u32::from_str_radix(&digits, 8).ok().and_then(char::from_u32)
            }
            other => Some(other),
        };
        out.extend(ch);
    }
    out
}
