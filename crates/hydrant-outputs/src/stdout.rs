//! The `stdout` output: records printed as Fluent Bit's `out_stdout` prints them.
//!
//! - `Format msgpack` (the default): one line per record,
//!   `[<i>] <tag>: [[<secs>.<nanos, 9 digits>, {}], {"key"=>"value", ...}]`, `i` counting from
//!   0 in each chunk, values as msgpack-c's `msgpack_object_print` writes them (strings in
//!   quotes without escaping, floats with six decimals, `nil`, maps with `=>`).
//! - `Format json_lines`: one JSON object per line; `json`: one JSON array per chunk;
//!   `json_stream`: the objects back to back. Each starts with `json_date_key` (default
//!   `date`; `false` leaves it out) in `json_date_format`: `double` (default,
//!   `1700000000.123457`), `epoch`, `epoch_ms`, `iso8601` (`2023-11-14T22:13:20.123456Z`),
//!   `java_sql_timestamp` (`2023-11-14 22:13:20.123456`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hydrant_flb::config::Plugin;
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::plugin::BuildResult;
use hydrant_flb::record::write_str;
use hydrant_flb::{BoxFuture, BuildContext, Chunk, EventTime, Output, Value};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// `Format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Fluent Bit's printed msgpack (the default).
    Msgpack,
    /// A JSON array per chunk.
    Json,
    /// One JSON object per line.
    JsonLines,
    /// JSON objects back to back.
    JsonStream,
}

/// `json_date_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// Seconds as a float.
    Double,
    /// Whole seconds.
    Epoch,
    /// Whole milliseconds.
    EpochMs,
    /// `2023-11-14T22:13:20.123456Z`.
    Iso8601,
    /// `2023-11-14 22:13:20.123456`.
    JavaSqlTimestamp,
}

/// How records are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printer {
    /// `Format`.
    pub format: Format,
    /// `json_date_key` (`None`: no date key).
    pub date_key: Option<String>,
    /// `json_date_format`.
    pub date_format: DateFormat,
}

impl Printer {
    /// Read `Format`, `json_date_key` and `json_date_format` of `plugin`.
    pub fn from_plugin(plugin: &Plugin) -> BuildResult<Printer> {
        let format = match plugin.get("Format").map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("msgpack") => Format::Msgpack,
            Some("json") => Format::Json,
            Some("json_lines") => Format::JsonLines,
            Some("json_stream") => Format::JsonStream,
            Some(other) => {
                return Err(plugin
                    .invalid_value("Format", &format!("`{other}`: expected msgpack, json, json_lines or json_stream")))
            }
        };
        let date_key = match plugin.get("json_date_key").map(str::trim) {
            None => Some("date".to_owned()),
            Some(k) if ["false", "off", "no"].iter().any(|f| k.eq_ignore_ascii_case(f)) => None,
            Some(k) => Some(k.to_owned()),
        };
        let date_format = match plugin.get("json_date_format").map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("double") => DateFormat::Double,
            Some("epoch") => DateFormat::Epoch,
            Some("epoch_ms") => DateFormat::EpochMs,
            Some("iso8601") => DateFormat::Iso8601,
            Some("java_sql_timestamp") => DateFormat::JavaSqlTimestamp,
            Some(other) => {
                return Err(plugin.invalid_value(
                    "json_date_format",
                    &format!("`{other}`: expected double, epoch, epoch_ms, iso8601 or java_sql_timestamp"),
                ))
            }
        };
        Ok(Printer { format, date_key, date_format })
    }

    /// The text of one chunk.
    pub fn render(&self, chunk: &Chunk) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.records.len() * 128);
        match self.format {
            Format::Msgpack => {
                for (i, r) in chunk.records.iter().enumerate() {
                    out.extend_from_slice(
                        format!("[{i}] {}: [[{}.{:09}, {{}}], ", chunk.tag, r.time.secs, r.time.nanos).as_bytes(),
                    );
                    print_value(&Value::Map(r.body.clone()), &mut out);
                    out.extend_from_slice(b"]\n");
                }
            }
            Format::Json | Format::JsonLines | Format::JsonStream => {
                if self.format == Format::Json {
                    out.push(b'[');
                }
                for (i, r) in chunk.records.iter().enumerate() {
                    if i > 0 && self.format == Format::Json {
                        out.push(b',');
                    }
                    self.write_record_json(r.time, &r.body, &mut out);
                    if self.format == Format::JsonLines {
                        out.push(b'\n');
                    }
                }
                if self.format == Format::Json {
                    out.push(b']');
                }
                if self.format != Format::JsonLines {
                    out.push(b'\n');
                }
            }
        }
        out
    }

    fn write_record_json(&self, time: EventTime, body: &hydrant_flb::Map, out: &mut Vec<u8>) {
        let Some(key) = &self.date_key else {
            body.write_json(out);
            return;
        };
        out.push(b'{');
        write_str(key, out);
        out.push(b':');
        match self.date_format {
            DateFormat::Double => out.extend_from_slice(format_double(time.as_f64()).as_bytes()),
            DateFormat::Epoch => out.extend_from_slice(time.secs.to_string().as_bytes()),
            DateFormat::EpochMs => out.extend_from_slice(time.as_millis().to_string().as_bytes()),
            DateFormat::Iso8601 => write_str(&format_date(time, "%Y-%m-%dT%H:%M:%S", "Z"), out),
            DateFormat::JavaSqlTimestamp => write_str(&format_date(time, "%Y-%m-%d %H:%M:%S", ""), out),
        }
        let start = out.len();
        body.write_json(out);
        // Splice the body's members after the date: drop its `{`, and a lone `}` needs no comma.
        if out.len() - start > 2 {
            out[start] = b',';
        } else {
            out.truncate(start);
            out.push(b'}');
        }
    }
}

