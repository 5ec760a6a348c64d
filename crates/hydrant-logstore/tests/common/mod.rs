//! A deterministic corpus of varied logs for the store's tests.

#![allow(dead_code)]

use hydrant_log::Log;
use serde_json::{json, Map, Value};

/// A small deterministic PRNG (xorshift).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const MESSAGES: &[&str] = &[
    "GET /api/users 200 took 35ms",
    "disk full on /dev/sda1",
    "Connection refused: foo-bar.example.com",
    "ERROR user_id=42 failed login",
    "été naïve café au lait",
    "10.1.2.3 connected from 192.168.0.7",
    "{\"level\":\"info\",\"msg\":\"json left inside\"}",
    "",
    "test testing tested tester",
    "foo.bar baz qux",
    "Disk FULL again, Disk full!",
    "timeout after 30s while calling payments-api",
    "multi\nline\nstack trace at Foo.bar(Foo.java:10)",
    "user 42 logged out",
    "!!! ??? ...",
    "abc",
    "m",
    "zeta",
    "42",
    "under_score and CamelCase Words",
];

const SERVICES: &[Option<&str>] = &[Some("aws"), Some("web"), Some("api"), Some("Web"), None, Some("payments")];
const SOURCES: &[Option<&str>] = &[Some("aws"), Some("nginx"), Some("python"), None, Some("AWS")];
const HOSTS: &[Option<&str>] = &[Some("ip-10-0-1-5"), Some("Host-A"), Some("host-b"), None, Some("10.2.3.4"), Some("")];
const STATUSES: &[&str] = &["info", "error", "warning", "debug", "Error", "critical", "ok"];
const TAGS: &[&str] = &[
    "env:prod",
    "env:staging",
    "env:dev",
    "kube_namespace:fargate-namespace",
    "kube_namespace:default",
    "team:payments",
    "mytag",
    "host:MyHost",
    "a:b:c",
    "version:1.5",
    "version:10",
    "version:2",
    "port:8080",
    "env:prod-eu",
    "region:eu-west-1",
];
const NAMESPACES: &[&str] = &["fargate-namespace", "default", "kube-system", "Fargate-Namespace"];
const IPS: &[&str] =
    &["10.1.2.3", "192.168.0.7", "2001:db8::1", "::ffff:10.9.8.7", "8.8.8.8", "not-an-ip", "10.255.255.255"];
const METHODS: &[&str] = &["GET", "POST", "get", "DELETE", "PUT"];

/// A log built from `rng`; `ambiguous` allows attribute trees with dotted-prefix keys.
pub fn random_log(rng: &mut Rng, i: usize, ambiguous: bool) -> Log {
    // Timestamps in a 10-minute window, with many ties.
    let ts = 1_700_000_000_000 + (rng.below(120) as i64) * 5_000;
    let mut log = Log::new(ts);
    log.id = format!("{:012x}{:08x}{:04}", ts, rng.next() as u32, i);
    log.service = rng.pick(SERVICES).map(str::to_string);
    log.source = rng.pick(SOURCES).map(str::to_string);
    log.host = rng.pick(HOSTS).map(str::to_string);
    log.status = rng.pick(STATUSES).to_string();
    log.message = rng.pick(MESSAGES).to_string();
    if rng.chance(30) {
        log.trace_id = Some(format!("abc{:x}", rng.next() % 4096));
    }
    for _ in 0..rng.below(4) {
        let tag = *rng.pick(TAGS);
        log.add_tag(tag);
    }
    let mut attrs = Map::new();
    if rng.chance(70) {
        let mut k8s = json!({
            "namespace_name": rng.pick(NAMESPACES),
            "pod_name": format!("pod-{}", rng.below(5)),
        });
        if rng.chance(50) {
            k8s["labels"] = json!({"app": *rng.pick(&["web", "api", "worker"])});
        }
        attrs.insert("kubernetes".into(), k8s);
    }
    if rng.chance(60) {
        let code: Value = match rng.below(6) {
            0 => json!(200),
            1 => json!(404),
            2 => json!(500),
            3 => json!("200"),
            4 => json!(200.0),
            _ => json!("2xx"),
        };
        attrs.insert("http".into(), json!({"status_code": code, "method": *rng.pick(METHODS)}));
    }
    if rng.chance(60) {
        let d: Value = match rng.below(5) {
            0 => json!(rng.below(1000)),
            1 => json!(rng.below(1000) as f64 / 7.0),
            2 => json!(-(rng.below(50) as i64)),
            3 => json!(format!("{}", rng.below(300))),
            _ => json!(0.5),
        };
        attrs.insert("duration".into(), d);
    }
    if rng.chance(40) {
        attrs.insert("network".into(), json!({"client": {"ip": *rng.pick(IPS)}}));
    }
    if rng.chance(30) {
        attrs.insert(
            "aws.firehose.arn".into(),
            json!(format!("arn:aws:firehose:eu-west-1:123:stream/s{}", rng.below(3))),
        );
    }
    if rng.chance(25) {
        let names: Vec<Value> = (0..rng.below(3)).map(|_| json!({"Name": *rng.pick(&["x", "y", "z"])})).collect();
        attrs.insert("Event".into(), json!({"Data": names}));
    }
    if rng.chance(25) {
        let codes: Vec<Value> = (0..rng.below(4)).map(|_| json!(rng.below(5))).collect();
        attrs.insert("codes".into(), Value::Array(codes));
    }
    if rng.chance(25) {
        attrs.insert("retry".into(), rng.pick(&[json!(true), json!(false), json!("true"), json!(null)]).clone());
    }
    if rng.chance(25) {
        attrs.insert(
            "count".into(),
            rng.pick(&[json!("15"), json!("1e3"), json!("abc"), json!(7), json!("-3.5")]).clone(),
        );
    }
    if rng.chance(15) {
        attrs.insert("empty".into(), json!([]));
    }
    if rng.chance(10) {
        attrs.insert("nothing".into(), json!(null));
    }
    if rng.chance(20) {
        attrs.insert("a.b".into(), json!(rng.below(3)));
    }
    if ambiguous && rng.chance(15) {
        attrs.insert("a".into(), json!({"b": rng.below(3), "c": "x"}));
    }
    log.attributes = attrs;
    log
}

/// `n` logs; with `ambiguous`, some have `{"a": {..}, "a.b": ..}` trees.
pub fn corpus(n: usize, seed: u64, ambiguous: bool) -> Vec<Log> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| random_log(&mut rng, i, ambiguous)).collect()
}
