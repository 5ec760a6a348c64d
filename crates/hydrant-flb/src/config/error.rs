//! Configuration errors: every error names where it is (file or ConfigMap key, line) and
//! which rule it breaks.

use std::fmt;

/// The rule a configuration breaks. Its [`Display`](fmt::Display) form is the short phrase
/// printed between the location and the message (`output.conf:3: invalid indentation: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A file could not be read.
    Io,
    /// Keys must be indented, all with the same whitespace (the first indented line of a file
    /// fixes it); no tabs mixed with spaces; section headers and directives at column 0.
    InvalidIndentation,
    /// A section header is not of the form `[NAME]`.
    BadHeader,
    /// A section name that Fluent Bit (or Hydrant) does not know, or a top-level YAML key.
    UnknownSection,
    /// A `Key value` line before any section header.
    KeyOutsideSection,
    /// A key without a value.
    MissingValue,
    /// A malformed or unknown `@` directive, or one used where it is not allowed.
    Directive,
    /// An `@INCLUDE` (or YAML `includes:`) that cannot be resolved, matches nothing or repeats a
    /// file.
    Include,
    /// A key that the section must have (`Name`, `Match`, `Format`...).
    MissingKey,
    /// A key that may appear only once (`Name`).
    DuplicateKey,
    /// A value that does not parse (size, time, boolean, regex...).
    InvalidValue,
    /// YAML syntax, or a YAML node of the wrong shape.
    Yaml,
    /// A feature of Fluent Bit's configuration that Hydrant does not support (YAML processors,
    /// `customs`, `plugins`...).
    Unsupported,
    /// ConfigMap: a `data` key other than `filters.conf`, `output.conf`, `parsers.conf`,
    /// `flb_log_cw`, or a value that is not a string.
    ConfigMapKey,
    /// ConfigMap: not named `aws-logging` in namespace `aws-observability`, or without `data`.
    ConfigMapMetadata,
    /// ConfigMap: a section in a key that does not take it (`[INPUT]`, `[SERVICE]`, `[FILTER]` in
    /// `output.conf`...).
    SectionNotAllowed,
    /// ConfigMap: a filter or output plugin that Fargate does not support.
    UnsupportedPlugin,
    /// ConfigMap: a kubernetes-filter key owned by the Fargate service (`Kube_URL`...).
    ServiceOwnedKey,
    /// ConfigMap: more than 5300 characters of data.
    SizeLimit,
    /// ConfigMap: `${VAR}` environment variables are not allowed.
    EnvironmentVariable,
    /// ConfigMap: `flb_log_cw` is neither `true` nor `false`.
    FlbLogCw,
    /// ConfigMap: no `[OUTPUT]` at all.
    NoOutput,
}

impl Rule {
    /// The short phrase naming the rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Io => "cannot read",
            Rule::InvalidIndentation => "invalid indentation",
            Rule::BadHeader => "bad section header",
            Rule::UnknownSection => "unknown section",
            Rule::KeyOutsideSection => "key outside a section",
            Rule::MissingValue => "key without value",
            Rule::Directive => "invalid directive",
            Rule::Include => "invalid include",
            Rule::MissingKey => "missing required key",
            Rule::DuplicateKey => "duplicate key",
            Rule::InvalidValue => "invalid value",
            Rule::Yaml => "invalid YAML",
            Rule::Unsupported => "unsupported",
            Rule::ConfigMapKey => "unsupported ConfigMap key",
            Rule::ConfigMapMetadata => "ConfigMap metadata",
            Rule::SectionNotAllowed => "section not allowed",
            Rule::UnsupportedPlugin => "unsupported plugin",
            Rule::ServiceOwnedKey => "service-owned key",
            Rule::SizeLimit => "size limit",
            Rule::EnvironmentVariable => "environment variables not allowed",
            Rule::FlbLogCw => "invalid flb_log_cw",
            Rule::NoOutput => "no output",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configuration error.
///
/// Displayed as `FILE:LINE: RULE: MESSAGE`, where FILE is a path for files and the data key
/// (`output.conf`) for a ConfigMap; for a ConfigMap key written as a literal block (`|`) the
/// line in the ConfigMap file follows in brackets (`[aws-logging.yaml:17]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given or resolved) or the ConfigMap data key.
    pub file: String,
    /// The 1-based line in `file`, when the error has one.
    pub line: Option<usize>,
    /// The rule that is broken.
    pub rule: Rule,
    /// What is wrong, in words.
    pub message: String,
    /// For ConfigMap data: the ConfigMap file and the line there, when it can be computed.
    pub source_location: Option<(String, usize)>,
}

impl ConfigError {
    /// An error at `file:line`.
    pub fn new(file: impl Into<String>, line: Option<usize>, rule: Rule, message: impl Into<String>) -> Self {
        ConfigError { file: file.into(), line, rule, message: message.into(), source_location: None }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, self.rule, self.message)?,
            None => write!(f, "{}: {}: {}", self.file, self.rule, self.message)?,
        }
        if let Some((file, line)) = &self.source_location {
            write!(f, " [{file}:{line}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in a configuration (loading goes on after an error where it can, so that
/// `--check` reports them all at once). Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, in the order found.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Whether some error breaks `rule`.
    pub fn has(&self, rule: Rule) -> bool {
        self.0.iter().any(|e| e.rule == rule)
    }

    /// The first error that breaks `rule`.
    pub fn find(&self, rule: Rule) -> Option<&ConfigError> {
        self.0.iter().find(|e| e.rule == rule)
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for a value returned by this crate; here for completeness.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
