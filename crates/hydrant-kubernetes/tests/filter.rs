//! The kubernetes filter end to end: a recorded API server on loopback, reached through the
//! real kube client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_flb::config::{Config, Format, Origin, Plugin};
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::plugin::{BuildContext, Filter};
use hydrant_flb::{EventTime, Map, Record, Value};
use hydrant_kubernetes::fixtures::{self, CONTAINER_NAME, DOCKER_ID, NAMESPACE, POD_NAME};
use hydrant_kubernetes::merge::{LogParser, ParserSet};
use hydrant_kubernetes::recorded::RecordedApi;
use serde_json::json;

const POD_PATH: &str = "/api/v1/namespaces/fargate-namespace/pods/sample-app-7c5bd8b6f4-9xkzq";

struct Setup {
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
    token_file: std::path::PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "t0k3n").unwrap();
        Setup { metrics: Arc::new(Metrics::new()), token_file, _dir: dir }
    }

    fn ctx(&self) -> BuildContext {
        BuildContext {
            config: Arc::new(Config::empty(Format::Classic)),
            metrics: self.metrics.clone(),
            name: "kubernetes.0".into(),
            data_dir: self._dir.path().to_owned(),
        }
    }

    fn plugin(&self, api: &RecordedApi, extra: &[(&str, &str)]) -> Plugin {
        let mut p = Plugin::new("kubernetes", Origin::new("filters.conf", 1));
        p.properties.push("Match", "kube.*");
        p.properties.push("Kube_URL", api.url());
        p.properties.push("Kube_Token_File", self.token_file.to_str().unwrap());
        for (k, v) in extra {
            p.properties.push(*k, *v);
        }
        p
    }

    fn filter(&self, api: &RecordedApi, extra: &[(&str, &str)]) -> Box<dyn Filter> {
        hydrant_kubernetes::build(&self.plugin(api, extra), &self.ctx()).unwrap()
    }

    fn counter(&self, which: fn(&Metrics) -> &prometheus_family::Family) -> u64 {
        which(&self.metrics).get_or_create(&PluginLabels::new("kubernetes.0")).get()
    }
}

mod prometheus_family {
    pub type Family = prometheus_client::metrics::family::Family<
        hydrant_flb::metrics::PluginLabels,
        prometheus_client::metrics::counter::Counter,
    >;
}

fn errors(m: &Metrics) -> &prometheus_family::Family {
    &m.lookup_errors
}

fn gave_up(m: &Metrics) -> &prometheus_family::Family {
    &m.lookup_gave_up
}

fn record(pairs: &[(&str, &str)]) -> Record {
    let body: Map = pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
    Record::new(EventTime::new(1_715_678_560, 0), body)
}

const CRI_LINE: &str =
    "2024-05-14T09:22:40.123456789Z stdout F 192.168.1.1 - - [14/May/2024:09:22:40 +0000] \"GET / HTTP/1.1\" 200 615";

async fn run(filter: &mut Box<dyn Filter>, tag: &str, mut records: Vec<Record>) -> Vec<Record> {
    let mut emitted = Vec::new();
    filter.filter(tag, &mut records, &mut emitted).await;
    assert!(emitted.is_empty());
    records
}

fn kubernetes_json() -> String {
    format!(
        concat!(
            r#"{{"pod_name":"{pod}","namespace_name":"{ns}","pod_id":"5b1f8e2c-3d4a-4f6b-9c7e-1a2b3c4d5e6f","#,
            r#""labels":{{"app":"nginx","eks.amazonaws.com/fargate-profile":"fp-default","pod-template-hash":"7c5bd8b6f4"}},"#,
            r#""annotations":{{"CapacityProvisioned":"0.25vCPU 0.5GB","Logging":"LoggingEnabled"}},"#,
            r#""host":"fargate-ip-192-168-120-34.ec2.internal","pod_ip":"192.168.120.34","container_name":"{c}","#,
            r#""docker_id":"{id}","#,
            r#""container_hash":"public.ecr.aws/nginx/nginx@sha256:a484819eb60211f5299034ac80f6a681b06f89e65866ce91f356ed7c72af059c","#,
            r#""container_image":"public.ecr.aws/nginx/nginx:latest"}}"#
        ),
        pod = POD_NAME,
        ns = NAMESPACE,
        c = CONTAINER_NAME,
        id = DOCKER_ID
    )
}

