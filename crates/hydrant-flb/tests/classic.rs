//! Fluent Bit's classic format: the fixture with every feature, then each rule and edge case.

mod common;

use common::{errors_of, fixture, load_text, options};
use hydrant_flb::config::{self, Format, Rule, SectionKind};

fn full() -> hydrant_flb::config::Config {
    config::load(&fixture("classic/fluent-bit.conf"), &options(&[("AWS_REGION", "ap-northeast-2")]))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn full_fixture_loads_includes_sets_and_parsers_file() {
    let cfg = full();
    assert_eq!(cfg.format, Format::Classic);
    assert_eq!(cfg.service_get("flush"), Some("5"));
    assert_eq!(cfg.service_get("Log_Level"), Some("info"));

    let input = &cfg.inputs[0];
    assert_eq!(input.name, "tail");
    assert_eq!(input.get("Path"), Some("/var/log/containers/*.log"));
    assert_eq!(input.get_size("Mem_Buf_Limit").unwrap(), Some(5_000_000));
    assert_eq!(input.origin.line, 5);

    // @INCLUDE filters/*.conf: sorted matches, and nested/extra.conf resolved relative to
    // filters/20-modify.conf, which includes it.
    let names: Vec<&str> = cfg.filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["kubernetes", "modify", "nest"]);
    assert!(cfg.filters[2].origin.file.ends_with("filters/nested/extra.conf"), "{}", cfg.filters[2].origin);
    let adds: Vec<&str> = cfg.filters[1].get_all("add").collect();
    assert_eq!(adds, ["cluster fargate-cluster", "source aws"]);

    // @SET, the environment, and a default.
    let out = &cfg.outputs[0];
    assert_eq!(out.get("region"), Some("ap-northeast-2"));
    assert_eq!(out.get("delivery_stream"), Some("hydrant-logs"));
    assert_eq!(out.get("role_arn"), Some("arn:aws:iam::123456789012:role/default"));

    // Parsers_File (relative to the main file), with a value full of spaces and brackets.
    let nginx = cfg.parser("nginx").unwrap();
    assert_eq!(nginx.kind, SectionKind::Parser);
    assert!(nginx.get("Regex").unwrap().starts_with("^(?<remote>[^ ]*) (?<host>[^ ]*) "));
    assert_eq!(nginx.get("time_format"), Some("%d/%b/%Y:%H:%M:%S %z"));
    assert_eq!(cfg.files.len(), 6, "{:?}", cfg.files);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
}

#[test]
fn tab_after_spaces_is_inconsistent_indentation() {
    let text = "[INPUT]\n    Name dummy\n\tTag x\n";
    let errors = errors_of(text, "input.conf");
    assert_eq!(
        errors.to_string(),
        "input.conf:3: invalid indentation: inconsistent use of tab and space: expected 4 spaces (fixed by the \
         first indented line), found 1 tab"
    );
}

#[test]
fn lower_indentation_is_too_low() {
    let errors = errors_of("[OUTPUT]\n    Name stdout\n  Match *\n", "output.conf");
    let e = errors.find(Rule::InvalidIndentation).unwrap();
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().starts_with("output.conf:3: invalid indentation: indentation level is too low"), "{e}");
}

#[test]
fn deeper_indentation_is_an_extra_level() {
    let errors = errors_of("[OUTPUT]\n    Name stdout\n        Match *\n", "output.conf");
    assert!(errors.find(Rule::InvalidIndentation).unwrap().message.starts_with("extra indentation level found"));
}

#[test]
fn indentation_is_fixed_for_the_whole_file() {
    // The second section uses 2 spaces where the first fixed 4: Fluent Bit refuses it too.
    let text = "[INPUT]\n    Name dummy\n\n[OUTPUT]\n  Name stdout\n  Match *\n";
    let errors = errors_of(text, "f.conf");
    assert_eq!(errors.len(), 2);
    assert!(errors.errors().iter().all(|e| e.rule == Rule::InvalidIndentation));
    // Consistent tabs are fine.
    let cfg = load_text("[INPUT]\n\tName dummy\n\tTag t\n", "f.conf").unwrap();
    assert_eq!(cfg.inputs[0].get("Tag"), Some("t"));
}

