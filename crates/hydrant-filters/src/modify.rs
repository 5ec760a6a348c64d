//! The `modify` filter: rules applied in order to records meeting every condition
//! (`plugins/filter_modify`).
//!
//! Rules (repeatable, in configuration order; keys compare case-sensitively; values set
//! are strings; a double-quoted word may hold spaces):
//!
//! - `Set KEY VALUE`: remove KEY wherever it is and append it with VALUE.
//! - `Add KEY VALUE`: append KEY if it does not exist.
//! - `Remove KEY`, `Remove_wildcard PREFIX*`, `Remove_regex REGEX`.
//! - `Rename KEY NEW` (only if NEW does not exist) and `Hard_rename KEY NEW` (NEW is
//!   replaced): renamed in place.
//! - `Copy KEY NEW` (only if NEW does not exist) and `Hard_copy KEY NEW` (NEW is
//!   replaced): the copy goes right after KEY; skipped when KEY appears more than once.
//! - `Move_to_start PREFIX*`, `Move_to_end PREFIX*`.
//!
//! Conditions (`Condition TYPE ARGS`, all must hold; KEY is a record accessor, so
//! `$kubernetes['labels']['app']` works): `Key_exists KEY`, `Key_does_not_exist KEY`,
//! `A_key_matches REGEX`, `No_key_matches REGEX`, `Key_value_equals KEY VALUE`,
//! `Key_value_does_not_equal KEY VALUE`, `Key_value_matches KEY REGEX`,
//! `Key_value_does_not_match KEY REGEX`, `Matching_keys_have_matching_values KREGEX VREGEX`,
//! `Matching_keys_do_not_have_matching_values KREGEX VREGEX`. Only string values equal
//! or match; the negated value conditions require the key to exist.

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{BuildContext, BuildResult};
use hydrant_flb::{Map, Record, Value};

use crate::common::tokens;
use crate::onigmo;
use crate::record_accessor::RecordAccessor;

#[derive(Debug)]
enum Rule {
    Set(String, String),
    Add(String, String),
    Remove(String),
    RemoveWildcard(String),
    RemoveRegex(regex::Regex),
    Rename(String, String),
    HardRename(String, String),
    Copy(String, String),
    HardCopy(String, String),
    MoveToStart(String),
    MoveToEnd(String),
}

#[derive(Debug)]
enum Condition {
    KeyExists(RecordAccessor),
    KeyDoesNotExist(RecordAccessor),
    AKeyMatches(regex::Regex),
    NoKeyMatches(regex::Regex),
    KeyValueEquals(RecordAccessor, String),
    KeyValueDoesNotEqual(RecordAccessor, String),
    KeyValueMatches(RecordAccessor, regex::Regex),
    KeyValueDoesNotMatch(RecordAccessor, regex::Regex),
    MatchingKeysHaveMatchingValues(regex::Regex, regex::Regex),
    MatchingKeysDoNotHaveMatchingValues(regex::Regex, regex::Regex),
}

/// The modify filter.
#[derive(Debug)]
pub struct Modify {
    rules: Vec<Rule>,
    conditions: Vec<Condition>,
}

/// The words of an option, which must be exactly `n`.
fn words(plugin: &Plugin, key: &str, value: &str, n: usize, usage: &str) -> BuildResult<Vec<String>> {
    let words = tokens(value);
    if words.len() != n {
        return Err(plugin.invalid_value(key, &format!("`{value}`: expected `{usage}`")));
    }
    Ok(words)
}

fn wildcard_prefix(pattern: &str) -> String {
    pattern.strip_suffix('*').unwrap_or(pattern).to_string()
}

