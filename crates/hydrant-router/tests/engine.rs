//! The engine with test plugins: routing by Match, filter order, re-emission, acks across
//! several outputs, and what shutdown does to undelivered records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hydrant_flb::config::{Config, Format, Origin, Plugin, Rule};
use hydrant_flb::plugin::BuildResult;
use hydrant_flb::{Ack, AckOutcome, BoxFuture, BuildContext, Chunk, Emitted, Filter, Input, InputContext, Map, Output};
use hydrant_flb::{EventTime, Record, Value};
use hydrant_router::{Registry, Router, RouterOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Outcomes = Arc<Mutex<Vec<(String, AckOutcome)>>>;
type Delivered = Arc<Mutex<Vec<(String, String, String)>>>; // (output, tag, json)

static OUTCOMES: Mutex<Option<Outcomes>> = Mutex::new(None);
static DELIVERED: Mutex<Option<Delivered>> = Mutex::new(None);

fn outcomes() -> Outcomes {
    OUTCOMES.lock().unwrap().get_or_insert_with(Default::default).clone()
}

fn delivered() -> Delivered {
    DELIVERED.lock().unwrap().get_or_insert_with(Default::default).clone()
}

/// Emits one chunk per `Line` property: `Line tag message`.
struct LinesInput {
    lines: Vec<(String, String)>,
}

fn build_lines(plugin: &Plugin, _: &BuildContext) -> BuildResult<Box<dyn Input>> {
    let lines = plugin
        .get_all("Line")
        .map(|l| {
            let (tag, msg) = l.split_once(' ').unwrap();
            (tag.to_owned(), msg.to_owned())
        })
        .collect();
    Ok(Box::new(LinesInput { lines }))
}

impl Input for LinesInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            for (tag, msg) in self.lines {
                let outcomes = outcomes();
                let id = msg.clone();
                let ack = Ack::new(move |o| outcomes.lock().unwrap().push((id, o)));
                let mut body = Map::new();
                body.insert("log", Value::from(msg.as_str()));
                ctx.chunks.send(Chunk::new(tag.into(), vec![Record::new(EventTime::new(1, 0), body)], ack)).await?;
            }
            ctx.shutdown.cancelled().await;
            Ok(())
        })
    }
}

/// Appends `Add key value` to each record; drops records whose log is `Drop`'s value;
/// re-emits records whose log is `Emit`'s value under tag `Emit_Tag`.
struct TestFilter {
    add: (String, String),
    drop: Option<String>,
    emit: Option<(String, String)>,
}

fn build_filter(plugin: &Plugin, _: &BuildContext) -> BuildResult<Box<dyn Filter>> {
    let add = plugin.get("Add").unwrap().split_once(' ').unwrap();
    Ok(Box::new(TestFilter {
        add: (add.0.to_owned(), add.1.to_owned()),
        drop: plugin.get("Drop").map(str::to_owned),
        emit: plugin.get("Emit").map(|e| (e.to_owned(), plugin.get("Emit_Tag").unwrap().to_owned())),
    }))
}

impl Filter for TestFilter {
    fn filter<'a>(
        &'a mut self,
        _tag: &'a str,
        records: &'a mut Vec<Record>,
        emitted: &'a mut Vec<Emitted>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let log = |r: &Record| r.body.get("log").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(d) = &self.drop {
                records.retain(|r| log(r) != *d);
            }
            if let Some((e, tag)) = &self.emit {
                let mut kept = Vec::new();
                for r in records.drain(..) {
                    if log(&r) == *e {
                        emitted.push(Emitted { tag: tag.clone(), record: r });
                    } else {
                        kept.push(r);
                    }
                }
                *records = kept;
            }
            for r in records.iter_mut() {
                r.body.push(self.add.0.clone(), Value::from(self.add.1.as_str()));
            }
        })
    }
}

/// Records what it gets; completes acks unless `Hold On`.
struct TestOutput {
    name: String,
    hold: bool,
}

fn build_output(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Box<dyn Output>> {
    Ok(Box::new(TestOutput { name: ctx.name.clone(), hold: plugin.get_bool("Hold")?.unwrap_or(false) }))
}

impl Output for TestOutput {
    fn run(self: Box<Self>, mut chunks: mpsc::Receiver<Chunk>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut held = Vec::new();
            while let Some(chunk) = chunks.recv().await {
                for r in &chunk.records {
                    delivered().lock().unwrap().push((
                        self.name.clone(),
                        chunk.tag.to_string(),
                        r.body.to_json_string(),
                    ));
                }
                if self.hold {
                    held.push(chunk);
                } else {
                    chunk.ack.complete();
                }
            }
            if self.hold {
                // Never delivers: the router's grace period ends this task.
                std::future::pending::<()>().await;
            }
        })
    }
}

fn registry() -> Registry {
    Registry::empty()
        .with_input("lines", build_lines)
        .with_filter("test", build_filter)
        .with_output("test", build_output)
}

fn plugin(name: &str, line: usize, props: &[(&str, &str)]) -> Plugin {
    let mut p = Plugin::new(name, Origin::new("test.conf", line));
    for (k, v) in props {
        p.properties.push(*k, *v);
    }
    p
}

async fn run_for(config: Config, settle: Duration) -> std::sync::Arc<hydrant_flb::metrics::Metrics> {
    let dir = tempfile::tempdir().unwrap();
    let router = Router::build(config, RouterOptions::new(dir.path(), registry())).unwrap();
    let metrics = router.metrics();
    let stop = CancellationToken::new();
    let task = tokio::spawn(router.run(stop.clone()));
    tokio::time::sleep(settle).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
    metrics
}

