//! What the filters share: their metrics and the parsing of `KEY VALUE` options.

use hydrant_flb::config::Plugin;
use hydrant_flb::metrics::PluginLabels;
use hydrant_flb::plugin::{BuildContext, BuildResult};
use prometheus_client::metrics::counter::Counter;

/// A filter instance's counters, resolved once at build time so the hot path only adds.
/// (Records in are counted by the router's engine, for every filter alike.)
#[derive(Clone, Debug)]
pub(crate) struct Counters {
    pub dropped: Counter,
    pub emitted: Counter,
}

impl Counters {
    pub fn new(ctx: &BuildContext) -> Self {
        let labels = PluginLabels::new(&ctx.name);
        Counters {
            dropped: ctx.metrics.filter_dropped.get_or_create(&labels).clone(),
            emitted: ctx.metrics.filter_emitted.get_or_create(&labels).clone(),
        }
    }
}

/// `impl Filter` for a filter that rewrites each record on its own with
/// `fn apply(&mut self, record: &mut Record)`.
macro_rules! per_record_filter {
    ($filter:ty) => {
        impl hydrant_flb::Filter for $filter {
            fn filter<'a>(
                &'a mut self,
                _tag: &'a str,
                records: &'a mut Vec<hydrant_flb::Record>,
                _emitted: &'a mut Vec<hydrant_flb::Emitted>,
            ) -> hydrant_flb::BoxFuture<'a, ()> {
                for record in records.iter_mut() {
                    self.apply(record);
                }
                Box::pin(std::future::ready(()))
            }
        }
    };
}
pub(crate) use per_record_filter;

/// Split `KEY REST` at the first run of whitespace; `REST` keeps its inner spaces.
pub(crate) fn split_pair<'a>(plugin: &Plugin, key: &str, value: &'a str) -> BuildResult<(&'a str, &'a str)> {
    let value = value.trim();
    match value.split_once(char::is_whitespace) {
        Some((k, rest)) if !rest.trim().is_empty() => Ok((k, rest.trim_start())),
        _ => Err(plugin.invalid_value(key, &format!("`{value}`: expected `KEY VALUE`"))),
    }
}

/// A boolean option with a default.
pub(crate) fn bool_option(plugin: &Plugin, key: &str, default: bool) -> BuildResult<bool> {
    Ok(plugin.get_bool(key)?.unwrap_or(default))
}

/// Split an option into words at whitespace, a double-quoted word keeping its spaces
/// (`Set message "hello world"`), as Fluent Bit's `flb_slist_split_tokens` does.
pub(crate) fn tokens(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'"') => word.push(chars.next().unwrap_or('"')),
                    '"' => break,
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    out
}

/// A key pattern: `prefix*` matches keys starting with `prefix`, anything else matches
/// exactly (nest's `Wildcard`, record_modifier's `Remove_Key`).
#[derive(Debug, Clone)]
pub(crate) struct KeyPattern {
    text: String,
    prefix: bool,
    ignore_case: bool,
}

impl KeyPattern {
    pub fn new(pattern: &str, ignore_case: bool) -> Self {
        match pattern.strip_suffix('*') {
            Some(p) => KeyPattern { text: p.to_string(), prefix: true, ignore_case },
            None => KeyPattern { text: pattern.to_string(), prefix: false, ignore_case },
        }
    }

    pub fn matches(&self, key: &str) -> bool {
        let eq = |a: &str, b: &str| if self.ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
        if self.prefix {
            key.len() >= self.text.len()
                && key.is_char_boundary(self.text.len())
                && eq(&key[..self.text.len()], &self.text)
        } else {
            eq(key, &self.text)
        }
    }
}
