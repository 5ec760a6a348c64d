//! Docker json-file lines: `{"log":"hello\n","stream":"stdout","time":"2024-01-15T10:00:00.123456789Z"}`.
//!
//! Fluent Bit's built-in `docker` multiline parser (`flb_ml_parser_docker.c`) parses each line
//! as JSON (time key `time`, `Time_Keep On`), so the record is the JSON object as written,
//! keys in order, `time` kept. Docker splits lines longer than 16 KB into several entries
//! whose `log` lacks the trailing newline; the multiline layer joins them (`ENDSWITH "\n"`,
//! grouped by `stream`), keeping the newline of the last part, as Fluent Bit does.

use hydrant_flb::{EventTime, Map, Value};

/// One parsed json-file line.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerLine {
    /// The whole object, keys in order.
    pub body: Map,
    /// Index of the `log` entry in `body`.
    pub log: usize,
    /// The `time` entry, parsed; `None` when absent or unparsable (the read time is used).
    pub time: Option<EventTime>,
}

impl DockerLine {
    /// The `log` text.
    pub fn content(&self) -> &str {
        self.body.0[self.log].1.as_str().unwrap_or_default()
    }

    /// The `stream` entry, if any (the reassembly group).
    pub fn stream(&self) -> &str {
        self.body.get("stream").and_then(Value::as_str).unwrap_or_default()
    }

    /// Whether this entry ends a log line (its `log` ends with a newline).
    pub fn is_final(&self) -> bool {
        self.content().ends_with('\n')
    }
}

/// Parse a json-file line, or `None` when it is not a JSON object with a string `log`
/// (Fluent Bit then passes the line on raw).
pub fn parse(line: &str) -> Option<DockerLine> {
    let Value::Map(body) = Value::from_json(line.as_bytes()).ok()? else {
        return None;
    };
    let log = body.0.iter().position(|(k, v)| k == "log" && matches!(v, Value::Str(_)))?;
    let time = body.get("time").and_then(Value::as_str).and_then(crate::cri::parse_time);
    Some(DockerLine { body, log, time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_file_lines() {
        let l = parse(r#"{"log":"hello\n","stream":"stderr","time":"2024-01-15T10:00:00.5Z"}"#).unwrap();
        assert_eq!(l.content(), "hello\n");
        assert_eq!(l.stream(), "stderr");
        assert!(l.is_final());
        assert_eq!(l.time, Some(EventTime::new(1_705_312_800, 500_000_000)));
        assert_eq!(l.body.to_json_string(), r#"{"log":"hello\n","stream":"stderr","time":"2024-01-15T10:00:00.5Z"}"#);
        let part = parse(r#"{"log":"hel","stream":"stdout","time":"bad"}"#).unwrap();
        assert!(!part.is_final());
        assert_eq!(part.time, None);
    }

    #[test]
    fn refuses_non_objects_and_missing_log() {
        for bad in ["plain", "[1,2]", r#"{"msg":"x"}"#, r#"{"log":1}"#, r#"{"log":"x""#] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