// One test function: the plugins above share process-wide recorders.
#[tokio::test]
async fn routes_filters_reemits_and_acknowledges() {
    let mut config = Config::empty(Format::Classic);
    config.inputs.push(plugin(
        "lines",
        1,
        &[
            ("Line", "app.web hello"),
            ("Line", "app.web secret"),
            ("Line", "app.web audit"),
            ("Line", "sys.x boot"),
            ("Line", "app.web loop"),
        ],
    ));
    config.filters.push(plugin("test", 5, &[("Match", "app.*"), ("Add", "f1 one"), ("Drop", "secret")]));
    config.filters.push(plugin(
        "test",
        9,
        &[("Match", "app.*"), ("Add", "f2 two"), ("Emit", "audit"), ("Emit_Tag", "audit.web")],
    ));
    config.filters.push(plugin("test", 14, &[("Match", "audit.*"), ("Add", "f3 three")]));
    // Re-emits under a tag it matches itself: the re-emitted record must skip it (no loop).
    config.filters.push(plugin(
        "test",
        17,
        &[("Match", "*"), ("Add", "f4 four"), ("Emit", "loop"), ("Emit_Tag", "loop.x")],
    ));
    config.outputs.push(plugin("test", 20, &[("Match", "*")]));
    config.outputs.push(plugin("test", 24, &[("Match_Regex", "^audit\\.")]));
    let metrics = run_for(config, Duration::from_millis(300)).await;

    let mut got = delivered().lock().unwrap().clone();
    // Records into each filter, counted once by the engine. test.3 matches `*`: hello,
    // boot, loop (which it re-emits, and then skips) and audit once re-emitted by test.1;
    // secret was dropped by test.0 before it.
    let text = metrics.encode();
    assert!(text.contains("hydrant_router_filter_records_in_total{name=\"test.0\"} 4"), "{text}");
    assert!(text.contains("hydrant_router_filter_records_in_total{name=\"test.3\"} 4"), "{text}");
    got.sort();
    let expect = vec![
        // Re-emitted: went through filter 1 (app.*) before filter 2 re-tagged it, then from
        // the top again as audit.web (only filter 3 matches), to both outputs.
        ("test.0", "audit.web", r#"{"log":"audit","f1":"one","f3":"three","f4":"four"}"#),
        ("test.0", "app.web", r#"{"log":"hello","f1":"one","f2":"two","f4":"four"}"#),
        ("test.0", "sys.x", r#"{"log":"boot","f4":"four"}"#),
        ("test.0", "loop.x", r#"{"log":"loop","f1":"one","f2":"two"}"#),
        ("test.1", "audit.web", r#"{"log":"audit","f1":"one","f3":"three","f4":"four"}"#),
    ];
    let mut expect: Vec<(String, String, String)> =
        expect.into_iter().map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())).collect();
    expect.sort();
    assert_eq!(got, expect);

    let mut acks = outcomes().lock().unwrap().clone();
    acks.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        acks,
        vec![
            ("audit".to_owned(), AckOutcome::Delivered),
            ("boot".to_owned(), AckOutcome::Delivered),
            ("hello".to_owned(), AckOutcome::Delivered),
            ("loop".to_owned(), AckOutcome::Delivered),
            // Dropped by a filter: done with, so delivered as far as the input cares.
            ("secret".to_owned(), AckOutcome::Delivered),
        ]
    );

    // An output that never delivers: after the grace period, the acks are abandoned
    // (the input keeps its position) even though another output delivered.
    outcomes().lock().unwrap().clear();
    let mut config = Config::empty(Format::Classic);
    config.service.push("Grace", "1");
    config.inputs.push(plugin("lines", 1, &[("Line", "app.web stuck")]));
    config.outputs.push(plugin("test", 5, &[("Match", "*")]));
    config.outputs.push(plugin("test", 9, &[("Match", "*"), ("Hold", "on")]));
    let started = std::time::Instant::now();
    run_for(config, Duration::from_millis(200)).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for the grace period");
    assert_eq!(outcomes().lock().unwrap().clone(), vec![("stuck".to_owned(), AckOutcome::Abandoned)]);
}

#[test]
fn unknown_plugins_and_bad_matches_are_reported_with_their_place() {
    let mut config = Config::empty(Format::Classic);
    config.inputs.push(plugin("systemd", 3, &[]));
    config.filters.push(plugin("lua", 7, &[("Match", "*")]));
    config.outputs.push(plugin("es", 11, &[("Match", "*")]));
    config.outputs.push(plugin("test", 15, &[("Match_Regex", "(")]));
    let dir = tempfile::tempdir().unwrap();
    let errors = Router::build(config, RouterOptions::new(dir.path(), registry())).err().unwrap();
    let text = errors.to_string();
    assert_eq!(errors.len(), 4, "{text}");
    assert!(
        text.contains("test.conf:3: unsupported: `systemd` input is not supported by Hydrant; supported: lines"),
        "{text}"
    );
    assert!(text.contains("test.conf:7: unsupported: `lua` filter"), "{text}");
    assert!(
        text.contains("test.conf:11: unsupported: `es` output is not supported by Hydrant; supported: test"),
        "{text}"
    );
    assert!(errors.errors()[3].rule == Rule::InvalidValue && text.contains("test.conf:15"), "{text}");
}
