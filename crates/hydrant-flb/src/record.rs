//! The record model: what flows from inputs through filters to outputs.
//!
//! Fluent Bit carries records as msgpack maps `[timestamp, {key: value...}]`. Hydrant keeps
//! the same shape in memory ([`Record`]: an [`EventTime`] and an ordered [`Map`]) because
//! key order is observable: the `kubernetes` map, merged log keys and the JSON a
//! `kinesis_firehose` output sends all keep the order Fluent Bit gives them.
//!
//! [`Value::Shared`] exists for speed: the kubernetes filter attaches the same metadata map
//! to every record of a pod, so it is shared behind an [`Arc`] instead of copied. Every
//! accessor here ([`Value::resolve`], [`Value::as_str`], [`Value::as_map`], [`Map::get`]...)
//! looks through it; code that mutates nested values calls [`Value::make_mut`] first.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A record's timestamp: seconds and nanoseconds since the Unix epoch (Fluent Bit's
/// `flb_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime {
    /// Whole seconds since the epoch.
    pub secs: i64,
    /// Nanoseconds within the second (0..1e9).
    pub nanos: u32,
}

impl EventTime {
    /// A time from its parts.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Self { secs, nanos }
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self { secs: d.as_secs() as i64, nanos: d.subsec_nanos() }
    }

    /// Seconds as a float (`1700000000.123456789`), as Fluent Bit prints `date` keys.
    pub fn as_f64(&self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(&self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }
}

/// A value in a record (msgpack's data model, as JSON sees it).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string (msgpack str; binary data is carried as lossy UTF-8).
    Str(String),
    /// An array.
    Array(Vec<Value>),
    /// A map, keys in order.
    Map(Map),
    /// A value shared between records (cached metadata); read through it with
    /// [`Value::resolve`], write with [`Value::make_mut`].
    Shared(Arc<Value>),
}

impl Value {
    /// The value itself, looking through [`Value::Shared`].
    pub fn resolve(&self) -> &Value {
        let mut v = self;
        while let Value::Shared(inner) = v {
            v = inner;
        }
        v
    }

    /// A mutable value, un-sharing a [`Value::Shared`] first (copying it if others hold it).
    pub fn make_mut(&mut self) -> &mut Value {
        if let Value::Shared(inner) = self {
            let owned = Arc::unwrap_or_clone(std::mem::replace(inner, Arc::new(Value::Null)));
            *self = owned;
            return self.make_mut();
        }
        self
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self.resolve() {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self.resolve() {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The map, mutable (un-sharing first), if this is one.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self.make_mut() {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self.resolve() {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Value::Null)
    }

    /// The value as text the way Fluent Bit's filters compare it: strings as they are,
    /// numbers and booleans printed, `None` for maps, arrays and null.
    pub fn to_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self.resolve() {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::UInt(u) => Some(Cow::Owned(u.to_string())),
            Value::Float(f) => Some(Cow::Owned(format_float(*f))),
            _ => None,
        }
    }

    /// Compact JSON of this value, appended to `out` ([`write_json`]).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_json(self, out)
    }

    /// Compact JSON of this value.
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        write_json(self, &mut out);
        // write_json only writes valid UTF-8.
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Parse JSON text into a value, keeping key order.
    pub fn from_json(text: &[u8]) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(text)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}

/// An ordered map of string keys to values (a msgpack map). Lookups are linear: records
/// have few keys, and order matters more than asymptotics here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(pub Vec<(String, Value)>);

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Map(Vec::with_capacity(n))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of the first entry named `key`, mutable.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The position of the first entry named `key`.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// Whether an entry named `key` exists.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Set `key`: replace the first entry of that name in place, or append.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    /// Append an entry without looking for an existing one (msgpack maps may repeat keys).
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push((key.into(), value));
    }

    /// Remove every entry named `key`; returns the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut first = None;
        let mut i = 0;
        while i < self.0.len() {
            if self.0[i].0 == key {
                let (_, v) = self.0.remove(i);
                if first.is_none() {
                    first = Some(v);
                }
            } else {
                i += 1;
            }
        }
        first
    }

    /// Keep the entries for which `keep(key, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Value) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Compact JSON of the map, appended to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_map(self, out)
    }

    /// Compact JSON of the map.
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        write_map(self, &mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Map(iter.into_iter().collect())
    }
}

/// One log record: a timestamp and a body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// When the event happened (from the source, or when it was read).
    pub time: EventTime,
    /// The body (`{"log": "...", "stream": "stdout", ...}`).
    pub body: Map,
}

