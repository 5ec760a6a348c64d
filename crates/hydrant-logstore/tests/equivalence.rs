//! Property-style check: for every query, the store returns exactly the logs the in-memory
//! evaluator (`Query::matches`) accepts.

mod common;

use hydrant_log::Log;
use hydrant_logstore::{
    AggregateRequest, Aggregation, Bucket, Compute, ComputeKind, ComputeValue, FacetsRequest, LogStore,
    LogStoreOptions, SearchRequest, Sort,
};
use hydrant_query::{parse, Query};

const QUERIES: &[&str] = &[
    "*",
    "",
    "service:aws source:aws",
    "kube_namespace:fargate-namespace",
    "@kubernetes.namespace_name:fargate-namespace",
    "@kubernetes.namespace_name:Fargate-Namespace",
    "error",
    "ERROR",
    "\"disk full\"",
    "\"Disk FULL again\"",
    "disk*",
    "*full",
    "te?t",
    "tes*",
    "foo.bar",
    "\"foo bar\"",
    "foo-bar",
    "tes*ing",
    "\"*test*\"",
    "\"!!\"",
    "caf*",
    "été",
    "message:disk",
    "under_score camelcase",
    "42",
    "env:prod",
    "env:prod*",
    "env:*",
    "-env:*",
    "ENV:PROD",
    "kube_namespace:fargate*",
    "tags:mytag",
    "tags:env:prod",
    "tags:*",
    "tags:env*",
    "a:b:c",
    "version:>1",
    "version:[1 TO 5]",
    "version:[a TO z]",
    "port:8080",
    "@http.status_code:200",
    "@http.status_code:>=400",
    "@http.status_code:[200 TO 404]",
    "@http.status_code:{200 TO 500}",
    "@http.status_code:2*",
    "@http.status_code:[1 TO 3xx]",
    "@http.status_code:[2 TO 3]",
    "@duration:>100",
    "@duration:<=0.5",
    "@duration:[* TO 50]",
    "@duration:*",
    "-@duration:*",
    "@duration:-5",
    "_exists_:@kubernetes.labels.app",
    "_missing_:@kubernetes",
    "@kubernetes:*",
    "@http.method:GET",
    "@http.method:get",
    "@http.method:G*",
    "@http.method:[A TO H]",
    "@Event.Data.Name:x",
    "@Event.Data:*",
    "@Event.Data.Name:*",
    "@codes:2",
    "@codes:>3",
    "@codes:*",
    "@retry:true",
    "@retry:*",
    "@count:15",
    "@count:1000",
    "@count:>10",
    "@count:[a TO z]",
    "@count:<0",
    "@empty:*",
    "@nothing:*",
    "@aws.firehose.arn:*",
    "@aws.firehose.arn:arn*s1",
    "@aws\\.firehose\\.arn:*",
    "@a.b:1",
    "@a.b:*",
    "@a.c:x",
    "@a:*",
    "-@a.b:1",
    "@network.client.ip:10.*",
    "CIDR(@network.client.ip, 10.0.0.0/8)",
    "CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32)",
    "-CIDR(@network.client.ip, 10.0.0.0/8)",
    "CIDR(host, 10.0.0.0/8)",
    "status:error",
    "status:ERROR",
    "status:e*",
    "status:[a TO f]",
    "status:>info",
    "host:Host-A",
    "host:host-a",
    "host:ip-*",
    "host:*",
    "-host:*",
    "service:*",
    "-source:*",
    "-trace_id:*",
    "-tags:*",
    "kube_namespace:*",
    "-kube_namespace:*",
    "host:\"\"",
    "service:(web OR api)",
    "service:Web",
    "service:web OR source:nginx",
    "NOT service:aws",
    "-status:info error",
    "(disk OR user) -status:error",
    "trace_id:*",
    "trace_id:abc1*",
    "source:AWS",
    "[a TO m]",
    ">5",
    "service:aws AND NOT (env:prod OR @http.status_code:>=500)",
    "NOT (NOT kube_namespace:default)",
    "-(@duration:>100 OR -@count:*)",
];

fn evaluate(corpus: &[Log], q: &Query) -> Vec<String> {
    let mut ids: Vec<String> = corpus.iter().filter(|l| q.matches(*l)).map(|l| l.id.clone()).collect();
    ids.sort();
    ids
}

