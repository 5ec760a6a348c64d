//! Fluent Bit's YAML format, and format detection.

mod common;

use common::{errors_of, fixture, load_text, options};
use hydrant_flb::config::{self, Config, Format, Plugin, Rule, Section};

/// The parts of a model that do not depend on the syntax: names, and keys lower-cased.
fn shape(cfg: &Config) -> Vec<String> {
    let props = |p: &hydrant_flb::config::Properties| {
        p.iter().map(|(k, v)| format!("{}={v}", k.to_ascii_lowercase())).collect::<Vec<_>>().join(" ")
    };
    let plugin = |kind: &str, p: &Plugin| format!("{kind} {} {}", p.name, props(&p.properties));
    let section = |s: &Section| format!("{:?} {} {}", s.kind, s.name, props(&s.properties));
    let mut out = vec![format!("service {}", props(&cfg.service))];
    out.extend(cfg.parsers.iter().map(section));
    out.extend(cfg.inputs.iter().map(|p| plugin("input", p)));
    out.extend(cfg.filters.iter().map(|p| plugin("filter", p)));
    out.extend(cfg.outputs.iter().map(|p| plugin("output", p)));
    out
}

#[test]
fn yaml_equivalent_of_the_classic_fixture_gives_the_same_model() {
    let opts = options(&[("AWS_REGION", "ap-northeast-2")]);
    let classic = config::load(&fixture("classic/fluent-bit.conf"), &opts).unwrap();
    let yaml = config::load(&fixture("classic/fluent-bit.yaml"), &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(yaml.format, Format::Yaml);
    assert_eq!(shape(&yaml), shape(&classic));
    assert_eq!(yaml.outputs[0].get("delivery_stream"), Some("hydrant-logs"), "env: section");
    assert_eq!(yaml.inputs[0].get("Skip_Long_Lines"), Some("On"), "scalars kept as written");
    assert_eq!(yaml.inputs[0].origin.line, 15);
    assert!(yaml.filters[0].origin.file.ends_with("yaml/filters.yaml"));
}

#[test]
fn formats_are_detected() {
    let detect = |rel: &str| config::detect_format(&std::fs::read_to_string(fixture(rel)).unwrap());
    assert_eq!(detect("classic/fluent-bit.conf"), Format::Classic);
    assert_eq!(detect("classic/fluent-bit.yaml"), Format::Yaml);
    assert_eq!(detect("seed-configmap.yaml"), Format::ConfigMap);
    assert_eq!(detect("multi-doc.yaml"), Format::ConfigMap);
    assert_eq!(detect("includes/twice.conf"), Format::Classic);
    assert_eq!(config::detect_format("service:\n  flush: [1\n"), Format::Yaml, "broken YAML is still YAML");
    assert_eq!(config::detect_format("    Name dummy\n"), Format::Classic);
}

#[test]
fn lists_become_repeated_keys_and_rules_become_rule_entries() {
    let text = r#"
multiline_parsers:
  - name: multi
    type: regex
    flush_timeout: 1000
    rules:
      - state: start_state
        regex: '/^\d{4}-/'
        next_state: cont
      - state: cont
        regex: '/^\s+at /'
        next_state: cont
pipeline:
  inputs:
    - name: dummy
      tag: t
  filters:
    - name: modify
      match: '*'
      add:
        - a 1
        - b 2
  outputs:
    - name: stdout
      match: '*'
"#;
    let cfg = load_text(text, "f.yaml").unwrap();
    assert_eq!(cfg.filters[0].get_all("Add").collect::<Vec<_>>(), ["a 1", "b 2"]);
    let m = cfg.multiline_parser("multi").unwrap();
    let rules: Vec<&str> = m.properties.get_all("rule").collect();
    assert_eq!(rules, [r#""start_state" "/^\d{4}-/" "cont""#, r#""cont" "/^\s+at /" "cont""#]);
    assert_eq!(m.get("flush_timeout"), Some("1000"));
}

#[test]
fn env_section_wins_over_the_environment() {
    let text = "env:\n  TAG: from-env-section\npipeline:\n  inputs:\n    - name: dummy\n      tag: ${TAG}\n      \
                host: ${HOST:-localhost}\n";
    let cfg = config::load_str(text, "f.yaml", &options(&[("TAG", "from-process")])).unwrap();
    assert_eq!(cfg.inputs[0].get("tag"), Some("from-env-section"));
    assert_eq!(cfg.inputs[0].get("host"), Some("localhost"));
}

#[test]
fn yaml_errors_name_the_file_line_and_rule() {
    let errors = errors_of("service:\n  flush: 1\nfilters:\n  - name: grep\n", "f.yaml");
    let e = errors.find(Rule::UnknownSection).unwrap();
    assert_eq!(e.to_string().split(": ").take(2).collect::<Vec<_>>(), ["f.yaml:3", "unknown section"]);

    let text = "pipeline:\n  inputs:\n    - name: dummy\n      processors:\n        logs:\n          - name: x\n";
    let e = errors_of(text, "f.yaml");
    assert_eq!(e.find(Rule::Unsupported).unwrap().line, Some(4));

    let e = errors_of("pipeline:\n  inputs:\n    - name: dummy\n      tag: [a, {b: c}]\n", "f.yaml");
    assert!(e.has(Rule::Yaml));

    let e = errors_of("pipeline:\n  inputs:\n    - tag: t\n", "f.yaml");
    assert!(e.find(Rule::MissingKey).unwrap().message.contains("[INPUT] has no `Name`"));

    let e = errors_of("pipeline:\n  inputs:\n    - name: dummy\n      tag:\n", "f.yaml");
    assert_eq!(e.find(Rule::MissingValue).unwrap().line, Some(4));

    let e = errors_of("service:\n  flush: 1\n   bad: indentation\n", "f.yaml");
    let syntax = e.find(Rule::Yaml).unwrap();
    assert_eq!(syntax.line, Some(3), "{syntax}");
}

#[test]
fn yaml_includes_that_match_nothing_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.yaml");
    std::fs::write(&main, "includes:\n  - parts/*.yaml\n").unwrap();
    let errors = config::load(&main, &options(&[])).unwrap_err();
    assert!(errors.find(Rule::Include).unwrap().message.contains("matches no file"));
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    std::fs::write(dir.path().join("parts/out.yaml"), "pipeline:\n  outputs:\n    - name: null\n      match: '*'\n")
        .unwrap();
    let cfg = config::load(&main, &options(&[])).unwrap();
    assert_eq!(cfg.outputs[0].name, "null");
}