impl Record {
    /// A record from its parts.
    pub fn new(time: EventTime, body: Map) -> Self {
        Self { time, body }
    }

    /// Bytes this record takes in JSON (an estimate used for memory limits and batching).
    pub fn json_len(&self) -> usize {
        let mut out = Vec::new();
        write_map(&self.body, &mut out);
        out.len()
    }
}

/// Append the compact JSON of `value` to `out` the way Fluent Bit's msgpack-to-JSON does:
/// no spaces, keys in order, strings escaped only where JSON requires (`"`, `\`, control
/// characters; `\b \f \n \r \t` by name, others as `\u00XX`), valid UTF-8 kept as is,
/// floats in their shortest round-trip form, non-finite floats as `null`.
pub fn write_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => {
            let mut buf = itoa_buf();
            out.extend_from_slice(fmt_int(&mut buf, *i));
        }
        Value::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        Value::Float(f) => {
            if f.is_finite() {
                out.extend_from_slice(format_float(*f).as_bytes())
            } else {
                out.extend_from_slice(b"null")
            }
        }
        Value::Str(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out);
            }
            out.push(b']');
        }
        Value::Map(map) => write_map(map, out),
        Value::Shared(inner) => write_json(inner, out),
    }
}

fn write_map(map: &Map, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in map.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write_json(v, out);
    }
    out.push(b'}');
}

/// Append `s` as a JSON string literal (quotes included).
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

fn fmt_int(buf: &mut [u8; 20], i: i64) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        // 20 digits cover u64::MAX; i64's magnitude has at most 19, leaving room for '-'.
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

/// A float printed in its shortest round-trip form, always with a fraction or exponent
/// (`1.0`, not `1`), as serde_json prints it.
pub fn format_float(f: f64) -> String {
    serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap_or_else(|| "null".to_owned())
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::UInt(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Deserialize::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0));
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            // JSON objects with repeated keys keep the last value, as msgpack conversion does.
            map.insert(k, v);
        }
        Ok(Value::Map(map))
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Map(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_order_and_escapes_like_fluent_bit() {
        let text =
            r#"{"z":1,"a":"x\"y\\\n\u0001/é","n":null,"f":1.5,"arr":[true,false,-3],"m":{"b":2,"a":1}}"#.as_bytes();
        let v = Value::from_json(text).unwrap();
        assert_eq!(
            v.to_json_string(),
            "{\"z\":1,\"a\":\"x\\\"y\\\\\\n\\u0001/é\",\"n\":null,\"f\":1.5,\"arr\":[true,false,-3],\"m\":{\"b\":2,\"a\":1}}"
        );
    }

    #[test]
    fn shared_values_read_through_and_unshare_on_write() {
        let meta = Arc::new(Value::Map(Map(vec![("pod_name".into(), "web".into())])));
        let mut a = Value::Shared(meta.clone());
        let b = Value::Shared(meta.clone());
        assert_eq!(a.as_map().unwrap().get("pod_name").unwrap().as_str(), Some("web"));
        a.as_map_mut().unwrap().insert("pod_name", "api".into());
        assert_eq!(a.as_map().unwrap().get("pod_name").unwrap().as_str(), Some("api"));
        assert_eq!(b.as_map().unwrap().get("pod_name").unwrap().as_str(), Some("web"));
        assert_eq!(b.to_json_string(), r#"{"pod_name":"web"}"#);
    }

    #[test]
    fn integers_print_exactly() {
        for i in [0i64, 7, -7, i64::MAX, i64::MIN, 1_000_000] {
            assert_eq!(Value::Int(i).to_json_string(), i.to_string());
        }
        assert_eq!(Value::Float(1.0).to_json_string(), "1.0");
        assert_eq!(Value::Float(f64::NAN).to_json_string(), "null");
    }

    #[test]
    fn map_insert_replaces_in_place_and_remove_takes_all() {
        let mut m = Map::new();
        m.insert("a", Value::Int(1));
        m.insert("b", Value::Int(2));
        m.insert("a", Value::Int(3));
        m.push("b", Value::Int(4));
        assert_eq!(m.to_json_string(), r#"{"a":3,"b":2,"b":4}"#);
        assert_eq!(m.remove("b"), Some(Value::Int(2)));
        assert_eq!(m.to_json_string(), r#"{"a":3}"#);
    }
}
