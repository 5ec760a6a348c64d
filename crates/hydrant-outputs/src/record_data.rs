//! The `Data` of each Firehose record, byte for byte as Fluent Bit's plugins write it.
//!
//! Two dialects, because Fargate accepts both plugins and their outputs differ:
//!
//! - [`Dialect::C`] (`kinesis_firehose`, `plugins/out_kinesis_firehose`): the record body as
//!   compact JSON; with `time_key`, `,"<time_key>":"<time>"` spliced in before the closing
//!   brace; with `log_key`, only that value, a string written as its JSON-escaped text
//!   without the quotes (Fluent Bit strips the quotes of the JSON string, so `"` stays `\"`:
//!   consumers of today's Fargate streams rely on it); then `\n`. A JSON text of 2 bytes or
//!   less (`{}`, `""`) is dropped, and so is one of 1,024,000 bytes or more with the newline.
//!   `time_key_format` takes `%3N` (milliseconds), `%9N` and `%L` (nanoseconds).
//! - [`Dialect::Go`] (`firehose`, `amazon-kinesis-firehose-for-fluent-bit`): `data_keys`
//!   keeps only the listed keys, `replace_dots` rewrites dots in keys, `time_key` sets a key
//!   in the map, `log_key` sends that value alone (a string raw, anything else as JSON), then
//!   `\n`; over 1,024,000 bytes is dropped. `time_key_format` takes `%L` (milliseconds) and
//!   `%f` (microseconds), as that plugin's strftime library does.
//!
//! Compression (`gzip`, `zstd`, `snappy`) applies to each Firehose record separately, after
//! the newline, as Fluent Bit does.

use std::io::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
use hydrant_flb::record::write_str;
use hydrant_flb::{EventTime, Map, Record, Value};

/// Largest record Firehose takes (bytes of Data, before base64).
pub const MAX_RECORD_BYTES: usize = 1_024_000;

/// Which plugin's rules to follow (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Fluent Bit's C plugin, `kinesis_firehose`.
    C,
    /// The Go plugin, `firehose`.
    Go,
}

/// A `time_key_format`: strftime with the sub-second extensions of the dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    parts: Vec<TimePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TimePart {
    /// Plain strftime text for chrono (already validated).
    Strftime(String),
    /// Zero-padded fraction of a second with this many digits (3, 6 or 9).
    Fraction(u32),
}

impl TimeFormat {
    /// Parse `format` for `dialect`; an error names what chrono cannot format.
    pub fn parse(format: &str, dialect: Dialect) -> Result<TimeFormat, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let rest: String = chars.clone().take(2).collect();
            let digits = match dialect {
                Dialect::C if rest.starts_with("3N") => Some((3, 2)),
                Dialect::C if rest.starts_with("9N") => Some((9, 2)),
                Dialect::C if rest.starts_with('L') => Some((9, 1)),
                Dialect::Go if rest.starts_with('L') => Some((3, 1)),
                Dialect::Go if rest.starts_with('f') => Some((6, 1)),
                _ => None,
            };
            match digits {
                Some((n, skip)) => {
                    if !text.is_empty() {
                        parts.push(TimePart::Strftime(std::mem::take(&mut text)));
                    }
                    parts.push(TimePart::Fraction(n));
                    for _ in 0..skip {
                        chars.next();
                    }
                }
                None => {
                    // Keep the specifier (and `%%` whole) for chrono.
                    text.push('%');
                    if let Some(next) = chars.next() {
                        text.push(next);
                    }
                }
            }
        }
        if !text.is_empty() {
            parts.push(TimePart::Strftime(text));
        }
        for part in &parts {
            if let TimePart::Strftime(s) = part {
                if StrftimeItems::new(s).any(|item| matches!(item, Item::Error)) {
                    return Err(format!("`{format}` is not a strftime format chrono can write"));
                }
            }
        }
        Ok(TimeFormat { parts })
    }

    /// `time` formatted in UTC (Fluent Bit uses `gmtime_r`).
    pub fn format(&self, time: EventTime) -> String {
        use std::fmt::Write as _;
        let dt = DateTime::<Utc>::from_timestamp(time.secs, time.nanos.min(999_999_999)).unwrap_or_default();
        let mut out = String::with_capacity(32);
        for part in &self.parts {
            match part {
                TimePart::Strftime(s) => {
                    let _ = write!(out, "{}", dt.format(s));
                }
                TimePart::Fraction(digits) => {
                    let value = time.nanos / 10u32.pow(9 - digits);
                    let _ = write!(out, "{value:0width$}", width = *digits as usize);
                }
            }
        }
        out
    }
}

