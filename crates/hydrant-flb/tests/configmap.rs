//! The Fargate `aws-logging` ConfigMap: the seed's own, and every Fargate rule broken once.

mod common;

use common::{configmap, configmap_with_meta, errors_of, fixture, load_text, options, OUTPUT};
use hydrant_flb::config::{self, Format, LoadOptions, Rule, SectionKind};

fn seed() -> hydrant_flb::config::Config {
    config::load(&fixture("seed-configmap.yaml"), &LoadOptions::default()).expect("the seed ConfigMap loads")
}

#[test]
fn seed_configmap_verbatim_loads_with_placeholders_filled() {
    let template = std::fs::read_to_string(fixture("seed-configmap.template.yaml")).unwrap();
    assert!(template.contains("<REGION>") && template.contains("<YOUR-DELIVERY-STREAM-NAME>"));
    let filled = template.replace("<REGION>", "eu-west-1").replace("<YOUR-DELIVERY-STREAM-NAME>", "my-stream");
    assert_eq!(config::detect_format(&filled), Format::ConfigMap);
    let cfg = config::load_str(&filled, "aws-logging-configmap.yaml", &LoadOptions::default()).unwrap();
    assert_eq!(cfg.outputs[0].get("region"), Some("eu-west-1"));
    assert_eq!(cfg.outputs[0].get("delivery_stream"), Some("my-stream"));
    // The fixture file is exactly that template, filled with other values.
    let file = std::fs::read_to_string(fixture("seed-configmap.yaml")).unwrap();
    assert_eq!(
        file,
        template.replace("<REGION>", "us-east-1").replace("<YOUR-DELIVERY-STREAM-NAME>", "hydrant-fargate-logs")
    );
}

