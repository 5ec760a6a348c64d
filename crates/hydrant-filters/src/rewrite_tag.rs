//! The `rewrite_tag` filter: re-emit records under a new tag (`plugins/filter_rewrite_tag`).
//!
//! `Rule $KEY REGEX NEW_TAG KEEP` (repeatable; a word may be double-quoted to hold
//! spaces): when the string at record accessor `$KEY` matches REGEX, the record is emitted
//! under NEW_TAG, a template that may use `$0`..`$9` (the regex's groups), `$TAG`,
//! `$TAG[n]` (the n-th dot-separated part of the tag) and record accessors
//! (`$kubernetes['namespace_name']`). The first matching rule wins. With KEEP `false` the
//! original record is dropped, otherwise it goes on unchanged.
//!
//! Emitted records go back through the filter chain from the start (the engine does
//! that, as Fluent Bit's emitter input does); Fluent Bit does not pass a rewrite_tag's
//! own emitted records through that same filter again, which prevents loops.
//! `Emitter_Name`, `Emitter_Storage.type` and `Emitter_Mem_Buf_Limit` are accepted: the
//! engine owns the buffering of emitted records.

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{BuildContext, BuildResult};
use hydrant_flb::{BoxFuture, Emitted, Filter, Record};

use crate::common::{tokens, Counters};
use crate::onigmo;
use crate::record_accessor::{RecordAccessor, Template};

#[derive(Debug)]
struct Rule {
    key: RecordAccessor,
    regex: regex::Regex,
    tag: Template,
    keep: bool,
}

/// The rewrite_tag filter.
#[derive(Debug)]
pub struct RewriteTag {
    rules: Vec<Rule>,
    counters: Counters,
    buf: String,
}

/// Build a rewrite_tag filter.
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<RewriteTag> {
    let mut rules = Vec::new();
    for value in plugin.get_all("Rule") {
        let words = tokens(value);
        let [key, regex, tag, keep] = words.as_slice() else {
            return Err(plugin.invalid_value("Rule", &format!("`{value}`: expected `$KEY REGEX NEW_TAG KEEP`")));
        };
        let key = RecordAccessor::parse(key).map_err(|e| plugin.invalid_value("Rule", &e))?;
        let regex = onigmo::compile(regex).map_err(|e| plugin.invalid_value("Rule", &e))?;
        let tag = Template::parse(tag).map_err(|e| plugin.invalid_value("Rule", &e))?;
        let keep = hydrant_flb::config::units::parse_bool(keep)
            .map_err(|e| plugin.invalid_value("Rule", &format!("`{value}`: KEEP: {e}")))?;
        rules.push(Rule { key, regex, tag, keep });
    }
    if rules.is_empty() {
        return Err(plugin.invalid_value("Rule", "at least one `Rule $KEY REGEX NEW_TAG KEEP` is required"));
    }
    Ok(RewriteTag { rules, counters: Counters::new(ctx), buf: String::new() })
}

impl RewriteTag {
    /// Apply the rules to one record: `Some((new_tag, keep))` when a rule matched.
    fn rewrite(&mut self, tag: &str, record: &Record) -> Option<(String, bool)> {
        for rule in &self.rules {
            let Some(text) = rule.key.get(&record.body).and_then(|v| v.as_str()) else { continue };
            let Some(caps) = rule.regex.captures(text) else { continue };
            rule.tag.render_into(&mut self.buf, tag, &record.body, Some(&caps));
            if self.buf.is_empty() {
                tracing::warn!("rewrite_tag: the new tag is empty; record not re-emitted");
                return None;
            }
            return Some((self.buf.clone(), rule.keep));
        }
        None
    }
}

impl Filter for RewriteTag {
    fn filter<'a>(
        &'a mut self,
        tag: &'a str,
        records: &'a mut Vec<Record>,
        emitted: &'a mut Vec<Emitted>,
    ) -> BoxFuture<'a, ()> {
        let before = records.len();
        let mut kept = Vec::with_capacity(records.len());
        let mut emitted_count = 0u64;
        for record in records.drain(..) {
            match self.rewrite(tag, &record) {
                None => kept.push(record),
                Some((new_tag, true)) => {
                    emitted.push(Emitted { tag: new_tag, record: record.clone() });
                    emitted_count += 1;
                    kept.push(record);
                }
                Some((new_tag, false)) => {
                    emitted.push(Emitted { tag: new_tag, record });
                    emitted_count += 1;
                }
            }
        }
        *records = kept;
        self.counters.emitted.inc_by(emitted_count);
        self.counters.dropped.inc_by((before - records.len()) as u64);
        Box::pin(std::future::ready(()))
    }
}
