//! Durability, retention, paging and aggregation.

mod common;

use hydrant_log::Log;
use hydrant_logstore::{
    AggregateRequest, Aggregation, Bucket, Compute, ComputeKind, ComputeValue, GroupBy, GroupSort, GroupSortBy,
    LogBackend, LogStore, LogStoreOptions, Order, SearchRequest, Sort,
};
use hydrant_query::{parse, Query};
use serde_json::json;

fn open(dir: &std::path::Path) -> LogStore {
    LogStore::open(dir, LogStoreOptions::default()).unwrap()
}

fn search(
    store: &dyn LogBackend,
    q: &str,
    sort: Sort,
    limit: usize,
    cursor: Option<String>,
) -> (Vec<Log>, Option<String>) {
    let page = store
        .search(&SearchRequest { query: parse(q).unwrap(), from_ms: 0, to_ms: i64::MAX, sort, limit, cursor })
        .unwrap();
    (page.logs, page.next_cursor)
}

fn log(ts: i64, id: &str, service: &str, message: &str) -> Log {
    let mut l = Log::new(ts);
    l.id = id.to_string();
    l.service = Some(service.to_string());
    l.message = message.to_string();
    l
}

#[test]
fn durable_across_reopen_with_payload() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = common::corpus(50, 3, false);
    {
        let store = open(dir.path());
        assert_eq!(store.last_commit_payload().unwrap(), None);
        store.add(&corpus).unwrap();
        store.commit_with_payload("wal-segment-7:4096".into()).unwrap();
        // Added but never committed: lost on reopen, as the intake's WAL expects.
        store.add(&[log(1, "uncommitted", "x", "lost")]).unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.count().unwrap(), 50);
    assert_eq!(store.last_commit_payload().unwrap().as_deref(), Some("wal-segment-7:4096"));
    let (logs, _) = search(&store, "*", Sort::TimestampAsc, 1000, None);
    let mut expected = corpus.clone();
    expected.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
    assert_eq!(logs, expected, "logs come back exactly as added");
    // A plain commit keeps the payload.
    store.add(&[log(5, "later", "x", "kept")]).unwrap();
    store.commit().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.count().unwrap(), 51);
    assert_eq!(store.last_commit_payload().unwrap().as_deref(), Some("wal-segment-7:4096"));
}

#[test]
fn retention_deletes_older_logs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let logs: Vec<Log> = (0..100).map(|i| log(1000 + i * 10, &format!("id{i:03}"), "svc", "m")).collect();
    store.add(&logs).unwrap();
    store.commit().unwrap();
    // 1000..1490: logs with ts < 1500 are the first 50.
    assert_eq!(store.delete_older_than(1500).unwrap(), 50);
    assert_eq!(store.count().unwrap(), 100, "deletes apply at the next commit");
    store.commit().unwrap();
    assert_eq!(store.count().unwrap(), 50);
    let (page, _) = search(&store, "*", Sort::TimestampAsc, 1, None);
    assert_eq!(page[0].timestamp_ms, 1500);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.count().unwrap(), 50);
    assert_eq!(store.delete_older_than(0).unwrap(), 0);
}

#[test]
fn paging_is_ordered_and_stable_under_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let corpus = common::corpus(300, 5, false);
    for chunk in corpus.chunks(70) {
        store.add(chunk).unwrap();
        store.commit().unwrap();
    }
    for sort in [Sort::TimestampDesc, Sort::TimestampAsc] {
        let mut expected = corpus.clone();
        expected.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
        if sort == Sort::TimestampDesc {
            expected.reverse();
        }
        let mut got = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let (logs, next) = search(&store, "*", sort, 7, cursor);
            assert!(logs.len() <= 7);
            got.extend(logs.into_iter().map(|l| l.id));
            pages += 1;
            if pages == 3 {
                // Logs arriving meanwhile, at the timestamps being paged through, before and
                // after the cursor, do not shift the pages.
                let mid = expected[20].timestamp_ms;
                store.add(&[log(mid, "zzzz-new", "x", "new"), log(mid, "0000-new", "x", "new")]).unwrap();
                store.commit().unwrap();
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<String> = expected.into_iter().map(|l| l.id).collect();
        let got: Vec<String> = got.into_iter().filter(|id| !id.ends_with("-new")).collect();
        assert_eq!(got, expected, "{sort:?}");
        assert!(pages > 300 / 7);
    }
    let bad = store.search(&SearchRequest {
        query: Query::All,
        from_ms: 0,
        to_ms: i64::MAX,
        sort: Sort::TimestampAsc,
        limit: 10,
        cursor: Some("!!".into()),
    });
    assert!(bad.is_err());
}

