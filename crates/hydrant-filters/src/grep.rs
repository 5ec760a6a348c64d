//! The `grep` filter: keep or drop records by regular expressions on their fields
//! (`plugins/filter_grep`, `src/flb_grep.c`).
//!
//! - `Regex KEY REGEX` keeps records whose KEY matches, `Exclude KEY REGEX` drops them;
//!   KEY is a record accessor (`log`, `$kubernetes['labels']['app']`). Only string values
//!   match; a missing key or another type is "no match".
//! - Without `Logical_Op` (or with `legacy`), rules are tried in order and the first
//!   decisive one wins: a `Regex` that does not match drops the record, a `Regex` that
//!   matches keeps it at once, an `Exclude` that matches drops it; a record no rule
//!   decided is kept. This is Fluent Bit's legacy evaluation, quirks included.
//! - `Logical_Op and` / `or` combine rules that must all be `Regex` or all `Exclude`
//!   (mixing them is refused, as Fluent Bit does): `Regex` keeps records matching all
//!   (any) rules, `Exclude` drops records matching all (any) rules.

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{BuildContext, BuildResult};
use hydrant_flb::{BoxFuture, Emitted, Filter, Map, Record};

use crate::common::{split_pair, Counters};
use crate::onigmo;
use crate::record_accessor::RecordAccessor;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Regex,
    Exclude,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Legacy,
    And,
    Or,
}

#[derive(Debug)]
struct Rule {
    kind: Kind,
    key: RecordAccessor,
    regex: regex::Regex,
}

impl Rule {
    fn matches(&self, body: &Map) -> bool {
        self.key.get(body).and_then(|v| v.as_str()).is_some_and(|s| self.regex.is_match(s))
    }
}

/// The grep filter.
#[derive(Debug)]
pub struct Grep {
    rules: Vec<Rule>,
    op: Op,
    counters: Counters,
}

/// Build a grep filter.
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Grep> {
    let op = match plugin.get("Logical_Op").map(|v| v.trim().to_ascii_lowercase()) {
        None => Op::Legacy,
        Some(v) if v == "legacy" => Op::Legacy,
        Some(v) if v == "and" => Op::And,
        Some(v) if v == "or" => Op::Or,
        Some(v) => return Err(plugin.invalid_value("Logical_Op", &format!("`{v}`: expected and, or or legacy"))),
    };
    let mut rules = Vec::new();
    for (key, value) in plugin.properties.iter() {
        let kind = if key.eq_ignore_ascii_case("Regex") {
            Kind::Regex
        } else if key.eq_ignore_ascii_case("Exclude") {
            Kind::Exclude
        } else {
            continue;
        };
        let (field, pattern) = split_pair(plugin, key, value)?;
        let accessor = RecordAccessor::parse(field).map_err(|e| plugin.invalid_value(key, &e))?;
        let regex = onigmo::compile(pattern).map_err(|e| plugin.invalid_value(key, &e))?;
        if op != Op::Legacy && rules.first().is_some_and(|r: &Rule| r.kind != kind) {
            return Err(plugin.invalid_value(key, "both `Regex` and `Exclude` are set; `Logical_Op` needs one kind"));
        }
        rules.push(Rule { kind, key: accessor, regex });
    }
    if rules.is_empty() {
        tracing::warn!(filter = %ctx.name, origin = %plugin.origin, "grep filter without Regex or Exclude keeps everything");
    }
    Ok(Grep { rules, op, counters: Counters::new(ctx) })
}

impl Grep {
    /// Whether a record is kept.
    pub fn keep(&self, body: &Map) -> bool {
        match self.op {
            Op::Legacy => {
                for rule in &self.rules {
                    match (rule.matches(body), rule.kind) {
                        (false, Kind::Regex) => return false,
                        (true, Kind::Exclude) => return false,
                        (true, Kind::Regex) => return true,
                        (false, Kind::Exclude) => {}
                    }
                }
                true
            }
            Op::And | Op::Or => {
                let Some(kind) = self.rules.first().map(|r| r.kind) else { return true };
                let found = if self.op == Op::And {
                    self.rules.iter().all(|r| r.matches(body))
                } else {
                    self.rules.iter().any(|r| r.matches(body))
                };
                (kind == Kind::Regex) == found
            }
        }
    }
}

impl Filter for Grep {
    fn filter<'a>(
        &'a mut self,
        _tag: &'a str,
        records: &'a mut Vec<Record>,
        _emitted: &'a mut Vec<Emitted>,
    ) -> BoxFuture<'a, ()> {
        let before = records.len();
        records.retain(|r| self.keep(&r.body));
        self.counters.dropped.inc_by((before - records.len()) as u64);
        Box::pin(std::future::ready(()))
    }
}