#[tokio::test]
async fn enriches_in_fluent_bits_shape_and_order() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    api.set_token(Some("t0k3n"));
    let mut f = s.filter(&api, &[]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", CRI_LINE)]), record(&[("log", "second")])]).await;
    assert_eq!(out.len(), 2);
    let expected =
        format!(r#"{{"log":{},"kubernetes":{}}}"#, serde_json::to_string(CRI_LINE).unwrap(), kubernetes_json());
    assert_eq!(out[0].body.to_json_string(), expected);
    // The metadata is shared between records, not copied.
    match (out[0].body.get("kubernetes").unwrap(), out[1].body.get("kubernetes").unwrap()) {
        (Value::Shared(a), Value::Shared(b)) => assert!(Arc::ptr_eq(a, b)),
        other => panic!("not shared: {other:?}"),
    }
    assert_eq!(api.requests_to(POD_PATH), 1);
    assert_eq!(api.authorizations()[0].as_deref(), Some("Bearer t0k3n"));
    assert_eq!(s.counter(errors), 0);
}

#[tokio::test]
async fn labels_annotations_and_owner_references() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let mut f = s.filter(&api, &[("Labels", "Off"), ("Annotations", "off"), ("Owner_References", "On")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "x")])]).await;
    let k = out[0].body.get("kubernetes").unwrap().as_map().unwrap();
    let keys: Vec<&str> = k.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "pod_name",
            "namespace_name",
            "pod_id",
            "ownerReferences",
            "host",
            "pod_ip",
            "container_name",
            "docker_id",
            "container_hash",
            "container_image"
        ]
    );
}

#[tokio::test]
async fn namespace_metadata() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let mut f = s.filter(&api, &[("Namespace_Labels", "On"), ("Namespace_Annotations", "On")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "x")])]).await;
    let keys: Vec<&str> = out[0].body.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["log", "kubernetes", "kubernetes_namespace"]);
    assert_eq!(
        out[0].body.get("kubernetes_namespace").unwrap().to_json_string(),
        r#"{"name":"fargate-namespace","labels":{"kubernetes.io/metadata.name":"fargate-namespace","team":"web"},"annotations":{"owner":"platform@example.com"}}"#
    );
    // Labels only.
    let mut f = s.filter(&api, &[("Namespace_Labels", "On"), ("Namespace_Metadata_Only", "On")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "x")])]).await;
    assert_eq!(
        out[0].body.to_json_string(),
        r#"{"log":"x","kubernetes_namespace":{"name":"fargate-namespace","labels":{"kubernetes.io/metadata.name":"fargate-namespace","team":"web"}}}"#
    );
}

