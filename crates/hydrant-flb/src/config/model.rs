//! The neutral configuration model that every format (classic, YAML, ConfigMap) loads into.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use super::error::{ConfigError, Rule};
use super::tag_match::TagMatcher;
use super::units::{self, UnitError};

/// Where a section or plugin was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file (as given, or resolved for `@INCLUDE`), or the ConfigMap data key
    /// (`filters.conf`); `<fargate>` for the managed input.
    pub file: String,
    /// The 1-based line of the section header (classic) or of the mapping (YAML); 0 for
    /// generated sections.
    pub line: usize,
}

impl Origin {
    /// An origin at `file:line`.
    pub fn new(file: impl Into<String>, line: usize) -> Self {
        Origin { file: file.into(), line }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// An ordered list of `(key, value)` pairs: keys as written, looked up case-insensitively;
/// repeated keys are kept (some plugins take lists, e.g. `modify`'s `Add`).
///
/// Single-valued lookups ([`Properties::get`]) return the **last** value, as Fluent Bit's config
/// map lets a later setting override an earlier one; [`Properties::get_all`] returns them all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties(pub Vec<(String, String)>);

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Properties(Vec::new())
    }

    /// The last value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// Whether `key` is set (case-insensitive).
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
    }

    /// Append a pair.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.push((key.into(), value.into()));
    }

    /// Replace every value of `key` by one (kept at the first occurrence's place, with the
    /// key as first written), or append it.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(i) => {
                self.0[i].1 = value;
                let mut j = 0;
                self.0.retain(|(k, _)| {
                    j += 1;
                    j - 1 == i || !k.eq_ignore_ascii_case(key)
                });
            }
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// Remove every value of `key`; returns how many were removed.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.0.len();
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        before - self.0.len()
    }
}

impl Deref for Properties {
    type Target = Vec<(String, String)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Properties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<Vec<(String, String)>> for Properties {
    fn from(v: Vec<(String, String)>) -> Self {
        Properties(v)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Properties(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// The kinds of section of Fluent Bit's configuration that Hydrant reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// `[SERVICE]` / `service:`.
    Service,
    /// `[INPUT]` / `pipeline.inputs`.
    Input,
    /// `[FILTER]` / `pipeline.filters`.
    Filter,
    /// `[OUTPUT]` / `pipeline.outputs`.
    Output,
    /// `[PARSER]` / `parsers:`.
    Parser,
    /// `[MULTILINE_PARSER]` / `multiline_parsers:`.
    MultilineParser,
}

impl SectionKind {
    /// The kind for a section name, case-insensitive (`input`, `INPUT`...).
    pub fn from_name(name: &str) -> Option<Self> {
        let kinds = [
            ("service", SectionKind::Service),
            ("input", SectionKind::Input),
            ("filter", SectionKind::Filter),
            ("output", SectionKind::Output),
            ("parser", SectionKind::Parser),
            ("multiline_parser", SectionKind::MultilineParser),
        ];
        kinds.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())).map(|(_, k)| *k)
    }

    /// The classic header (`INPUT`).
    pub fn header(self) -> &'static str {
        match self {
            SectionKind::Service => "SERVICE",
            SectionKind::Input => "INPUT",
            SectionKind::Filter => "FILTER",
            SectionKind::Output => "OUTPUT",
            SectionKind::Parser => "PARSER",
            SectionKind::MultilineParser => "MULTILINE_PARSER",
        }
    }

    /// Lower-case word for messages (`input`, `multiline parser`).
    pub fn word(self) -> &'static str {
        match self {
            SectionKind::Service => "service",
            SectionKind::Input => "input",
            SectionKind::Filter => "filter",
            SectionKind::Output => "output",
            SectionKind::Parser => "parser",
            SectionKind::MultilineParser => "multiline parser",
        }
    }
}

/// A `[PARSER]` or `[MULTILINE_PARSER]` definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Parser or multiline parser.
    pub kind: SectionKind,
    /// Its `Name`, as written (parsers are referred to by exact name).
    pub name: String,
    /// Every other key (`Format`, `Regex`, `Time_Key`, `rule`...), in order.
    pub properties: Properties,
    /// Where it was defined.
    pub origin: Origin,
}

impl Section {
    /// The last value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }
}

/// An `[INPUT]`, `[FILTER]` or `[OUTPUT]` instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// The plugin name (`Name`), lower-cased: Fluent Bit looks plugins up case-insensitively.
    pub name: String,
    /// Every other key, as written, in order (`${VAR}` already substituted).
    pub properties: Properties,
    /// Where it was defined (the section header).
    pub origin: Origin,
}

