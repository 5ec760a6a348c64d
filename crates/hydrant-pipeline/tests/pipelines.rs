//! Pipelines end to end: Datadog JSON in, logs through, what Datadog would show out.

use hydrant_log::Log;
use hydrant_pipeline::{validate, CompiledPipelines, Pipeline, PipelineError, Processor};
use serde_json::{json, Value};

/// A log shaped as the intake builds it: reserved fields, tags, attributes.
fn log(v: Value) -> Log {
    let mut log = Log::new(1_000);
    log.message = v["message"].as_str().unwrap_or_default().to_string();
    log.service = v["service"].as_str().map(str::to_string);
    log.source = v["source"].as_str().map(str::to_string);
    log.host = v["host"].as_str().map(str::to_string);
    if let Some(tags) = v["tags"].as_array() {
        for t in tags {
            log.add_tag(t.as_str().unwrap());
        }
    }
    if let Some(a) = v["attributes"].as_object() {
        log.attributes = a.clone();
    }
    log
}

fn pipeline(v: Value) -> Pipeline {
    Pipeline::from_value(v).unwrap()
}

fn compile(pipelines: Vec<Value>) -> CompiledPipelines {
    let ps: Vec<Pipeline> = pipelines.into_iter().map(pipeline).collect();
    CompiledPipelines::compile(&ps).unwrap()
}

/// Runs processors (enabled by default here) in one enabled pipeline without filter.
fn run(processors: Vec<Value>, l: Value) -> Log {
    let processors: Vec<Value> = processors
        .into_iter()
        .map(|mut p| {
            if p.get("is_enabled").is_none() {
                p["is_enabled"] = json!(true);
            }
            p
        })
        .collect();
    let c = compile(vec![json!({"name": "p", "is_enabled": true, "processors": processors})]);
    let mut l = log(l);
    c.apply(&mut l);
    l
}

fn attrs(l: &Log) -> Value {
    Value::Object(l.attributes.clone())
}