fn format_date(time: EventTime, format: &str, suffix: &str) -> String {
    let dt = DateTime::<Utc>::from_timestamp(time.secs, 0).unwrap_or_default();
    format!("{}.{:06}{suffix}", dt.format(format), time.nanos / 1000)
}

/// A double as Fluent Bit's JSON writer prints it: `%.1f` when integral, else `%.16g`.
pub fn format_double(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_owned();
    }
    if f == f.trunc() && f.abs() < 9.2e18 {
        return format!("{f:.1}");
    }
    // %.16g: 16 significant digits, trailing zeros trimmed, exponent form outside 1e-4..1e16.
    let sci = format!("{f:.15e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    if !(-4..16).contains(&exp) {
        let m = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (15 - exp).max(0) as usize;
    let fixed = format!("{f:.decimals$}");
    if fixed.contains('.') {
        fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        fixed
    }
}

/// A value as msgpack-c's `msgpack_object_print` writes it.
fn print_value(v: &Value, out: &mut Vec<u8>) {
    match v.resolve() {
        Value::Null => out.extend_from_slice(b"nil"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(format!("{f:.6}").as_bytes()),
        Value::Str(s) => {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                print_value(item, out);
            }
            out.push(b']');
        }
        Value::Map(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.push(b'"');
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b"\"=>");
                print_value(item, out);
            }
            out.push(b'}');
        }
        Value::Shared(_) => unreachable!("resolved above"),
    }
}

/// The output.
pub struct StdoutOutput {
    name: String,
    printer: Printer,
    metrics: Arc<Metrics>,
    writer: Box<dyn AsyncWrite + Unpin + Send>,
}

