//! Attribute paths (`a.b.c`), split once at compile time, and reading / writing them on a
//! [`Log`].

use hydrant_log::Log;
use hydrant_query::map_path;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A dotted attribute path, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttrPath {
    pub raw: String,
    pub segs: Vec<String>,
}

impl AttrPath {
    pub fn new(raw: &str) -> AttrPath {
        let raw = raw.trim().trim_start_matches('@');
        AttrPath { raw: raw.to_string(), segs: raw.split('.').map(str::to_string).collect() }
    }

    /// The reserved field this path names, when it is a single segment like `message`.
    fn reserved(&self) -> Option<&str> {
        match self.raw.as_str() {
            r @ ("message" | "host" | "service" | "status" | "source" | "trace_id") => Some(r),
            _ => None,
        }
    }
}

/// The value at `p`: the attribute, else (for `message`, `host`, `service`, `status`,
/// `source`, `trace_id`) the log's reserved field. Null counts as missing.
pub(crate) fn get<'a>(log: &'a Log, p: &AttrPath) -> Option<Cow<'a, Value>> {
    if let Some(v) = map_path(&log.attributes, &p.segs) {
        return (!v.is_null()).then_some(Cow::Borrowed(v));
    }
    get_reserved(log, p).map(|s| Cow::Owned(Value::String(s.to_string())))
}

/// [`get`] when the value is a string (no allocation).
pub(crate) fn get_str<'a>(log: &'a Log, p: &AttrPath) -> Option<&'a str> {
    match map_path(&log.attributes, &p.segs) {
        Some(v) => v.as_str(),
        None => get_reserved(log, p),
    }
}

fn get_reserved<'a>(log: &'a Log, p: &AttrPath) -> Option<&'a str> {
    match p.reserved()? {
        "message" => Some(&log.message),
        "host" => log.host.as_deref(),
        "service" => log.service.as_deref(),
        "status" => Some(&log.status),
        "source" => log.source.as_deref(),
        "trace_id" => log.trace_id.as_deref(),
        _ => None,
    }
}

/// Whether the attribute at `p` exists (not null).
pub(crate) fn exists(log: &Log, p: &AttrPath) -> bool {
    map_path(&log.attributes, &p.segs).is_some_and(|v| !v.is_null())
}

/// Sets the attribute at `segs`, creating objects on the way (a non-object met on the way
/// is replaced by an object).
pub(crate) fn set(map: &mut Map<String, Value>, segs: &[String], value: Value) {
    let Some((last, parents)) = segs.split_last() else { return };
    let mut cur = map;
    for s in parents {
        let entry = cur.entry(s.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        cur = match entry {
            Value::Object(m) => m,
            _ => return,
        };
    }
    cur.insert(last.clone(), value);
}

/// Removes the attribute at `segs` (nested first, else a key spelled with dots) and the
/// objects left empty by it.
pub(crate) fn remove(map: &mut Map<String, Value>, segs: &[String]) -> Option<Value> {
    if segs.is_empty() {
        return None;
    }
    if segs.len() == 1 {
        return map.remove(&segs[0]);
    }
    if let Some(Value::Object(child)) = map.get_mut(&segs[0]) {
        if let Some(v) = remove(child, &segs[1..]) {
            if child.is_empty() {
                map.remove(&segs[0]);
            }
            return Some(v);
        }
    }
    for n in 2..=segs.len() {
        let key = segs[..n].join(".");
        if n == segs.len() {
            if let Some(v) = map.remove(&key) {
                return Some(v);
            }
        } else if let Some(Value::Object(child)) = map.get_mut(&key) {
            if let Some(v) = remove(child, &segs[n..]) {
                if child.is_empty() {
                    map.remove(&key);
                }
                return Some(v);
            }
        }
    }
    None
}

/// A scalar as text: strings as they are, numbers and booleans as JSON spells them.
pub(crate) fn scalar_string(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Merges `value` into `map` at `segs`: objects merge key by key (recursively), anything
/// else replaces. An empty path merges an object into the root.
pub(crate) fn merge(map: &mut Map<String, Value>, segs: &[String], value: Value) {
    if segs.is_empty() || (segs.len() == 1 && segs[0].is_empty()) {
        if let Value::Object(obj) = value {
            for (k, v) in obj {
                merge(map, std::slice::from_ref(&k), v);
            }
        }
        return;
    }
    if let Value::Object(obj) = value {
        let mut cur = &mut *map;
        for s in segs {
            let entry = cur.entry(s.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            cur = match entry {
                Value::Object(m) => m,
                _ => return,
            };
        }
        for (k, v) in obj {
            merge(cur, std::slice::from_ref(&k), v);
        }
    } else {
        set(map, segs, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(s: &str) -> Vec<String> {
        AttrPath::new(s).segs
    }

    #[test]
    fn set_remove_merge() {
        let mut m = Map::new();
        set(&mut m, &segs("a.b.c"), json!(1));
        set(&mut m, &segs("a.d"), json!(2));
        assert_eq!(Value::Object(m.clone()), json!({"a": {"b": {"c": 1}, "d": 2}}));
        assert_eq!(remove(&mut m, &segs("a.b.c")), Some(json!(1)));
        assert_eq!(Value::Object(m.clone()), json!({"a": {"d": 2}}));
        m.insert("x.y".into(), json!(3));
        assert_eq!(remove(&mut m, &segs("x.y")), Some(json!(3)));
        merge(&mut m, &segs("a"), json!({"e": {"f": 1}}));
        merge(&mut m, &[], json!({"a": {"e": {"g": 2}}}));
        assert_eq!(Value::Object(m), json!({"a": {"d": 2, "e": {"f": 1, "g": 2}}}));
    }
}
