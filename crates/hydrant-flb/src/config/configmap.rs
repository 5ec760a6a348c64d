//! The EKS Fargate `aws-logging` ConfigMap: its data keys hold classic Fluent Bit text, and
//! Fargate validates them before it starts the pod's log router.
//!
//! Rules (spec section 1, from the EKS user guide and the behaviour of Fargate's router):
//!
//! - `metadata.name` is `aws-logging`; `metadata.namespace`, when written, is
//!   `aws-observability` (without it, `kubectl apply -n` decides: a warning).
//! - `data` keys: `filters.conf` (`[FILTER]` sections only), `output.conf` (`[OUTPUT]` only),
//!   `parsers.conf` (`[PARSER]` only) and `flb_log_cw` (`"true"` or `"false"`); any other key
//!   is an error, and so is a value that is not a YAML string (Kubernetes would refuse it).
//! - At most 5300 characters of data (counted here as the characters of every data key and
//!   value; the EKS guide does not say more precisely what it counts).
//! - Each `.conf` value follows the classic rules ([`super::classic`]): one indentation for
//!   headers (column 0), one deeper for keys; keys case-insensitive. No `@INCLUDE`/`@SET`
//!   and no `${VAR}` anywhere (there is no file system or environment to take them from).
//! - `Name` and `Match` in every filter and output; `Name` and `Format` in every parser.
//! - Filters: grep, parser, record_modifier, rewrite_tag, throttle, nest, modify, kubernetes.
//!   Outputs: es, firehose, kinesis_firehose, cloudwatch, cloudwatch_logs, kinesis. At least
//!   one output. A refused plugin reads like Fargate's event: `Disabled logging for pod due to
//!   invalid configmap. <x> is not a supported output plugin.`
//! - The kubernetes filter's `Kube_URL`, `Kube_CA_File`, `Kube_Token_Command` and
//!   `Kube_Token_File` belong to the service: setting one is an error. A missing
//!   `Kube_Meta_Cache_TTL` is set to 30 minutes (`30m`), as Fargate does.
//! - The managed `[INPUT]` (tail of `/var/log/containers/*.log`, tag `kube.*`) is prepended;
//!   users cannot change it, but outside Fargate its `Path` and `DB` can be pointed elsewhere
//!   through [`super::LoadOptions`].
//!
//! Errors name the data key and the line inside it (`output.conf:3: ...`); for values written
//! as literal blocks (`|`), the ConfigMap file's own line follows in brackets.

use saphyr::{MarkedYaml, ScalarStyle};

use super::classic::{RawClassic, RawSection};
use super::error::{ConfigError, Rule};
use super::model::{Config, FargateSettings, Format, Origin, Plugin, SectionKind};
use super::vars::has_variable;
use super::yaml::{is_null, mapping, scalar};
use super::LoadOptions;

/// The ConfigMap's required name.
pub const CONFIGMAP_NAME: &str = "aws-logging";
/// The ConfigMap's required namespace.
pub const CONFIGMAP_NAMESPACE: &str = "aws-observability";
/// Fargate's limit on the ConfigMap's size, in characters.
pub const MAX_CHARS: usize = 5300;
/// The filters Fargate accepts.
pub const ALLOWED_FILTERS: &[&str] =
    &["grep", "parser", "record_modifier", "rewrite_tag", "throttle", "nest", "modify", "kubernetes"];
/// The outputs Fargate accepts.
pub const ALLOWED_OUTPUTS: &[&str] =
    &["es", "firehose", "kinesis_firehose", "cloudwatch", "cloudwatch_logs", "kinesis"];
/// The kubernetes-filter keys the Fargate service owns.
pub const SERVICE_OWNED_KEYS: &[&str] = &["Kube_URL", "Kube_CA_File", "Kube_Token_Command", "Kube_Token_File"];
/// The value given to a missing `Kube_Meta_Cache_TTL` (30 minutes).
pub const DEFAULT_KUBE_META_CACHE_TTL: &str = "30m";
/// Where the managed input reads by default.
pub const MANAGED_INPUT_PATH: &str = "/var/log/containers/*.log";
/// The managed input's position database by default.
pub const MANAGED_INPUT_DB: &str = "/var/log/flb_kube.db";