impl Plugin {
    /// A plugin with no properties.
    pub fn new(name: &str, origin: Origin) -> Self {
        Plugin { name: name.trim().to_ascii_lowercase(), properties: Properties::new(), origin }
    }

    /// Whether this is the plugin `name` (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The last value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }

    /// Every value of `key` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.properties.get_all(key)
    }

    fn unit<T>(&self, key: &str, parse: fn(&str) -> Result<T, UnitError>) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse(v).map(Some).map_err(|e| self.invalid_value(key, &e.to_string())),
        }
    }

    /// An [`Rule::InvalidValue`] error for `key` of this plugin, at its section header.
    pub fn invalid_value(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::new(
            self.origin.file.clone(),
            Some(self.origin.line),
            Rule::InvalidValue,
            format!("{} `{key}`: {message}", self.name),
        )
    }

    /// `key` as a size in bytes ([`units::parse_size`]); `None` when unset.
    pub fn get_size(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.unit(key, units::parse_size)
    }

    /// `key` as whole seconds ([`units::parse_time`]); `None` when unset.
    pub fn get_time(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.unit(key, units::parse_time)
    }

    /// `key` as a boolean ([`units::parse_bool`]); `None` when unset.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.unit(key, units::parse_bool)
    }

    /// The tag rule of a filter or output: `Match_Regex` when set (it takes precedence, as in
    /// Fluent Bit), else `Match`; `None` when neither is set (the plugin receives nothing).
    pub fn matcher(&self) -> Result<Option<TagMatcher>, ConfigError> {
        if let Some(re) = self.get("Match_Regex") {
            return TagMatcher::regex(re).map(Some).map_err(|e| self.invalid_value("Match_Regex", &e.to_string()));
        }
        Ok(self.get("Match").map(TagMatcher::wildcard))
    }
}

/// Which syntax a configuration was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Fluent Bit's classic `[SECTION]` / `Key value` format.
    Classic,
    /// Fluent Bit's YAML format (`service:`, `pipeline:`...).
    Yaml,
    /// The EKS Fargate `aws-logging` ConfigMap (classic format inside a Kubernetes ConfigMap).
    ConfigMap,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Classic => "classic",
            Format::Yaml => "yaml",
            Format::ConfigMap => "configmap",
        })
    }
}

/// What a ConfigMap says beyond the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FargateSettings {
    /// `flb_log_cw`: ship the router's own logs (false when absent).
    pub flb_log_cw: bool,
    /// `metadata.name` (`aws-logging`).
    pub name: String,
    /// `metadata.namespace` (`aws-observability`), when written.
    pub namespace: Option<String>,
    /// Characters of data counted against the 5300 limit.
    pub data_chars: usize,
}

/// A loaded, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The syntax it was read from.
    pub format: Format,
    /// `[SERVICE]` keys (all service sections merged, in order).
    pub service: Properties,
    /// `[PARSER]` and `[MULTILINE_PARSER]` definitions, including those of `Parsers_File`s.
    pub parsers: Vec<Section>,
    /// Inputs, in order (for a ConfigMap: the managed Fargate tail input).
    pub inputs: Vec<Plugin>,
    /// Filters, in order (the order they run in).
    pub filters: Vec<Plugin>,
    /// Outputs, in order.
    pub outputs: Vec<Plugin>,
    /// ConfigMap settings, for [`Format::ConfigMap`].
    pub fargate: Option<FargateSettings>,
    /// Non-fatal findings (unset variables, empty sections...), `file:line: message`.
    pub warnings: Vec<String>,
    /// Every file read (the main file first, then includes and parsers files).
    pub files: Vec<PathBuf>,
}

impl Config {
    /// An empty configuration of the given format.
    pub fn empty(format: Format) -> Self {
        Config {
            format,
            service: Properties::new(),
            parsers: Vec::new(),
            inputs: Vec::new(),
            filters: Vec::new(),
            outputs: Vec::new(),
            fargate: None,
            warnings: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The parser (not multiline) named `name` (exact name; the last definition wins).
    pub fn parser(&self, name: &str) -> Option<&Section> {
        self.parsers.iter().rev().find(|p| p.kind == SectionKind::Parser && p.name == name)
    }

    /// The multiline parser named `name`.
    pub fn multiline_parser(&self, name: &str) -> Option<&Section> {
        self.parsers.iter().rev().find(|p| p.kind == SectionKind::MultilineParser && p.name == name)
    }

    /// A `[SERVICE]` value (case-insensitive key, last wins).
    pub fn service_get(&self, key: &str) -> Option<&str> {
        self.service.get(key)
    }
}
