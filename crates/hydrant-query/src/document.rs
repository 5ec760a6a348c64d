//! What the evaluator reads from a log: the [`Document`] trait, and [`JsonLog`], a
//! ready-made implementation over a JSON value.

use crate::ast::Reserved;
use serde_json::{Map, Value};

/// A log as the evaluator sees it. Implement it on the pipeline's log model; every method
/// is called on the hot path, so answer by borrowing.
pub trait Document {
    /// The message (free text is matched against its words).
    fn message(&self) -> Option<&str>;

    /// A reserved attribute. For [`Reserved::Source`], fall back to `ddsource` when the log
    /// has no `source` (the intake's precedence, spec section 2). `Reserved::Message` is
    /// never asked for (the evaluator uses [`Document::message`]).
    fn reserved(&self, r: Reserved) -> Option<&str>;

    /// The tags, each `key:value` or a bare `value`, as normalised by the intake.
    fn tags(&self) -> &[String];

    /// The attribute at `path` (keys into nested objects), or `None`. Do not descend into
    /// arrays: when the full path is missing, the evaluator asks again for shorter prefixes
    /// and searches inside the array it finds. [`json_path`] implements this for JSON.
    fn attribute(&self, path: &[String]) -> Option<&Value>;
}

impl<T: Document + ?Sized> Document for &T {
    fn message(&self) -> Option<&str> {
        (**self).message()
    }
    fn reserved(&self, r: Reserved) -> Option<&str> {
        (**self).reserved(r)
    }
    fn tags(&self) -> &[String] {
        (**self).tags()
    }
    fn attribute(&self, path: &[String]) -> Option<&Value> {
        (**self).attribute(path)
    }
}

/// Follows `path` through nested objects (not arrays) from `root`. At each level a key is
/// looked up as is; when missing, a key spelled with dots that covers several segments
/// (`{"aws.firehose.arn": ..}` for `@aws.firehose.arn`) is accepted too. Allocation-free.
pub fn json_path<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = root;
    let mut rest = path;
    while !rest.is_empty() {
        let (child, used) = step(v.as_object()?, rest)?;
        v = child;
        rest = &rest[used..];
    }
    Some(v)
}

/// [`json_path`] from an object's map (a log's attribute tree); an empty path is `None`.
pub fn map_path<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    let (child, used) = step(map, path)?;
    json_path(child, &path[used..])
}

/// One step of a path in `map`: the child and how many segments its key covers.
pub(crate) fn step<'a>(map: &'a Map<String, Value>, rest: &[String]) -> Option<(&'a Value, usize)> {
    if let Some(v) = map.get(&rest[0]) {
        return Some((v, 1));
    }
    if rest.len() < 2 {
        return None;
    }
    map.iter().find_map(|(k, v)| dotted_prefix_len(k, rest).map(|n| (v, n)))
}

/// If `key` is `rest[0].rest[1]...rest[n-1]` for some n >= 2, that n.
fn dotted_prefix_len(key: &str, rest: &[String]) -> Option<usize> {
    let mut tail = key.strip_prefix(rest[0].as_str())?;
    for (i, seg) in rest.iter().enumerate().skip(1) {
        tail = tail.strip_prefix('.')?.strip_prefix(seg.as_str())?;
        if tail.is_empty() {
            return Some(i + 1);
        }
    }
    None
}

/// A log held as JSON, shaped like the search API's log:
/// `{"message", "host", "service", "status", "source" (or "ddsource"), "trace_id",
/// "tags": ["k:v", ...] (or a `"k:v,k2:v2"` string), "attributes": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonLog {
    root: Value,
    tags: Vec<String>,
}

impl JsonLog {
    /// Wraps a JSON log; tags are collected once here.
    pub fn new(root: Value) -> JsonLog {
        let tags = match root.get("tags") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(s)) => {
                s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        JsonLog { root, tags }
    }

    /// The wrapped JSON.
    pub fn value(&self) -> &Value {
        &self.root
    }
}

impl From<Value> for JsonLog {
    fn from(root: Value) -> JsonLog {
        JsonLog::new(root)
    }
}

impl Document for JsonLog {
    fn message(&self) -> Option<&str> {
        self.root.get("message")?.as_str()
    }

    fn reserved(&self, r: Reserved) -> Option<&str> {
        let get = |k: &str| self.root.get(k).and_then(Value::as_str);
        match r {
            Reserved::Source => get("source").or_else(|| get("ddsource")),
            r => get(r.name()),
        }
    }

    fn tags(&self) -> &[String] {
        &self.tags
    }

    fn attribute(&self, path: &[String]) -> Option<&Value> {
        json_path(self.root.get("attributes")?, path)
    }
}
