//! `Merge_Log`: turning a structured `log` value into keys of the record, as Fluent Bit's
//! `pack_map_content` / `merge_log_handler` do.
//!
//! - Only the first top-level `log` key is looked at.
//! - A map is merged as it is; a string goes through the annotation's parser, else
//!   `Merge_Parser`, else JSON (which must be one object).
//! - Merged keys are appended after the record's own keys (or as one map under
//!   `Merge_Log_Key`, when there is at least one), before `kubernetes`. Like Fluent Bit,
//!   a merged key that the record already has is appended again rather than replacing it:
//!   the JSON then shows both, in Fluent Bit's order.
//! - `Merge_Log_Trim` trims trailing `\n` (and escaped `\n`/`\r`) from parsed string values.
//! - `log` is removed only with `Keep_Log Off` and a successful merge; a failed parse leaves
//!   the record as it was.
//! - A parser's time, when it finds one, becomes the record's time. (Fluent Bit stamps the
//!   record with the current time when a parser finds none; Hydrant keeps the record's.)

use std::sync::Arc;

use hydrant_flb::{EventTime, Map, Record, Value};

/// A parser for the `log` value (`Merge_Parser`, `fluentbit.io/parser`).
pub trait LogParser: Send + Sync {
    /// Parse `text` into a record body and, when the parser has a time key, its time; `None`
    /// when the text does not match.
    fn parse(&self, text: &str) -> Option<(Option<EventTime>, Map)>;
}

/// The configuration's parsers, looked up by name.
pub trait ParserSet: Send + Sync {
    /// The parser named `name`.
    fn get(&self, name: &str) -> Option<Arc<dyn LogParser>>;
}

/// No parsers at all.
pub struct NoParsers;

impl ParserSet for NoParsers {
    fn get(&self, _name: &str) -> Option<Arc<dyn LogParser>> {
        None
    }
}

/// The `Merge_Log` settings.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// `Merge_Log_Key`.
    pub key: Option<String>,
    /// `Merge_Log_Trim`.
    pub trim: bool,
    /// `Keep_Log`.
    pub keep_log: bool,
}

/// How a merge went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    /// No `log` key, or a value that is neither a string nor a map.
    NoLog,
    /// The value did not parse; the record is unchanged.
    Failed,
    /// Keys were merged.
    Merged,
}

/// Merge the record's `log` value with `parser` (JSON when `None`).
pub fn merge_log(record: &mut Record, parser: Option<&dyn LogParser>, opts: &MergeOptions) -> Merged {
    let Some(index) = record.body.position("log") else { return Merged::NoLog };
    let (entries, parsed) = match record.body.0[index].1.resolve() {
        Value::Map(m) => (m.clone(), false),
        Value::Str(text) => {
            let parsed = match parser {
                Some(p) => p.parse(text).map(|(time, map)| {
                    if let Some(t) = time {
                        record.time = t;
                    }
                    map
                }),
                None => parse_json_object(text),
            };
            match parsed {
                Some(map) => (map, true),
                None => return Merged::Failed,
            }
        }
        _ => return Merged::NoLog,
    };
    if !opts.keep_log {
        record.body.0.remove(index);
    }
    let mut entries = entries;
    if parsed && opts.trim {
        for (_, v) in entries.0.iter_mut() {
            if let Value::Str(s) = v {
                let keep = trimmed_len(s.as_bytes());
                s.truncate(keep);
            }
        }
    }
    match &opts.key {
        Some(key) if !entries.is_empty() => record.body.push(key.clone(), Value::Map(entries)),
        Some(_) => {}
        None => record.body.0.extend(entries.0),
    }
    Merged::Merged
}

/// A JSON text that is exactly one object, as a map in its key order.
fn parse_json_object(text: &str) -> Option<Map> {
    // A quick refusal for the common case of plain text lines.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    match Value::from_json(text.as_bytes()).ok()? {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

/// `value_trim_size`: the length without trailing newlines and escaped `\n`/`\r` (the first
/// byte is never trimmed, as in Fluent Bit).
fn trimmed_len(s: &[u8]) -> usize {
    let mut size = s.len();
    let mut i = s.len();
    while i > 1 {
        i -= 1;
        if s[i] == b'\n' {
            size -= 1;
            continue;
        }
        if s[i - 1] == b'\\' && (s[i] == b'n' || s[i] == b'r') {
            size -= 2;
            i -= 1;
        } else {
            break;
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Record {
        match Value::from_json(json.as_bytes()).unwrap() {
            Value::Map(body) => Record::new(EventTime::new(1, 0), body),
            _ => panic!("not an object"),
        }
    }

    fn opts(key: Option<&str>, keep_log: bool) -> MergeOptions {
        MergeOptions { key: key.map(str::to_owned), trim: true, keep_log }
    }

    #[test]
    fn json_string_merged_at_top_level() {
        let mut r = record(r#"{"log":"{\"level\":\"info\",\"msg\":\"hi\\n\"}","stream":"stdout"}"#);
        assert_eq!(merge_log(&mut r, None, &opts(None, true)), Merged::Merged);
        assert_eq!(
            r.body.to_json_string(),
            r#"{"log":"{\"level\":\"info\",\"msg\":\"hi\\n\"}","stream":"stdout","level":"info","msg":"hi"}"#
        );
    }

    #[test]
    fn keep_log_off_and_merge_key() {
        let mut r = record(r#"{"log":"{\"a\":1}","stream":"stdout"}"#);
        merge_log(&mut r, None, &opts(Some("app"), false));
        assert_eq!(r.body.to_json_string(), r#"{"stream":"stdout","app":{"a":1}}"#);
    }

    #[test]
    fn failed_parse_leaves_the_record() {
        for text in [r#"{"log":"plain text","stream":"stdout"}"#, r#"{"log":"[1,2]"}"#, r#"{"log":"{\"a\":1} x"}"#] {
            let mut r = record(text);
            let before = r.clone();
            assert_eq!(merge_log(&mut r, None, &opts(None, false)), Merged::Failed);
            assert_eq!(r, before);
        }
    }

    #[test]
    fn map_value_is_merged_untrimmed() {
        let mut r = record(r#"{"log":{"a":"x\n"},"s":1}"#);
        merge_log(&mut r, None, &opts(None, false));
        assert_eq!(r.body.to_json_string(), r#"{"s":1,"a":"x\n"}"#);
    }

    #[test]
    fn trim_rules() {
        assert_eq!(trimmed_len(b"abc\n\n"), 3);
        assert_eq!(trimmed_len(b"abc\\n"), 3);
        assert_eq!(trimmed_len(b"abc\\r\n"), 3);
        assert_eq!(trimmed_len(b"\n"), 1);
    }

    struct Upper;
    impl LogParser for Upper {
        fn parse(&self, text: &str) -> Option<(Option<EventTime>, Map)> {
            let mut m = Map::new();
            m.push("upper", Value::Str(text.to_uppercase()));
            Some((Some(EventTime::new(42, 0)), m))
        }
    }

    #[test]
    fn parser_sets_time() {
        let mut r = record(r#"{"log":"abc"}"#);
        merge_log(&mut r, Some(&Upper), &opts(None, true));
        assert_eq!(r.time, EventTime::new(42, 0));
        assert_eq!(r.body.to_json_string(), r#"{"log":"abc","upper":"ABC"}"#);
    }
}
