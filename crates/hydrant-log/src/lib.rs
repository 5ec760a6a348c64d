//! Hydrant's log model.
//!
//! A [`Log`] is what the intake stores and searches: Datadog's reserved attributes
//! (date, host, service, status, source, message, trace id) as fields, normalised tags,
//! and the remaining attributes as a JSON tree. Receivers build logs with
//! [`preprocess::preprocess`], pipelines change them, stores index them; the search
//! syntax of `hydrant-query` reads them through [`hydrant_query::Document`].

#![warn(missing_docs)]

pub mod json;
pub mod preprocess;
pub mod status;
pub mod tags;

use hydrant_query::{map_path, Document, Reserved};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// Unique id (time-ordered, so ids sort by arrival).
    pub id: String,
    /// The log's date, ms since the epoch.
    pub timestamp_ms: i64,
    /// `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `source` (from `ddsource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `status`, one of Datadog's levels (`info` when nothing says otherwise).
    pub status: String,
    /// `message`.
    #[serde(default)]
    pub message: String,
    /// `trace_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Normalised tags, `key:value` or bare `value`, without duplicates.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every other attribute.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl Log {
    /// A new log with a fresh id, received now.
    pub fn new(timestamp_ms: i64) -> Self {
        Log { id: new_id(timestamp_ms), ..Log::without_id(timestamp_ms) }
    }

    /// A new log with an empty id, for callers that only know its date later.
    pub(crate) fn without_id(timestamp_ms: i64) -> Self {
        Log {
            id: String::new(),
            timestamp_ms,
            host: None,
            service: None,
            source: None,
            status: status::DEFAULT.to_string(),
            message: String::new(),
            trace_id: None,
            tags: Vec::new(),
            attributes: Map::new(),
        }
    }

    /// Adds a tag after normalising it; no duplicates.
    pub fn add_tag(&mut self, raw: &str) {
        if let Some(t) = tags::normalize(raw) {
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
    }

    /// [`Log::add_tag`] of an owned tag, kept without a copy when it is already normal.
    pub fn add_tag_owned(&mut self, raw: String) {
        if let Some(t) = tags::normalize_owned(raw) {
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
    }

    /// Values of the tags with `key` (the text before the first `:`).
    pub fn tag_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tags.iter().filter_map(move |t| t.split_once(':').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }

    /// The log as the search API shows it: reserved attributes, tags, and the attribute
    /// tree (with host, service, source and trace_id in it too, as Datadog shows them).
    pub fn to_api_json(&self) -> Value {
        let mut attrs = self.attributes.clone();
        let reserved =
            [("host", &self.host), ("service", &self.service), ("source", &self.source), ("trace_id", &self.trace_id)];
        for (k, v) in reserved {
            if let Some(v) = v {
                attrs.entry(k.to_string()).or_insert_with(|| Value::String(v.clone()));
            }
        }
        let mut out = serde_json::json!({
            "timestamp": chrono::DateTime::from_timestamp_millis(self.timestamp_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "status": self.status,
            "message": self.message,
            "tags": self.tags,
            "attributes": attrs,
        });
        for (k, v) in [("host", &self.host), ("service", &self.service)] {
            if let Some(v) = v {
                out[k] = Value::String(v.clone());
            }
        }
        out
    }
}

/// A time-ordered unique id: 12 hex digits of milliseconds, then 20 random hex digits.
pub fn new_id(timestamp_ms: i64) -> String {
    use rand::Rng;
    // 80 random bits from the thread's CSPRNG (seeded from the OS, reseeded as it goes):
    // a v4 UUID took a `getrandom` system call for every log.
    let random: u128 = rand::thread_rng().gen::<u128>() >> 48;
    // Written digit by digit: `format!`'s machinery cost more than the random bits.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let ms = (timestamp_ms.max(0) as u128) & ((1 << 48) - 1);
    let value = (ms << 80) | random;
    let mut id = [0u8; 32];
    for (i, digit) in id.iter_mut().enumerate() {
        *digit = HEX[((value >> (4 * (31 - i))) & 0xf) as usize];
    }
    String::from_utf8(id.to_vec()).expect("hex digits")
}

impl Document for Log {
    fn message(&self) -> Option<&str> {
        Some(&self.message)
    }

    fn reserved(&self, r: Reserved) -> Option<&str> {
        match r {
            Reserved::Host => self.host.as_deref(),
            Reserved::Source => self.source.as_deref(),
            Reserved::Status => Some(&self.status),
            Reserved::Service => self.service.as_deref(),
            Reserved::TraceId => self.trace_id.as_deref(),
            Reserved::Message => Some(&self.message),
        }
    }

    fn tags(&self) -> &[String] {
        &self.tags
    }

    fn attribute(&self, path: &[String]) -> Option<&Value> {
        map_path(&self.attributes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_date_then_random_bits_in_hex() {
        let id = new_id(0x0123_4567_89ab);
        assert_eq!(id.len(), 32);
        assert!(id.starts_with("0123456789ab"), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
        assert!(new_id(5).starts_with("000000000005"));
        assert!(new_id(-1).starts_with("000000000000"));
        // Later dates sort later; the same millisecond gives different ids.
        assert!(new_id(1_764_000_000_001) > new_id(1_764_000_000_000));
        assert_ne!(new_id(7), new_id(7));
    }
}