/// The data keys and the one section each may hold.
const CONF_KEYS: &[(&str, SectionKind)] = &[
    ("filters.conf", SectionKind::Filter),
    ("output.conf", SectionKind::Output),
    ("parsers.conf", SectionKind::Parser),
];

/// The managed Fargate input, with `Path` and `DB` possibly moved by `options`.
pub fn managed_input(options: &LoadOptions) -> Plugin {
    let path = options.input_path.as_ref().map_or(MANAGED_INPUT_PATH.to_string(), |p| p.display().to_string());
    let db = options.input_db.as_ref().map_or(MANAGED_INPUT_DB.to_string(), |p| p.display().to_string());
    let mut input = Plugin::new("tail", Origin::new("<fargate managed input>", 0));
    for (k, v) in [
        ("Buffer_Max_Size", "66KB"),
        ("DB", db.as_str()),
        ("Mem_Buf_Limit", "45MB"),
        ("Path", path.as_str()),
        ("Read_From_Head", "On"),
        ("Refresh_Interval", "10"),
        ("Rotate_Wait", "30"),
        ("Skip_Long_Lines", "On"),
        ("Tag", "kube.*"),
    ] {
        input.properties.push(k, v);
    }
    input
}

/// Whether a YAML document is a Kubernetes ConfigMap.
pub(crate) fn is_configmap(doc: &MarkedYaml<'_>) -> bool {
    mapping(doc).is_some_and(|entries| {
        entries.iter().any(|(k, _, v)| k == "kind" && scalar(v).is_some_and(|(t, _)| t == "ConfigMap"))
    })
}

fn metadata_field(doc: &MarkedYaml<'_>, field: &str) -> Option<(String, usize)> {
    let entries = mapping(doc)?;
    let (_, _, meta) = entries.into_iter().find(|(k, _, _)| k == "metadata")?;
    let fields = mapping(meta)?;
    fields.into_iter().find(|(k, _, _)| k == field).and_then(|(_, l, v)| scalar(v).map(|(t, _)| (t, l)))
}

/// Pick the ConfigMap among the documents: the one named `aws-logging`, else the first.
pub(crate) fn pick<'a, 'i>(docs: &'a [MarkedYaml<'i>]) -> Option<&'a MarkedYaml<'i>> {
    let maps: Vec<&MarkedYaml<'i>> = docs.iter().filter(|d| is_configmap(d)).collect();
    maps.iter()
        .find(|d| metadata_field(d, "name").is_some_and(|(n, _)| n == CONFIGMAP_NAME))
        .or_else(|| maps.first())
        .copied()
}

