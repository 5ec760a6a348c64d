//! `intake-query`: query latency over a large store. Fills a `LogStore` directly with
//! synthetic seed-shaped logs (the Fluent Bit records of `intake-ingest`, decoded and
//! preprocessed by the intake's own code, the seed pipeline applied, plus the `http.*`
//! attributes a grok parser would extract from the access lines), spread over one day,
//! then times the explorer's typical queries. The baseline, in the same run, is the
//! match-all newest-50 page (`*`): each query's p50 is printed as a ratio to it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use hydrant_intake::decode::{self, Decoded};
use hydrant_log::Log;
use hydrant_logstore::{
    AggregateRequest, Aggregation, Compute, ComputeKind, ComputeValue, FacetsRequest, GroupBy, GroupSort, LogStore,
    LogStoreOptions, SearchRequest, Sort,
};
use serde_json::{json, Value};

use crate::records::{self, RecordGen, SOURCE_ARN};
use crate::{cpu, ms};

#[derive(clap::Args)]
pub struct Args {
    /// Logs in the store.
    #[arg(long, default_value_t = 10_000_000)]
    logs: usize,
    /// Timed runs of each query (after one untimed first run).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Logs added between commits.
    #[arg(long, default_value_t = 100_000)]
    commit_every: usize,
    /// Keep the store in this directory, and reuse it when it already holds `--logs` logs
    /// (default: a temporary directory under ./target, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// 20 namespaces, the seed's among them: each holds 5% of the logs.
const NAMESPACES: &[&str] = &[
    "fargate-namespace",
    "payments",
    "checkout",
    "catalog",
    "search",
    "auth",
    "orders",
    "inventory",
    "shipping",
    "billing",
    "notifications",
    "recommendations",
    "reviews",
    "cart",
    "profile",
    "gateway",
    "analytics",
    "media",
    "admin",
    "staging-web",
];

/// First log's date; the logs cover one day from here.
const START_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

/// Builds `n` logs as the intake would store them, in batches handed to `sink`.
struct Filler {
    gen: RecordGen,
    pipeline: hydrant_pipeline::CompiledPipelines,
    n: usize,
    next: usize,
}

impl Filler {
    fn new(n: usize) -> anyhow::Result<Filler> {
        Ok(Filler { gen: RecordGen::new(11, NAMESPACES, 12), pipeline: records::compiled_seed_pipeline()?, n, next: 0 })
    }

    fn ts(&self, i: usize) -> i64 {
        START_MS + (i as i128 * DAY_MS as i128 / self.n.max(1) as i128) as i64
    }