/// Per-record compression (Fluent Bit's `compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// None (the default; also `none`).
    None,
    /// gzip (`flb_gzip_compress`: one gzip member).
    Gzip,
    /// zstd, one frame.
    Zstd,
    /// Snappy in the framing format (`flb_snappy_compress_framed_data`), which concatenates.
    Snappy,
}

impl Compression {
    /// The compression named `name` as Fluent Bit spells it (`none`, `gzip`, `zstd`, `snappy`).
    pub fn parse(name: &str) -> Result<Compression, String> {
        match name.trim() {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "snappy" => Ok(Compression::Snappy),
            "arrow" | "parquet" => Err(format!(
                "`{name}` is a file format of Fluent Bit's s3 output, not a record compression; \
                 supported: gzip, zstd, snappy, none"
            )),
            other => Err(format!("unknown compression `{other}`; supported: gzip, zstd, snappy, none")),
        }
    }

    /// Compress `data` (a whole Firehose record).
    pub fn apply(self, data: Vec<u8>) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::None => Ok(data),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&data)?;
                enc.finish()
            }
            Compression::Zstd => zstd::bulk::compress(&data, 0),
            Compression::Snappy => {
                let mut enc = snap::write::FrameEncoder::new(Vec::new());
                enc.write_all(&data)?;
                enc.into_inner().map_err(|e| e.into_error())
            }
        }
    }
}

/// Why a record was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// Its JSON is 2 bytes or less (`{}`, `""`): Fluent Bit discards empty messages.
    Empty,
    /// Too large for Firehose: this many bytes with the newline.
    TooLarge(usize),
    /// `log_key` is set and the record has no such key.
    NoLogKey,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dropped::Empty => f.write_str("empty record"),
            Dropped::TooLarge(n) => {
                write!(f, "record of {n} bytes is larger than Firehose's limit of {MAX_RECORD_BYTES} bytes")
            }
            Dropped::NoLogKey => f.write_str("record has no log_key"),
        }
    }
}

/// How records become Firehose Data (see the module docs).
#[derive(Debug, Clone)]
pub struct DataFormat {
    /// Whose rules.
    pub dialect: Dialect,
    /// `time_key` and its format.
    pub time_key: Option<(String, TimeFormat)>,
    /// `log_key`.
    pub log_key: Option<String>,
    /// Go plugin's `data_keys`: keep only these keys.
    pub data_keys: Option<Vec<String>>,
    /// Go plugin's `replace_dots`: replace `.` in keys (at every depth) by this.
    pub replace_dots: Option<String>,
}

impl DataFormat {
    /// The C plugin's format with nothing set: the body as JSON plus a newline.
    pub fn plain(dialect: Dialect) -> Self {
        DataFormat { dialect, time_key: None, log_key: None, data_keys: None, replace_dots: None }
    }

    /// The newline-terminated Data of `record` (uncompressed), or why it is dropped.
    pub fn encode(&self, record: &Record) -> Result<Vec<u8>, Dropped> {
        match self.dialect {
            Dialect::C => self.encode_c(record),
            Dialect::Go => self.encode_go(record),
        }
    }

    fn encode_c(&self, record: &Record) -> Result<Vec<u8>, Dropped> {
        let mut out = Vec::with_capacity(256);
        match &self.log_key {
            Some(key) => {
                // Fluent Bit compares the key exactly only up to the record key's length
                // (fluent-bit 3492: `log` matches `log_processed`); Hydrant matches exactly.
                let value = record.body.get(key).ok_or(Dropped::NoLogKey)?;
                value.write_json(&mut out);
                if out.len() <= 2 {
                    return Err(Dropped::Empty);
                }
                if matches!(value.resolve(), Value::Str(_)) {
                    // The JSON string without its quotes, escapes kept, as Fluent Bit does.
                    out.pop();
                    out.remove(0);
                }
                // Fluent Bit strips the first and last byte of any value, mangling numbers and
                // maps (`123` becomes `2`); Hydrant sends those as JSON.
            }
            None => {
                record.body.write_json(&mut out);
                if out.len() <= 2 {
                    return Err(Dropped::Empty);
                }
                if out.len() + 1 >= MAX_RECORD_BYTES {
                    return Err(Dropped::TooLarge(out.len() + 1));
                }
                if let Some((key, format)) = &self.time_key {
                    out.pop(); // the closing brace
                    out.push(b',');
                    write_str(key, &mut out);
                    out.push(b':');
                    write_str(&format.format(record.time), &mut out);
                    out.push(b'}');
                }
            }
        }
        out.push(b'\n');
        if out.len() >= MAX_RECORD_BYTES {
            return Err(Dropped::TooLarge(out.len()));
        }
        Ok(out)
    }