fn err(v: Value) -> PipelineError {
    match Pipeline::from_value(v) {
        Ok(p) => validate(&p).unwrap_err(),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- the seed

/// The seed's pipeline as the Datadog UI creates it (and as the API returns it).
fn seed_pipeline() -> Value {
    let remapper = |source: &str, target: &str| {
        json!({
            "type": "attribute-remapper",
            "name": format!("Map {source} to {target}"),
            "is_enabled": true,
            "sources": [source],
            "source_type": "attribute",
            "target": target,
            "target_type": "tag",
            "preserve_source": false,
            "override_on_conflict": false
        })
    };
    json!({
        "id": "a1b2c3",
        "type": "pipeline",
        "name": "EKS Fargate Log Pipeline",
        "is_enabled": true,
        "is_read_only": false,
        "filter": {"query": "service:aws source:aws"},
        "processors": [
            remapper("kubernetes.container_name", "kube_container_name"),
            remapper("kubernetes.namespace_name", "kube_namespace"),
            remapper("kubernetes.pod_name", "pod_name"),
            remapper("kubernetes.docker_id", "container_id"),
        ],
        "tags": []
    })
}

const DOCKER_ID: &str = "abc123def4567890abc123def4567890abc123def4567890abc123def4567890";

fn fluent_bit_log(service: &str) -> Value {
    json!({
        "message": "2023/01/27 16:53:42 [notice] 1#1: using the \"epoll\" event method",
        "service": service,
        "source": "aws",
        "attributes": {
            "kubernetes": {
                "container_name": "nginx",
                "namespace_name": "fargate-namespace",
                "pod_name": "sample-app-6c8b449b8f-kq2qz",
                "docker_id": DOCKER_ID
            },
            "stream": "stderr"
        }
    })
}

#[test]
fn seed_pipeline_tags_fargate_logs() {
    let p = pipeline(seed_pipeline());
    validate(&p).unwrap();
    let c = CompiledPipelines::compile(&[p]).unwrap();
    let mut l = log(fluent_bit_log("aws"));
    c.apply(&mut l);
    for t in [
        "kube_container_name:nginx".to_string(),
        "kube_namespace:fargate-namespace".to_string(),
        "pod_name:sample-app-6c8b449b8f-kq2qz".to_string(),
        format!("container_id:{DOCKER_ID}"),
    ] {
        assert!(l.tags.contains(&t), "missing {t} in {:?}", l.tags);
    }
    assert_eq!(l.tags.len(), 4);
    // preserve_source false: the remapped attributes are gone, the rest stays.
    assert_eq!(attrs(&l), json!({"stream": "stderr"}));
    assert_eq!(l.message, "2023/01/27 16:53:42 [notice] 1#1: using the \"epoll\" event method");
}

#[test]
fn seed_pipeline_leaves_other_services_untouched() {
    let c = compile(vec![seed_pipeline()]);
    let before = log(fluent_bit_log("other"));
    let mut l = before.clone();
    c.apply(&mut l);
    assert_eq!(l, before);
}

#[test]
fn seed_pipeline_round_trips_exactly() {
    let p = pipeline(seed_pipeline());
    assert_eq!(serde_json::to_value(&p).unwrap(), seed_pipeline());
    assert_eq!(p.processors.len(), 4);
    assert!(matches!(&p.processors[0], Processor::AttributeRemapper(r) if r.target == "kube_container_name"));
}

// ---------------------------------------------------------------- model

/// Every processor type, with every field, as Datadog returns them.
fn every_processor() -> Value {
    json!([
        {"type": "attribute-remapper", "name": "a", "is_enabled": true, "sources": ["x"], "source_type": "tag",
         "target": "y", "target_type": "attribute", "target_format": "integer", "preserve_source": true,
         "override_on_conflict": true},
        {"type": "date-remapper", "name": "d", "is_enabled": true, "sources": ["timestamp", "date"]},
        {"type": "status-remapper", "name": "s", "is_enabled": false, "sources": ["level"]},
        {"type": "service-remapper", "name": "sv", "is_enabled": true, "sources": ["app"]},
        {"type": "message-remapper", "name": "m", "is_enabled": true, "sources": ["msg"]},
        {"type": "trace-id-remapper", "name": "t", "is_enabled": true, "sources": ["dd.trace_id"]},
        {"type": "span-id-remapper", "name": "sp", "is_enabled": true, "sources": ["dd.span_id"]},
        {"type": "grok-parser", "name": "g", "is_enabled": true, "source": "message",
         "grok": {"match_rules": "r %{word:w}", "support_rules": ""}, "samples": ["hello"]},
        {"type": "url-parser", "name": "u", "is_enabled": true, "sources": ["http.url"],
         "target": "http.url_details", "normalize_ending_slashes": false},
        {"type": "user-agent-parser", "name": "ua", "is_enabled": true, "sources": ["http.useragent"],
         "target": "http.useragent_details", "is_encoded": false},
        {"type": "category-processor", "name": "c", "is_enabled": true, "target": "http.status_category",
         "categories": [{"filter": {"query": "@http.status_code:[200 TO 299]"}, "name": "OK"}]},
        {"type": "arithmetic-processor", "name": "ar", "is_enabled": true, "target": "ms",
         "expression": "duration / 1000000", "is_replace_missing": false},
        {"type": "string-builder-processor", "name": "sb", "is_enabled": true, "target": "summary",
         "template": "%{http.method} %{http.url}", "is_replace_missing": true},
        {"type": "lookup-processor", "name": "l", "is_enabled": true, "source": "code", "target": "label",
         "lookup_table": ["1,one", "2,two"], "default_lookup": "other"},
        {"type": "pipeline", "name": "nested", "is_enabled": true, "filter": {"query": "source:nginx"},
         "processors": [{"type": "status-remapper", "name": "ns", "is_enabled": true, "sources": ["lvl"]}]}
    ])
}

#[test]
fn every_processor_type_round_trips() {
    let body = json!({"id": "x", "type": "pipeline", "name": "all", "is_enabled": false, "is_read_only": false,
                      "filter": {"query": "*"}, "processors": every_processor(), "description": "d", "tags": ["team:a"]});
    let p = pipeline(body.clone());
    assert_eq!(p.processors.len(), 15);
    let types: Vec<&str> = p.processors.iter().map(Processor::type_name).collect();
    assert_eq!(types, hydrant_pipeline::model::PROCESSOR_TYPES);
    assert_eq!(serde_json::to_value(&p).unwrap(), body);
    let again: Pipeline = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(again, p);
    validate(&p).unwrap();
}

#[test]
fn defaults_are_filled_and_echoed() {
    let p = pipeline(json!({"name": "n", "processors": [
        {"type": "attribute-remapper", "sources": ["a"], "target": "b"},
        {"type": "message-remapper"},
        {"type": "trace-id-remapper"},
        {"type": "span-id-remapper"},
        {"type": "grok-parser", "grok": {"match_rules": "r %{word:w}"}},
        {"type": "url-parser"},
        {"type": "user-agent-parser"},
        {"type": "arithmetic-processor", "target": "t", "expression": "1"},
        {"type": "lookup-processor", "source": "s", "target": "t", "lookup_table": []}
    ]}));
    let out = serde_json::to_value(&p).unwrap();
    assert_eq!(
        out,
        json!({"id": "", "type": "pipeline", "name": "n", "is_enabled": false, "is_read_only": false, "tags": [],
            "processors": [
            {"type": "attribute-remapper", "is_enabled": false, "sources": ["a"], "source_type": "attribute",
             "target": "b", "target_type": "attribute", "preserve_source": false, "override_on_conflict": false},
            {"type": "message-remapper", "is_enabled": false, "sources": ["msg"]},
            {"type": "trace-id-remapper", "is_enabled": false, "sources": ["dd.trace_id"]},
            {"type": "span-id-remapper", "is_enabled": false, "sources": ["dd.span_id"]},
            {"type": "grok-parser", "is_enabled": false, "source": "message",
             "grok": {"match_rules": "r %{word:w}", "support_rules": ""}, "samples": []},
            {"type": "url-parser", "is_enabled": false, "sources": ["http.url"], "target": "http.url_details",
             "normalize_ending_slashes": false},
            {"type": "user-agent-parser", "is_enabled": false, "sources": ["http.useragent"],
             "target": "http.useragent_details", "is_encoded": false},
            {"type": "arithmetic-processor", "is_enabled": false, "target": "t", "expression": "1",
             "is_replace_missing": false},
            {"type": "lookup-processor", "is_enabled": false, "source": "s", "target": "t", "lookup_table": []}
        ]})
    );
}

#[test]
fn unknown_processor_type_is_refused_by_name() {
    let e = err(json!({"name": "n", "processors": [{"type": "frobnicator", "sources": ["a"]}]}));
    assert!(e.message.contains("unknown processor type `frobnicator`"), "{}", e.message);
    assert!(e.message.contains("attribute-remapper"), "{}", e.message);
    let e = err(json!({"name": "n", "processors": [{"type": "geo-ip-parser", "sources": ["a"], "target": "b"}]}));
    assert!(e.message.contains("`geo-ip-parser` is not supported"), "{}", e.message);
    let e = err(json!({"name": "n", "processors": [{"sources": ["a"]}]}));
    assert!(e.message.contains("without a `type`"), "{}", e.message);
    // Also inside nested pipelines.
    let e = err(json!({"name": "n", "processors": [{"type": "pipeline", "processors": [{"type": "nope"}]}]}));
    assert!(e.message.contains("unknown processor type `nope`"), "{}", e.message);
}

#[test]
fn mistyped_fields_are_refused_clearly() {
    let e = err(json!({"name": "n", "processors": [{"type": "attribute-remapper", "sources": ["a"], "target": "b",
                                                     "target_type": "column"}]}));
    assert!(e.message.contains("invalid `attribute-remapper` processor"), "{}", e.message);
    assert!(e.message.contains("column"), "{}", e.message);
    let e = err(json!({"name": "n", "processors": [{"type": "grok-parser", "source": "message"}]}));
    assert!(e.message.contains("missing field `grok`"), "{}", e.message);
    assert!(Pipeline::from_json(b"{not json").is_err());
}

#[test]
fn unknown_fields_are_ignored_and_type_is_read_only() {
    let p = pipeline(json!({"name": "n", "type": "something-else", "whatever": 1, "processors": [
        {"type": "status-remapper", "sources": ["level"], "future_field": {"x": 1}}]}));
    assert_eq!(p.r#type, "pipeline");
    let out = serde_json::to_value(&p).unwrap();
    assert_eq!(out["type"], "pipeline");
    assert!(out.get("whatever").is_none());
    assert!(out["processors"][0].get("future_field").is_none());
}

// ---------------------------------------------------------------- validation

#[test]
fn validation_requires_a_name() {
    let e = err(json!({"name": "  ", "processors": []}));
    assert!(e.message.contains("`name` is required"), "{}", e.message);
    let e = err(json!({"processors": []}));
    assert!(e.message.contains("`name` is required"));
}

#[test]
fn validation_reports_filter_errors_with_position() {
    let e = err(json!({"name": "n", "filter": {"query": "(service:aws"}}));
    assert!(e.message.starts_with("filter: invalid query `(service:aws`"), "{}", e.message);
    assert!(e.message.contains("position"), "{}", e.message);
    let e = err(json!({"name": "n", "processors": [{"type": "category-processor", "target": "t",
        "categories": [{"filter": {"query": "a OR"}, "name": "x"}]}]}));
    assert!(
        e.message.contains("processors[0] (category-processor): categories[0].filter: invalid query"),
        "{}",
        e.message
    );
}

#[test]
fn validation_of_remapper_targets() {
    let e =
        err(json!({"name": "n", "processors": [{"type": "attribute-remapper", "sources": ["a"], "target": "b:c"}]}));
    assert!(e.message.contains("must not contain `:` or `,`"), "{}", e.message);
    let e =
        err(json!({"name": "n", "processors": [{"type": "attribute-remapper", "sources": ["a"], "target": "b,c"}]}));
    assert!(e.message.contains("must not contain"));
    let e = err(
        json!({"name": "n", "processors": [{"type": "attribute-remapper", "sources": ["hostname"], "target": "host"}]}),
    );
    assert!(e.message.contains("`host` attribute cannot be remapped"), "{}", e.message);
    let e =
        err(json!({"name": "n", "processors": [{"type": "attribute-remapper", "sources": ["host"], "target": "h2"}]}));
    assert!(e.message.contains("`host` attribute cannot be remapped"));
    let e = err(json!({"name": "n", "processors": [{"type": "attribute-remapper", "sources": [], "target": "x"}]}));
    assert!(e.message.contains("`sources`"), "{}", e.message);
    let e = err(json!({"name": "n", "processors": [{"type": "status-remapper", "sources": []}]}));
    assert!(e.message.contains("`sources`"));
}

#[test]
fn validation_of_grok_arithmetic_templates_and_lookups() {
    let e = err(json!({"name": "n", "processors": [{"type": "grok-parser", "name": "ng",
        "grok": {"match_rules": "rule %{notAMatcher:x}", "support_rules": ""}}]}));
    assert!(e.message.contains("processors[0] (grok-parser \"ng\"): invalid grok rules: rule `rule`"), "{}", e.message);
    assert!(e.message.contains("notAMatcher"));
    let e = err(json!({"name": "n", "processors": [{"type": "grok-parser", "grok": {"match_rules": "r (?<=x)y"}}]}));
    assert!(e.message.contains("invalid regular expression"), "{}", e.message);
    let e = err(
        json!({"name": "n", "processors": [{"type": "arithmetic-processor", "target": "t", "expression": "(a + b"}]}),
    );
    assert!(e.message.contains("invalid expression `(a + b`"), "{}", e.message);
    assert!(e.message.contains("position 6"), "{}", e.message);
    let e = err(
        json!({"name": "n", "processors": [{"type": "string-builder-processor", "target": "t", "template": "a %{b"}]}),
    );
    assert!(e.message.contains("unterminated"), "{}", e.message);
    let e = err(json!({"name": "n", "processors": [{"type": "lookup-processor", "source": "s", "target": "t",
        "lookup_table": ["1,one", "bad"]}]}));
    assert!(e.message.contains("lookup_table[1] `bad` must be `key,value`"), "{}", e.message);
}

#[test]
fn validation_lists_every_problem_and_refuses_deep_nesting() {
    let e = err(json!({"name": "", "filter": {"query": "("}, "processors": [
        {"type": "pipeline", "name": "inner", "processors": [
            {"type": "pipeline", "processors": []},
            {"type": "arithmetic-processor", "target": "t", "expression": "*"}
        ]}
    ]}));
    assert_eq!(e.details.len(), 4, "{:?}", e.details);
    assert_eq!(e.message, e.details[0]);
    assert!(e.details.iter().any(|d| d.contains("processors[0] (pipeline \"inner\"): processors[0] (pipeline): a nested pipeline cannot hold another pipeline")), "{:?}", e.details);
    assert!(e.details.iter().any(|d| d.contains("processors[1] (arithmetic-processor)")));
}

#[test]
fn compile_names_the_failing_pipeline() {
    let good = pipeline(seed_pipeline());
    let bad = pipeline(json!({"name": "broken", "filter": {"query": "a:("}}));
    let e = CompiledPipelines::compile(&[good, bad]).unwrap_err();
    assert!(e.message.starts_with("pipeline \"broken\": filter: invalid query"), "{}", e.message);
    assert!(e.to_string().contains("broken"));
}

// ---------------------------------------------------------------- pipeline semantics

#[test]
fn disabled_pipelines_and_processors_do_not_run() {
    let c = compile(vec![
        json!({"name": "off", "is_enabled": false, "processors": [
            {"type": "string-builder-processor", "is_enabled": true, "target": "a", "template": "x"}]}),
        json!({"name": "on", "is_enabled": true, "processors": [
            {"type": "string-builder-processor", "is_enabled": false, "target": "b", "template": "x"},
            {"type": "string-builder-processor", "is_enabled": true, "target": "c", "template": "x"}]}),
    ]);
    assert_eq!(c.len(), 1);
    let mut l = log(json!({}));
    c.apply(&mut l);
    assert_eq!(attrs(&l), json!({"c": "x"}));
}

#[test]
fn filter_is_evaluated_before_the_processors() {
    // The first processor removes what the filter matched on; the second still runs.
    let c = compile(vec![json!({"name": "p", "is_enabled": true, "filter": {"query": "@x:1"}, "processors": [
        {"type": "attribute-remapper", "is_enabled": true, "sources": ["x"], "target": "y"},
        {"type": "string-builder-processor", "is_enabled": true, "target": "z", "template": "y=%{y}"}]})]);
    let mut l = log(json!({"attributes": {"x": 1}}));
    c.apply(&mut l);
    assert_eq!(attrs(&l), json!({"y": 1, "z": "y=1"}));
    let mut other = log(json!({"attributes": {"x": 2}}));
    c.apply(&mut other);
    assert_eq!(attrs(&other), json!({"x": 2}));
}

#[test]
fn later_pipelines_see_earlier_changes() {
    let c = compile(vec![
        json!({"name": "a", "is_enabled": true, "processors": [
            {"type": "service-remapper", "is_enabled": true, "sources": ["app"]}]}),
        json!({"name": "b", "is_enabled": true, "filter": {"query": "service:web"}, "processors": [
            {"type": "string-builder-processor", "is_enabled": true, "target": "seen", "template": "yes"}]}),
    ]);
    let mut l = log(json!({"attributes": {"app": "web"}}));
    c.apply(&mut l);
    assert_eq!(l.service.as_deref(), Some("web"));
    assert_eq!(l.attributes["seen"], "yes");
}

#[test]
fn empty_and_star_filters_match_everything() {
    for filter in [json!(null), json!({}), json!({"query": ""}), json!({"query": "*"})] {
        let mut p = json!({"name": "p", "is_enabled": true, "processors": [
            {"type": "string-builder-processor", "is_enabled": true, "target": "hit", "template": "1"}]});
        if !filter.is_null() {
            p["filter"] = filter.clone();
        }
        let c = compile(vec![p]);
        let mut l = log(json!({"message": "anything"}));
        c.apply(&mut l);
        assert_eq!(l.attributes["hit"], "1", "filter {filter}");
    }
}

#[test]
fn nested_pipelines_have_their_own_filter() {
    let c =
        compile(vec![json!({"name": "outer", "is_enabled": true, "filter": {"query": "source:nginx"}, "processors": [
        {"type": "pipeline", "is_enabled": true, "name": "errors", "filter": {"query": "@level:error"}, "processors": [
            {"type": "status-remapper", "is_enabled": true, "sources": ["level"]}]},
        {"type": "pipeline", "is_enabled": false, "name": "off", "processors": [
            {"type": "string-builder-processor", "is_enabled": true, "target": "off", "template": "ran"}]},
        {"type": "string-builder-processor", "is_enabled": true, "target": "after", "template": "%{level}"}]})]);
    let mut err_log = log(json!({"source": "nginx", "attributes": {"level": "error"}}));
    c.apply(&mut err_log);
    assert_eq!(err_log.status, "error");
    assert_eq!(attrs(&err_log), json!({"level": "error", "after": "error"}));
    let mut warn = log(json!({"source": "nginx", "attributes": {"level": "warn"}}));
    c.apply(&mut warn);
    assert_eq!(warn.status, "info");
    assert_eq!(warn.attributes["after"], "warn");
}

// ---------------------------------------------------------------- attribute remapper

#[test]
fn remapper_first_present_source_wins_and_missing_is_a_no_op() {
    let p = json!({"type": "attribute-remapper", "sources": ["a", "b", "c"], "target": "t"});
    let l = run(vec![p.clone()], json!({"attributes": {"b": "B", "c": "C"}}));
    assert_eq!(attrs(&l), json!({"t": "B", "c": "C"}));
    let l = run(vec![p], json!({"attributes": {"x": 1}, "tags": ["env:prod"]}));
    assert_eq!(attrs(&l), json!({"x": 1}));
    assert_eq!(l.tags, ["env:prod"]);
}

#[test]
fn remapper_override_on_conflict() {
    let keep = json!({"type": "attribute-remapper", "sources": ["a"], "target": "t"});
    let l = run(vec![keep], json!({"attributes": {"a": 1, "t": 2}}));
    assert_eq!(attrs(&l), json!({"a": 1, "t": 2}), "no override: nothing moves");
    let replace = json!({"type": "attribute-remapper", "sources": ["a"], "target": "t", "override_on_conflict": true});
    let l = run(vec![replace], json!({"attributes": {"a": 1, "t": 2}}));
    assert_eq!(attrs(&l), json!({"t": 1}));
}

#[test]
fn remapper_preserve_source_and_nested_paths() {
    let p = json!({"type": "attribute-remapper", "sources": ["k8s.pod"], "target": "kube.pod.name", "preserve_source": true});
    let l = run(vec![p], json!({"attributes": {"k8s": {"pod": "p1", "ns": "n"}}}));
    assert_eq!(attrs(&l), json!({"k8s": {"pod": "p1", "ns": "n"}, "kube": {"pod": {"name": "p1"}}}));
    let p = json!({"type": "attribute-remapper", "sources": ["k8s.pod"], "target": "pod"});
    let l = run(vec![p], json!({"attributes": {"k8s": {"pod": "p1", "ns": "n"}}}));
    assert_eq!(attrs(&l), json!({"k8s": {"ns": "n"}, "pod": "p1"}));
}

#[test]
fn remapper_target_format_casts() {
    let cast = |format: &str, v: Value| {
        let p = json!({"type": "attribute-remapper", "sources": ["a"], "target": "t", "target_format": format});
        run(vec![p], json!({"attributes": {"a": v}})).attributes["t"].clone()
    };
    assert_eq!(cast("integer", json!("42")), json!(42));
    assert_eq!(cast("integer", json!(7.0)), json!(7));
    assert_eq!(cast("integer", json!("4.2")), json!("4.2"), "failed cast keeps the original");
    assert_eq!(cast("double", json!("1.5")), json!(1.5));
    assert_eq!(cast("double", json!("1,5")), json!("1,5"), "the decimal separator is `.`");
    assert_eq!(cast("string", json!(42)), json!("42"));
    assert_eq!(cast("string", json!(true)), json!("true"));
    assert_eq!(cast("string", json!({"o": 1})), json!({"o": 1}));
    assert_eq!(cast("auto", json!("42")), json!("42"));
}

#[test]
fn remapper_tag_sources_and_targets() {
    // Tag -> attribute: the tag's value, tag removed.
    let p = json!({"type": "attribute-remapper", "sources": ["env"], "source_type": "tag", "target": "environment"});
    let l = run(vec![p], json!({"tags": ["env:prod", "team:a"]}));
    assert_eq!(attrs(&l), json!({"environment": "prod"}));
    assert_eq!(l.tags, ["team:a"]);
    // Tag -> tag, preserved.
    let p = json!({"type": "attribute-remapper", "sources": ["env"], "source_type": "tag", "target": "stage",
                   "target_type": "tag", "preserve_source": true});
    let l = run(vec![p], json!({"tags": ["env:prod"]}));
    assert_eq!(l.tags, ["env:prod", "stage:prod"]);
    // Attribute -> tag: normalised like every tag; arrays give one tag each.
    let p = json!({"type": "attribute-remapper", "sources": ["team"], "target": "Team", "target_type": "tag"});
    let l = run(vec![p], json!({"attributes": {"team": "Web Front!"}}));
    assert_eq!(l.tags, ["team:web_front"]);
    let p = json!({"type": "attribute-remapper", "sources": ["ids"], "target": "id", "target_type": "tag"});
    let l = run(vec![p], json!({"attributes": {"ids": ["a", 2]}}));
    assert_eq!(l.tags, ["id:a", "id:2"]);
}

#[test]
fn remapper_tag_target_conflicts() {
    let keep = json!({"type": "attribute-remapper", "sources": ["env"], "target": "env", "target_type": "tag"});
    let l = run(vec![keep], json!({"attributes": {"env": "staging"}, "tags": ["env:prod"]}));
    assert_eq!(l.tags, ["env:prod"]);
    assert_eq!(attrs(&l), json!({"env": "staging"}), "not remapped, so not removed");
    let replace = json!({"type": "attribute-remapper", "sources": ["env"], "target": "env", "target_type": "tag",
                         "override_on_conflict": true});
    let l = run(vec![replace], json!({"attributes": {"env": "staging"}, "tags": ["env:prod", "x:y"]}));
    assert_eq!(l.tags, ["x:y", "env:staging"]);
    assert_eq!(attrs(&l), json!({}));
}

// ---------------------------------------------------------------- dedicated remappers

#[test]
fn only_the_first_status_remapper_applies_across_pipelines() {
    let c = compile(vec![
        json!({"name": "a", "is_enabled": true, "processors": [
            {"type": "status-remapper", "is_enabled": true, "sources": ["absent"]},
            {"type": "status-remapper", "is_enabled": true, "sources": ["level"]}]}),
        json!({"name": "b", "is_enabled": true, "processors": [
            {"type": "status-remapper", "is_enabled": true, "sources": ["severity"]}]}),
    ]);
    let mut l = log(json!({"attributes": {"level": "WARN", "severity": "error"}}));
    c.apply(&mut l);
    assert_eq!(l.status, "warning", "the first applicable remapper wins; later ones are ignored");
    assert_eq!(attrs(&l), json!({"level": "WARN", "severity": "error"}), "sources are kept");
    let mut only_second = log(json!({"attributes": {"severity": 3}}));
    c.apply(&mut only_second);
    assert_eq!(only_second.status, "error");
    // The state is per log: the next log starts afresh.
    let mut again = log(json!({"attributes": {"level": "debug"}}));
    c.apply(&mut again);
    assert_eq!(again.status, "debug");
}

#[test]
fn date_remapper_parses_and_first_wins() {
    let c = compile(vec![
        json!({"name": "a", "is_enabled": true, "processors": [
            {"type": "date-remapper", "is_enabled": true, "sources": ["bad", "when"]}]}),
        json!({"name": "b", "is_enabled": true, "processors": [
            {"type": "date-remapper", "is_enabled": true, "sources": ["other"]}]}),
    ]);
    let mut l = log(json!({"attributes": {"bad": "not a date", "when": "2023-01-27T16:53:42.5Z", "other": 0}}));
    c.apply(&mut l);
    assert_eq!(l.timestamp_ms, 1_674_838_422_500);
    for (v, want) in [
        (json!("27/Jan/2023:18:53:42 +0200"), 1_674_838_422_000i64),
        (json!(1_674_838_422_000i64), 1_674_838_422_000),
        (json!(1_674_838_422), 1_674_838_422_000),
        (json!("Fri, 27 Jan 2023 16:53:42 +0000"), 1_674_838_422_000),
        (json!("2023-01-27 16:53:42,123"), 1_674_838_422_123),
    ] {
        let l = run(vec![json!({"type": "date-remapper", "sources": ["d"]})], json!({"attributes": {"d": v.clone()}}));
        assert_eq!(l.timestamp_ms, want, "{v}");
    }
}

#[test]
fn service_message_trace_and_span_remappers() {
    let l = run(
        vec![
            json!({"type": "service-remapper", "sources": ["app.name"]}),
            json!({"type": "message-remapper"}),
            json!({"type": "trace-id-remapper"}),
            json!({"type": "span-id-remapper"}),
            json!({"type": "service-remapper", "sources": ["other"]}),
        ],
        json!({"message": "", "attributes": {"app": {"name": "checkout"}, "msg": "hello", "other": "x",
               "dd": {"trace_id": "123", "span_id": "456"}}}),
    );
    assert_eq!(l.service.as_deref(), Some("checkout"), "first service remapper wins");
    assert_eq!(l.message, "hello");
    assert_eq!(l.trace_id.as_deref(), Some("123"));
    assert_eq!(l.attributes["span_id"], "456");
}

// ---------------------------------------------------------------- grok

/// Datadog's nginx integration rules.
const NGINX_MATCH: &str = r#"access.common %{_client_ip} %{_ident} %{_auth} \[%{_date_access}\] "(?>%{_method} |)%{_url}(?> %{_version}|)" %{_status_code} (?>%{_bytes_written}|-)
access.combined %{access.common} (%{number:duration:scale(1000000000)} )?"%{_referer}" "%{_user_agent}"( "%{_x_forwarded_for}")?.*
error.format %{date("yyyy/MM/dd HH:mm:ss"):date_access} \[%{word:level}\] %{data:error.message}(, %{data::keyvalue(": ",",")})?"#;

const NGINX_SUPPORT: &str = r#"_auth %{notSpace:http.auth:nullIf("-")}
_bytes_written %{integer:network.bytes_written}
_client_ip %{ipOrHost:network.client.ip}
_version HTTP\/%{regex("\\d+\\.\\d+"):http.version}
_url %{notSpace:http.url}
_ident %{notSpace:http.ident:nullIf("-")}
_user_agent %{regex("[^\\\"]*"):http.useragent}
_referer %{notSpace:http.referer}
_status_code %{integer:http.status_code}
_method %{word:http.method}
_date_access %{date("dd/MMM/yyyy:HH:mm:ss Z"):date_access}
_x_forwarded_for %{data:http._x_forwarded_for:nullIf("-")}"#;

fn nginx_pipeline() -> Value {
    json!({"name": "Nginx", "is_enabled": true, "filter": {"query": "source:nginx"}, "processors": [
        {"type": "grok-parser", "name": "Parsing Nginx logs", "is_enabled": true, "source": "message",
         "grok": {"match_rules": NGINX_MATCH, "support_rules": NGINX_SUPPORT}, "samples": []},
        {"type": "url-parser", "is_enabled": true},
        {"type": "user-agent-parser", "is_enabled": true},
        {"type": "date-remapper", "is_enabled": true, "sources": ["date_access"]},
        {"type": "category-processor", "is_enabled": true, "target": "http.status_category", "categories": [
            {"filter": {"query": "@http.status_code:[200 TO 299]"}, "name": "OK"},
            {"filter": {"query": "@http.status_code:[300 TO 399]"}, "name": "notice"},
            {"filter": {"query": "@http.status_code:[400 TO 499]"}, "name": "warning"},
            {"filter": {"query": "@http.status_code:[500 TO 599]"}, "name": "error"}]},
        {"type": "status-remapper", "is_enabled": true, "sources": ["http.status_category", "level"]}
    ]})
}

fn through_nginx(message: &str) -> Log {
    let c = compile(vec![nginx_pipeline()]);
    let mut l = log(json!({"message": message, "source": "nginx"}));
    c.apply(&mut l);
    l
}

#[test]
fn grok_nginx_access_log_combined() {
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36";
    let l = through_nginx(&format!(
        r#"172.17.0.1 - - [27/Jan/2023:16:53:42 +0000] "GET /index.html?lang=en HTTP/1.1" 404 153 "-" "{ua}" "-""#
    ));
    let a = attrs(&l);
    assert_eq!(a["network"], json!({"client": {"ip": "172.17.0.1"}, "bytes_written": 153}));
    assert_eq!(a["date_access"], json!(1_674_838_422_000i64));
    assert_eq!(a["http"]["method"], "GET");
    assert_eq!(a["http"]["url"], "/index.html?lang=en");
    assert_eq!(a["http"]["version"], "1.1");
    assert_eq!(a["http"]["status_code"], 404);
    assert_eq!(a["http"]["referer"], "-");
    assert_eq!(a["http"]["useragent"], ua);
    assert!(a["http"].get("ident").is_none() && a["http"].get("auth").is_none(), "nullIf(\"-\") drops them");
    assert!(a["http"].get("_x_forwarded_for").is_none());
    assert_eq!(a["http"]["url_details"], json!({"path": "/index.html", "queryString": {"lang": "en"}}));
    assert_eq!(a["http"]["useragent_details"]["browser"]["family"], "Chrome");
    assert_eq!(a["http"]["useragent_details"]["os"]["family"], "Linux");
    assert_eq!(a["http"]["status_category"], "warning");
    assert_eq!(l.status, "warning");
    assert_eq!(l.timestamp_ms, 1_674_838_422_000);
}

#[test]
fn grok_nginx_access_log_common_without_method_and_bytes() {
    let l = through_nginx(r#"10.0.0.1 - bob [27/Jan/2023:16:53:42 +0000] "/health" 200 -"#);
    let a = attrs(&l);
    assert_eq!(
        a["http"],
        json!({"auth": "bob", "url": "/health", "status_code": 200,
        "url_details": {"path": "/health"}, "status_category": "OK"})
    );
    assert!(a["network"].get("bytes_written").is_none());
    assert_eq!(l.status, "ok");
}

#[test]
fn grok_nginx_error_log_from_the_seed() {
    let l = through_nginx("2023/01/27 16:53:42 [notice] 1#1: using the \"epoll\" event method");
    assert_eq!(
        attrs(&l),
        json!({"date_access": 1_674_838_422_000i64, "level": "notice",
               "error": {"message": "1#1: using the \"epoll\" event method"}})
    );
    assert_eq!(l.status, "notice");
    assert_eq!(l.timestamp_ms, 1_674_838_422_000);
}

#[test]
fn grok_nginx_error_log_with_key_values() {
    let l = through_nginx(
        r#"2023/01/27 16:55:01 [error] 29#29: *1 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 10.0.0.5, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "localhost:8080""#,
    );
    let a = attrs(&l);
    assert_eq!(
        a["error"]["message"],
        r#"29#29: *1 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)"#
    );
    assert_eq!(a["client"], "10.0.0.5");
    assert_eq!(a["server"], "localhost");
    assert_eq!(a["request"], "GET /favicon.ico HTTP/1.1");
    assert_eq!(a["host"], "localhost:8080");
    assert_eq!(l.status, "error");
}

#[test]
fn grok_first_matching_rule_wins_and_no_match_changes_nothing() {
    let g = json!({"type": "grok-parser", "grok": {"match_rules": "first %{word:a} %{word:b}\nsecond %{data:all}"}});
    let l = run(vec![g.clone()], json!({"message": "hello world"}));
    assert_eq!(attrs(&l), json!({"a": "hello", "b": "world"}));
    let l = run(vec![g], json!({"message": "one two three"}));
    assert_eq!(attrs(&l), json!({"all": "one two three"}));
    let strict = json!({"type": "grok-parser", "grok": {"match_rules": "only %{integer:n}"}});
    let l = run(vec![strict], json!({"message": "12 trailing", "attributes": {"x": 1}}));
    assert_eq!(attrs(&l), json!({"x": 1}), "implicit anchors: a partial match is no match");
}

#[test]
fn grok_on_an_attribute_with_filters() {
    let g = json!({"type": "grok-parser", "source": "payload", "grok": {
        "match_rules": r#"rule %{word:user.name:uppercase} %{notSpace:flag:boolean} %{regex("[a-z]+"):code:nullIf("none")} %{data::json}"#,
        "support_rules": ""}});
    let l = run(vec![g], json!({"attributes": {"payload": r#"ada TRUE none {"user": {"id": 7}, "ok": true}"#}}));
    assert_eq!(
        attrs(&l),
        json!({"payload": r#"ada TRUE none {"user": {"id": 7}, "ok": true}"#,
               "user": {"name": "ADA", "id": 7}, "flag": true, "ok": true})
    );
}

#[test]
fn grok_matchers() {
    let g = json!({"type": "grok-parser", "grok": {"match_rules": concat!(
        r#"r %{ipv4:v4} %{ipv6:v6} %{hostname:h}:%{port:p} %{uuid:u} %{mac:m} %{quotedString:q} "#,
        r#"%{doubleQuotedString:dq} %{number:n} %{integer:i} %{boolean:b} %{notNull:nn}%{space}%{date("HH:mm:ss"):t}"#)}});
    let l = run(
        vec![g],
        json!({"message": concat!(
        r#"10.1.2.3 2001:db8::1 api.example.com:8443 123e4567-e89b-12d3-a456-426614174000 00:1a:2b:3c:4d:5e "#,
        r#"'single' "double" -1.5 -7 false x   00:00:01"#)}),
    );
    let a = attrs(&l);
    assert_eq!(a["v4"], "10.1.2.3");
    assert_eq!(a["v6"], "2001:db8::1");
    assert_eq!(a["h"], "api.example.com");
    assert_eq!(a["p"], "8443");
    assert_eq!(a["u"], "123e4567-e89b-12d3-a456-426614174000");
    assert_eq!(a["m"], "00:1a:2b:3c:4d:5e");
    assert_eq!(a["q"], "'single'");
    assert_eq!(a["dq"], "\"double\"");
    assert_eq!(a["n"], -1.5);
    assert_eq!(a["i"], -7);
    assert_eq!(a["b"], false);
    assert_eq!(a["nn"], "x");
    let t = a["t"].as_i64().unwrap();
    assert_eq!(t.rem_euclid(86_400_000), 1_000, "time-only dates are today");
}

// ---------------------------------------------------------------- parsers

#[test]
fn url_parser_processor() {
    let l = run(
        vec![
            json!({"type": "url-parser"}),
            json!({"type": "url-parser", "sources": ["other", "link"], "target": "link_details",
                                                    "normalize_ending_slashes": true}),
        ],
        json!({"attributes": {"http": {"url": "https://shop.example.com:8443/cart?item=1&item=2"},
                              "link": "http://example.org/a/b/"}}),
    );
    assert_eq!(
        l.attributes["http"]["url_details"],
        json!({"scheme": "https", "host": "shop.example.com", "port": 8443, "path": "/cart",
               "queryString": {"item": ["1", "2"]}})
    );
    assert_eq!(l.attributes["link_details"], json!({"scheme": "http", "host": "example.org", "path": "/a/b"}));
    let l = run(vec![json!({"type": "url-parser"})], json!({"attributes": {"http": {"url": "::not a url::"}}}));
    assert!(l.attributes["http"].get("url_details").is_none());
}

#[test]
fn user_agent_parser_processor() {
    let ua = "Mozilla/5.0 (iPad; CPU OS 15_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/101.0.4951.44 Mobile/15E148 Safari/604.1";
    let l = run(vec![json!({"type": "user-agent-parser"})], json!({"attributes": {"http": {"useragent": ua}}}));
    assert_eq!(
        l.attributes["http"]["useragent_details"],
        json!({"os": {"family": "iOS", "major": "15", "minor": "4"},
               "browser": {"family": "Chrome Mobile iOS", "major": "101", "minor": "0", "patch": "4951"},
               "device": {"family": "iPad", "category": "Tablet"}})
    );
    let encoded = "curl%2F7.88.1";
    let l = run(
        vec![json!({"type": "user-agent-parser", "sources": ["ua"], "target": "uad", "is_encoded": true})],
        json!({"attributes": {"ua": encoded}}),
    );
    assert_eq!(l.attributes["uad"]["browser"], json!({"family": "curl", "major": "7", "minor": "88", "patch": "1"}));
}

// ---------------------------------------------------------------- computing processors

#[test]
fn arithmetic_processor() {
    let p = json!({"type": "arithmetic-processor", "target": "duration_ms", "expression": "(end - start) / 1000000"});
    let l = run(vec![p.clone()], json!({"attributes": {"start": 1_000_000, "end": "3500000", "duration_ms": "old"}}));
    assert_eq!(l.attributes["duration_ms"], json!(2.5), "overwrites the target");
    let l = run(vec![p.clone()], json!({"attributes": {"start": 1_000_000, "end": 4_000_000}}));
    assert_eq!(l.attributes["duration_ms"], json!(3), "whole results are integers");
    let l = run(vec![p], json!({"attributes": {"end": 1}}));
    assert!(l.attributes.get("duration_ms").is_none(), "missing attribute skips");
    let p =
        json!({"type": "arithmetic-processor", "target": "r", "expression": "a * 2 + b", "is_replace_missing": true});
    let l = run(vec![p], json!({"attributes": {"a": 1.25}}));
    assert_eq!(l.attributes["r"], json!(2.5));
    let p = json!({"type": "arithmetic-processor", "target": "r", "expression": "a / 3"});
    let l = run(vec![p], json!({"attributes": {"a": 1}}));
    assert_eq!(l.attributes["r"], json!(0.333333333), "9 decimals");
}

#[test]
fn string_builder_processor() {
    let p = json!({"type": "string-builder-processor", "target": "summary",
                   "template": "Request %{http.method} %{http.url} answered %{http.status_code} (%{tags})"});
    let base =
        json!({"attributes": {"http": {"method": "GET", "url": "/a", "status_code": 200}, "tags": ["x", 1, true]}});
    let l = run(vec![p.clone()], base);
    assert_eq!(l.attributes["summary"], "Request GET /a answered 200 (x,1,true)");
    let l = run(vec![p.clone()], json!({"attributes": {"http": {"method": "GET"}}}));
    assert!(l.attributes.get("summary").is_none(), "missing attribute skips");
    let mut replace = p;
    replace["is_replace_missing"] = json!(true);
    let l = run(vec![replace.clone()], json!({"attributes": {"http": {"method": "GET", "url": {"obj": 1}}}}));
    assert_eq!(l.attributes["summary"], "Request GET  answered  ()", "objects count as missing");
    let long = json!({"type": "string-builder-processor", "target": "t", "template": "%{a}%{a}"});
    let l = run(vec![long], json!({"attributes": {"a": "x".repeat(200)}}));
    assert_eq!(l.attributes["t"].as_str().unwrap().len(), 256);
}

#[test]
fn string_builder_reads_reserved_fields() {
    let p = json!({"type": "string-builder-processor", "target": "line", "template": "[%{service}] %{message}"});
    let l = run(vec![p], json!({"service": "web", "message": "started"}));
    assert_eq!(l.attributes["line"], "[web] started");
}

#[test]
fn category_processor_first_match_wins() {
    let p = json!({"type": "category-processor", "target": "http.class", "categories": [
        {"filter": {"query": "@http.status_code:[500 TO 599]"}, "name": "server error"},
        {"filter": {"query": "@http.status_code:>=400"}, "name": "client error"},
        {"filter": {"query": "@http.status_code:*"}, "name": "fine"},
        {"filter": {"query": "@http.status_code:503"}, "name": "never"}]});
    let class = |code: Value| {
        run(vec![p.clone()], json!({"attributes": {"http": {"status_code": code}}})).attributes["http"]["class"].clone()
    };
    assert_eq!(class(json!(503)), "server error");
    assert_eq!(class(json!(404)), "client error");
    assert_eq!(class(json!(200)), "fine");
    let l = run(vec![p], json!({"attributes": {"other": 1}}));
    assert_eq!(attrs(&l), json!({"other": 1}), "no category matches: nothing written");
}

#[test]
fn lookup_processor() {
    let p = json!({"type": "lookup-processor", "source": "code", "target": "meaning",
                   "lookup_table": ["200, OK", "404,Not Found", "404,duplicate", "x,a,b"], "default_lookup": "unknown"});
    let meaning =
        |code: Value| run(vec![p.clone()], json!({"attributes": {"code": code}})).attributes.get("meaning").cloned();
    assert_eq!(meaning(json!(200)), Some(json!("OK")), "numbers match their text");
    assert_eq!(meaning(json!("404")), Some(json!("Not Found")), "first duplicate wins");
    assert_eq!(meaning(json!("x")), Some(json!("a,b")), "split at the first comma");
    assert_eq!(meaning(json!(500)), Some(json!("unknown")));
    let l = run(vec![p], json!({"attributes": {}}));
    assert!(l.attributes.get("meaning").is_none(), "absent source: no default");
    let no_default = json!({"type": "lookup-processor", "source": "code", "target": "m", "lookup_table": ["1,one"]});
    let l = run(vec![no_default], json!({"attributes": {"code": 2}}));
    assert!(l.attributes.get("m").is_none());
}

// ---------------------------------------------------------------- a bigger scenario

#[test]
fn pipelines_compose_like_datadog() {
    // A JSON app log: message remapped from msg, status from level, a grok on a field,
    // then the seed pipeline.
    let app = json!({"name": "app", "is_enabled": true, "filter": {"query": "@kubernetes.container_name:app"}, "processors": [
        {"type": "message-remapper", "is_enabled": true},
        {"type": "status-remapper", "is_enabled": true, "sources": ["level"]},
        {"type": "grok-parser", "is_enabled": true, "source": "message",
         "grok": {"match_rules": "timing req %{word:http.method} %{notSpace:http.url} took %{number:duration:scale(1000000)}ms"}}]});
    let c = compile(vec![app, seed_pipeline()]);
    let mut l = log(json!({"service": "aws", "source": "aws", "attributes": {
        "msg": "req POST /orders took 12.5ms", "level": "warn",
        "kubernetes": {"container_name": "app", "namespace_name": "shop", "pod_name": "app-1", "docker_id": "d1"}}}));
    c.apply(&mut l);
    assert_eq!(l.message, "req POST /orders took 12.5ms");
    assert_eq!(l.status, "warning");
    assert_eq!(l.attributes["http"], json!({"method": "POST", "url": "/orders"}));
    assert_eq!(l.attributes["duration"], json!(12_500_000));
    assert_eq!(l.tags, ["kube_container_name:app", "kube_namespace:shop", "pod_name:app-1", "container_id:d1"]);
}
