//! Indexes N synthetic Fluent-Bit-shaped logs (Kubernetes metadata as attributes and tags)
//! and prints p50/p99 latencies of typical explorer queries.
//!
//! `HYDRANT_LOGS=200000 cargo run --release -p hydrant-logstore --example query_latency`

use hydrant_log::Log;
use hydrant_logstore::{
    AggregateRequest, Aggregation, Compute, ComputeKind, GroupBy, GroupSort, LogStore, LogStoreOptions, SearchRequest,
    Sort,
};
use hydrant_query::parse;
use serde_json::json;
use std::time::{Duration, Instant};

const WORDS: &[&str] = &[
    "request",
    "completed",
    "GET",
    "POST",
    "/api/v1/orders",
    "user",
    "session",
    "cache",
    "miss",
    "hit",
    "db",
    "query",
    "took",
    "retrying",
    "connection",
    "reset",
    "upstream",
    "healthy",
    "worker",
    "started",
    "shutdown",
    "payload",
];

fn main() {
    let n: usize = std::env::var("HYDRANT_LOGS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LogStore::open(dir.path(), LogStoreOptions::default()).expect("open");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let start_ts = 1_700_000_000_000i64;
    let t0 = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let ts = start_ts + (i as i64) * 10;
        let mut log = Log::new(ts);
        let ns = format!("ns-{}", rnd(20));
        let app = ["web", "api", "worker", "cron"][rnd(4) as usize];
        let pod = format!("{app}-{}-{:05x}", rnd(8), rnd(1 << 20));
        let mut words: Vec<&str> = (0..8 + rnd(12)).map(|_| WORDS[rnd(WORDS.len() as u64) as usize]).collect();
        if rnd(100) == 0 {
            words.push("timeout");
        }
        log.message = words.join(" ");
        log.service = Some("aws".into());
        log.source = Some("aws".into());
        log.host = Some(format!("ip-10-0-{}-{}", rnd(4), rnd(250)));
        log.status = ["info", "info", "info", "warning", "error"][rnd(5) as usize].into();
        log.add_tag(&format!("kube_namespace:{ns}"));
        log.add_tag(&format!("pod_name:{pod}"));
        log.add_tag(&format!("env:{}", ["prod", "staging"][rnd(2) as usize]));
        let status_code = [200, 200, 200, 201, 204, 301, 404, 500, 503][rnd(9) as usize];
        let method = ["GET", "POST"][rnd(2) as usize];
        let attrs = json!({
            "kubernetes": {
                "namespace_name": ns,
                "pod_name": pod,
                "container_name": app,
                "labels": {"app": app, "pod-template-hash": format!("{:x}", rnd(1 << 24))},
                "host": format!("node-{}", rnd(10)),
            },
            "stream": "stdout",
            "http": {"status_code": status_code, "method": method},
            "duration": rnd(5_000) as f64 / 10.0,
            "aws.firehose.arn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/logs",
        });
        if let serde_json::Value::Object(map) = attrs {
            log.attributes = map;
        }
        batch.push(log);
        if batch.len() == 10_000 {
            store.add(&batch).expect("add");
            batch.clear();
            if (i + 1) % 50_000 == 0 {
                store.commit().expect("commit");
            }
        }
    }
    store.add(&batch).expect("add");
    store.commit().expect("commit");
    let elapsed = t0.elapsed();
    println!(
        "indexed {n} logs in {:.1}s ({:.0} logs/s), index size {:.1} MiB",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        dir_size(dir.path()) as f64 / (1 << 20) as f64
    );

    let end_ts = start_ts + n as i64 * 10;
    let store = &store;
    let search = |q: &str| {
        let req = SearchRequest {
            query: parse(q).expect("query"),
            from_ms: start_ts,
            to_ms: end_ts,
            sort: Sort::TimestampDesc,
            limit: 50,
            cursor: None,
        };
        move || {
            store.search(&req).expect("search").logs.len();
        }
    };
    let aggregate = |q: &str, facet: &str| {
        let req = AggregateRequest {
            query: parse(q).expect("query"),
            from_ms: start_ts,
            to_ms: end_ts,
            computes: vec![Compute { aggregation: Aggregation::Count, metric: None, kind: ComputeKind::Total }],
            group_by: vec![GroupBy { facet: facet.into(), limit: 10, missing: None, sort: GroupSort::default() }],
        };
        move || {
            store.aggregate(&req).expect("aggregate").len();
        }
    };
    let histogram = |q: &str| {
        let req = AggregateRequest {
            query: parse(q).expect("query"),
            from_ms: start_ts,
            to_ms: end_ts,
            computes: vec![Compute {
                aggregation: Aggregation::Count,
                metric: None,
                kind: ComputeKind::Timeseries { interval_ms: ((end_ts - start_ts) / 100).max(1) },
            }],
            group_by: vec![],
        };
        move || {
            store.aggregate(&req).expect("aggregate").len();
        }
    };
    println!("{:<58} {:>9} {:>9}", "query", "p50 ms", "p99 ms");
    report("search tag filter: kube_namespace:ns-3", search("kube_namespace:ns-3"));
    report("search attribute range: @http.status_code:>=500", search("@http.status_code:>=500"));
    report("search attribute equals: @kubernetes.namespace_name:ns-3", search("@kubernetes.namespace_name:ns-3"));
    report("search free text (1% of logs): timeout", search("timeout"));
    report("search free text phrase: \"connection reset\"", search("\"connection reset\""));
    report("search seed filter: service:aws source:aws", search("service:aws source:aws"));
    report("search CIDR (post-filtered): CIDR(host, 10.0.1.0/24)", search("CIDR(host, 10.0.1.0/24)"));
    report("aggregate count by kube_namespace over *", aggregate("*", "kube_namespace"));
    report("aggregate count by service over status:error", aggregate("status:error", "service"));
    report("aggregate count by @http.status_code over *", aggregate("*", "@http.status_code"));
    report("histogram 100 buckets over *", histogram("*"));
}

fn report(name: &str, mut f: impl FnMut()) {
    f();
    let mut times: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("{name:<58} {:>9.2} {:>9.2}", ms(times[times.len() / 2]), ms(times[times.len() * 99 / 100]));
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |it| it.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
}