#[tokio::test]
async fn merge_log_variants() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let json_log = r#"{"level":"info","msg":"started\n"}"#;

    let mut f = s.filter(&api, &[("Merge_Log", "On")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", json_log), ("stream", "stdout")])]).await;
    let keys: Vec<&str> = out[0].body.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["log", "stream", "level", "msg", "kubernetes"]);
    assert_eq!(out[0].body.get("msg").unwrap().as_str(), Some("started"));

    let mut f = s.filter(&api, &[("Merge_Log", "On"), ("Keep_Log", "Off"), ("Merge_Log_Key", "app")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", json_log)]), record(&[("log", "not json")])]).await;
    let keys: Vec<&str> = out[0].body.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["app", "kubernetes"]);
    assert_eq!(out[0].body.get("app").unwrap().to_json_string(), r#"{"level":"info","msg":"started"}"#);
    // A failed parse leaves the record as it was (log kept even with Keep_Log Off).
    let keys: Vec<&str> = out[1].body.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["log", "kubernetes"]);

    let mut f = s.filter(&api, &[("Merge_Log", "On"), ("Merge_Log_Trim", "Off")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", json_log)])]).await;
    assert_eq!(out[0].body.get("msg").unwrap().as_str(), Some("started\n"));

    // Merge_Log works on records whose lookup failed too (as in Fluent Bit).
    let mut f = s.filter(&api, &[("Merge_Log", "On")]);
    let tag = fixtures::tag().replace(POD_NAME, "gone-pod");
    let out = run(&mut f, &tag, vec![record(&[("log", json_log)])]).await;
    assert_eq!(
        out[0].body.to_json_string(),
        r#"{"log":"{\"level\":\"info\",\"msg\":\"started\\n\"}","level":"info","msg":"started"}"#
    );
}

struct Upper;
impl LogParser for Upper {
    fn parse(&self, text: &str) -> Option<(Option<EventTime>, Map)> {
        let mut m = Map::new();
        m.push("upper", Value::Str(text.to_uppercase()));
        Some((None, m))
    }
}

struct TestParsers;
impl ParserSet for TestParsers {
    fn get(&self, name: &str) -> Option<Arc<dyn LogParser>> {
        (name == "upper").then(|| Arc::new(Upper) as Arc<dyn LogParser>)
    }
}

fn annotated_pod(annotations: serde_json::Value) -> serde_json::Value {
    let mut pod = fixtures::sample_pod();
    pod["metadata"]["annotations"] = annotations;
    pod
}

#[tokio::test]
async fn exclude_and_parser_annotations() {
    let s = Setup::new();
    let pod = annotated_pod(json!({
        "fluentbit.io/exclude_stderr": "true",
        "fluentbit.io/parser_stdout-nginx": "upper",
    }));
    let api = RecordedApi::start(vec![fixtures::sample_namespace(), pod]).await.unwrap();
    let records = || {
        vec![
            record(&[("log", "to stdout"), ("stream", "stdout")]),
            record(&[("log", "to stderr"), ("stream", "stderr")]),
            record(&[("log", "no stream")]),
        ]
    };
    // Options off: annotations are ignored.
    let mut f = s.filter(&api, &[("Merge_Log", "On")]);
    assert_eq!(run(&mut f, &fixtures::tag(), records()).await.len(), 3);

    let plugin = s.plugin(&api, &[("Merge_Log", "On"), ("K8S-Logging.Parser", "On"), ("K8S-Logging.Exclude", "On")]);
    let mut f = hydrant_kubernetes::build_with_parsers(&plugin, &s.ctx(), Arc::new(TestParsers)).unwrap();
    let out = run(&mut f, &fixtures::tag(), records()).await;
    let logs: Vec<&str> = out.iter().map(|r| r.body.get("log").unwrap().as_str().unwrap()).collect();
    assert_eq!(logs, ["to stdout", "no stream"]);
    assert_eq!(out[0].body.get("upper").unwrap().as_str(), Some("TO STDOUT"));
    assert!(out[1].body.get("upper").is_none());
    assert_eq!(s.metrics.filter_dropped.get_or_create(&PluginLabels::new("kubernetes.0")).get(), 1);

    // Pod-wide exclusion drops everything.
    api.insert(annotated_pod(json!({"fluentbit.io/exclude": "true"})));
    let mut f = s.filter(&api, &[("K8S-Logging.Exclude", "On")]);
    assert!(run(&mut f, &fixtures::tag(), records()).await.is_empty());
}

#[tokio::test]
async fn cache_ttl() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let mut f = s.filter(&api, &[("Kube_Meta_Cache_TTL", "1")]);
    run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    run(&mut f, &fixtures::tag(), vec![record(&[("log", "b")])]).await;
    assert_eq!(api.requests_to(POD_PATH), 1, "second chunk served from the cache");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "c")])]).await;
    assert_eq!(api.requests_to(POD_PATH), 2, "refetched after the TTL");
    assert!(out[0].body.get("kubernetes").is_some());

    // Expired and the API down: the old metadata is kept rather than dropped.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    api.set_failing(true);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "d")])]).await;
    assert!(out[0].body.get("kubernetes").is_some());
    assert_eq!(s.counter(gave_up), 0);
}

#[tokio::test]
async fn api_down_then_up_records_wait() {
    let s = Setup::new();
    let api = Arc::new(RecordedApi::start(fixtures::sample_objects()).await.unwrap());
    api.set_failing(true);
    let mut f = s.filter(&api, &[("Hydrant.Lookup_Wait", "20")]);
    let up = {
        let api = api.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            api.set_failing(false);
        })
    };
    let start = Instant::now();
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")]), record(&[("log", "b")])]).await;
    up.await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(1200));
    assert_eq!(out[0].body.get("kubernetes").unwrap().to_json_string(), kubernetes_json());
    assert!(s.counter(errors) >= 2, "each failed attempt counted");
    assert_eq!(s.counter(gave_up), 0);
}

#[tokio::test]
async fn api_down_too_long_gives_up_then_recovers() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    api.set_failing(true);
    let mut f = s.filter(&api, &[("Hydrant.Lookup_Wait", "1")]);
    let start = Instant::now();
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")]), record(&[("log", "b")])]).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(out[0].body.get("kubernetes").is_none());
    assert_eq!(s.counter(gave_up), 2);
    // The API now counts as down: the next chunk does not wait again.
    let start = Instant::now();
    run(&mut f, &fixtures::tag(), vec![record(&[("log", "c")])]).await;
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_eq!(s.counter(gave_up), 3);
    // Back up: after the back-off interval, metadata again.
    api.set_failing(false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "d")])]).await;
    assert!(out[0].body.get("kubernetes").is_some());
}

