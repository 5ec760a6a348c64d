//! Preprocessing: what Datadog does to every log before any pipeline. The reserved
//! attributes are taken from the first attribute present in each list of aliases (in
//! this order of precedence), and that attribute leaves the attribute tree (the date's
//! alias stays, since users search on its original form).
//!
//! | reserved | aliases |
//! |---|---|
//! | source | `ddsource`, `source` |
//! | host | `host`, `hostname`, `syslog.hostname` |
//! | date | `@timestamp`, `timestamp`, `_timestamp`, `Timestamp`, `eventTime`, `date`, `published_date`, `syslog.timestamp` |
//! | message | `message`, `msg`, `log` |
//! | status | `status`, `severity`, `level`, `syslog.severity` |
//! | service | `service`, `syslog.appname` |
//! | trace_id | `dd.trace_id`, `contextMap.dd.trace_id` |
//!
//! `ddtags` (`"k:v,k2:v2"`) become tags. A date outside 18 h in the past to 2 h in the
//! future of the time received is not trusted: the log is dated when received (Datadog
//! drops such logs; keeping them is kinder, and the original stays in its attribute).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::{status, tags, Log};

const SOURCE: &[&str] = &["ddsource", "source"];
const HOST: &[&str] = &["host", "hostname", "syslog.hostname"];
const DATE: &[&str] =
    &["@timestamp", "timestamp", "_timestamp", "Timestamp", "eventTime", "date", "published_date", "syslog.timestamp"];
const MESSAGE: &[&str] = &["message", "msg", "log"];
const STATUS: &[&str] = &["status", "severity", "level", "syslog.severity"];
const SERVICE: &[&str] = &["service", "syslog.appname"];
const TRACE_ID: &[&str] = &["dd.trace_id", "contextMap.dd.trace_id"];

/// How far in the past a log's own date is trusted.
pub const MAX_PAST_MS: i64 = 18 * 3600 * 1000;
/// How far in the future a log's own date is trusted.
pub const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;

/// Builds a log from its attributes, received at `received_ms`.
pub fn preprocess(mut attributes: Map<String, Value>, received_ms: i64) -> Log {
    let mut log = Log::without_id(received_ms);
    let keys = TopKeys::of(&attributes);
    let take_string = |map: &mut Map<String, Value>, aliases: &[&str]| take_string(map, aliases, keys);
    let take = |map: &mut Map<String, Value>, aliases: &[&str]| take(map, aliases, keys);
    log.source = take_string(&mut attributes, SOURCE);
    log.host = take_string(&mut attributes, HOST);
    if let Some(ms) = DATE.iter().filter(|a| keys.may_hold(a)).find_map(|a| get(&attributes, a).and_then(parse_date)) {
        if ms >= received_ms - MAX_PAST_MS && ms <= received_ms + MAX_FUTURE_MS {
            log.timestamp_ms = ms;
        }
    }
    // Once the date is known (ids sort by it).
    log.id = crate::new_id(log.timestamp_ms);
    if let Some(m) = take(&mut attributes, MESSAGE) {
        log.message = match m {
            Value::String(s) => s,
            other => other.to_string(),
        };
    }
    if let Some(s) = take(&mut attributes, STATUS) {
        log.status = status::normalize(&s).to_string();
    }
    log.service = take_string(&mut attributes, SERVICE);
    log.trace_id = take_string(&mut attributes, TRACE_ID);
    if let Some(Value::String(list)) = attributes.remove("ddtags") {
        for t in tags::parse_list(&list) {
            if !log.tags.contains(&t) {
                log.tags.push(t);
            }
        }
    }
    log.attributes = attributes;
    log
}

/// The attribute at a dotted path (each dot a level; a key containing the dots counts too).
fn get<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let (head, rest) = split_dot(path)?;
    get(map.get(head)?.as_object()?, rest)
}

/// `path.split_once('.')`, by a byte scan: this runs for every alias of every log, and
/// the generic `char` searcher cost more than the scan itself.
fn split_dot(path: &str) -> Option<(&str, &str)> {
    let i = path.bytes().position(|b| b == b'.')?;
    Some((&path[..i], &path[i + 1..]))
}

/// Which aliases the attributes' top-level keys could hold, found in one pass over the
/// keys: most logs carry few of the 24 aliases (a Fluent Bit record: `log` only), and
/// looking each one up in the map was most of the preprocessing.
#[derive(Clone, Copy)]
struct TopKeys(u32);