impl StdoutOutput {
    /// Build from a `stdout` section.
    pub fn from_plugin(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Self> {
        Ok(StdoutOutput {
            name: ctx.name.clone(),
            printer: Printer::from_plugin(plugin)?,
            metrics: ctx.metrics.clone(),
            writer: Box::new(tokio::io::stdout()),
        })
    }

    /// Write to `writer` instead of the process's standard output.
    pub fn with_writer(mut self, writer: impl AsyncWrite + Unpin + Send + 'static) -> Self {
        self.writer = Box::new(writer);
        self
    }
}

impl Output for StdoutOutput {
    fn run(mut self: Box<Self>, mut chunks: mpsc::Receiver<Chunk>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let labels = PluginLabels::new(&self.name);
            while let Some(chunk) = chunks.recv().await {
                let text = self.printer.render(&chunk);
                let n = chunk.records.len() as u64;
                let written = async {
                    self.writer.write_all(&text).await?;
                    self.writer.flush().await
                };
                match written.await {
                    Ok(()) => {
                        self.metrics.output_records.get_or_create(&labels).inc_by(n);
                        self.metrics.output_bytes.get_or_create(&labels).inc_by(text.len() as u64);
                    }
                    Err(e) => {
                        // Nobody reads a closed standard output: count the loss and go on.
                        tracing::error!(output = %self.name, "writing to standard output failed, {n} records lost: {e}");
                        self.metrics.output_errors.get_or_create(&labels).inc();
                        self.metrics.output_dropped.get_or_create(&labels).inc_by(n);
                    }
                }
                chunk.ack.complete();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hydrant_flb::config::Origin;
    use hydrant_flb::{Ack, Record};

    fn chunk() -> Chunk {
        let body = |json: &str| match Value::from_json(json.as_bytes()).unwrap() {
            Value::Map(m) => m,
            _ => unreachable!(),
        };
        Chunk::new(
            "kube.x".into(),
            vec![
                Record::new(
                    EventTime::new(1_700_000_000, 123_456_789),
                    body(r#"{"log":"say \"hi\"","n":-3,"f":1.5,"a":[null,true],"m":{"k":"v"}}"#),
                ),
                Record::new(EventTime::new(1_700_000_001, 0), body("{}")),
            ],
            Ack::none(),
        )
    }

    fn printer(props: &[(&str, &str)]) -> Printer {
        let mut p = Plugin::new("stdout", Origin::new("output.conf", 1));
        for (k, v) in props {
            p.properties.push(*k, *v);
        }
        Printer::from_plugin(&p).unwrap()
    }

    fn render(props: &[(&str, &str)]) -> String {
        String::from_utf8(printer(props).render(&chunk())).unwrap()
    }

    #[test]
    fn msgpack_text() {
        assert_eq!(
            render(&[]),
            "[0] kube.x: [[1700000000.123456789, {}], {\"log\"=>\"say \"hi\"\", \"n\"=>-3, \"f\"=>1.500000, \
             \"a\"=>[nil, true], \"m\"=>{\"k\"=>\"v\"}}]\n\
             [1] kube.x: [[1700000001.000000000, {}], {}]\n"
        );
    }

    #[test]
    fn json_formats_and_dates() {
        let body = r#""log":"say \"hi\"","n":-3,"f":1.5,"a":[null,true],"m":{"k":"v"}"#;
        assert_eq!(
            render(&[("Format", "json_lines")]),
            format!("{{\"date\":1700000000.123457,{body}}}\n{{\"date\":1700000001.0}}\n")
        );
        assert_eq!(
            render(&[("format", "json"), ("json_date_key", "ts"), ("json_date_format", "iso8601")]),
            format!("[{{\"ts\":\"2023-11-14T22:13:20.123456Z\",{body}}},{{\"ts\":\"2023-11-14T22:13:21.000000Z\"}}]\n")
        );
        assert_eq!(
            render(&[("format", "json_stream"), ("json_date_format", "java_sql_timestamp")]),
            format!("{{\"date\":\"2023-11-14 22:13:20.123456\",{body}}}{{\"date\":\"2023-11-14 22:13:21.000000\"}}\n")
        );
        assert_eq!(
            render(&[("format", "json_lines"), ("json_date_format", "epoch")]),
            format!("{{\"date\":1700000000,{body}}}\n{{\"date\":1700000001}}\n")
        );
        assert_eq!(
            render(&[("format", "json_lines"), ("json_date_format", "epoch_ms")]),
            format!("{{\"date\":1700000000123,{body}}}\n{{\"date\":1700000001000}}\n")
        );
        assert_eq!(render(&[("format", "json_lines"), ("json_date_key", "false")]), format!("{{{body}}}\n{{}}\n"));
    }

    #[test]
    fn doubles_print_like_percent_16g() {
        assert_eq!(format_double(1_700_000_000.5), "1700000000.5");
        assert_eq!(format_double(2.0), "2.0");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1.0e-5), "1e-05");
        assert_eq!(format_double(1.234_567_890_123_456_7e20), "1.234567890123457e+20");
    }

    #[test]
    fn bad_options_are_refused() {
        let mut p = Plugin::new("stdout", Origin::new("output.conf", 1));
        p.properties.push("Format", "yaml");
        assert!(Printer::from_plugin(&p).is_err());
        let mut p = Plugin::new("stdout", Origin::new("output.conf", 1));
        p.properties.push("json_date_format", "rfc2822");
        assert!(Printer::from_plugin(&p).is_err());
    }
}