/// Validate a ConfigMap document and build its configuration.
pub(crate) fn load(doc: &MarkedYaml<'_>, file: &str, options: &LoadOptions) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let err = |line: Option<usize>, rule: Rule, msg: String| ConfigError::new(file, line, rule, msg);

    // metadata
    let name = metadata_field(doc, "name");
    match &name {
        Some((n, _)) if n == CONFIGMAP_NAME => {}
        Some((n, l)) => errors.push(err(
            Some(*l),
            Rule::ConfigMapMetadata,
            format!("the ConfigMap is named `{n}`; Fargate reads only `{CONFIGMAP_NAME}`"),
        )),
        None => errors.push(err(
            Some(doc.span.start.line()),
            Rule::ConfigMapMetadata,
            format!("metadata.name is missing; Fargate reads only `{CONFIGMAP_NAME}`"),
        )),
    }
    let namespace = metadata_field(doc, "namespace");
    match &namespace {
        Some((ns, _)) if ns == CONFIGMAP_NAMESPACE => {}
        Some((ns, l)) => errors.push(err(
            Some(*l),
            Rule::ConfigMapMetadata,
            format!("the ConfigMap is in namespace `{ns}`; Fargate reads it only from `{CONFIGMAP_NAMESPACE}`"),
        )),
        None => warnings.push(format!(
            "{file}: metadata.namespace is not set; the ConfigMap must be applied in `{CONFIGMAP_NAMESPACE}`"
        )),
    }

    // data
    let root = mapping(doc).unwrap_or_default();
    let Some((_, data_line, data)) = root.into_iter().find(|(k, _, _)| k == "data") else {
        errors.push(err(Some(doc.span.start.line()), Rule::ConfigMapMetadata, "the ConfigMap has no `data`".into()));
        return Err(errors);
    };
    let Some(entries) = mapping(data) else {
        errors.push(err(Some(data_line), Rule::ConfigMapMetadata, "`data` must be a mapping".into()));
        return Err(errors);
    };

    let mut chars = 0usize;
    let mut flb_log_cw = false;
    let mut config = Config::empty(Format::ConfigMap);
    let mut sections: Vec<(RawSection, Option<usize>)> = Vec::new();
    for (key, line, value) in entries {
        let Some((text, style)) = scalar(value) else {
            errors.push(err(Some(line), Rule::ConfigMapKey, format!("data `{key}` must be a string")));
            continue;
        };
        chars += key.chars().count() + text.chars().count();
        if style == ScalarStyle::Plain && !is_plain_string(&text) {
            errors.push(err(
                Some(line),
                Rule::ConfigMapKey,
                format!("data `{key}`: `{text}` is not a string; quote it (ConfigMap values are strings)"),
            ));
            continue;
        }
        if key == "flb_log_cw" {
            match text.trim() {
                t if t.eq_ignore_ascii_case("true") => flb_log_cw = true,
                t if t.eq_ignore_ascii_case("false") => flb_log_cw = false,
                t => errors.push(err(
                    Some(line),
                    Rule::FlbLogCw,
                    format!("flb_log_cw must be \"true\" or \"false\", not `{t}`"),
                )),
            }
            continue;
        }
        let Some(&(_, allowed)) = CONF_KEYS.iter().find(|(k, _)| *k == key) else {
            errors.push(err(
                Some(line),
                Rule::ConfigMapKey,
                format!("`{key}` is not a supported data key (filters.conf, output.conf, parsers.conf, flb_log_cw)"),
            ));
            continue;
        };
        // The first content line of a literal block is the line after the key.
        let file_line = (style == ScalarStyle::Literal).then_some(line);
        let mut raw = RawClassic::for_configmap();
        raw.read_text(&text, &key, None);
        for mut e in raw.errors {
            if let (Some(base), Some(l)) = (file_line, e.line) {
                e.source_location = Some((file.to_string(), base + l));
            }
            errors.push(e);
        }
        for section in raw.sections {
            if section.kind != allowed {
                let mut e = ConfigError::new(
                    key.as_str(),
                    Some(section.line),
                    Rule::SectionNotAllowed,
                    format!(
                        "[{}] is not allowed in {key}, which takes only [{}]",
                        section.kind.header(),
                        allowed.header()
                    ),
                );
                e.source_location = file_line.map(|b| (file.to_string(), b + section.line));
                errors.push(e);
                continue;
            }
            sections.push((section, file_line));
        }
    }
    if chars > MAX_CHARS {
        errors.push(err(
            None,
            Rule::SizeLimit,
            format!("the ConfigMap's data has {chars} characters; Fargate allows at most {MAX_CHARS}"),
        ));
    }

    // Fargate's rules on each section, then the shared conversion.
    for (section, file_line) in &sections {
        let mut section_errors = check_section(section);
        for e in &mut section_errors {
            if let (Some(base), Some(l)) = (file_line, e.line) {
                e.source_location = Some((file.to_string(), base + l));
            }
        }
        errors.extend(section_errors);
    }
    let raw_sections: Vec<RawSection> = sections.into_iter().map(|(s, _)| s).collect();
    super::build::add_sections(&mut config, raw_sections, None, &mut errors, &mut warnings);

    if config.outputs.is_empty() && !errors.iter().any(|e| e.file == "output.conf") {
        errors.push(err(None, Rule::NoOutput, "the ConfigMap defines no [OUTPUT] in output.conf".into()));
    }
    for filter in config.filters.iter_mut().filter(|f| f.is("kubernetes")) {
        if !filter.properties.contains("Kube_Meta_Cache_TTL") {
            filter.properties.push("Kube_Meta_Cache_TTL", DEFAULT_KUBE_META_CACHE_TTL);
        }
    }
    config.inputs.insert(0, managed_input(options));
    config.fargate = Some(FargateSettings {
        flb_log_cw,
        name: name.map(|(n, _)| n).unwrap_or_default(),
        namespace: namespace.map(|(n, _)| n),
        data_chars: chars,
    });
    config.warnings = warnings;
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// A plain YAML scalar that the core schema reads as a string (not null, bool, int, float).
fn is_plain_string(text: &str) -> bool {
    let t = text.trim();
    if is_null(t, ScalarStyle::Plain) || matches!(t, "~" | "null" | "Null" | "NULL") {
        return false;
    }
    let bool_like = ["true", "false", "True", "False", "TRUE", "FALSE"].contains(&t);
    let number_like = t.parse::<i64>().is_ok()
        || t.parse::<f64>().is_ok() && !t.chars().any(|c| c.is_ascii_alphabetic())
        || t.starts_with("0x")
        || t.starts_with("0o");
    !(bool_like || number_like)
}

/// Fargate's rules for one section of the data.
fn check_section(section: &RawSection) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let file = section.file.as_str();
    let header = section.kind.header();
    let err = |line: usize, rule: Rule, msg: String| ConfigError::new(file, Some(line), rule, msg);
    for entry in &section.entries {
        if has_variable(&entry.value) || has_variable(&entry.key) {
            errors.push(err(
                entry.line,
                Rule::EnvironmentVariable,
                format!("`{} {}`: ${{VAR}} variables are not allowed in the ConfigMap", entry.key, entry.value),
            ));
        }
    }
    // `Name` (and a parser's `Format`) are required everywhere: the shared conversion reports
    // them. Fargate adds `Match` for filters and outputs.
    let has_match = section.entries.iter().any(|e| e.key.eq_ignore_ascii_case("Match"));
    if matches!(section.kind, SectionKind::Filter | SectionKind::Output) && !has_match && !section.broken {
        errors.push(err(section.line, Rule::MissingKey, format!("[{header}] has no `Match`")));
    }
    let name = section.entries.iter().rev().find(|e| e.key.eq_ignore_ascii_case("Name"));
    let allowed = match section.kind {
        SectionKind::Filter => Some((ALLOWED_FILTERS, "filter")),
        SectionKind::Output => Some((ALLOWED_OUTPUTS, "output")),
        _ => None,
    };
    if let (Some(name), Some((list, word))) = (name, allowed) {
        let plugin = name.value.trim();
        if !list.iter().any(|p| p.eq_ignore_ascii_case(plugin)) {
            errors.push(err(
                name.line,
                Rule::UnsupportedPlugin,
                format!(
                    "Disabled logging for pod due to invalid configmap. {plugin} is not a supported {word} plugin. \
                     (supported: {})",
                    list.join(", ")
                ),
            ));
        }
        if section.kind == SectionKind::Filter && plugin.eq_ignore_ascii_case("kubernetes") {
            for entry in &section.entries {
                if let Some(owned) = SERVICE_OWNED_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&entry.key)) {
                    errors.push(err(
                        entry.line,
                        Rule::ServiceOwnedKey,
                        format!("{owned} is set by the Fargate service and cannot be set in the ConfigMap"),
                    ));
                }
            }
        }
    }
    errors
}