impl TopKeys {
    fn of(map: &Map<String, Value>) -> TopKeys {
        TopKeys(map.keys().fold(0, |bits, k| bits | Self::bit(k)))
    }

    /// The bit of every alias, and of the first segment of each dotted one (`syslog`,
    /// `dd`, `contextMap`); 0 for other keys.
    fn bit(key: &str) -> u32 {
        let i = match key {
            "ddsource" => 0,
            "source" => 1,
            "host" => 2,
            "hostname" => 3,
            "syslog.hostname" => 4,
            "@timestamp" => 5,
            "timestamp" => 6,
            "_timestamp" => 7,
            "Timestamp" => 8,
            "eventTime" => 9,
            "date" => 10,
            "published_date" => 11,
            "syslog.timestamp" => 12,
            "message" => 13,
            "msg" => 14,
            "log" => 15,
            "status" => 16,
            "severity" => 17,
            "level" => 18,
            "syslog.severity" => 19,
            "service" => 20,
            "syslog.appname" => 21,
            "dd.trace_id" => 22,
            "contextMap.dd.trace_id" => 23,
            "syslog" => 24,
            "dd" => 25,
            "contextMap" => 26,
            _ => return 0,
        };
        1 << i
    }

    /// False only when neither `alias` nor its first segment is a top-level key, so that
    /// [`remove`] and [`get`] would find nothing.
    fn may_hold(self, alias: &str) -> bool {
        let head = split_dot(alias).map_or(alias, |(h, _)| h);
        self.0 & (Self::bit(alias) | Self::bit(head)) != 0
    }
}

/// Removes and returns the first present, non-null attribute of `aliases`.
fn take(map: &mut Map<String, Value>, aliases: &[&str], keys: TopKeys) -> Option<Value> {
    aliases.iter().filter(|a| keys.may_hold(a)).find_map(|a| remove(map, a))
}

fn take_string(map: &mut Map<String, Value>, aliases: &[&str], keys: TopKeys) -> Option<String> {
    take(map, aliases, keys).map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn remove(map: &mut Map<String, Value>, path: &str) -> Option<Value> {
    if map.get(path).is_some_and(|v| !v.is_null()) {
        return map.remove(path);
    }
    let (head, rest) = split_dot(path)?;
    let child = map.get_mut(head)?.as_object_mut()?;
    let v = remove(child, rest)?;
    if child.is_empty() {
        map.remove(head);
    }
    Some(v)
}

/// ISO 8601 / RFC 3339, Unix milliseconds (or seconds, for small numbers), RFC 3164.
pub fn parse_date(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            let x = n.as_f64()?;
            // Values below 10^11 are seconds (that is before 1973 in milliseconds).
            Some(if x.abs() < 1e11 { (x * 1000.0) as i64 } else { x as i64 })
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                return parse_date(&serde_json::json!(n));
            }
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return Some(d.timestamp_millis());
            }
            for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z"] {
                if let Ok(d) = DateTime::parse_from_str(s, f) {
                    return Some(d.timestamp_millis());
                }
            }
            for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y/%m/%d %H:%M:%S"] {
                if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
                    return Some(Utc.from_utc_datetime(&d).timestamp_millis());
                }
            }
            rfc3164(s)
        }
        _ => None,
    }
}

/// `Jan  2 15:04:05` (syslog, no year: the current year, or last year if that would be
/// in the future).
fn rfc3164(s: &str) -> Option<i64> {
    let now = Utc::now();
    let with_year = format!("{} {}", now.format("%Y"), s.split_whitespace().collect::<Vec<_>>().join(" "));
    let d = NaiveDateTime::parse_from_str(&with_year, "%Y %b %d %H:%M:%S").ok()?;
    let mut t = Utc.from_utc_datetime(&d);
    if t > now + chrono::Duration::days(1) {
        t = t.with_year_minus_one()?;
    }
    Some(t.timestamp_millis())
}

trait MinusYear: Sized {
    fn with_year_minus_one(self) -> Option<Self>;
}

