//! The `parser` filter: parse one field of each record with named [`Parser`]s
//! (`plugins/filter_parser`).
//!
//! - `Key_Name` names the field (a string); `Parser` may repeat: the first that parses
//!   wins. A record whose field is missing, not a string, or that no parser reads, passes
//!   unchanged.
//! - The record becomes the parsed map. With `Reserve_Data`, the original fields follow
//!   the parsed ones, in their order, without `Key_Name` unless `Preserve_Key` is on.
//!   `Preserve_Key` has no effect without `Reserve_Data`, as in Fluent Bit.
//! - The record's time becomes the parsed time when the parser read one.
//! - `Unescape_Key` is deprecated in Fluent Bit and accepted without effect.
//! - Unknown parser names are logged and skipped, as Fluent Bit does; none known is an
//!   error.

use std::sync::Arc;

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{required, BuildContext, BuildResult};
use hydrant_flb::Record;

use crate::common::bool_option;
use crate::parser::{Parser, Parsers};

/// The parser filter.
#[derive(Debug)]
pub struct ParserFilter {
    key_name: String,
    parsers: Vec<Arc<Parser>>,
    reserve_data: bool,
    preserve_key: bool,
}

/// Build a parser filter with the configuration's parsers.
pub fn build(plugin: &Plugin, ctx: &BuildContext, parsers: &Parsers) -> BuildResult<ParserFilter> {
    let key_name = required(plugin, "Key_Name")?.to_string();
    let mut chosen = Vec::new();
    for name in plugin.get_all("Parser") {
        match parsers.get(name.trim()) {
            Some(p) => chosen.push(p),
            None => tracing::error!(filter = %ctx.name, origin = %plugin.origin, "requested parser '{name}' not found"),
        }
    }
    if chosen.is_empty() {
        let names: Vec<&str> = plugin.get_all("Parser").collect();
        let message = if names.is_empty() {
            "at least one `Parser` is required".to_string()
        } else {
            format!("no parser named {} is defined", names.join(", "))
        };
        return Err(plugin.invalid_value("Parser", &message));
    }
    Ok(ParserFilter {
        key_name,
        parsers: chosen,
        reserve_data: bool_option(plugin, "Reserve_Data", false)?,
        preserve_key: bool_option(plugin, "Preserve_Key", false)?,
    })
}

impl ParserFilter {
    /// Parse one record in place.
    pub fn apply(&self, record: &mut Record) {
        let Some(pos) = record.body.position(&self.key_name) else { return };
        let Some(text) = record.body.0[pos].1.as_str() else { return };
        let Some((time, parsed)) = self.parsers.iter().find_map(|p| p.parse(text)) else { return };
        if let Some(t) = time {
            record.time = t;
        }
        if self.reserve_data {
            let mut out = parsed;
            let original = std::mem::take(&mut record.body);
            out.0.reserve(original.len());
            for (i, (k, v)) in original.0.into_iter().enumerate() {
                if i != pos || self.preserve_key {
                    out.0.push((k, v));
                }
            }
            record.body = out;
        } else {
            record.body = parsed;
        }
    }
}

crate::common::per_record_filter!(ParserFilter);