#[test]
fn time_range_is_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.add(&[log(100, "a", "s", "m"), log(200, "b", "s", "m"), log(300, "c", "s", "m")]).unwrap();
    store.commit().unwrap();
    let page = store
        .search(&SearchRequest {
            query: Query::All,
            from_ms: 100,
            to_ms: 300,
            sort: Sort::TimestampAsc,
            limit: 10,
            cursor: None,
        })
        .unwrap();
    let ids: Vec<_> = page.logs.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(page.next_cursor, None);
}

fn agg(store: &LogStore, q: &str, computes: Vec<Compute>, group_by: Vec<GroupBy>) -> Vec<Bucket> {
    store
        .aggregate(&AggregateRequest { query: parse(q).unwrap(), from_ms: 0, to_ms: 10_000, computes, group_by })
        .unwrap()
}

fn total(aggregation: Aggregation, metric: Option<&str>) -> Compute {
    Compute { aggregation, metric: metric.map(str::to_string), kind: ComputeKind::Total }
}

fn group(facet: &str, limit: usize) -> GroupBy {
    GroupBy { facet: facet.into(), limit, missing: None, sort: GroupSort::default() }
}

fn num(b: &Bucket, i: usize) -> Option<f64> {
    match &b.computes[i] {
        ComputeValue::Number(x) => *x,
        other => panic!("{other:?}"),
    }
}

fn agg_store() -> (tempfile::TempDir, LogStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut logs = Vec::new();
    for i in 0..20i64 {
        let service = ["web", "web", "api", "db"][i as usize % 4];
        let mut l = log(i * 100, &format!("id{i:02}"), service, "request done");
        l.status = if i % 5 == 0 { "error".into() } else { "info".into() };
        if i % 2 == 0 {
            l.add_tag("kube_namespace:prod");
        } else if i % 3 == 0 {
            l.add_tag("kube_namespace:dev");
        }
        l.attributes.insert("duration".into(), json!(i));
        if i < 10 {
            l.attributes
                .insert("http".into(), json!({"status_code": if i % 2 == 0 { json!(200) } else { json!("404") }}));
        }
        l.attributes.insert("user".into(), json!(format!("u{}", i % 3)));
        logs.push(l);
    }
    store.add(&logs[..10]).unwrap();
    store.commit().unwrap();
    store.add(&logs[10..]).unwrap();
    store.commit().unwrap();
    (dir, store)
}

#[test]
fn aggregate_totals_and_statistics() {
    let (_dir, store) = agg_store();
    let computes = vec![
        total(Aggregation::Count, None),
        total(Aggregation::Sum, Some("@duration")),
        total(Aggregation::Min, Some("@duration")),
        total(Aggregation::Max, Some("@duration")),
        total(Aggregation::Avg, Some("@duration")),
        total(Aggregation::Median, Some("@duration")),
        total(Aggregation::Pc90, Some("@duration")),
        total(Aggregation::Cardinality, Some("@user")),
        total(Aggregation::Cardinality, Some("service")),
        total(Aggregation::Avg, Some("@missing")),
    ];
    let b = agg(&store, "*", computes, vec![]);
    assert_eq!(b.len(), 1);
    assert!(b[0].by.is_empty());
    let values: Vec<Option<f64>> = (0..10).map(|i| num(&b[0], i)).collect();
    assert_eq!(
        values,
        [Some(20.0), Some(190.0), Some(0.0), Some(19.0), Some(9.5), Some(9.5), Some(17.1), Some(3.0), Some(3.0), None]
    );
    let b = agg(&store, "status:error", vec![total(Aggregation::Count, None)], vec![]);
    assert_eq!(num(&b[0], 0), Some(4.0));
    let b = agg(&store, "nomatch", vec![total(Aggregation::Count, None)], vec![]);
    assert_eq!(num(&b[0], 0), Some(0.0));
}