#[test]
fn seed_configmap_yields_managed_input_kubernetes_filter_and_firehose_output() {
    let cfg = seed();
    assert_eq!(cfg.format, Format::ConfigMap);
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);

    assert_eq!(cfg.inputs.len(), 1);
    let input = &cfg.inputs[0];
    assert_eq!(input.name, "tail");
    let expected: Vec<(String, String)> = [
        ("Buffer_Max_Size", "66KB"),
        ("DB", "/var/log/flb_kube.db"),
        ("Mem_Buf_Limit", "45MB"),
        ("Path", "/var/log/containers/*.log"),
        ("Read_From_Head", "On"),
        ("Refresh_Interval", "10"),
        ("Rotate_Wait", "30"),
        ("Skip_Long_Lines", "On"),
        ("Tag", "kube.*"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(input.properties.0, expected);

    assert_eq!(cfg.filters.len(), 1);
    let k8s = &cfg.filters[0];
    assert_eq!(k8s.name, "kubernetes");
    assert_eq!(k8s.get("Match"), Some("kube.*"));
    assert_eq!(k8s.get("merge_log"), Some("On"));
    assert_eq!(k8s.get("BUFFER_SIZE"), Some("0"));
    assert_eq!(k8s.get("Kube_Meta_Cache_TTL"), Some("300s"));
    assert_eq!((k8s.origin.file.as_str(), k8s.origin.line), ("filters.conf", 1));

    assert_eq!(cfg.outputs.len(), 1);
    let out = &cfg.outputs[0];
    assert_eq!(out.name, "kinesis_firehose");
    assert_eq!(out.get("Match"), Some("kube.*"));
    assert_eq!(out.get("region"), Some("us-east-1"));
    assert_eq!(out.get("delivery_stream"), Some("hydrant-fargate-logs"));

    let fargate = cfg.fargate.as_ref().unwrap();
    assert!(fargate.flb_log_cw);
    assert_eq!(fargate.name, "aws-logging");
    assert_eq!(fargate.namespace.as_deref(), Some("aws-observability"));
    assert!(fargate.data_chars < 5300);
}

#[test]
fn seed_configmap_values_through_the_unit_helpers() {
    let cfg = seed();
    let k8s = &cfg.filters[0];
    assert_eq!(k8s.get_bool("Merge_Log").unwrap(), Some(true));
    assert_eq!(k8s.get_size("Buffer_Size").unwrap(), Some(0));
    assert_eq!(k8s.get_time("Kube_Meta_Cache_TTL").unwrap(), Some(300));
    assert_eq!(k8s.get_bool("Keep_Log").unwrap(), None);
    let tail = &cfg.inputs[0];
    assert_eq!(tail.get_size("Buffer_Max_Size").unwrap(), Some(66_000));
    assert_eq!(tail.get_size("Mem_Buf_Limit").unwrap(), Some(45_000_000));
    assert_eq!(tail.get_time("Rotate_Wait").unwrap(), Some(30));
    let tag = "kube.var.log.containers.sample-app-6c8b449b8f-kq2qz_fargate-namespace_nginx-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log";
    assert!(k8s.matcher().unwrap().unwrap().matches(tag));
    assert!(cfg.outputs[0].matcher().unwrap().unwrap().matches(tag));
    assert!(!cfg.outputs[0].matcher().unwrap().unwrap().matches("app.log"));
}

#[test]
fn check_summarises_the_seed_configmap() {
    let summary = config::check(&fixture("seed-configmap.yaml")).unwrap();
    assert_eq!(summary.format, Format::ConfigMap);
    assert_eq!(summary.inputs, vec!["tail"]);
    assert_eq!(summary.filters, vec!["kubernetes"]);
    assert_eq!(summary.outputs, vec!["kinesis_firehose"]);
    assert_eq!(summary.flb_log_cw, Some(true));
    let text = summary.to_string();
    assert!(text.starts_with("configuration OK (configmap)"), "{text}");
    assert!(text.contains("outputs: kinesis_firehose"), "{text}");
}

#[test]
fn managed_input_path_and_db_can_be_moved() {
    let opts = LoadOptions {
        input_path: Some("/tmp/pods/*.log".into()),
        input_db: Some("/tmp/data/flb_kube.db".into()),
        ..LoadOptions::default()
    };
    let cfg = config::load(&fixture("seed-configmap.yaml"), &opts).unwrap();
    assert_eq!(cfg.inputs[0].get("Path"), Some("/tmp/pods/*.log"));
    assert_eq!(cfg.inputs[0].get("DB"), Some("/tmp/data/flb_kube.db"));
    assert_eq!(cfg.inputs[0].get("Tag"), Some("kube.*"));
}

#[test]
fn missing_kube_meta_cache_ttl_gets_fargates_30_minutes() {
    let text =
        configmap(&[("filters.conf", "[FILTER]\n    Name kubernetes\n    Match kube.*\n"), ("output.conf", OUTPUT)]);
    let cfg = load_text(&text, "cm.yaml").unwrap();
    assert_eq!(cfg.filters[0].get_time("Kube_Meta_Cache_TTL").unwrap(), Some(1800));
    assert!(!cfg.fargate.unwrap().flb_log_cw);
}

#[test]
fn multi_document_file_with_namespace_and_parsers_loads() {
    let cfg = config::load(&fixture("multi-doc.yaml"), &LoadOptions::default()).unwrap();
    assert_eq!(cfg.format, Format::ConfigMap);
    let names: Vec<&str> = cfg.filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["parser", "kubernetes"]);
    let crio = cfg.parser("crio").expect("parser crio");
    assert_eq!(crio.kind, SectionKind::Parser);
    assert_eq!(crio.get("format"), Some("Regex"));
    assert_eq!(crio.get("Time_Format"), Some("%Y-%m-%dT%H:%M:%S.%L%z"));
    assert_eq!(cfg.outputs[0].name, "cloudwatch_logs");
}

// --- every Fargate rule, broken once ---

#[test]
fn unsupported_output_plugin_is_refused_like_fargate() {
    let text = configmap(&[("output.conf", "[OUTPUT]\n    Name  stdout\n    Match *\n")]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::UnsupportedPlugin).expect("unsupported plugin");
    assert_eq!((e.file.as_str(), e.line), ("output.conf", Some(2)));
    assert!(
        e.message
            .contains("Disabled logging for pod due to invalid configmap. stdout is not a supported output plugin."),
        "{e}"
    );
}

#[test]
fn unsupported_filter_plugin_is_refused() {
    let text = configmap(&[
        ("filters.conf", "[FILTER]\n    Name lua\n    Match *\n    script x.lua\n    call f\n"),
        ("output.conf", OUTPUT),
    ]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::UnsupportedPlugin).unwrap();
    assert!(e.message.contains("lua is not a supported filter plugin"), "{e}");
    assert_eq!(e.file, "filters.conf");
}

