//! From sections as written (classic or YAML) to the model: variable substitution, required
//! keys, plugin names.

use super::classic::RawSection;
use super::error::{ConfigError, Rule};
use super::model::{Config, Origin, Plugin, Properties, Section, SectionKind};
use super::vars::Variables;

/// Add `sections` to `config`, substituting variables in values when `vars` is given.
pub(crate) fn add_sections(
    config: &mut Config,
    sections: Vec<RawSection>,
    vars: Option<&Variables>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) {
    for section in sections {
        let origin = Origin::new(section.file.clone(), section.line);
        let mut properties = Properties::new();
        let mut names: Vec<(String, usize)> = Vec::new();
        for entry in section.entries {
            let value = match vars {
                Some(vars) => {
                    let (value, unset) = vars.expand(&entry.value);
                    for name in unset {
                        warnings
                            .push(format!("{}:{}: variable ${{{name}}} is used but not set", section.file, entry.line));
                    }
                    value
                }
                None => entry.value,
            };
            if section.kind != SectionKind::Service && entry.key.eq_ignore_ascii_case("name") {
                names.push((value, entry.line));
            } else {
                properties.push(entry.key, value);
            }
        }
        if section.kind == SectionKind::Service {
            config.service.extend(properties.0);
            continue;
        }
        let header = section.kind.header();
        if names.len() > 1 {
            errors.push(ConfigError::new(
                section.file.clone(),
                Some(names[1].1),
                Rule::DuplicateKey,
                format!("[{header}] sets Name twice"),
            ));
        }
        let Some((name, _)) = names.into_iter().next() else {
            if section.broken {
                continue; // the refused line may well have been its Name
            }
            errors.push(ConfigError::new(
                section.file.clone(),
                Some(section.line),
                Rule::MissingKey,
                format!("[{header}] has no `Name`"),
            ));
            continue;
        };
        if name.trim().is_empty() {
            errors.push(ConfigError::new(
                section.file.clone(),
                Some(section.line),
                Rule::MissingValue,
                format!("[{header}] has an empty `Name`"),
            ));
            continue;
        }
        match section.kind {
            SectionKind::Input | SectionKind::Filter | SectionKind::Output => {
                let mut plugin = Plugin::new(&name, origin);
                plugin.properties = properties;
                match section.kind {
                    SectionKind::Input => config.inputs.push(plugin),
                    SectionKind::Filter => config.filters.push(plugin),
                    _ => config.outputs.push(plugin),
                }
            }
            SectionKind::Parser | SectionKind::MultilineParser => {
                let required = if section.kind == SectionKind::Parser { "Format" } else { "Type" };
                if !properties.contains(required) {
                    errors.push(ConfigError::new(
                        section.file.clone(),
                        Some(section.line),
                        Rule::MissingKey,
                        format!("[{header}] `{name}` has no `{required}`"),
                    ));
                    continue;
                }
                config.parsers.push(Section { kind: section.kind, name, properties, origin });
            }
            SectionKind::Service => unreachable!("handled above"),
        }
    }
}
