//! Synthetic logs shaped like the seed's: nginx access and error lines from pods on EKS
//! Fargate, as Fluent Bit's `kubernetes` filter and `kinesis_firehose` output send them
//! (one newline-terminated JSON object per record, Kubernetes metadata as attributes),
//! and the seed's "EKS Fargate Log Pipeline".

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The Firehose stream ARN the intake records in every log (`aws.firehose.arn`).
pub const SOURCE_ARN: &str = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/fargate-logs";

/// The seed's pipeline, as the seed guide creates it through the pipelines API.
pub fn seed_pipeline() -> Value {
    let remap = |source: &str, target: &str| {
        json!({"type": "attribute-remapper", "name": format!("Remap {source} to {target}"), "is_enabled": true,
               "sources": [source], "source_type": "attribute", "target": target, "target_type": "tag",
               "preserve_source": true, "override_on_conflict": false})
    };
    json!({
        "name": "EKS Fargate Log Pipeline", "is_enabled": true,
        "filter": {"query": "service:aws source:aws"},
        "processors": [
            remap("kubernetes.container_name", "kube_container_name"),
            remap("kubernetes.namespace_name", "kube_namespace"),
            remap("kubernetes.pod_name", "pod_name"),
            remap("kubernetes.docker_id", "container_id"),
        ]
    })
}

/// The seed pipeline, compiled as the intake compiles it.
pub fn compiled_seed_pipeline() -> anyhow::Result<hydrant_pipeline::CompiledPipelines> {
    let p = hydrant_pipeline::Pipeline::from_value(seed_pipeline()).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    hydrant_pipeline::CompiledPipelines::compile(&[p]).map_err(|e| anyhow::anyhow!("{}", e.message))
}

struct Pod {
    name: String,
    namespace: String,
    app: String,
    hash: String,
    host: String,
    docker_id: String,
}

/// What an access line says, as a grok parser would extract it.
pub struct Access {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub bytes: u32,
}

/// One generated record.
pub struct Record {
    /// The record's bytes: a JSON object and a newline.
    pub json: String,
    /// Set for access lines.
    pub access: Option<Access>,
}

/// A deterministic generator of Fluent Bit records.
pub struct RecordGen {
    rng: StdRng,
    pods: Vec<Pod>,
    conn: u64,
}

const APPS: &[&str] = &["sample-app", "web", "checkout", "catalog", "auth"];
const METHODS: &[(&str, u32)] = &[("GET", 80), ("POST", 14), ("PUT", 3), ("DELETE", 2), ("HEAD", 1)];
const STATUSES: &[(u16, u32)] = &[
    (200, 68),
    (201, 4),
    (204, 3),
    (301, 2),
    (304, 6),
    (400, 2),
    (401, 1),
    (403, 1),
    (404, 6),
    (499, 1),
    (500, 3),
    (502, 1),
    (503, 1),
    (504, 1),
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "ELB-HealthChecker/2.0",
    "kube-probe/1.27+",
    "python-requests/2.31.0",
    "curl/8.4.0",
];

fn hex(rng: &mut StdRng, n: usize) -> String {
    const H: &[u8] = b"0123456789abcdef";
    (0..n).map(|_| H[rng.gen_range(0..16)] as char).collect()
}

fn alnum(rng: &mut StdRng, n: usize) -> String {
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n).map(|_| A[rng.gen_range(0..A.len())] as char).collect()
}

fn weighted<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for (v, w) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    table[0].0
}

impl RecordGen {
    /// Pods spread over `namespaces`, `pods_per_namespace` each.
    pub fn new(seed: u64, namespaces: &[&str], pods_per_namespace: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pods = Vec::new();
        for ns in namespaces {
            for i in 0..pods_per_namespace {
                let app = APPS[i % APPS.len()].to_string();
                let hash = hex(&mut rng, 10);
                pods.push(Pod {
                    name: format!("{app}-{hash}-{}", alnum(&mut rng, 5)),
                    namespace: ns.to_string(),
                    app,
                    hash,
                    host: format!(
                        "fargate-ip-10-0-{}-{}.eu-west-1.compute.internal",
                        rng.gen_range(0..4),
                        rng.gen_range(2..250)
                    ),
                    docker_id: hex(&mut rng, 64),
                });
            }
        }
        RecordGen { rng, pods, conn: 1 }
    }