impl MinusYear for DateTime<Utc> {
    fn with_year_minus_one(self) -> Option<Self> {
        use chrono::Datelike;
        self.with_year(self.year() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reserved_attributes_by_precedence() {
        let now = Utc::now().timestamp_millis();
        let log = preprocess(
            attrs(json!({
                "msg": "second choice", "log": "third", "level": "ERROR", "hostname": "web-1",
                "ddsource": "nginx", "syslog": {"appname": "front"}, "dd": {"trace_id": "123"},
                "ddtags": "env:Prod,team:a", "other": {"x": 1}
            })),
            now,
        );
        assert_eq!(log.message, "second choice");
        assert_eq!(log.attributes["log"], "third");
        assert_eq!(log.status, "error");
        assert_eq!(log.host.as_deref(), Some("web-1"));
        assert_eq!(log.source.as_deref(), Some("nginx"));
        assert_eq!(log.service.as_deref(), Some("front"));
        assert_eq!(log.trace_id.as_deref(), Some("123"));
        assert_eq!(log.tags, vec!["env:prod", "team:a"]);
        assert_eq!(log.attributes.keys().collect::<Vec<_>>(), vec!["log", "other"]);
        assert_eq!(log.timestamp_ms, now);
    }

    /// Every alias is found wherever it may be: as a top-level key, and for dotted ones
    /// also as a literal dotted key and nested (the one-pass key scan must not skip any).
    #[test]
    fn every_alias_is_found_in_every_spelling() {
        let now = Utc::now().timestamp_millis();
        let nested = |alias: &str, v: Value| {
            let mut value = v;
            for seg in alias.rsplit('.') {
                value = json!({ seg: value });
            }
            value.as_object().unwrap().clone()
        };
        let read = |log: &Log, list: &[&str]| -> Option<String> {
            match list {
                SOURCE => log.source.clone(),
                HOST => log.host.clone(),
                MESSAGE => Some(log.message.clone()),
                STATUS => Some(log.status.clone()),
                SERVICE => log.service.clone(),
                TRACE_ID => log.trace_id.clone(),
                _ => unreachable!(),
            }
        };
        for list in [SOURCE, HOST, MESSAGE, STATUS, SERVICE, TRACE_ID] {
            for alias in list {
                let mut spellings = vec![attrs(json!({ *alias: "error" }))];
                if alias.contains('.') {
                    spellings.push(nested(alias, json!("error")));
                }
                for a in spellings {
                    let log = preprocess(a.clone(), now);
                    assert_eq!(read(&log, list).as_deref(), Some("error"), "{alias} in {a:?}");
                }
            }
        }
        let ms = now - 3000;
        for alias in DATE {
            let mut spellings = vec![attrs(json!({ *alias: ms }))];
            if alias.contains('.') {
                spellings.push(nested(alias, json!(ms)));
            }
            for a in spellings {
                assert_eq!(preprocess(a.clone(), now).timestamp_ms, ms, "{alias} in {a:?}");
            }
        }
    }

    #[test]
    fn dates() {
        let now = Utc::now().timestamp_millis();
        let iso = DateTime::from_timestamp_millis(now - 60_000).unwrap().to_rfc3339();
        let log = preprocess(attrs(json!({"@timestamp": iso, "message": "m"})), now);
        assert_eq!(log.timestamp_ms, now - 60_000);
        assert!(log.attributes.contains_key("@timestamp"));
        let log = preprocess(attrs(json!({"timestamp": now - 5000})), now);
        assert_eq!(log.timestamp_ms, now - 5000);
        let log = preprocess(attrs(json!({"date": (now - 7000) / 1000})), now);
        assert_eq!(log.timestamp_ms, (now - 7000) / 1000 * 1000);
        // Too old: dated when received.
        let log = preprocess(attrs(json!({"timestamp": now - MAX_PAST_MS - 1000})), now);
        assert_eq!(log.timestamp_ms, now);
        assert_eq!(parse_date(&json!("2023-01-27T16:53:42.123Z")), Some(1674838422123));
        assert_eq!(parse_date(&json!("2023/01/27 16:53:42")), Some(1674838422000));
        assert!(parse_date(&json!("Jan 27 16:53:42")).is_some());
        assert_eq!(parse_date(&json!("not a date")), None);
    }

    #[test]
    fn message_and_status_defaults() {
        let log = preprocess(attrs(json!({"message": {"nested": true}, "status": 3})), 0);
        assert_eq!(log.message, r#"{"nested":true}"#);
        assert_eq!(log.status, "error");
        let log = preprocess(Map::new(), 0);
        assert_eq!(log.status, "info");
        assert_eq!(log.message, "");
    }
}