#[test]
fn keys_must_be_indented_and_headers_must_not() {
    let errors = errors_of("[INPUT]\nName dummy\n", "f.conf");
    let e = errors.find(Rule::InvalidIndentation).unwrap();
    assert!(e.message.contains("`Name` is not indented"), "{e}");
    let errors = errors_of("[INPUT]\n    Name dummy\n    [OUTPUT]\n", "f.conf");
    assert!(errors.find(Rule::InvalidIndentation).unwrap().message.contains("must start at column 0"));
    let errors = errors_of("[INPUT]\n    Name dummy\n    @INCLUDE x.conf\n", "f.conf");
    assert!(errors.find(Rule::InvalidIndentation).unwrap().message.contains("directives"));
}

#[test]
fn a_mixed_first_indentation_is_refused() {
    let errors = errors_of("[INPUT]\n \tName dummy\n", "f.conf");
    assert!(errors.find(Rule::InvalidIndentation).unwrap().message.contains("1 space and 1 tab"));
}

#[test]
fn unknown_section_is_reported_once_and_its_keys_skipped() {
    let errors = errors_of("[OUTPTU]\n    Name stdout\n    Match *\n", "f.conf");
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.find(Rule::UnknownSection).unwrap();
    assert_eq!(e.line, Some(1));
    assert!(e.message.contains("[OUTPTU]"));
}

#[test]
fn bad_headers_are_refused() {
    assert!(errors_of("[INPUT\n    Name dummy\n", "f.conf").has(Rule::BadHeader));
    assert!(errors_of("[]\n", "f.conf").has(Rule::BadHeader));
    assert!(errors_of("[INPUT] extra\n    Name dummy\n", "f.conf").has(Rule::BadHeader));
}

#[test]
fn section_names_are_case_insensitive_and_keys_too() {
    let text = "[service]\n    flush 1\n[Input]\n    NAME Dummy\n    TAG t\n[multiline_parser]\n    name m\n    type \
                regex\n    rule \"start_state\" \"/^\\d/\" \"cont\"\n";
    let cfg = load_text(text, "f.conf").unwrap();
    assert_eq!(cfg.service_get("FLUSH"), Some("1"));
    assert_eq!(cfg.inputs[0].name, "dummy", "plugin names are lower-cased");
    assert_eq!(cfg.inputs[0].get("tag"), Some("t"));
    assert_eq!(cfg.inputs[0].properties[0].0, "TAG", "keys are kept as written");
    let m = cfg.multiline_parser("m").unwrap();
    assert_eq!(m.get("rule"), Some("\"start_state\" \"/^\\d/\" \"cont\""));
}

#[test]
fn key_without_value_is_refused() {
    let errors = errors_of("[INPUT]\n    Name dummy\n    Tag\n    Interval_Sec   \n", "f.conf");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors.errors()[0].to_string(), "f.conf:3: key without value: key `Tag` has no value");
    assert_eq!(errors.errors()[1].line, Some(4));
}

#[test]
fn key_before_any_section_is_refused() {
    let errors = errors_of("    Name dummy\n[INPUT]\n    Name dummy\n", "f.conf");
    assert_eq!(errors.find(Rule::KeyOutsideSection).unwrap().line, Some(1));
}

#[test]
fn plugin_without_name_and_name_twice_are_refused() {
    let errors = errors_of("[INPUT]\n    Tag t\n", "f.conf");
    assert!(errors.find(Rule::MissingKey).unwrap().message.contains("[INPUT] has no `Name`"));
    let errors = errors_of("[OUTPUT]\n    Name stdout\n    name null\n    Match *\n", "f.conf");
    assert_eq!(errors.find(Rule::DuplicateKey).unwrap().line, Some(3));
}

#[test]
fn repeated_keys_are_kept_and_the_last_wins() {
    let cfg =
        load_text("[FILTER]\n    Name modify\n    Match a\n    Add k1 v1\n    Match b\n    Add k2 v2\n", "f").unwrap();
    let f = &cfg.filters[0];
    assert_eq!(f.get("match"), Some("b"));
    assert_eq!(f.get_all("ADD").collect::<Vec<_>>(), ["k1 v1", "k2 v2"]);
    assert_eq!(f.properties.len(), 4);
}

#[test]
fn comments_blank_lines_crlf_and_values_with_spaces() {
    let text =
        "# top comment\r\n\r\n[FILTER]\r\n    Name   grep\r\n  # a comment at another indentation\r\n    Match  \
                kube.*\r\n    Regex  log   ^GET /index.html   # not a comment\r\n\t\r\n";
    let cfg = load_text(text, "f.conf").unwrap();
    let f = &cfg.filters[0];
    assert_eq!(f.get("Regex"), Some("log   ^GET /index.html   # not a comment"));
    assert_eq!(f.get("Match"), Some("kube.*"));
    assert_eq!(f.origin.line, 3);
}