#[test]
fn aggregate_group_by_facets() {
    let (_dir, store) = agg_store();
    let count = || vec![total(Aggregation::Count, None), total(Aggregation::Sum, Some("@duration"))];
    // Reserved field, by count desc.
    let b = agg(&store, "*", count(), vec![group("service", 10)]);
    let got: Vec<_> = b.iter().map(|b| (b.by["service"].clone(), num(b, 0))).collect();
    assert_eq!(got, [(json!("web"), Some(10.0)), (json!("api"), Some(5.0)), (json!("db"), Some(5.0))]);
    // Limit.
    assert_eq!(agg(&store, "*", count(), vec![group("service", 1)]).len(), 1);
    // Tag key, logs without it left out, then with a missing value.
    let b = agg(&store, "*", count(), vec![group("kube_namespace", 10)]);
    let got: Vec<_> = b.iter().map(|b| (b.by["kube_namespace"].clone(), num(b, 0))).collect();
    assert_eq!(got, [(json!("prod"), Some(10.0)), (json!("dev"), Some(3.0))]);
    let mut g = group("kube_namespace", 10);
    g.missing = Some(json!("none"));
    let b = agg(&store, "*", count(), vec![g]);
    let got: Vec<_> = b.iter().map(|b| (b.by["kube_namespace"].clone(), num(b, 0))).collect();
    assert_eq!(got, [(json!("prod"), Some(10.0)), (json!("none"), Some(7.0)), (json!("dev"), Some(3.0))]);
    // Attribute: numbers stay numbers, strings strings.
    let b = agg(&store, "*", count(), vec![group("@http.status_code", 10)]);
    let got: Vec<_> = b.iter().map(|b| (b.by["@http.status_code"].clone(), num(b, 0), num(b, 1))).collect();
    assert_eq!(got, [(json!(200), Some(5.0), Some(20.0)), (json!("404"), Some(5.0), Some(25.0))]);
    // Sort by value ascending.
    let mut g = group("service", 10);
    g.sort = GroupSort { by: GroupSortBy::Value, order: Order::Asc };
    let b = agg(&store, "*", count(), vec![g]);
    let got: Vec<_> = b.iter().map(|b| b.by["service"].clone()).collect();
    assert_eq!(got, [json!("api"), json!("db"), json!("web")]);
    // Sort by a compute (sum of durations) descending.
    let mut g = group("service", 10);
    g.sort = GroupSort { by: GroupSortBy::Compute(1), order: Order::Desc };
    let b = agg(&store, "*", count(), vec![g]);
    let got: Vec<_> = b.iter().map(|b| (b.by["service"].clone(), num(b, 1))).collect();
    assert_eq!(got, [(json!("web"), Some(85.0)), (json!("db"), Some(55.0)), (json!("api"), Some(50.0))]);
    // Two facets.
    let b = agg(&store, "*", count(), vec![group("service", 2), group("status", 5)]);
    let got: Vec<_> = b.iter().map(|b| (b.by["service"].clone(), b.by["status"].clone(), num(b, 0))).collect();
    assert_eq!(
        got,
        [
            (json!("web"), json!("info"), Some(8.0)),
            (json!("web"), json!("error"), Some(2.0)),
            (json!("api"), json!("info"), Some(4.0)),
            (json!("api"), json!("error"), Some(1.0)),
        ]
    );
}