fn build_condition(plugin: &Plugin, value: &str) -> BuildResult<Condition> {
    let all = tokens(value);
    let Some(kind) = all.first() else {
        return Err(plugin.invalid_value("Condition", "empty condition"));
    };
    let args = &all[1..];
    let ra = |s: &str| RecordAccessor::parse(s).map_err(|e| plugin.invalid_value("Condition", &e));
    let re = |s: &str| onigmo::compile(s).map_err(|e| plugin.invalid_value("Condition", &e));
    let want = |n: usize, usage: &str| -> BuildResult<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(plugin.invalid_value("Condition", &format!("`{value}`: expected `{kind} {usage}`")))
        }
    };
    Ok(match kind.to_ascii_lowercase().as_str() {
        "key_exists" => {
            want(1, "KEY")?;
            Condition::KeyExists(ra(&args[0])?)
        }
        "key_does_not_exist" => {
            want(1, "KEY")?;
            Condition::KeyDoesNotExist(ra(&args[0])?)
        }
        "a_key_matches" => {
            want(1, "REGEX")?;
            Condition::AKeyMatches(re(&args[0])?)
        }
        "no_key_matches" => {
            want(1, "REGEX")?;
            Condition::NoKeyMatches(re(&args[0])?)
        }
        "key_value_equals" => {
            want(2, "KEY VALUE")?;
            Condition::KeyValueEquals(ra(&args[0])?, args[1].clone())
        }
        "key_value_does_not_equal" => {
            want(2, "KEY VALUE")?;
            Condition::KeyValueDoesNotEqual(ra(&args[0])?, args[1].clone())
        }
        "key_value_matches" => {
            want(2, "KEY REGEX")?;
            Condition::KeyValueMatches(ra(&args[0])?, re(&args[1])?)
        }
        "key_value_does_not_match" => {
            want(2, "KEY REGEX")?;
            Condition::KeyValueDoesNotMatch(ra(&args[0])?, re(&args[1])?)
        }
        "matching_keys_have_matching_values" => {
            want(2, "KEY_REGEX VALUE_REGEX")?;
            Condition::MatchingKeysHaveMatchingValues(re(&args[0])?, re(&args[1])?)
        }
        "matching_keys_do_not_have_matching_values" => {
            want(2, "KEY_REGEX VALUE_REGEX")?;
            Condition::MatchingKeysDoNotHaveMatchingValues(re(&args[0])?, re(&args[1])?)
        }
        other => return Err(plugin.invalid_value("Condition", &format!("unknown condition `{other}`"))),
    })
}

/// Build a modify filter.
pub fn build(plugin: &Plugin, _ctx: &BuildContext) -> BuildResult<Modify> {
    let mut rules = Vec::new();
    let mut conditions = Vec::new();
    for (key, value) in plugin.properties.iter() {
        let two = |usage: &str| -> BuildResult<(String, String)> {
            let mut w = words(plugin, key, value, 2, usage)?;
            let b = w.pop().unwrap_or_default();
            Ok((w.pop().unwrap_or_default(), b))
        };
        let one =
            |usage: &str| -> BuildResult<String> { Ok(words(plugin, key, value, 1, usage)?.pop().unwrap_or_default()) };
        let rule = match key.to_ascii_lowercase().as_str() {
            "set" => two("KEY VALUE").map(|(k, v)| Rule::Set(k, v))?,
            "add" => two("KEY VALUE").map(|(k, v)| Rule::Add(k, v))?,
            "remove" => Rule::Remove(one("KEY")?),
            "remove_wildcard" => Rule::RemoveWildcard(wildcard_prefix(&one("WILDCARD")?)),
            "remove_regex" => {
                Rule::RemoveRegex(onigmo::compile(&one("REGEX")?).map_err(|e| plugin.invalid_value(key, &e))?)
            }
            "rename" => two("KEY NEW_KEY").map(|(k, v)| Rule::Rename(k, v))?,
            "hard_rename" => two("KEY NEW_KEY").map(|(k, v)| Rule::HardRename(k, v))?,
            "copy" => two("KEY NEW_KEY").map(|(k, v)| Rule::Copy(k, v))?,
            "hard_copy" => two("KEY NEW_KEY").map(|(k, v)| Rule::HardCopy(k, v))?,
            "move_to_start" => Rule::MoveToStart(wildcard_prefix(&one("WILDCARD")?)),
            "move_to_end" => Rule::MoveToEnd(wildcard_prefix(&one("WILDCARD")?)),
            "condition" => {
                conditions.push(build_condition(plugin, value)?);
                continue;
            }
            _ => continue,
        };
        rules.push(rule);
    }
    Ok(Modify { rules, conditions })
}

fn string_at<'a>(ra: &RecordAccessor, map: &'a Map) -> Option<&'a str> {
    ra.get(map).and_then(Value::as_str)
}

