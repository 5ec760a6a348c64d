//! The router's configuration: Fluent Bit's classic and YAML formats and the EKS Fargate
//! `aws-logging` ConfigMap, loaded into one neutral model ([`Config`]).
//!
//! - [`load`] reads a file, detects its format ([`detect_format`]) and returns a validated
//!   [`Config`] or every error found ([`ConfigErrors`], each naming file or ConfigMap key,
//!   line and [`Rule`]).
//! - [`check`] does the same and summarises ([`Summary`]), for `hydrant router --check`.
//! - [`classic`], [`yaml`] and [`configmap`] document each format's rules; [`vars`] the
//!   `${VAR}` substitution; [`units`] sizes, times and booleans; [`tag_match`] `Match` and
//!   `Match_Regex`.
//!
//! `[SERVICE]`'s `Parsers_File` entries (classic or YAML) are read too, relative to the main
//! file's directory, and their `[PARSER]`/`[MULTILINE_PARSER]` sections join
//! [`Config::parsers`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

mod build;
pub mod classic;
pub mod configmap;
mod error;
mod model;
pub mod tag_match;
pub mod units;
pub mod vars;
pub mod yaml;

pub use error::{ConfigError, ConfigErrors, Rule};
pub use model::{Config, FargateSettings, Format, Origin, Plugin, Properties, Section, SectionKind};
pub use tag_match::{wildcard_match, TagMatcher};
pub use vars::Variables;

use classic::RawClassic;
use yaml::RawYaml;

/// How to load a configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// ConfigMap only: where the managed tail input reads, instead of
    /// `/var/log/containers/*.log` (to run outside Fargate).
    pub input_path: Option<PathBuf>,
    /// ConfigMap only: the managed input's position database, instead of
    /// `/var/log/flb_kube.db`.
    pub input_db: Option<PathBuf>,
    /// The environment for `${VAR}`; `None` reads the process environment.
    pub environment: Option<HashMap<String, String>>,
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
}

/// Another name for [`LoadOptions`], whose ConfigMap fields are [`LoadOptions::input_path`]
/// and [`LoadOptions::input_db`].
pub type ConfigMapOptions = LoadOptions;

/// Guess the format of a configuration text:
///
/// - the first line that is neither blank nor a `#` comment starts with `[` or `@`: classic;
/// - else, YAML that holds a document with `kind: ConfigMap`: ConfigMap;
/// - else, a YAML mapping: Fluent Bit YAML;
/// - else classic (whose parser then says what is wrong).
pub fn detect_format(text: &str) -> Format {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        None => return Format::Classic,
        Some(l) if l.starts_with('[') || l.starts_with('@') => return Format::Classic,
        _ => {}
    }
    match yaml::load_documents(text) {
        Ok(docs) if docs.iter().any(configmap::is_configmap) => Format::ConfigMap,
        Ok(docs) if docs.first().is_some_and(|d| yaml::mapping(d).is_some()) => Format::Yaml,
        Ok(_) => Format::Classic,
        // Broken YAML that looks like YAML (`key:` first): let the YAML reader report it.
        Err(_) if first.is_some_and(|l| l.split_whitespace().next().is_some_and(|w| w.ends_with(':'))) => Format::Yaml,
        Err(_) => Format::Classic,
    }
}

/// Load and validate the configuration in `path` (classic, Fluent Bit YAML, or the Fargate
/// ConfigMap: detected, see [`detect_format`]).
pub fn load(path: &Path, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let display = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::new(display.clone(), None, Rule::Io, e.to_string()))?;
    let format = options.format.unwrap_or_else(|| detect_format(&text));
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut config = match format {
        Format::ConfigMap => return load_configmap_text(&text, &display, options, Some(path)),
        Format::Classic => {
            let mut raw = RawClassic::new();
            raw.read_file(path, &display, None);
            finish(Format::Classic, raw.sections, raw.sets, raw.files, raw.errors, options)
        }
        Format::Yaml => {
            let mut raw = RawYaml::new();
            raw.read_file(path, &display, None);
            finish(Format::Yaml, raw.sections, raw.env, raw.files, raw.errors, options)
        }
    }?;
    load_parsers_files(&mut config, &base, options)?;
    Ok(config)
}

/// Load a configuration from text. `name` names it in errors; relative `@INCLUDE`s and
/// `Parsers_File`s resolve against the working directory.
pub fn load_str(text: &str, name: &str, options: &LoadOptions) -> Result<Config, ConfigErrors> {
    let format = options.format.unwrap_or_else(|| detect_format(text));
    let base = PathBuf::from(".");
    let mut config = match format {
        Format::ConfigMap => return load_configmap_text(text, name, options, None),
        Format::Classic => {
            let mut raw = RawClassic::new();
            raw.read_text(text, name, Some(&base));
            finish(Format::Classic, raw.sections, raw.sets, raw.files, raw.errors, options)
        }
        Format::Yaml => {
            let mut raw = RawYaml::new();
            raw.read_text(text, name, &base);
            finish(Format::Yaml, raw.sections, raw.env, raw.files, raw.errors, options)
        }
    }?;
    load_parsers_files(&mut config, &base, options)?;
    Ok(config)
}