#[test]
fn aggregate_timeseries() {
    let (_dir, store) = agg_store();
    let computes = vec![
        Compute { aggregation: Aggregation::Count, metric: None, kind: ComputeKind::Timeseries { interval_ms: 500 } },
        Compute {
            aggregation: Aggregation::Max,
            metric: Some("@duration".into()),
            kind: ComputeKind::Timeseries { interval_ms: 1000 },
        },
    ];
    let b = store
        .aggregate(&AggregateRequest {
            query: parse("service:web").unwrap(),
            from_ms: 0,
            to_ms: 2500,
            computes,
            group_by: vec![],
        })
        .unwrap();
    // web: ids 0,1,4,5,8,9,12,13,16,17 at ts = id*100.
    assert_eq!(
        b[0].computes[0],
        ComputeValue::Series(vec![(0, 3.0), (500, 3.0), (1000, 2.0), (1500, 2.0), (2000, 0.0)])
    );
    assert_eq!(b[0].computes[1], ComputeValue::Series(vec![(0, 9.0), (1000, 17.0)]));
    let bad = store.aggregate(&AggregateRequest {
        query: Query::All,
        from_ms: 0,
        to_ms: i64::MAX,
        computes: vec![Compute {
            aggregation: Aggregation::Count,
            metric: None,
            kind: ComputeKind::Timeseries { interval_ms: 1 },
        }],
        group_by: vec![],
    });
    assert!(bad.is_err());
}

#[test]
fn backend_is_object_safe() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Box<dyn LogBackend> = Box::new(open(dir.path()));
    backend.add(&[log(1, "a", "s", "hello world")]).unwrap();
    backend.commit().unwrap();
    assert_eq!(backend.count().unwrap(), 1);
    let (logs, next) = search(backend.as_ref(), "hello", Sort::TimestampDesc, 10, None);
    assert_eq!(logs.len(), 1);
    assert_eq!(next, None);
}

/// An index created before `id` and `timestamp_ms` became fast-only fields (the schema as
/// it was then, spelled out) still opens, takes logs, and answers time ranges, paging by
/// cursor and retention like a new one.
#[test]
fn indexes_of_the_previous_schema_still_open() {
    use tantivy::schema::{IndexRecordOption, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING};
    let dir = tempfile::tempdir().unwrap();
    {
        let mut b = tantivy::schema::Schema::builder();
        let fast_only = TextOptions::default().set_fast("raw");
        let message = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("hydrant_words")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        );
        b.add_text_field("id", STRING | FAST);
        b.add_i64_field("timestamp_ms", INDEXED | FAST);
        for name in ["host", "service", "source", "trace_id"] {
            b.add_text_field(name, STRING | FAST);
        }
        b.add_text_field("status", fast_only.clone());
        b.add_text_field("status_lc", STRING);
        b.add_text_field("message", message);
        b.add_text_field("tags", fast_only);
        b.add_text_field("tags_lc", STRING);
        b.add_text_field("attr", STRING | FAST);
        b.add_text_field("exists", STRING);
        b.add_text_field("log", STORED);
        tantivy::Index::create_in_dir(dir.path(), b.build()).unwrap();
    }
    let store = open(dir.path());
    store.add(&[log(10, "a", "web", "first"), log(20, "b", "web", "second"), log(20, "c", "db", "third")]).unwrap();
    store.commit().unwrap();
    let page = store
        .search(&SearchRequest {
            query: parse("service:web").unwrap(),
            from_ms: 15,
            to_ms: 30,
            sort: Sort::TimestampAsc,
            limit: 10,
            cursor: None,
        })
        .unwrap();
    assert_eq!(page.logs.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["b"]);
    let (first, cursor) = search(&store, "*", Sort::TimestampDesc, 2, None);
    let (rest, _) = search(&store, "*", Sort::TimestampDesc, 2, cursor);
    let ids: Vec<_> = first.iter().chain(&rest).map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["c", "b", "a"]);
    assert_eq!(store.delete_older_than(15).unwrap(), 1);
    store.commit().unwrap();
    assert_eq!(store.count().unwrap(), 2);
}