#[test]
fn input_section_in_filters_conf_is_not_allowed() {
    let text = configmap(&[("filters.conf", "[INPUT]\n    Name tail\n    Path /x\n"), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::SectionNotAllowed).unwrap();
    assert_eq!((e.file.as_str(), e.line), ("filters.conf", Some(1)));
    assert!(e.message.contains("[INPUT] is not allowed in filters.conf"), "{e}");
}

#[test]
fn service_section_in_output_conf_is_not_allowed() {
    let text = configmap(&[("output.conf", &format!("[SERVICE]\n    Flush 1\n\n{OUTPUT}"))]);
    let errors = errors_of(&text, "cm.yaml");
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.find(Rule::SectionNotAllowed).unwrap();
    assert!(e.message.contains("[SERVICE] is not allowed in output.conf"), "{e}");
}

#[test]
fn multiline_parser_in_parsers_conf_is_not_allowed() {
    let text =
        configmap(&[("parsers.conf", "[MULTILINE_PARSER]\n    Name m\n    Type regex\n"), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    assert!(errors.find(Rule::SectionNotAllowed).unwrap().message.contains("[MULTILINE_PARSER]"));
}

#[test]
fn output_without_match_is_refused() {
    let text = configmap(&[("output.conf", "[OUTPUT]\n    Name kinesis_firehose\n    region us-east-1\n")]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::MissingKey).unwrap();
    assert_eq!(e.to_string(), "output.conf:1: missing required key: [OUTPUT] has no `Match` [cm.yaml:8]");
}

#[test]
fn filter_without_name_is_refused() {
    let text = configmap(&[("filters.conf", "[FILTER]\n    Match kube.*\n"), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::MissingKey).unwrap();
    assert!(e.message.contains("[FILTER] has no `Name`"), "{e}");
    assert_eq!(e.file, "filters.conf");
}

#[test]
fn parser_without_format_is_refused() {
    let text =
        configmap(&[("parsers.conf", "[PARSER]\n    Name p\n    Regex ^(?<log>.*)$\n"), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.find(Rule::MissingKey).unwrap();
    assert!(e.message.contains("has no `Format`"), "{e}");
    assert_eq!(e.file, "parsers.conf");
}

#[test]
fn service_owned_kubernetes_keys_are_refused_whatever_their_case() {
    let text = configmap(&[
        ("filters.conf", "[FILTER]\n    Name kubernetes\n    Match kube.*\n    kube_url https://x:443\n"),
        ("output.conf", OUTPUT),
    ]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::ServiceOwnedKey).unwrap();
    assert_eq!(e.line, Some(4));
    assert!(e.message.starts_with("Kube_URL is set by the Fargate service"), "{e}");
    for key in ["Kube_CA_File /ca", "Kube_Token_Command cat", "KUBE_TOKEN_FILE /t"] {
        let text = configmap(&[
            ("filters.conf", &format!("[FILTER]\n    Name kubernetes\n    Match kube.*\n    {key}\n")),
            ("output.conf", OUTPUT),
        ]);
        assert!(errors_of(&text, "cm.yaml").has(Rule::ServiceOwnedKey), "{key}");
    }
}

#[test]
fn environment_variables_are_refused() {
    let text = configmap(&[(
        "output.conf",
        "[OUTPUT]\n    Name kinesis_firehose\n    Match kube.*\n    region ${AWS_REGION}\n    delivery_stream s\n",
    )]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::EnvironmentVariable).unwrap();
    assert_eq!((e.file.as_str(), e.line), ("output.conf", Some(4)));
}

#[test]
fn more_than_5300_characters_is_refused() {
    let mut filters = String::new();
    for i in 0..60 {
        filters.push_str(&format!(
            "[FILTER]\n    Name modify\n    Match kube.*\n    Add some_long_key_number_{i} some-long-value-to-fill\n\n"
        ));
    }
    let text = configmap(&[("filters.conf", &filters), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.find(Rule::SizeLimit).unwrap();
    assert!(e.message.contains("at most 5300"), "{e}");
}

#[test]
fn unknown_data_key_is_refused() {
    let text = configmap(&[("fluent-bit.conf", "[INPUT]\n    Name dummy\n"), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::ConfigMapKey).unwrap();
    assert!(e.message.contains("`fluent-bit.conf` is not a supported data key"), "{e}");
    assert_eq!(e.line, Some(7));
}

#[test]
fn flb_log_cw_must_be_true_or_false() {
    let text = configmap(&[("flb_log_cw", "'maybe'"), ("output.conf", OUTPUT)]);
    let e = errors_of(&text, "cm.yaml");
    assert!(e.find(Rule::FlbLogCw).unwrap().message.contains("`maybe`"));
    // Unquoted `true` is a YAML boolean, which a ConfigMap refuses.
    let text = configmap(&[("flb_log_cw", "true"), ("output.conf", OUTPUT)]);
    let e = errors_of(&text, "cm.yaml");
    assert!(e.find(Rule::ConfigMapKey).unwrap().message.contains("quote it"));
    // And 'false' loads.
    let text = configmap(&[("flb_log_cw", "\"false\""), ("output.conf", OUTPUT)]);
    assert!(!load_text(&text, "cm.yaml").unwrap().fargate.unwrap().flb_log_cw);
}

#[test]
fn a_configmap_without_output_is_refused() {
    let text = configmap(&[("filters.conf", "[FILTER]\n    Name grep\n    Match *\n    Regex log x\n")]);
    let errors = errors_of(&text, "cm.yaml");
    assert!(errors.find(Rule::NoOutput).unwrap().message.contains("no [OUTPUT]"));
}

#[test]
fn configmap_name_and_namespace_are_checked() {
    let text = configmap_with_meta("logging", Some("aws-observability"), &[("output.conf", OUTPUT)]);
    let e = errors_of(&text, "cm.yaml");
    let e = e.find(Rule::ConfigMapMetadata).unwrap();
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("`logging`"));

    let text = configmap_with_meta("aws-logging", Some("default"), &[("output.conf", OUTPUT)]);
    let e = errors_of(&text, "cm.yaml");
    assert!(e.find(Rule::ConfigMapMetadata).unwrap().message.contains("namespace `default`"));

    // No namespace: applied with `kubectl -n`, only a warning.
    let text = configmap_with_meta("aws-logging", None, &[("output.conf", OUTPUT)]);
    let cfg = load_text(&text, "cm.yaml").unwrap();
    assert!(cfg.warnings[0].contains("metadata.namespace"));
}

#[test]
fn directives_are_refused_in_a_configmap() {
    let text = configmap(&[("output.conf", &format!("@INCLUDE other.conf\n{OUTPUT}"))]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::Directive).unwrap();
    assert_eq!((e.file.as_str(), e.line), ("output.conf", Some(1)));
    assert!(e.message.contains("@INCLUDE"));
}

#[test]
fn indentation_errors_name_the_key_the_line_and_the_configmap_line() {
    let text = std::fs::read_to_string(fixture("seed-configmap.yaml"))
        .unwrap()
        .replace("        region us-east-1", "      region us-east-1");
    let errors = errors_of(&text, "aws-logging.yaml");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors.to_string(),
        "output.conf:4: invalid indentation: indentation level is too low: expected 4 spaces (fixed by the first \
         indented line), found 2 spaces [aws-logging.yaml:21]"
    );
}

#[test]
fn unknown_section_in_a_configmap() {
    let text = configmap(&[("filters.conf", "[FILTRE]\n    Name grep\n"), ("output.conf", OUTPUT)]);
    let errors = errors_of(&text, "cm.yaml");
    let e = errors.find(Rule::UnknownSection).unwrap();
    assert_eq!(e.file, "filters.conf");
    assert!(e.message.contains("[FILTRE]"));
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = configmap_with_meta(
        "wrong",
        Some("aws-observability"),
        &[
            ("filters.conf", "[FILTER]\n    Name lua\n    Match *\n"),
            ("output.conf", "[OUTPUT]\n    Name stdout\n    Match ${X}\n"),
            ("extra", "x"),
        ],
    );
    let errors = errors_of(&text, "cm.yaml");
    for rule in [Rule::ConfigMapMetadata, Rule::UnsupportedPlugin, Rule::EnvironmentVariable, Rule::ConfigMapKey] {
        assert!(errors.has(rule), "{rule} missing in:\n{errors}");
    }
    assert!(errors.len() >= 5, "{errors}");
    assert_eq!(errors.to_string().lines().count(), errors.len());
}

#[test]
fn options_environment_does_not_leak_into_a_configmap() {
    // Even with the variable defined, a ConfigMap may not use it.
    let text = configmap(&[("output.conf", "[OUTPUT]\n    Name es\n    Match *\n    Host ${ES_HOST}\n")]);
    let result = config::load_str(&text, "cm.yaml", &options(&[("ES_HOST", "es.local")]));
    assert!(result.unwrap_err().has(Rule::EnvironmentVariable));
}