fn load_configmap_text(
    text: &str,
    name: &str,
    options: &LoadOptions,
    path: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let docs = yaml::load_documents(text).map_err(|e| yaml::scan_error(name, &e))?;
    let Some(doc) = configmap::pick(&docs) else {
        return Err(ConfigError::new(name, None, Rule::ConfigMapMetadata, "no `kind: ConfigMap` document").into());
    };
    let mut config = configmap::load(doc, name, options).map_err(ConfigErrors)?;
    config.files.extend(path.map(Path::to_path_buf));
    Ok(config)
}

fn finish(
    format: Format,
    sections: Vec<classic::RawSection>,
    sets: Vec<classic::RawSet>,
    files: Vec<PathBuf>,
    mut errors: Vec<ConfigError>,
    options: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    let mut vars = Variables::new(options.environment.clone());
    for set in sets {
        vars.set(set.key, set.value);
    }
    let mut config = Config::empty(format);
    let mut warnings = Vec::new();
    build::add_sections(&mut config, sections, Some(&vars), &mut errors, &mut warnings);
    config.warnings = warnings;
    config.files = files;
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Read the `Parsers_File`s named in `[SERVICE]` and keep their parsers.
fn load_parsers_files(config: &mut Config, base: &Path, options: &LoadOptions) -> Result<(), ConfigErrors> {
    let files: Vec<String> = config.service.get_all("Parsers_File").map(str::to_string).collect();
    let mut errors = Vec::new();
    for file in files {
        let path = if Path::new(&file).is_relative() { base.join(&file) } else { PathBuf::from(&file) };
        let display = path.display().to_string();
        let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        let result = if is_yaml {
            let mut raw = RawYaml::new();
            raw.read_file(&path, &display, None);
            finish(Format::Yaml, raw.sections, raw.env, raw.files, raw.errors, options)
        } else {
            let mut raw = RawClassic::new();
            raw.read_file(&path, &display, None);
            finish(Format::Classic, raw.sections, raw.sets, raw.files, raw.errors, options)
        };
        match result {
            Ok(parsers) => {
                let others = parsers.inputs.len() + parsers.filters.len() + parsers.outputs.len();
                if others > 0 || !parsers.service.is_empty() {
                    config.warnings.push(format!("{display}: only parser sections are read from a Parsers_File"));
                }
                config.parsers.extend(parsers.parsers);
                config.files.extend(parsers.files);
                config.warnings.extend(parsers.warnings);
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// What `--check` reports for a valid configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The format read.
    pub format: Format,
    /// Input plugin names, in order.
    pub inputs: Vec<String>,
    /// Filter plugin names, in order.
    pub filters: Vec<String>,
    /// Output plugin names, in order.
    pub outputs: Vec<String>,
    /// How many parser and multiline parser definitions.
    pub parsers: usize,
    /// ConfigMap only: `flb_log_cw`.
    pub flb_log_cw: Option<bool>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// Files read.
    pub files: Vec<PathBuf>,
}

impl Summary {
    /// Summarise a loaded configuration.
    pub fn of(config: &Config) -> Self {
        let names = |plugins: &[Plugin]| plugins.iter().map(|p| p.name.clone()).collect();
        Summary {
            format: config.format,
            inputs: names(&config.inputs),
            filters: names(&config.filters),
            outputs: names(&config.outputs),
            parsers: config.parsers.len(),
            flb_log_cw: config.fargate.as_ref().map(|f| f.flb_log_cw),
            warnings: config.warnings.clone(),
            files: config.files.clone(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        writeln!(f, "configuration OK ({})", self.format)?;
        writeln!(f, "  inputs:  {}", list(&self.inputs))?;
        writeln!(f, "  filters: {}", list(&self.filters))?;
        writeln!(f, "  outputs: {}", list(&self.outputs))?;
        write!(f, "  parsers: {}", self.parsers)?;
        if let Some(cw) = self.flb_log_cw {
            write!(f, "\n  flb_log_cw: {cw}")?;
        }
        for w in &self.warnings {
            write!(f, "\n  warning: {w}")?;
        }
        Ok(())
    }
}

/// Validate the configuration in `path` without running it (`hydrant router --check`).
pub fn check(path: &Path) -> Result<Summary, ConfigErrors> {
    check_with(path, &LoadOptions::default())
}

/// [`check`] with options.
pub fn check_with(path: &Path, options: &LoadOptions) -> Result<Summary, ConfigErrors> {
    load(path, options).map(|c| Summary::of(&c))
}