    fn log(&mut self) -> anyhow::Result<Log> {
        let ts = self.ts(self.next);
        self.next += 1;
        let rec = self.gen.record(ts);
        let Decoded::Logs(mut maps) = decode::record(rec.json.as_bytes()).map_err(anyhow::Error::msg)? else {
            anyhow::bail!("no log in a record")
        };
        let mut attrs = maps.pop().context("no log in a record")?;
        attrs.insert("aws".into(), json!({"firehose": {"arn": SOURCE_ARN}}));
        if let Some(a) = &rec.access {
            attrs.insert(
                "http".into(),
                json!({"method": a.method, "status_code": a.status, "url": a.path, "bytes": a.bytes}),
            );
        }
        let mut log = hydrant_log::preprocess::preprocess(attrs, ts);
        log.source.get_or_insert_with(|| "aws".to_string());
        log.service.get_or_insert_with(|| "aws".to_string());
        self.pipeline.apply(&mut log);
        Ok(log)
    }
}

fn dir_size(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn segments(p: &Path) -> usize {
    std::fs::read(p.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["segments"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Adds `--logs` logs in batches of 10,000, committing every `--commit-every`. The logs
/// are built on a thread of their own, so the rate is the store's (documents built on
/// this thread, indexed on tantivy's writer thread) as long as building keeps up.
fn fill(store: &LogStore, args: &Args) -> anyhow::Result<()> {
    let mut filler = Filler::new(args.logs)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Log>>(2);
    let n = args.logs;
    let builder = std::thread::Builder::new().name("log-builder".into()).spawn(move || {
        while filler.next < n {
            let mut batch = Vec::with_capacity(10_000);
            while batch.len() < 10_000 && filler.next < n {
                batch.push(filler.log()?);
            }
            if tx.send(batch).is_err() {
                break;
            }
        }
        anyhow::Ok(())
    })?;
    let cpu_before = cpu::snapshot();
    let started = Instant::now();
    let mut waiting = Duration::ZERO;
    let (mut added, mut since_commit) = (0, 0);
    let mut last_report = Instant::now();
    loop {
        let s = Instant::now();
        let Ok(batch) = rx.recv() else { break };
        waiting += s.elapsed();
        store.add(&batch)?;
        added += batch.len();
        since_commit += batch.len();
        if since_commit >= args.commit_every {
            store.commit()?;
            since_commit = 0;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!("  ... {added} logs, {:.0} logs/s", added as f64 / started.elapsed().as_secs_f64());
        }
    }
    builder.join().map_err(|_| anyhow::anyhow!("the log builder panicked"))??;
    store.commit()?;
    let secs = started.elapsed().as_secs_f64();
    let cpu_after = cpu::snapshot();
    println!(
        "filled: {added} logs in {secs:.1} s = {:.0} logs/s, committing every {} ({:.1} s of it waiting for the log builder)",
        added as f64 / secs,
        args.commit_every,
        waiting.as_secs_f64()
    );
    println!("  CPU: {}", cpu::report(&cpu_before, &cpu_after, secs));
    Ok(())
}

/// p50, p99 and the first run, over `runs` timed runs of `f(i)`.
struct Timing {
    first: Duration,
    p50: Duration,
    p99: Duration,
}

fn time(runs: usize, mut f: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<Timing> {
    let s = Instant::now();
    f(0)?;
    let first = s.elapsed();
    let mut t = Vec::with_capacity(runs);
    for i in 1..=runs.max(1) {
        let s = Instant::now();
        f(i)?;
        t.push(s.elapsed());
    }
    t.sort_unstable();
    let at = |p: f64| t[((t.len() as f64 - 1.0) * p).round() as usize];
    Ok(Timing { first, p50: at(0.5), p99: at(0.99) })
}

fn count(store: &LogStore, q: &str, from: i64, to: i64) -> anyhow::Result<u64> {
    let b = store.aggregate(&AggregateRequest {
        query: hydrant_query::parse(q)?,
        from_ms: from,
        to_ms: to,
        computes: vec![Compute { aggregation: Aggregation::Count, metric: None, kind: ComputeKind::Total }],
        group_by: vec![],
    })?;
    Ok(match b.first().and_then(|b| b.computes.first()) {
        Some(ComputeValue::Number(Some(n))) => *n as u64,
        _ => 0,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (_temp, dir) = match &args.dir {
        Some(d) => (None, d.clone()),
        None => {
            std::fs::create_dir_all("target")?;
            let t = tempfile::tempdir_in("target").context("temporary data directory")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    println!(
        "intake-query: {} logs (one day of seed-shaped logs, 20 namespaces), {} runs per query",
        args.logs, args.runs
    );
    let store = LogStore::open(&dir, LogStoreOptions::default())?;
    let have = store.count()?;
    if have == args.logs as u64 {
        println!("reusing the {have} logs in {}", dir.display());
    } else {
        anyhow::ensure!(have == 0, "{} holds {have} logs, not {}: use another --dir", dir.display(), args.logs);
        fill(&store, &args)?;
    }
    println!(
        "store: {:.2} GiB on disk ({:.0} B per log), {} segments",
        dir_size(&dir) as f64 / (1u64 << 30) as f64,
        dir_size(&dir) as f64 / args.logs.max(1) as f64,
        segments(&dir)
    );

    let (from, to) = (START_MS, START_MS + DAY_MS);
    let search = |q: &str| -> anyhow::Result<SearchRequest> {
        Ok(SearchRequest {
            query: hydrant_query::parse(q)?,
            from_ms: from,
            to_ms: to,
            sort: Sort::TimestampDesc,
            limit: 50,
            cursor: None,
        })
    };
    let count_req = |facet: Option<&str>, interval: Option<i64>| -> anyhow::Result<AggregateRequest> {
        Ok(AggregateRequest {
            query: hydrant_query::parse("*")?,
            from_ms: from,
            to_ms: to,
            computes: vec![Compute {
                aggregation: Aggregation::Count,
                metric: None,
                kind: interval.map_or(ComputeKind::Total, |i| ComputeKind::Timeseries { interval_ms: i }),
            }],
            group_by: facet
                .map(|f| vec![GroupBy { facet: f.into(), limit: 25, missing: None, sort: GroupSort::default() }])
                .unwrap_or_default(),
        })
    };

    // The queries; the tag filter turns through the namespaces so that no run repeats
    // the previous one's terms.
    let tag_reqs =
        NAMESPACES.iter().map(|ns| search(&format!("kube_namespace:{ns}"))).collect::<Result<Vec<_>, _>>()?;
    let all = search("*")?;
    let range = search("@http.status_code:>=500")?;
    let text = search("timed")?;
    let seed = search("service:aws source:aws")?;
    let by_ns = count_req(Some("kube_namespace"), None)?;
    let hist = count_req(None, Some(DAY_MS / 100))?;
    let by_status = count_req(Some("@http.status_code"), None)?;

    let total = count(&store, "*", from, to)? as f64;
    let share = |q: &str| -> anyhow::Result<String> {
        Ok(format!("{:.1}%", count(&store, q, from, to)? as f64 * 100.0 / total.max(1.0)))
    };
    let page = |req: &SearchRequest| -> anyhow::Result<()> {
        anyhow::ensure!(store.search(req)?.logs.len() == 50, "fewer than 50 logs for {:?}", req.query);
        Ok(())
    };
    let agg = |req: &AggregateRequest| -> anyhow::Result<()> {
        anyhow::ensure!(!store.aggregate(req)?.is_empty(), "no bucket");
        Ok(())
    };

    let baseline = time(args.runs, |_| page(&all))?;
    println!(
        "{:<66} {:>7} {:>9} {:>9} {:>9} {:>7}",
        "query (newest 50 logs unless said)", "matches", "first ms", "p50 ms", "p99 ms", "p50/base"
    );
    let row = |name: &str, matches: &str, t: &Timing| {
        println!(
            "{name:<66} {matches:>7} {:>9.2} {:>9.2} {:>9.2} {:>7.2}",
            ms(t.first),
            ms(t.p50),
            ms(t.p99),
            t.p50.as_secs_f64() / baseline.p50.as_secs_f64()
        );
    };
    row("baseline: match all `*`", "100%", &baseline);
    let tag = time(args.runs, |i| page(&tag_reqs[i % tag_reqs.len()]))?;
    row("tag filter `kube_namespace:<ns>` (20 namespaces in turn)", &share("kube_namespace:fargate-namespace")?, &tag);
    row(
        "attribute range `@http.status_code:>=500`",
        &share("@http.status_code:>=500")?,
        &time(args.runs, |_| page(&range))?,
    );
    row("free text `timed`", &share("timed")?, &time(args.runs, |_| page(&text))?);
    row("seed explorer query `service:aws source:aws`", "100%", &time(args.runs, |_| page(&seed))?);
    row("aggregate: count by kube_namespace over `*`", "100%", &time(args.runs, |_| agg(&by_ns))?);
    row("aggregate: count by @http.status_code over `*`", "100%", &time(args.runs, |_| agg(&by_status))?);
    row("histogram: count in 100 time buckets over `*`", "100%", &time(args.runs, |_| agg(&hist))?);
    // The explorer's facet panel: its 9 fixed facets and the tag keys of the seed's logs.
    let panel = FacetsRequest {
        query: hydrant_query::parse("*")?,
        from_ms: from,
        to_ms: to,
        facets: [
            "source",
            "service",
            "status",
            "host",
            "kube_namespace",
            "kube_container_name",
            "pod_name",
            "container_id",
            "env",
            "app",
            "aws_region",
        ]
        .iter()
        .map(|f| f.to_string())
        .collect(),
        limit: 10,
    };
    let facets = |one_pass: bool| -> anyhow::Result<()> {
        let answers = if one_pass {
            store.facets(&panel)?
        } else {
            panel.facets.iter().map(|f| store.aggregate(&panel.aggregation(f))).collect::<Result<_, _>>()?
        };
        anyhow::ensure!(answers.iter().filter(|a| !a.is_empty()).count() >= 6, "fewer than 6 facets with values");
        Ok(())
    };
    let per_facet = time(args.runs, |_| facets(false))?;
    row("facet panel, 11 facets over `*`: one aggregation per facet", "100%", &per_facet);
    let one_pass = time(args.runs, |_| facets(true))?;
    row("facet panel, 11 facets over `*`: one pass (`LogStore::facets`)", "100%", &one_pass);
    println!(
        "ratio facet panel one pass / one aggregation per facet (p50): {:.2}",
        one_pass.p50.as_secs_f64() / per_facet.p50.as_secs_f64()
    );
    println!(
        "tag query p50 {:.2} ms: target < 50 ms {}",
        ms(tag.p50),
        if tag.p50 < Duration::from_millis(50) { "met" } else { "not met" }
    );
    Ok(())
}