#[test]
fn set_variables_win_over_the_environment_and_apply_everywhere() {
    let text = "[OUTPUT]\n    Name ${OUT}\n    Match *\n    host ${HOST_VAR}\n    port ${PORT:-9200}\n    user \
                ${EMPTY:-anonymous}\n    tls ${TLS}\n\n@SET OUT=es\n";
    let cfg = config::load_str(
        text,
        "f.conf",
        &options(&[("OUT", "stdout"), ("HOST_VAR", "es.local"), ("EMPTY", ""), ("PORT", "9201")]),
    )
    .unwrap();
    let out = &cfg.outputs[0];
    assert_eq!(out.name, "es", "@SET wins, even after the section");
    assert_eq!(out.get("host"), Some("es.local"));
    assert_eq!(out.get("port"), Some("9201"));
    assert_eq!(out.get("user"), Some("anonymous"), "empty counts as unset");
    assert_eq!(out.get("tls"), Some(""), "unset becomes empty, as in Fluent Bit");
    assert_eq!(cfg.warnings, ["f.conf:7: variable ${TLS} is used but not set"]);
}

#[test]
fn variable_edge_cases() {
    let vars = config::Variables::new(Some([("A".to_string(), "1".to_string())].into()));
    assert_eq!(vars.expand("x${A}y${A}z").0, "x1y1z");
    assert_eq!(vars.expand("${A").0, "${A", "no closing brace: literal");
    assert_eq!(vars.expand("${}").0, "${}");
    assert_eq!(vars.expand("${B:-a:-b}").0, "a:-b");
    let (out, unset) = vars.expand("${B:=x}");
    assert_eq!((out.as_str(), unset), ("", vec!["B:=x".to_string()]), "only :- is an operator");
    assert!(config::vars::has_variable("a ${B} c"));
    assert!(!config::vars::has_variable("a ${B c"));
}

#[test]
fn set_needs_key_equals_value_and_unknown_directives_are_refused() {
    assert!(errors_of("@SET NOVALUE\n", "f.conf").has(Rule::Directive));
    let e = errors_of("@FOO bar\n", "f.conf");
    assert!(e.find(Rule::Directive).unwrap().message.contains("unknown directive `@FOO`"));
    let cfg = load_text("@set  K = v w \n[INPUT]\n    Name dummy\n    Tag ${K}\n", "f.conf").unwrap();
    assert_eq!(cfg.inputs[0].get("Tag"), Some("v w"));
}

#[test]
fn including_the_same_file_twice_is_refused() {
    let errors = config::load(&fixture("includes/twice.conf"), &options(&[])).unwrap_err();
    let e = errors.find(Rule::Include).unwrap();
    assert_eq!(e.line, Some(2));
    assert!(e.message.ends_with("file already included"), "{e}");
    let errors = config::load(&fixture("includes/self.conf"), &options(&[])).unwrap_err();
    assert!(errors.find(Rule::Include).unwrap().message.contains("already included"));
}

#[test]
fn a_glob_matching_nothing_and_a_missing_include_are_refused() {
    let errors = config::load(&fixture("includes/noglob.conf"), &options(&[])).unwrap_err();
    let e = errors.find(Rule::Include).unwrap();
    assert!(e.message.contains("`missing/*.conf` matches no file"), "{e}");
    let errors = config::load(&fixture("includes/missing.conf"), &options(&[])).unwrap_err();
    let e = errors.find(Rule::Include).unwrap();
    assert!(e.file.ends_with("includes/missing.conf") && e.line == Some(4), "{e}");
    assert!(e.message.contains("does-not-exist.conf"), "{e}");
}

#[test]
fn a_missing_main_file_is_an_io_error() {
    let errors = config::load(&fixture("nope.conf"), &options(&[])).unwrap_err();
    assert_eq!(errors.errors()[0].rule, Rule::Io);
}

#[test]
fn check_reports_classic_configs() {
    let summary = config::check_with(&fixture("classic/fluent-bit.conf"), &options(&[("AWS_REGION", "x")])).unwrap();
    assert_eq!(summary.format, Format::Classic);
    assert_eq!(summary.filters, ["kubernetes", "modify", "nest"]);
    assert_eq!(summary.parsers, 1);
    assert_eq!(summary.flb_log_cw, None);
}