#[test]
fn logs_added_with_their_json_search_and_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = common::corpus(60, 5, false);
    let json: Vec<String> = corpus.iter().map(|l| serde_json::to_string(l).unwrap()).collect();
    let serialized = open(dir.path());
    assert_eq!(serialized.add_json(&json).unwrap(), 0);
    serialized.commit().unwrap();
    let other = tempfile::tempdir().unwrap();
    let plain = open(other.path());
    plain.add(&corpus).unwrap();
    plain.commit().unwrap();
    for q in ["*", "service:web*", "@http.status_code:>=400", "error"] {
        let a = search(&serialized, q, Sort::TimestampAsc, 1000, None).0;
        let b = search(&plain, q, Sort::TimestampAsc, 1000, None).0;
        assert_eq!(a, b, "{q}");
    }
    assert_eq!(search(&serialized, "*", Sort::TimestampAsc, 1000, None).0.len(), 60);
    // What is not a log's JSON is skipped and counted; the rest of the call is added.
    let mixed = [json[0].as_str(), "not json", r#"{"id":"x"}"#, json[1].as_str()];
    assert_eq!(serialized.add_json(&mixed).unwrap(), 2);
    serialized.commit().unwrap();
    assert_eq!(serialized.count().unwrap(), 62);
}

/// Prepared documents count as unindexed from `finish` until tantivy has indexed them (the
/// intake holds receivers on this), and a new index stores its logs in 128 KiB blocks.
#[test]
fn prepared_documents_count_until_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.unindexed_bytes(), 0);
    let mut prepared = store.preparer();
    let logs = common::corpus(200, 4, false);
    for l in &logs {
        let mut json = Vec::new();
        hydrant_log::json::write_log(&mut json, l);
        prepared.push(l, std::str::from_utf8(&json).unwrap());
    }
    // Nothing is counted before the batch is finished.
    assert_eq!(store.unindexed_bytes(), 0);
    let prepared = prepared.finish();
    let held = store.unindexed_bytes();
    // At least each log's stored JSON, which its document holds.
    let json_bytes: usize = logs.iter().map(|l| serde_json::to_vec(l).unwrap().len()).sum();
    assert!(held as usize >= json_bytes, "{held} < {json_bytes}");
    store.add_prepared(prepared).unwrap();
    // A commit waits for tantivy's threads, which dropped every document once indexed.
    store.commit().unwrap();
    assert_eq!(store.unindexed_bytes(), 0);
    assert_eq!(store.count().unwrap(), 200);
    // A batch dropped unindexed releases its count too.
    let mut dropped = store.preparer();
    dropped.push(&logs[0], &serde_json::to_string(&logs[0]).unwrap());
    let dropped = dropped.finish();
    assert!(store.unindexed_bytes() > 0);
    drop(dropped);
    assert_eq!(store.unindexed_bytes(), 0);

    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["index_settings"]["docstore_blocksize"], json!(128 * 1024), "{meta}");
    assert_eq!(meta["index_settings"]["docstore_compress_dedicated_thread"], json!(false), "{meta}");
}