impl Condition {
    fn holds(&self, map: &Map) -> bool {
        match self {
            Condition::KeyExists(ra) => ra.get(map).is_some(),
            Condition::KeyDoesNotExist(ra) => ra.get(map).is_none(),
            Condition::AKeyMatches(re) => map.iter().any(|(k, _)| re.is_match(k)),
            Condition::NoKeyMatches(re) => !map.iter().any(|(k, _)| re.is_match(k)),
            Condition::KeyValueEquals(ra, v) => string_at(ra, map) == Some(v.as_str()),
            Condition::KeyValueDoesNotEqual(ra, v) => ra.get(map).is_some() && string_at(ra, map) != Some(v.as_str()),
            Condition::KeyValueMatches(ra, re) => string_at(ra, map).is_some_and(|s| re.is_match(s)),
            Condition::KeyValueDoesNotMatch(ra, re) => {
                ra.get(map).is_some() && !string_at(ra, map).is_some_and(|s| re.is_match(s))
            }
            Condition::MatchingKeysHaveMatchingValues(kre, vre) => all_matching_keys_match(map, kre, vre),
            Condition::MatchingKeysDoNotHaveMatchingValues(kre, vre) => !all_matching_keys_match(map, kre, vre),
        }
    }
}

fn all_matching_keys_match(map: &Map, kre: &regex::Regex, vre: &regex::Regex) -> bool {
    map.iter().filter(|(k, _)| kre.is_match(k)).all(|(_, v)| v.as_str().is_some_and(|s| vre.is_match(s)))
}

fn count(map: &Map, key: &str) -> usize {
    map.0.iter().filter(|(k, _)| k == key).count()
}

/// Stable partition: entries for which `first` holds go first.
fn partition(map: &mut Map, first: impl Fn(&str) -> bool) {
    let (mut a, b): (Vec<_>, Vec<_>) = std::mem::take(&mut map.0).into_iter().partition(|(k, _)| first(k));
    a.extend(b);
    map.0 = a;
}

impl Rule {
    fn apply(&self, map: &mut Map) {
        match self {
            Rule::Set(k, v) => {
                map.remove(k);
                map.push(k.clone(), Value::Str(v.clone()));
            }
            Rule::Add(k, v) => {
                if !map.contains_key(k) {
                    map.push(k.clone(), Value::Str(v.clone()));
                }
            }
            Rule::Remove(k) => {
                map.remove(k);
            }
            Rule::RemoveWildcard(p) => map.retain(|k, _| !k.starts_with(p.as_str())),
            Rule::RemoveRegex(re) => map.retain(|k, _| !re.is_match(k)),
            Rule::Rename(a, b) | Rule::HardRename(a, b) => {
                if a == b || !map.contains_key(a) {
                    return;
                }
                if matches!(self, Rule::Rename(..)) {
                    if map.contains_key(b) {
                        return;
                    }
                } else {
                    map.remove(b);
                }
                for (k, _) in map.0.iter_mut().filter(|(k, _)| k == a) {
                    k.clone_from(b);
                }
            }
            Rule::Copy(a, b) | Rule::HardCopy(a, b) => {
                if a == b || count(map, a) != 1 {
                    return;
                }
                let conflicts = count(map, b);
                match self {
                    Rule::Copy(..) if conflicts > 0 => return,
                    Rule::HardCopy(..) if conflicts > 1 => return,
                    _ => {}
                }
                map.remove(b);
                let pos = map.position(a).expect("counted once");
                let value = map.0[pos].1.clone();
                map.0.insert(pos + 1, (b.clone(), value));
            }
            Rule::MoveToStart(p) => partition(map, |k| k.starts_with(p.as_str())),
            Rule::MoveToEnd(p) => partition(map, |k| !k.starts_with(p.as_str())),
        }
    }
}

impl Modify {
    /// Apply the rules to one record if it meets every condition.
    pub fn apply(&self, record: &mut Record) {
        if !self.conditions.iter().all(|c| c.holds(&record.body)) {
            return;
        }
        for rule in &self.rules {
            rule.apply(&mut record.body);
        }
    }
}

crate::common::per_record_filter!(Modify);
