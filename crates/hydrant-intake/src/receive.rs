//! What the receivers do with a body before it is stored: the Firehose HTTP endpoint
//! body, the standard `/api/v2/logs` body, and the legacy `/v1/input` bodies, each to
//! preprocessed logs (spec sections 1 and 2).

use std::borrow::Cow;

use hydrant_log::preprocess::preprocess;
use hydrant_log::Log;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::decode::{self, Decoded};

/// Most logs Datadog takes from one Firehose request.
pub const MAX_FIREHOSE_EVENTS: usize = 65_536;
/// Most entries in one `/api/v2/logs` array.
pub const MAX_V2_ENTRIES: usize = 1000;
/// Largest log kept whole; longer messages are truncated (the log is still accepted).
pub const MAX_LOG_BYTES: usize = 1_000_000;

/// The body Firehose posts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseBody<'a> {
    /// Constant across retries of one batch.
    pub request_id: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The records.
    #[serde(borrow)]
    pub records: Vec<FirehoseRecord<'a>>,
}

/// One Firehose record.
#[derive(Debug, Deserialize)]
pub struct FirehoseRecord<'a> {
    /// Base64 of the record's bytes: borrowed from the body (base64 needs no JSON escape;
    /// an encoder that escapes `/` anyway gets an owned copy), so that the body's bulk is
    /// not copied once more before it is decoded.
    #[serde(borrow)]
    pub data: Cow<'a, str>,
}

/// Firehose's request metadata that becomes part of every log.
#[derive(Debug, Default, Clone)]
pub struct FirehoseContext {
    /// `X-Amz-Firehose-Source-Arn`.
    pub source_arn: Option<String>,
    /// `X-Amz-Firehose-Common-Attributes`, as tags.
    pub common_attributes: Vec<(String, String)>,
}

/// Parses the `X-Amz-Firehose-Common-Attributes` header value.
pub fn common_attributes(header: &str) -> Result<Vec<(String, String)>, String> {
    let v: Value = serde_json::from_str(header).map_err(|e| format!("X-Amz-Firehose-Common-Attributes: {e}"))?;
    let attrs = v
        .get("commonAttributes")
        .and_then(Value::as_object)
        .ok_or("X-Amz-Firehose-Common-Attributes: no commonAttributes object")?;
    Ok(attrs.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
}

/// The logs of a Firehose body: every record decoded, preprocessed, given
/// `source:aws service:aws` unless it says otherwise, `aws.firehose.arn`, and the common
/// attributes as tags.
pub fn firehose_logs(body: &FirehoseBody<'_>, ctx: &FirehoseContext, now_ms: i64) -> Result<Vec<Log>, BodyError> {
    let mut logs = Vec::with_capacity(body.records.len());
    firehose_each(body, ctx, now_ms, |log| logs.push(log))?;
    Ok(logs)
}

/// [`firehose_logs`], each log handed to `each` as soon as it is decoded (the intake stores
/// it before decoding the next: [`crate::ingest::Ingest::accept_from`]). On an error some
/// logs may have been handed over already; the caller drops the batch.
pub fn firehose_each(
    body: &FirehoseBody<'_>,
    ctx: &FirehoseContext,
    now_ms: i64,
    mut each: impl FnMut(Log),
) -> Result<(), BodyError> {
    let mut events = 0;
    // One buffer for every record's bytes (what is kept of a record is parsed out of it).
    let mut data = Vec::new();
    for (i, r) in body.records.iter().enumerate() {
        data.clear();
        base64_simd::STANDARD
            .decode_append(r.data.as_bytes(), &mut data)
            .map_err(|_| BodyError::Malformed(format!("records[{i}].data is not valid base64")))?;
        let maps = match decode::record(&data).map_err(|e| BodyError::Malformed(format!("records[{i}]: {e}")))? {
            Decoded::Logs(maps) => maps,
            Decoded::Nothing => continue,
        };
        events += maps.len();
        if events > MAX_FIREHOSE_EVENTS {
            return Err(BodyError::TooMany(events));
        }
        for mut attrs in maps {
            if let Some(arn) = &ctx.source_arn {
                set_path(&mut attrs, &["aws", "firehose", "arn"], Value::String(arn.clone()));
            }
            let mut log = preprocess(attrs, now_ms);
            log.source.get_or_insert_with(|| "aws".to_string());
            log.service.get_or_insert_with(|| "aws".to_string());
            for (k, v) in &ctx.common_attributes {
                log.add_tag(&format!("{k}:{v}"));
            }
            truncate(&mut log);
            each(log);
        }
    }
    Ok(())
}

/// Sets a nested attribute, creating objects on the way (an existing non-object is
/// replaced: the Firehose ARN is ours to set).
fn set_path(map: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut m = map;
    for p in parents {
        let slot = m.entry(p.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        m = slot.as_object_mut().expect("object");
    }
    m.insert(last.to_string(), value);
}

/// Why a `/api/v2/logs` body was refused.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// Not JSON, or not objects (a Firehose record: not base64, not a log): 400.
    Malformed(String),
    /// Too many entries: 413.
    TooMany(usize),
}

/// The logs of a `/api/v2/logs` body: a JSON array of objects, or one object.
pub fn v2_logs(body: &[u8], now_ms: i64) -> Result<Vec<Log>, BodyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| BodyError::Malformed(format!("invalid JSON: {e}")))?;
    let items = match v {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(BodyError::Malformed("the body must be a JSON object or an array of objects".into())),
    };
    if items.len() > MAX_V2_ENTRIES {
        return Err(BodyError::TooMany(items.len()));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(m) => {
                let mut log = preprocess(m, now_ms);
                truncate(&mut log);
                Ok(log)
            }
            _ => Err(BodyError::Malformed(format!("entry {i} is not a JSON object"))),
        })
        .collect()
}

