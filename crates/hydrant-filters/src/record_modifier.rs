//! The `record_modifier` filter (`plugins/filter_record_modifier`).
//!
//! - `Remove_Key KEY` removes keys, `Allowlist_Key KEY` (or `Whitelist_Key`) keeps only
//!   the listed keys; both may repeat, a trailing `*` matches a prefix, and keys compare
//!   case-insensitively, as in Fluent Bit. The two are exclusive.
//! - `Record KEY VALUE` appends a string field to every record (after the removals; the
//!   key is appended even when it already exists, as Fluent Bit does).
//! - `Uuid_Key KEY` appends a random UUID (v4) under KEY.

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{BuildContext, BuildResult};
use hydrant_flb::{Record, Value};

use crate::common::{split_pair, KeyPattern};

/// The record_modifier filter.
#[derive(Debug)]
pub struct RecordModifier {
    records: Vec<(String, String)>,
    remove: Vec<KeyPattern>,
    allow: Vec<KeyPattern>,
    uuid_key: Option<String>,
}

/// Build a record_modifier filter.
pub fn build(plugin: &Plugin, _ctx: &BuildContext) -> BuildResult<RecordModifier> {
    let mut records = Vec::new();
    let mut remove = Vec::new();
    let mut allow = Vec::new();
    for (key, value) in plugin.properties.iter() {
        if key.eq_ignore_ascii_case("Record") {
            let (k, v) = split_pair(plugin, key, value)?;
            records.push((k.to_string(), v.to_string()));
        } else if key.eq_ignore_ascii_case("Remove_Key") {
            remove.push(KeyPattern::new(value.trim(), true));
        } else if key.eq_ignore_ascii_case("Allowlist_Key") || key.eq_ignore_ascii_case("Whitelist_Key") {
            allow.push(KeyPattern::new(value.trim(), true));
        }
    }
    if !remove.is_empty() && !allow.is_empty() {
        return Err(plugin.invalid_value("Remove_Key", "`Remove_Key` and `Allowlist_Key` are exclusive"));
    }
    let uuid_key = plugin.get("Uuid_Key").map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    Ok(RecordModifier { records, remove, allow, uuid_key })
}

impl RecordModifier {
    /// Modify one record.
    pub fn apply(&self, record: &mut Record) {
        if !self.remove.is_empty() {
            record.body.retain(|k, _| !self.remove.iter().any(|p| p.matches(k)));
        } else if !self.allow.is_empty() {
            record.body.retain(|k, _| self.allow.iter().any(|p| p.matches(k)));
        }
        for (k, v) in &self.records {
            record.body.push(k.clone(), Value::Str(v.clone()));
        }
        if let Some(k) = &self.uuid_key {
            record.body.push(k.clone(), Value::Str(uuid::Uuid::new_v4().to_string()));
        }
    }
}

crate::common::per_record_filter!(RecordModifier);