#[tokio::test]
async fn pod_not_found_goes_bare_without_waiting() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let mut f = s.filter(&api, &[]);
    let tag = fixtures::tag().replace(POD_NAME, "gone-pod");
    let start = Instant::now();
    let out = run(&mut f, &tag, vec![record(&[("log", "a")]), record(&[("log", "b")])]).await;
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(out[0].body.to_json_string(), r#"{"log":"a"}"#);
    assert_eq!(s.counter(errors), 1);
    assert_eq!(s.counter(gave_up), 2);

    // A tag that names no pod passes untouched, without a request.
    let before = api.requests();
    let out = run(&mut f, "kube.var.log.containers.whatever", vec![record(&[("log", "a")])]).await;
    assert_eq!(out[0].body.to_json_string(), r#"{"log":"a"}"#);
    assert_eq!(api.requests(), before);
}

#[tokio::test]
async fn token_file_is_reread() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    api.set_token(Some("t0k3n"));
    let mut f = s.filter(&api, &[("Kube_Token_TTL", "1")]);
    assert!(run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await[0].body.contains_key("kubernetes"));

    // Rotated: read again after Kube_Token_TTL.
    std::fs::write(&s.token_file, "s3cond\n").unwrap();
    api.set_token(Some("s3cond"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut second = fixtures::sample_pod();
    second["metadata"]["name"] = json!("sample-app-7c5bd8b6f4-2bbbb");
    api.insert(second);
    let tag = fixtures::tag().replace(POD_NAME, "sample-app-7c5bd8b6f4-2bbbb");
    assert!(run(&mut f, &tag, vec![record(&[("log", "b")])]).await[0].body.contains_key("kubernetes"));
    assert_eq!(api.authorizations().last().unwrap().as_deref(), Some("Bearer s3cond"));

    // Rotated within the TTL: the 401 makes the filter read it at once.
    std::fs::write(&s.token_file, "th1rd").unwrap();
    api.set_token(Some("th1rd"));
    let mut f = s.filter(&api, &[]);
    std::fs::write(&s.token_file, "f0urth").unwrap();
    api.set_token(Some("f0urth"));
    assert!(run(&mut f, &tag, vec![record(&[("log", "c")])]).await[0].body.contains_key("kubernetes"));
}

#[tokio::test]
async fn kubelet_mode() {
    let s = Setup::new();
    let mut second = fixtures::sample_pod();
    second["metadata"]["name"] = json!("sample-app-7c5bd8b6f4-2bbbb");
    second["metadata"]["uid"] = json!("second-uid");
    let api = RecordedApi::start(vec![fixtures::sample_namespace(), fixtures::sample_pod(), second]).await.unwrap();
    let host = format!("http://{}", api.addr().ip());
    let port = api.addr().port().to_string();
    let mut f = s.filter(&api, &[("Use_Kubelet", "On"), ("Kubelet_Host", &host), ("Kubelet_Port", &port)]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    assert_eq!(out[0].body.get("kubernetes").unwrap().to_json_string(), kubernetes_json());
    let tag = fixtures::tag().replace(POD_NAME, "sample-app-7c5bd8b6f4-2bbbb");
    let out = run(&mut f, &tag, vec![record(&[("log", "b")])]).await;
    let k = out[0].body.get("kubernetes").unwrap().as_map().unwrap();
    assert_eq!(k.get("pod_id").unwrap().as_str(), Some("second-uid"));
    assert_eq!(api.requests_to("/pods"), 1, "one pod list serves every pod of the node");
    assert_eq!(api.requests_to(POD_PATH), 0);
}

#[tokio::test]
async fn https_with_ca_file_and_without_verification() {
    let s = Setup::new();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.key_pair.serialize_pem();
    let api =
        RecordedApi::start_tls(fixtures::sample_objects(), cert_pem.as_bytes(), key_pem.as_bytes()).await.unwrap();
    assert!(api.url().starts_with("https://"));
    let ca = s._dir.path().join("ca.crt");
    std::fs::write(&ca, &cert_pem).unwrap();
    let mut f = s.filter(&api, &[("Kube_CA_File", ca.to_str().unwrap())]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    assert_eq!(out[0].body.get("kubernetes").unwrap().to_json_string(), kubernetes_json());

    let mut f = s.filter(&api, &[("tls.verify", "Off")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    assert!(out[0].body.contains_key("kubernetes"));

    // Verification against another CA fails, and is not retried (bare, counted).
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other_ca = s._dir.path().join("other.crt");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let mut f = s.filter(&api, &[("Kube_CA_File", other_ca.to_str().unwrap()), ("Hydrant.Lookup_Wait", "1")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    assert!(!out[0].body.contains_key("kubernetes"));
}

#[tokio::test]
async fn tag_only_and_dummy_meta() {
    let s = Setup::new();
    let api = RecordedApi::start(vec![]).await.unwrap();
    let mut f = s.filter(&api, &[("Use_Tag_For_Meta", "On")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    assert_eq!(
        out[0].body.get("kubernetes").unwrap().to_json_string(),
        format!(
            r#"{{"pod_name":"{POD_NAME}","namespace_name":"{NAMESPACE}","container_name":"{CONTAINER_NAME}","docker_id":"{DOCKER_ID}"}}"#
        )
    );
    let mut f = s.filter(&api, &[("Dummy_Meta", "On")]);
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    assert!(out[0].body.get("kubernetes").unwrap().as_map().unwrap().contains_key("dummy"));
    assert_eq!(api.requests(), 0);
}

#[tokio::test]
async fn concurrent_lookups_share_one_request() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let plugin = s.plugin(&api, &[]);
    // Two filter instances do not share a cache; one instance serves chunks in order, so one
    // request is made however many chunks arrive.
    let mut f = hydrant_kubernetes::build(&plugin, &s.ctx()).unwrap();
    for _ in 0..5 {
        run(&mut f, &fixtures::tag(), vec![record(&[("log", "a")])]).await;
    }
    assert_eq!(api.requests_to(POD_PATH), 1);
}

#[tokio::test]
async fn merge_parser_and_regex_parser_from_the_configuration() {
    use hydrant_flb::config::{Section, SectionKind};
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    let parser = |name: &str, regex: &str| Section {
        kind: SectionKind::Parser,
        name: name.to_owned(),
        properties: [("Format", "regex"), ("Regex", regex)].into_iter().collect(),
        origin: Origin::new("parsers.conf", 1),
    };
    let mut config = Config::empty(Format::Classic);
    config.parsers.push(parser("kv", r"^(?<key>\w+)=(?<value>\w+)$"));
    config.parsers.push(parser(
        "tag",
        r"^(?<pod_name>[^_]+)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$",
    ));
    let ctx = BuildContext { config: Arc::new(config), ..s.ctx() };
    let plugin = s.plugin(&api, &[("Merge_Log", "On"), ("Merge_Parser", "kv"), ("Regex_Parser", "tag")]);
    let mut f = hydrant_kubernetes::build(&plugin, &ctx).unwrap();
    let out = run(&mut f, &fixtures::tag(), vec![record(&[("log", "a=b")])]).await;
    let keys: Vec<&str> = out[0].body.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["log", "key", "value", "kubernetes"]);
    assert_eq!(out[0].body.get("kubernetes").unwrap().to_json_string(), kubernetes_json());

    let bad = s.plugin(&api, &[("Merge_Parser", "nope")]);
    assert!(hydrant_kubernetes::build(&bad, &ctx).is_err());
}

/// Hot-path throughput (run with `cargo test --release -p hydrant-kubernetes -- --ignored
/// --nocapture throughput`): CRI-line records through a filter whose metadata is cached.
#[tokio::test]
#[ignore]
async fn throughput() {
    let s = Setup::new();
    let api = RecordedApi::start(fixtures::sample_objects()).await.unwrap();
    for (name, extra) in [("plain", &[][..]), ("merge_log (JSON lines)", &[("Merge_Log", "On")][..])] {
        let mut f = s.filter(&api, extra);
        let line = if extra.is_empty() {
            CRI_LINE.to_owned()
        } else {
            r#"{"level":"info","msg":"GET / 200","latency_ms":12,"path":"/index.html"}"#.to_owned()
        };
        let chunk: Vec<Record> = (0..1000).map(|_| record(&[("log", &line), ("stream", "stdout")])).collect();
        let bytes_per_chunk: usize = chunk.iter().map(|r| r.json_len()).sum();
        run(&mut f, &fixtures::tag(), chunk.clone()).await;
        let start = std::time::Instant::now();
        let rounds = 500;
        for _ in 0..rounds {
            let out = run(&mut f, &fixtures::tag(), chunk.clone()).await;
            assert_eq!(out.len(), 1000);
        }
        let secs = start.elapsed().as_secs_f64();
        let mb = (bytes_per_chunk * rounds) as f64 / 1e6;
        println!(
            "{name}: {:.0} records/s, {:.0} MB/s of input records (chunk clone included)",
            1000.0 * rounds as f64 / secs,
            mb / secs
        );
    }
}