    fn path(&mut self) -> String {
        let r = &mut self.rng;
        match r.gen_range(0..10) {
            0 => "/".into(),
            1 => "/healthz".into(),
            2 => format!("/api/v1/orders/{}", r.gen_range(10_000..99_999)),
            3 => "/api/v1/orders".into(),
            4 => format!("/api/v1/users/{}/profile", r.gen_range(1..50_000)),
            5 => format!("/static/js/app.{}.js", hex(r, 8)),
            6 => "/api/v1/cart".into(),
            7 => format!("/products/{}?ref=home", r.gen_range(100..9_999)),
            8 => "/favicon.ico".into(),
            _ => format!(
                "/search?q={}&page={}",
                ["shoes", "lamp", "coffee", "desk"][r.gen_range(0..4)],
                r.gen_range(1..5)
            ),
        }
    }

    /// A record dated `now_ms`: 90% access lines, 9% other error/warn lines, 1% upstream
    /// timeouts (the only lines with the word `timed`).
    pub fn record(&mut self, now_ms: i64) -> Record {
        let pod = self.rng.gen_range(0..self.pods.len());
        let t = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let client = format!("10.0.{}.{}", self.rng.gen_range(0..4), self.rng.gen_range(2..250));
        let kind = self.rng.gen_range(0..100);
        let (line, stream, access) = if kind < 90 {
            let method = weighted(&mut self.rng, METHODS);
            let status = weighted(&mut self.rng, STATUSES);
            let path = self.path();
            let bytes = if status == 204 || status == 304 { 0 } else { self.rng.gen_range(150..48_000) };
            let referer = if self.rng.gen_bool(0.3) { "https://shop.example.com/" } else { "-" };
            let agent = AGENTS[self.rng.gen_range(0..AGENTS.len())];
            let line = format!(
                "{client} - - [{}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{agent}\" \"-\"",
                t.format("%d/%b/%Y:%H:%M:%S +0000")
            );
            (line, "stdout", Some(Access { method, path, status, bytes }))
        } else {
            self.conn += 1;
            let path = self.path();
            let when = t.format("%Y/%m/%d %H:%M:%S");
            let host = format!("{}.example.com", self.pods[pod].app);
            let line = if kind == 99 {
                format!(
                    "{when} [error] 29#29: *{} upstream timed out (110: Connection timed out) while reading response header from upstream, client: {client}, server: localhost, request: \"GET {path} HTTP/1.1\", upstream: \"http://10.0.3.17:8080{path}\", host: \"{host}\"",
                    self.conn
                )
            } else if kind < 96 {
                format!(
                    "{when} [error] 29#29: *{} open() \"/usr/share/nginx/html{path}\" failed (2: No such file or directory), client: {client}, server: localhost, request: \"GET {path} HTTP/1.1\", host: \"{host}\"",
                    self.conn
                )
            } else {
                format!(
                    "{when} [warn] 29#29: *{} an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/{}/00/0000000{} while reading upstream, client: {client}, server: localhost, request: \"GET {path} HTTP/1.1\", host: \"{host}\"",
                    self.conn,
                    self.conn % 10,
                    self.conn
                )
            };
            (line, "stderr", None)
        };
        let p = &self.pods[pod];
        let v = json!({
            "log": line,
            "stream": stream,
            "time": t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "kubernetes": {
                "pod_name": p.name,
                "namespace_name": p.namespace,
                "labels": {"app": p.app, "pod-template-hash": p.hash},
                "host": p.host,
                "container_name": "nginx",
                "docker_id": p.docker_id,
            }
        });
        let mut json = v.to_string();
        json.push('\n');
        Record { json, access }
    }
}