/// Pages are read segment by segment, the newest (or oldest) first, skipping segments that
/// cannot reach the page: the pages still equal a full sort, over segments that are
/// disjoint in time, overlap, or share timestamps at their edges, with deleted logs.
#[test]
fn pages_over_many_segments_equal_a_full_sort() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rng = common::Rng::new(11);
    let mut all = Vec::new();
    // Eight commits: six in time order (each a range of five timestamps, its edges shared
    // with the next one: many ties, at the edges too), then two spread over the whole range.
    for s in 0..8i64 {
        let logs: Vec<Log> = (0..60)
            .map(|i| {
                let ts = if s < 6 { s * 4 + rng.below(5) as i64 } else { rng.below(25) as i64 };
                let service = ["web", "api"][rng.below(2)];
                let mut l = log(ts, &format!("{s}-{i:02}-{}", rng.below(1000)), service, "m");
                l.add_tag(&format!("n:{}", rng.below(3)));
                l
            })
            .collect();
        store.add(&logs).unwrap();
        store.commit().unwrap();
        all.extend(logs);
    }
    // Deleted logs, in the oldest segment and in the spread ones.
    store.delete_older_than(3).unwrap();
    store.commit().unwrap();
    all.retain(|l| l.timestamp_ms >= 3);
    let queries = ["*", "service:web", "n:1 -service:api", "service:nope"];
    for q in queries {
        let parsed = parse(q).unwrap();
        for sort in [Sort::TimestampDesc, Sort::TimestampAsc] {
            let mut expected: Vec<&Log> = all.iter().filter(|l| parsed.matches(*l)).collect();
            expected.sort_by(|a, b| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
            if sort == Sort::TimestampDesc {
                expected.reverse();
            }
            let expected: Vec<&str> = expected.iter().map(|l| l.id.as_str()).collect();
            for limit in [1, 5, 37, 1000] {
                let (mut got, mut cursor) = (Vec::new(), None);
                loop {
                    let (logs, next) = search(&store, q, sort, limit, cursor);
                    got.extend(logs.into_iter().map(|l| l.id));
                    match next {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                assert_eq!(got, expected, "{q} {sort:?} limit {limit}");
            }
        }
    }
}

/// Histograms and group counts over segments of many blocks (the collector reads the
/// timestamps of a block of matching logs at once), before and after deletes (then logs
/// are collected one by one), equal counting the logs by hand.
#[test]
fn timeseries_and_groups_over_many_blocks_equal_counting_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rng = common::Rng::new(7);
    let mut all = Vec::new();
    for s in 0..3 {
        let logs: Vec<Log> = (0..700)
            .map(|i| {
                let service = ["web", "api", "db"][rng.below(3)];
                let mut l = log(rng.below(10_000) as i64, &format!("{s}-{i:03}"), service, "m");
                if !rng.chance(10) {
                    l.add_tag(&format!("kube_namespace:ns{}", rng.below(4)));
                }
                l
            })
            .collect();
        store.add(&logs).unwrap();
        store.commit().unwrap();
        all.extend(logs);
    }
    let series =
        Compute { aggregation: Aggregation::Count, metric: None, kind: ComputeKind::Timeseries { interval_ms: 1000 } };
    let check = |all: &[Log]| {
        for q in ["*", "service:web"] {
            let parsed = parse(q).unwrap();
            let matching: Vec<&Log> = all.iter().filter(|l| parsed.matches(*l)).collect();
            // The histogram: ten buckets of a second.
            let b = agg(&store, q, vec![series.clone()], vec![]);
            let expected: Vec<(i64, f64)> = (0..10)
                .map(|k| (k * 1000, matching.iter().filter(|l| l.timestamp_ms / 1000 == k).count() as f64))
                .collect();
            assert_eq!(b[0].computes[0], ComputeValue::Series(expected), "{q}");
            // Counts by namespace and service (pairs), and the namespace's histogram.
            let b = agg(
                &store,
                q,
                vec![total(Aggregation::Count, None), series.clone()],
                vec![group("kube_namespace", 10), group("service", 10)],
            );
            let mut seen = 0.0;
            for bucket in &b {
                let ns = bucket.by["kube_namespace"].as_str().unwrap().to_string();
                let svc = bucket.by["service"].as_str().unwrap();
                let of_group: Vec<&&Log> = matching
                    .iter()
                    .filter(|l| l.tags.contains(&format!("kube_namespace:{ns}")) && l.service.as_deref() == Some(svc))
                    .collect();
                assert_eq!(num(bucket, 0), Some(of_group.len() as f64), "{q} {ns} {svc}");
                let expected: Vec<(i64, f64)> = (0..10)
                    .map(|k| (k * 1000, of_group.iter().filter(|l| l.timestamp_ms / 1000 == k).count() as f64))
                    .collect();
                assert_eq!(bucket.computes[1], ComputeValue::Series(expected), "{q} {ns} {svc}");
                seen += num(bucket, 0).unwrap();
            }
            let with_ns = matching.iter().filter(|l| !l.tags.is_empty()).count() as f64;
            assert_eq!(seen, with_ns, "{q}");
        }
    };
    check(&all);
    store.delete_older_than(2_500).unwrap();
    store.commit().unwrap();
    all.retain(|l| l.timestamp_ms >= 2_500);
    check(&all);
}