/// Query parameters of the legacy `/v1/input` endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct LegacyParams {
    /// `ddsource`.
    pub ddsource: Option<String>,
    /// `service`.
    pub service: Option<String>,
    /// `host` (or `hostname`).
    #[serde(alias = "hostname")]
    pub host: Option<String>,
    /// `ddtags`.
    pub ddtags: Option<String>,
}

/// The logs of a legacy `/v1/input` body: JSON (object or array) when it parses as
/// such, else text with one log per non-empty line. The query parameters fill in what
/// the logs do not say.
pub fn legacy_logs(body: &[u8], params: &LegacyParams, now_ms: i64) -> Result<Vec<Log>, BodyError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    let mut logs = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        v2_logs(body, now_ms)?
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut m = Map::new();
                m.insert("message".into(), Value::String(line.to_string()));
                let mut log = preprocess(m, now_ms);
                truncate(&mut log);
                log
            })
            .collect()
    };
    if logs.len() > MAX_V2_ENTRIES {
        return Err(BodyError::TooMany(logs.len()));
    }
    for log in &mut logs {
        if log.source.is_none() {
            log.source.clone_from(&params.ddsource);
        }
        if log.service.is_none() {
            log.service.clone_from(&params.service);
        }
        if log.host.is_none() {
            log.host.clone_from(&params.host);
        }
        if let Some(tags) = &params.ddtags {
            for t in hydrant_log::tags::parse_list(tags) {
                if !log.tags.contains(&t) {
                    log.tags.push(t);
                }
            }
        }
    }
    Ok(logs)
}

