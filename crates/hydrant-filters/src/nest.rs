//! The `nest` filter: move keys into a map, or lift a map's keys up
//! (`plugins/filter_nest`).
//!
//! - `Operation nest`: top-level keys matching any `Wildcard` (repeatable; `prefix*` or an
//!   exact key, case-sensitive) move, in order, into a new map appended under
//!   `Nest_under`. A record with no matching key is left alone.
//! - `Operation lift`: the map under `Nested_under` is removed and its entries appended at
//!   the top level. A record without that key, or where it is not a map, is left alone.
//! - `Remove_prefix` strips a prefix from the moved keys, then `Add_prefix` prepends one.

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{required, BuildContext, BuildResult};
use hydrant_flb::{Map, Record, Value};

use crate::common::KeyPattern;

#[derive(Debug)]
enum Operation {
    Nest { wildcards: Vec<KeyPattern>, under: String },
    Lift { nested_under: String },
}

/// The nest filter.
#[derive(Debug)]
pub struct Nest {
    operation: Operation,
    add_prefix: Option<String>,
    remove_prefix: Option<String>,
}

/// Build a nest filter.
pub fn build(plugin: &Plugin, _ctx: &BuildContext) -> BuildResult<Nest> {
    let operation = match required(plugin, "Operation")?.trim().to_ascii_lowercase().as_str() {
        "nest" => {
            let wildcards: Vec<KeyPattern> =
                plugin.get_all("Wildcard").map(|w| KeyPattern::new(w.trim(), false)).collect();
            if wildcards.is_empty() {
                return Err(plugin.invalid_value("Wildcard", "`Operation nest` needs at least one `Wildcard`"));
            }
            Operation::Nest { wildcards, under: required(plugin, "Nest_under")?.trim().to_string() }
        }
        "lift" => Operation::Lift { nested_under: required(plugin, "Nested_under")?.trim().to_string() },
        other => return Err(plugin.invalid_value("Operation", &format!("`{other}`: expected nest or lift"))),
    };
    let prefix = |key: &str| plugin.get(key).map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    Ok(Nest { operation, add_prefix: prefix("Add_prefix"), remove_prefix: prefix("Remove_prefix") })
}

impl Nest {
    fn rename(&self, key: String) -> String {
        let key = match &self.remove_prefix {
            Some(p) if key.starts_with(p.as_str()) => key[p.len()..].to_string(),
            _ => key,
        };
        match &self.add_prefix {
            Some(p) => format!("{p}{key}"),
            None => key,
        }
    }

    /// Apply the operation to one record.
    pub fn apply(&self, record: &mut Record) {
        match &self.operation {
            Operation::Nest { wildcards, under } => {
                if !record.body.iter().any(|(k, _)| wildcards.iter().any(|w| w.matches(k))) {
                    return;
                }
                let entries = std::mem::take(&mut record.body.0);
                let mut nested = Map::new();
                for (k, v) in entries {
                    if wildcards.iter().any(|w| w.matches(&k)) {
                        nested.push(self.rename(k), v);
                    } else {
                        record.body.0.push((k, v));
                    }
                }
                record.body.push(under.clone(), Value::Map(nested));
            }
            Operation::Lift { nested_under } => {
                let Some(pos) = record.body.position(nested_under) else { return };
                if record.body.0[pos].1.as_map().is_none() {
                    return;
                }
                let (_, mut value) = record.body.0.remove(pos);
                // Un-share (a kubernetes map may be shared between records) and take the map.
                let Value::Map(inner) = std::mem::replace(value.make_mut(), Value::Null) else { return };
                for (k, v) in inner.0 {
                    record.body.push(self.rename(k), v);
                }
            }
        }
    }
}

crate::common::per_record_filter!(Nest);
