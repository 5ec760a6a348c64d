//! Fluent Bit's YAML configuration format (`flb_cf_yaml.c`), read into the same sections as
//! the classic format.
//!
//! ```yaml
//! env:                      # variables for ${...}; they win over the environment
//!   FLUSH: 1
//! includes:                 # more YAML files, relative to this one (globs allowed)
//!   - inputs/*.yaml
//! service:
//!   flush: ${FLUSH}
//! parsers:
//!   - name: json
//!     format: json
//! multiline_parsers:
//!   - name: multi
//!     type: regex
//!     rules:                # become `rule "<state>" "<regex>" "<next_state>"` entries
//!       - state: start_state
//!         regex: '/^\d/'
//!         next_state: cont
//! pipeline:
//!   inputs:
//!     - name: tail
//!       path: /var/log/containers/*.log
//!   filters:
//!     - name: modify
//!       match: '*'
//!       add:                # a list becomes repeated keys, as in classic
//!         - a 1
//!         - b 2
//!   outputs:
//!     - name: stdout
//!       match: '*'
//! ```
//!
//! Section names are case-insensitive. Scalars are kept exactly as written (`on` stays `on`,
//! `010` stays `010`, `null` is the string `null`, as with Fluent Bit's libyaml reader); an
//! empty value is an error. Processors, `customs`, `plugins` and `upstream_servers` are refused as
//! unsupported; any other top-level key is an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use saphyr::{MarkedYaml, Scalar, ScalarStyle, YamlData, YamlLoader};
use saphyr_parser::{Parser, ScanError};

use super::classic::{RawEntry, RawSection, RawSet};
use super::error::{ConfigError, Rule};
use super::model::SectionKind;

/// Parse every YAML document of `text`, scalars unresolved (kept as written), with positions.
pub(crate) fn load_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>, ScanError> {
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    parser.load(&mut loader, true)?;
    if let Some(e) = loader.error() {
        return Err(e.clone());
    }
    Ok(loader.into_documents())
}

/// A YAML syntax error as a configuration error.
pub(crate) fn scan_error(file: &str, e: &ScanError) -> ConfigError {
    ConfigError::new(file, Some(e.marker().line()), Rule::Yaml, e.info().to_string())
}

/// A scalar node's text as written, and its style; `None` for collections.
pub(crate) fn scalar(node: &MarkedYaml<'_>) -> Option<(String, ScalarStyle)> {
    match &node.data {
        YamlData::Representation(text, style, _) => Some((text.to_string(), *style)),
        YamlData::Value(v) => Some((scalar_text(v), ScalarStyle::Plain)),
        YamlData::Tagged(_, inner) => scalar(inner),
        _ => None,
    }
}