    fn encode_go(&self, record: &Record) -> Result<Vec<u8>, Dropped> {
        let mut body = record.body.clone();
        if let Some((key, format)) = &self.time_key {
            body.insert(key.clone(), Value::Str(format.format(record.time)));
        }
        if let Some(keys) = &self.data_keys {
            body.retain(|k, _| keys.iter().any(|want| want == k));
        }
        if let Some(replacement) = &self.replace_dots {
            replace_dots(&mut body, replacement);
        }
        let mut out = Vec::with_capacity(256);
        match &self.log_key {
            Some(key) => match body.get(key).ok_or(Dropped::NoLogKey)?.resolve() {
                Value::Str(s) => out.extend_from_slice(s.as_bytes()),
                other => other.write_json(&mut out),
            },
            None => body.write_json(&mut out),
        }
        out.push(b'\n');
        if out.len() > MAX_RECORD_BYTES {
            return Err(Dropped::TooLarge(out.len()));
        }
        Ok(out)
    }
}

fn replace_dots(map: &mut Map, replacement: &str) {
    for (key, value) in map.0.iter_mut() {
        if key.contains('.') {
            *key = key.replace('.', replacement);
        }
        if let Some(inner) = value.as_map_mut() {
            replace_dots(inner, replacement);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str, secs: i64, nanos: u32) -> Record {
        match Value::from_json(json.as_bytes()).unwrap() {
            Value::Map(body) => Record::new(EventTime::new(secs, nanos), body),
            _ => panic!("not a map"),
        }
    }

    fn c_with_time(key: &str, format: &str) -> DataFormat {
        DataFormat {
            time_key: Some((key.into(), TimeFormat::parse(format, Dialect::C).unwrap())),
            ..DataFormat::plain(Dialect::C)
        }
    }

    fn text(r: Result<Vec<u8>, Dropped>) -> String {
        String::from_utf8(r.unwrap()).unwrap()
    }

    #[test]
    fn body_as_compact_json_with_newline() {
        let r = record(r#"{"log":"a \"quoted\"\tline\n","stream":"stdout","n":1.5}"#, 1_700_000_000, 0);
        assert_eq!(
            text(DataFormat::plain(Dialect::C).encode(&r)),
            "{\"log\":\"a \\\"quoted\\\"\\tline\\n\",\"stream\":\"stdout\",\"n\":1.5}\n"
        );
    }

    #[test]
    fn time_key_before_the_closing_brace_with_fractions() {
        // 2023-11-14T22:13:20.012345678Z
        let r = record(r#"{"log":"x"}"#, 1_700_000_000, 12_345_678);
        assert_eq!(
            text(c_with_time("time", "%Y-%m-%dT%H:%M:%S").encode(&r)),
            "{\"log\":\"x\",\"time\":\"2023-11-14T22:13:20\"}\n"
        );
        assert_eq!(
            text(c_with_time("@timestamp", "%Y-%m-%dT%H:%M:%S.%3NZ").encode(&r)),
            "{\"log\":\"x\",\"@timestamp\":\"2023-11-14T22:13:20.012Z\"}\n"
        );
        assert_eq!(
            text(c_with_time("t", "%s.%9N|%L|%%3N|%j").encode(&r)),
            "{\"log\":\"x\",\"t\":\"1700000000.012345678|012345678|%3N|318\"}\n"
        );
    }

    #[test]
    fn log_key_sends_the_escaped_string_without_quotes() {
        let r = record(r#"{"log":"{\"level\":\"info\"}","stream":"stdout","n":123,"m":{"a":1}}"#, 0, 0);
        let with = |k: &str| DataFormat { log_key: Some(k.into()), ..DataFormat::plain(Dialect::C) };
        assert_eq!(text(with("log").encode(&r)), "{\\\"level\\\":\\\"info\\\"}\n");
        assert_eq!(text(with("stream").encode(&r)), "stdout\n");
        assert_eq!(text(with("n").encode(&r)), "123\n");
        assert_eq!(text(with("m").encode(&r)), "{\"a\":1}\n");
        assert_eq!(with("lo").encode(&r), Err(Dropped::NoLogKey));
        let empty = record(r#"{"log":""}"#, 0, 0);
        assert_eq!(with("log").encode(&empty), Err(Dropped::Empty));
        let one = record(r#"{"log":"a"}"#, 0, 0);
        assert_eq!(text(with("log").encode(&one)), "a\n");
    }

    #[test]
    fn drop_limits_are_fluent_bits() {
        let f = DataFormat::plain(Dialect::C);
        assert_eq!(f.encode(&record("{}", 0, 0)), Err(Dropped::Empty));
        // {"log":"<n x>"} is n + 10 bytes; with the newline n + 11.
        let sized = |n: usize| {
            let mut body = Map::new();
            body.insert("log", Value::Str("x".repeat(n)));
            Record::new(EventTime::default(), body)
        };
        assert_eq!(f.encode(&sized(MAX_RECORD_BYTES - 12)).unwrap().len(), MAX_RECORD_BYTES - 1);
        assert_eq!(f.encode(&sized(MAX_RECORD_BYTES - 11)), Err(Dropped::TooLarge(MAX_RECORD_BYTES)));
        // time_key pushes a record over the limit after it is added.
        let t = c_with_time("t", "%Y");
        // `,"t":"1970"` adds 11 bytes to the body's MAX - 10.
        assert_eq!(t.encode(&sized(MAX_RECORD_BYTES - 20)), Err(Dropped::TooLarge(MAX_RECORD_BYTES + 2)));
        // The Go plugin allows exactly 1,024,000 bytes.
        let g = DataFormat::plain(Dialect::Go);
        assert_eq!(g.encode(&sized(MAX_RECORD_BYTES - 11)).unwrap().len(), MAX_RECORD_BYTES);
        assert_eq!(g.encode(&sized(MAX_RECORD_BYTES - 10)), Err(Dropped::TooLarge(MAX_RECORD_BYTES + 1)));
        assert_eq!(text(g.encode(&record("{}", 0, 0))), "{}\n");
    }

    #[test]
    fn go_dialect_options() {
        let r = record(
            r#"{"log":"he said \"hi\"","kubernetes":{"labels":{"app.kubernetes.io/name":"web"}},"x":1}"#,
            5,
            7_000_000,
        );
        let f = DataFormat {
            time_key: Some(("time".into(), TimeFormat::parse("%S.%L|%f", Dialect::Go).unwrap())),
            data_keys: Some(vec!["log".into(), "kubernetes".into(), "time".into()]),
            replace_dots: Some("_".into()),
            ..DataFormat::plain(Dialect::Go)
        };
        assert_eq!(
            text(f.encode(&r)),
            "{\"log\":\"he said \\\"hi\\\"\",\"kubernetes\":{\"labels\":{\"app_kubernetes_io/name\":\"web\"}},\"time\":\"05.007|007000\"}\n"
        );
        let raw = DataFormat { log_key: Some("log".into()), ..DataFormat::plain(Dialect::Go) };
        assert_eq!(text(raw.encode(&r)), "he said \"hi\"\n");
    }

    #[test]
    fn bad_time_formats_and_compressions_are_refused() {
        assert!(TimeFormat::parse("%Y-%Q", Dialect::C).is_err());
        assert!(TimeFormat::parse("%Y %", Dialect::C).is_err());
        assert!(Compression::parse("lz4").is_err());
        assert!(Compression::parse("arrow").is_err());
        assert_eq!(Compression::parse("snappy"), Ok(Compression::Snappy));
    }

    #[test]
    fn compression_round_trips() {
        use std::io::Read;
        let data = b"{\"log\":\"hello hello hello hello\"}\n".repeat(20);
        let gz = Compression::Gzip.apply(data.clone()).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let zs = Compression::Zstd.apply(data.clone()).unwrap();
        assert_eq!(zstd::bulk::decompress(&zs, 1 << 20).unwrap(), data);
        let sn = Compression::Snappy.apply(data.clone()).unwrap();
        let mut out = Vec::new();
        snap::read::FrameDecoder::new(&sn[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