fn search_all(store: &LogStore, q: &Query) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchRequest {
                query: q.clone(),
                from_ms: 0,
                to_ms: i64::MAX,
                sort: Sort::TimestampDesc,
                limit: 97,
                cursor,
            })
            .unwrap();
        ids.extend(page.logs.into_iter().map(|l| l.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ids.sort();
    ids
}

fn count(store: &LogStore, q: &Query) -> f64 {
    let buckets = store
        .aggregate(&AggregateRequest {
            query: q.clone(),
            from_ms: 0,
            to_ms: i64::MAX,
            computes: vec![Compute { aggregation: Aggregation::Count, metric: None, kind: ComputeKind::Total }],
            group_by: vec![],
        })
        .unwrap();
    match &buckets[0].computes[0] {
        ComputeValue::Number(Some(n)) => *n,
        other => panic!("{other:?}"),
    }
}

/// Queries the index cannot answer alone (on a corpus without ambiguous attribute trees).
const POST_FILTERED: &[&str] = &[
    "version:>1",
    "version:[1 TO 5]",
    "@http.status_code:[1 TO 3xx]",
    "@aws\\.firehose\\.arn:*",
    "CIDR(@network.client.ip, 10.0.0.0/8)",
    "CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32)",
    "-CIDR(@network.client.ip, 10.0.0.0/8)",
    "CIDR(host, 10.0.0.0/8)",
    "[a TO m]",
    ">5",
    "host:\"\"",
];

fn check_corpus(corpus: &[Log], ambiguous: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), LogStoreOptions::default()).unwrap();
    // Several commits: several segments.
    for chunk in corpus.chunks(80) {
        store.add(chunk).unwrap();
        store.commit().unwrap();
    }
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for text in QUERIES {
        let q = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let expected = evaluate(corpus, &q);
        if !expected.is_empty() && expected.len() < corpus.len() {
            nonempty += 1;
        }
        let post = store.needs_post_filter(&q).unwrap();
        if !ambiguous && post != POST_FILTERED.contains(text) {
            failures.push(format!("{text:?}: post-filtered: {post}"));
        }
        if ambiguous && text.contains('@') && !post {
            failures.push(format!("{text:?}: not post-filtered with ambiguous attributes"));
        }
        let got = search_all(&store, &q);
        if got != expected {
            failures.push(format!("{text:?}: expected {} logs, got {}", expected.len(), got.len()));
        }
        let n = count(&store, &q);
        if n != expected.len() as f64 {
            failures.push(format!("{text:?}: count {n}, expected {}", expected.len()));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    // The corpus exercises the queries: most select a proper, non-empty subset.
    assert!(nonempty > QUERIES.len() * 3 / 4, "only {nonempty} selective queries");
}

#[test]
fn store_equals_evaluator_without_ambiguous_paths() {
    check_corpus(&common::corpus(300, 7, false), false);
}

#[test]
fn store_equals_evaluator_with_ambiguous_paths() {
    check_corpus(&common::corpus(300, 11, true), true);
}

/// Values too long to be terms (a host, a tag, an attribute over 16 KiB): existence and
/// negation still answer exactly, through the `amb:*` flags and the post-filter.
#[test]
fn store_equals_evaluator_with_over_long_values() {
    let mut corpus = common::corpus(200, 5, false);
    let long = "x".repeat(20 * 1024);
    for (i, log) in corpus.iter_mut().enumerate().filter(|(i, _)| i % 50 == 3) {
        match i % 3 {
            0 => log.host = Some(format!("h{long}")),
            1 => log.tags.push(format!("env:{long}")),
            _ => {
                log.attributes.insert("duration".into(), serde_json::Value::String(long.clone()));
            }
        }
    }
    check_corpus(&corpus, true);
}

/// The facet panel's one-pass counts equal one count aggregation per facet, over several
/// segments, with deleted logs, for exact and post-filtered queries: reserved fields, tag
/// keys (with overlapping values: `a` and `a:b` both hold the tag `a:b:c`), attributes (numbers and
/// strings that spell the same value, arrays, dotted keys), and facets no log has.
#[test]
fn facet_counts_in_one_pass_equal_one_aggregation_per_facet() {
    for ambiguous in [false, true] {
        let corpus = common::corpus(400, 9, ambiguous);
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogStoreOptions::default()).unwrap();
        for chunk in corpus.chunks(90) {
            store.add(chunk).unwrap();
            store.commit().unwrap();
        }
        let first = corpus.iter().map(|l| l.timestamp_ms).min().unwrap();
        store.delete_older_than(first + 60_000).unwrap();
        store.commit().unwrap();
        let facets: Vec<String> = [
            "host",
            "service",
            "source",
            "status",
            "trace_id",
            "env",
            "env:prod",
            "a",
            "a:b",
            "team",
            "version",
            "Kube_Namespace",
            "@http.status_code",
            "@http.method",
            "@duration",
            "@codes",
            "@retry",
            "@count",
            "@a.b",
            "@kubernetes.labels.app",
            "@aws.firehose.arn",
            "@Event.Data.Name",
            "nope",
            "@nope",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut nonempty = 0;
        for text in [
            "*",
            "service:web",
            "-status:error @http.status_code:200",
            "CIDR(@network.client.ip, 10.0.0.0/8)",
            "@retry:true",
            "nothing:matches",
        ] {
            for limit in [3, 10] {
                let req = FacetsRequest {
                    query: parse(text).unwrap(),
                    from_ms: 0,
                    to_ms: i64::MAX,
                    facets: facets.clone(),
                    limit,
                };
                let one_pass = store.facets(&req).unwrap();
                let one_by_one: Vec<Vec<Bucket>> =
                    req.facets.iter().map(|f| store.aggregate(&req.aggregation(f)).unwrap()).collect();
                assert_eq!(one_pass.len(), facets.len());
                for (f, (a, b)) in facets.iter().zip(one_pass.iter().zip(&one_by_one)) {
                    assert_eq!(a, b, "{text:?} facet {f} limit {limit} ambiguous {ambiguous}");
                    nonempty += usize::from(!a.is_empty());
                }
            }
        }
        assert!(nonempty > 60, "only {nonempty} non-empty facet answers");
    }
}