/// Datadog truncates logs over 1 MB and still accepts them; so do we, on the message
/// (the bulk of any log), marking the log with the `truncated` attribute.
fn truncate(log: &mut Log) {
    if log.message.len() > MAX_LOG_BYTES {
        let mut end = MAX_LOG_BYTES;
        while !log.message.is_char_boundary(end) {
            end -= 1;
        }
        log.message.truncate(end);
        log.attributes.insert("truncated".into(), Value::Bool(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> Cow<'static, str> {
        Cow::Owned(base64_simd::STANDARD.encode_to_string(s))
    }

    #[test]
    fn firehose_body_to_logs() {
        let body = FirehoseBody {
            request_id: "r".into(),
            timestamp: 0,
            records: vec![
                FirehoseRecord {
                    data: b64(
                        r#"{"log":"GET / 200","stream":"stdout","kubernetes":{"namespace_name":"fargate-namespace","pod_name":"p"}}
"#,
                    ),
                },
                FirehoseRecord { data: b64("plain line\n") },
                FirehoseRecord { data: b64(r#"{"message":"x","service":"web","ddsource":"nginx"}"#) },
            ],
        };
        let ctx = FirehoseContext {
            source_arn: Some("arn:aws:firehose:us-east-1:123456789012:deliverystream/s".into()),
            common_attributes: vec![("env".into(), "Prod".into())],
        };
        let logs = firehose_logs(&body, &ctx, 1000).unwrap();
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[0].message, "GET / 200");
        assert_eq!(logs[0].source.as_deref(), Some("aws"));
        assert_eq!(logs[0].service.as_deref(), Some("aws"));
        assert_eq!(logs[0].attributes["kubernetes"]["namespace_name"], "fargate-namespace");
        assert_eq!(
            logs[0].attributes["aws"]["firehose"]["arn"],
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/s"
        );
        assert_eq!(logs[0].tags, vec!["env:prod"]);
        assert_eq!(logs[1].message, "plain line");
        assert_eq!(logs[2].service.as_deref(), Some("web"));
        assert_eq!(logs[2].source.as_deref(), Some("nginx"));
    }

    /// Record data is borrowed from the body, unless the encoder escaped something (`\/`
    /// is legal JSON for `/`, which base64 uses): then it is unescaped into a copy.
    #[test]
    fn firehose_data_borrowed_or_unescaped() {
        let data = b64("?>?>?>"); // base64 "Pz4/Pz4/"
        assert!(data.contains('/'));
        let escaped = data.replace('/', "\\/");
        let raw =
            format!(r#"{{"requestId":"r","timestamp":0,"records":[{{"data":"{data}"}},{{"data":"{escaped}"}}]}}"#);
        let body: FirehoseBody<'_> = serde_json::from_str(&raw).unwrap();
        assert!(matches!(body.records[0].data, Cow::Borrowed(_)));
        assert!(matches!(body.records[1].data, Cow::Owned(_)));
        let logs = firehose_logs(&body, &FirehoseContext::default(), 0).unwrap();
        assert_eq!(logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), ["?>?>?>", "?>?>?>"]);
    }

    #[test]
    fn firehose_bad_base64_is_refused() {
        let body =
            FirehoseBody { request_id: "r".into(), timestamp: 0, records: vec![FirehoseRecord { data: "!!".into() }] };
        assert!(
            matches!(firehose_logs(&body, &FirehoseContext::default(), 0), Err(BodyError::Malformed(m)) if m.contains("base64"))
        );
    }

    #[test]
    fn common_attributes_header() {
        let attrs = common_attributes(r#"{"commonAttributes":{"env":"prod","team":"a"}}"#).unwrap();
        assert_eq!(attrs, vec![("env".into(), "prod".into()), ("team".into(), "a".into())]);
        assert!(common_attributes("{}").is_err());
        assert!(common_attributes("nope").is_err());
    }

    #[test]
    fn v2_bodies() {
        let logs = v2_logs(
            json!([{"message": "hi", "ddsource": "python", "ddtags": "env:dev,team:x", "hostname": "h1", "service": "api", "status": "warn", "extra": 1}])
                .to_string()
                .as_bytes(),
            0,
        )
        .unwrap();
        assert_eq!(logs[0].source.as_deref(), Some("python"));
        assert_eq!(logs[0].host.as_deref(), Some("h1"));
        assert_eq!(logs[0].status, "warning");
        assert_eq!(logs[0].tags, vec!["env:dev", "team:x"]);
        assert_eq!(logs[0].attributes["extra"], 1);
        assert_eq!(v2_logs(br#"{"message":"one"}"#, 0).unwrap().len(), 1);
        assert!(matches!(v2_logs(b"[1]", 0), Err(BodyError::Malformed(_))));
        assert!(matches!(v2_logs(b"{", 0), Err(BodyError::Malformed(_))));
        let many = Value::Array(vec![json!({"message": "m"}); 1001]).to_string();
        assert_eq!(v2_logs(many.as_bytes(), 0), Err(BodyError::TooMany(1001)));
        let huge = json!({"message": "x".repeat(MAX_LOG_BYTES + 10)}).to_string();
        let logs = v2_logs(huge.as_bytes(), 0).unwrap();
        assert_eq!(logs[0].message.len(), MAX_LOG_BYTES);
        assert_eq!(logs[0].attributes["truncated"], true);
    }

    #[test]
    fn legacy_bodies() {
        let params = LegacyParams {
            ddsource: Some("syslog".into()),
            service: Some("s".into()),
            host: None,
            ddtags: Some("a:b".into()),
        };
        let logs = legacy_logs(b"line one\n\nline two\n", &params, 0).unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[1].message, "line two");
        assert_eq!(logs[0].source.as_deref(), Some("syslog"));
        assert_eq!(logs[0].tags, vec!["a:b"]);
        let logs = legacy_logs(br#"{"message":"j","service":"own"}"#, &params, 0).unwrap();
        assert_eq!(logs[0].service.as_deref(), Some("own"));
    }
}