fn scalar_text(v: &Scalar<'_>) -> String {
    match v {
        Scalar::Null => String::new(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}

/// Whether a scalar is empty and unquoted (`key:` with nothing after it). Fluent Bit reads
/// every YAML scalar as text, so `null` and `~` are kept as the strings they are (`name: null`
/// is the null output plugin).
pub(crate) fn is_null(text: &str, style: ScalarStyle) -> bool {
    style == ScalarStyle::Plain && text.is_empty()
}

/// The entries of a mapping node (key text, key line, value node), or `None` if not a mapping.
pub(crate) fn mapping<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<Vec<(String, usize, &'a MarkedYaml<'i>)>> {
    match &node.data {
        YamlData::Mapping(map) => Some(
            map.iter().map(|(k, v)| (scalar(k).map(|(t, _)| t).unwrap_or_default(), k.span.start.line(), v)).collect(),
        ),
        YamlData::Tagged(_, inner) => mapping(inner),
        _ => None,
    }
}

fn sequence<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<&'a Vec<MarkedYaml<'i>>> {
    match &node.data {
        YamlData::Sequence(seq) => Some(seq),
        YamlData::Tagged(_, inner) => sequence(inner),
        _ => None,
    }
}

/// The sections, variables and files read from Fluent Bit YAML files.
#[derive(Debug, Default)]
pub(crate) struct RawYaml {
    pub sections: Vec<RawSection>,
    pub env: Vec<RawSet>,
    pub errors: Vec<ConfigError>,
    pub files: Vec<PathBuf>,
    included: HashSet<PathBuf>,
}

impl RawYaml {
    pub fn new() -> Self {
        RawYaml::default()
    }

    fn error(&mut self, file: &str, line: usize, rule: Rule, message: impl Into<String>) {
        self.errors.push(ConfigError::new(file, Some(line), rule, message));
    }

    /// Read a YAML file (the main one or an include).
    pub fn read_file(&mut self, path: &Path, display: &str, from: Option<(&str, usize)>) {
        let (err_file, err_line) = from.map_or((display, None), |(f, l)| (f, Some(l)));
        let rule = if from.is_some() { Rule::Include } else { Rule::Io };
        let canonical = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(ConfigError::new(err_file, err_line, rule, format!("{display}: {e}")));
                return;
            }
        };
        if !self.included.insert(canonical.clone()) {
            let msg = format!("{display}: file already included");
            self.errors.push(ConfigError::new(err_file, err_line, Rule::Include, msg));
            return;
        }
        match std::fs::read_to_string(&canonical) {
            Ok(text) => {
                self.files.push(path.to_path_buf());
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                self.read_text(&text, display, &base);
            }
            Err(e) => self.errors.push(ConfigError::new(err_file, err_line, rule, format!("{display}: {e}"))),
        }
    }

    /// Read YAML text; `base` is the directory for relative includes.
    pub fn read_text(&mut self, text: &str, file: &str, base: &Path) {
        let docs = match load_documents(text) {
            Ok(d) => d,
            Err(e) => {
                self.errors.push(scan_error(file, &e));
                return;
            }
        };
        for doc in &docs {
            self.read_root(doc, file, base);
        }
    }

    fn read_root(&mut self, doc: &MarkedYaml<'_>, file: &str, base: &Path) {
        if let Some((text, style)) = scalar(doc) {
            if is_null(&text, style) {
                return; // an empty document
            }
        }
        let Some(entries) = mapping(doc) else {
            self.error(
                file,
                doc.span.start.line(),
                Rule::Yaml,
                "the document must be a mapping (service:, pipeline:...)",
            );
            return;
        };
        for (key, line, value) in entries {
            match key.to_ascii_lowercase().as_str() {
                "env" => self.read_env(value, file),
                "includes" => self.read_includes(value, file, line, base),
                "service" => self.read_service(value, file, line),
                "pipeline" => self.read_pipeline(value, file, line),
                "parsers" => self.read_list(value, file, line, SectionKind::Parser),
                "multiline_parsers" => self.read_list(value, file, line, SectionKind::MultilineParser),
                "customs" | "plugins" | "upstream_servers" => {
                    self.error(file, line, Rule::Unsupported, format!("`{key}` is not supported by Hydrant's router"))
                }
                _ => self.error(
                    file,
                    line,
                    Rule::UnknownSection,
                    format!(
                        "`{key}` is not a known section (env, includes, service, pipeline, parsers, multiline_parsers)"
                    ),
                ),
            }
        }
    }

    fn read_env(&mut self, node: &MarkedYaml<'_>, file: &str) {
        let Some(entries) = mapping(node) else {
            self.error(file, node.span.start.line(), Rule::Yaml, "`env` must be a mapping of NAME: value");
            return;
        };
        for (key, line, value) in entries {
            match scalar(value) {
                Some((text, _)) => self.env.push(RawSet { key, value: text }),
                None => self.error(file, line, Rule::Yaml, format!("env `{key}` must be a scalar")),
            }
        }
    }

    fn read_includes(&mut self, node: &MarkedYaml<'_>, file: &str, line: usize, base: &Path) {
        let paths: Vec<(String, usize)> = match (sequence(node), scalar(node)) {
            (Some(seq), _) => seq.iter().filter_map(|n| scalar(n).map(|(t, _)| (t, n.span.start.line()))).collect(),
            (None, Some((t, style))) if !is_null(&t, style) => vec![(t, line)],
            _ => {
                self.error(file, line, Rule::Yaml, "`includes` must be a list of paths");
                return;
            }
        };
        for (path, line) in paths {
            let relative = Path::new(&path).is_relative();
            let target = if relative { base.join(&path) } else { PathBuf::from(&path) };
            if path.contains('*') {
                let pattern = if relative { super::classic::glob_pattern(base, &path) } else { path.clone() };
                let mut matches: Vec<PathBuf> = match glob::glob(&pattern) {
                    Ok(p) => p.filter_map(Result::ok).filter(|p| p.is_file()).collect(),
                    Err(e) => {
                        self.error(file, line, Rule::Include, format!("bad pattern `{path}`: {e}"));
                        continue;
                    }
                };
                matches.sort();
                if matches.is_empty() {
                    self.error(file, line, Rule::Include, format!("`{path}` matches no file"));
                }
                for m in matches {
                    let display = m.to_string_lossy().into_owned();
                    self.read_file(&m, &display, Some((file, line)));
                }
            } else {
                let display = target.to_string_lossy().into_owned();
                self.read_file(&target, &display, Some((file, line)));
            }
        }
    }

    fn read_service(&mut self, node: &MarkedYaml<'_>, file: &str, line: usize) {
        if let Some(section) = self.section(node, file, line, SectionKind::Service) {
            self.sections.push(section);
        }
    }

    fn read_pipeline(&mut self, node: &MarkedYaml<'_>, file: &str, line: usize) {
        let Some(entries) = mapping(node) else {
            self.error(file, line, Rule::Yaml, "`pipeline` must be a mapping with inputs, filters, outputs");
            return;
        };
        for (key, line, value) in entries {
            let kind = match key.to_ascii_lowercase().as_str() {
                "inputs" => SectionKind::Input,
                "filters" => SectionKind::Filter,
                "outputs" => SectionKind::Output,
                _ => {
                    self.error(
                        file,
                        line,
                        Rule::UnknownSection,
                        format!("`pipeline.{key}` is not known (inputs, filters, outputs)"),
                    );
                    continue;
                }
            };
            self.read_list(value, file, line, kind);
        }
    }

    fn read_list(&mut self, node: &MarkedYaml<'_>, file: &str, line: usize, kind: SectionKind) {
        if let Some((t, style)) = scalar(node) {
            if is_null(&t, style) {
                return;
            }
        }
        let Some(items) = sequence(node) else {
            self.error(file, line, Rule::Yaml, format!("{}s must be a list of mappings", kind.word()));
            return;
        };
        for item in items {
            if let Some(section) = self.section(item, file, item.span.start.line(), kind) {
                self.sections.push(section);
            }
        }
    }

    /// One plugin / parser / service mapping as a section.
    fn section(&mut self, node: &MarkedYaml<'_>, file: &str, line: usize, kind: SectionKind) -> Option<RawSection> {
        let Some(entries) = mapping(node) else {
            self.error(file, line, Rule::Yaml, format!("a {} must be a mapping of key: value", kind.word()));
            return None;
        };
        let mut section = RawSection { kind, file: file.to_string(), line, entries: Vec::new(), broken: false };
        let errors_before = self.errors.len();
        for (key, kline, value) in entries {
            if key.eq_ignore_ascii_case("processors") {
                self.error(file, kline, Rule::Unsupported, "processors are not supported by Hydrant's router");
                continue;
            }
            if kind == SectionKind::MultilineParser && key.eq_ignore_ascii_case("rules") {
                self.rules(value, file, kline, &mut section);
                continue;
            }
            let values: Vec<(String, usize)> = match (scalar(value), sequence(value)) {
                (Some((t, style)), _) => {
                    if is_null(&t, style) {
                        self.error(file, kline, Rule::MissingValue, format!("key `{key}` has no value"));
                        continue;
                    }
                    vec![(t, kline)]
                }
                (None, Some(seq)) => {
                    let mut out = Vec::new();
                    for n in seq {
                        match scalar(n) {
                            Some((t, _)) => out.push((t, n.span.start.line())),
                            None => self.error(
                                file,
                                n.span.start.line(),
                                Rule::Yaml,
                                format!("`{key}` must be a list of scalars"),
                            ),
                        }
                    }
                    out
                }
                (None, None) => {
                    self.error(file, kline, Rule::Yaml, format!("`{key}` must be a scalar or a list of scalars"));
                    continue;
                }
            };
            for (v, l) in values {
                section.entries.push(RawEntry { key: key.clone(), value: v, line: l });
            }
        }
        section.broken = self.errors.len() > errors_before;
        Some(section)
    }

    /// Multiline rules: `- {state, regex, next_state}` to `rule "state" "regex" "next_state"`.
    fn rules(&mut self, node: &MarkedYaml<'_>, file: &str, line: usize, section: &mut RawSection) {
        let Some(items) = sequence(node) else {
            self.error(file, line, Rule::Yaml, "`rules` must be a list of {state, regex, next_state}");
            return;
        };
        for item in items {
            let l = item.span.start.line();
            let Some(entries) = mapping(item) else {
                self.error(file, l, Rule::Yaml, "a rule must be a mapping {state, regex, next_state}");
                continue;
            };
            let get = |name: &str| {
                entries.iter().find(|(k, _, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, _, v)| scalar(v))
            };
            match (get("state"), get("regex"), get("next_state")) {
                (Some((s, _)), Some((r, _)), Some((n, _))) => section.entries.push(RawEntry {
                    key: "rule".to_string(),
                    value: format!("\"{s}\" \"{r}\" \"{n}\""),
                    line: l,
                }),
                _ => self.error(file, l, Rule::MissingKey, "a rule needs state, regex and next_state"),
            }
        }
    }
}
