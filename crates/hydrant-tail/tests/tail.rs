//! End-to-end tests of the tail input: real files in temporary directories, a real tokio
//! runtime, acks driven by hand.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_flb::config::{Config, Format, Origin, Plugin};
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::{BuildContext, Chunk, InputContext};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    rx: mpsc::Receiver<Chunk>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    metrics: Arc<Metrics>,
}

fn plugin(props: &[(&str, &str)]) -> Plugin {
    let mut p = Plugin::new("tail", Origin::new("test.conf", 1));
    for (k, v) in props {
        p.properties.push(*k, *v);
    }
    p
}

fn context(metrics: Arc<Metrics>) -> BuildContext {
    BuildContext {
        config: Arc::new(Config::empty(Format::Classic)),
        metrics,
        name: "tail.0".into(),
        data_dir: std::env::temp_dir(),
    }
}

fn start(props: &[(&str, &str)]) -> Harness {
    let metrics = Arc::new(Metrics::new());
    let input = hydrant_tail::build(&plugin(props), &context(metrics.clone())).expect("valid options");
    let (tx, rx) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(input.run(InputContext { chunks: tx, shutdown: shutdown.clone() }));
    Harness { rx, shutdown, task, metrics }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A failing test must not leave the reading thread running: the runtime waits for it.
        self.shutdown.cancel();
    }
}

impl Harness {
    async fn chunk(&mut self) -> Chunk {
        tokio::time::timeout(WAIT, self.rx.recv()).await.expect("a chunk in time").expect("input running")
    }

    /// Receive chunks (completing their acks) until `n` records came; their bodies as JSON.
    async fn bodies(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let c = self.chunk().await;
            out.extend(c.records.iter().map(|r| r.body.to_json_string()));
            c.ack.complete();
        }
        assert_eq!(out.len(), n, "exactly the records expected: {out:?}");
        out
    }

    /// Like `bodies`, the values of `log` only.
    async fn logs(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let c = self.chunk().await;
            out.extend(c.records.iter().map(|r| r.body.get("log").unwrap().as_str().unwrap().to_owned()));
            c.ack.complete();
        }
        assert_eq!(out.len(), n, "exactly the records expected: {out:?}");
        out
    }

    /// Nothing arrives within `d`.
    async fn quiet(&mut self, d: Duration) {
        if let Ok(Some(c)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected chunk: {:?}", c.records);
        }
    }

    async fn stop(mut self) {
        self.shutdown.cancel();
        self.rx.close();
        let task = &mut self.task;
        tokio::time::timeout(WAIT, task).await.expect("stops in time").unwrap().unwrap();
    }

    fn counter(&self, f: impl Fn(&Metrics) -> u64) -> u64 {
        f(&self.metrics)
    }
}

fn labels() -> PluginLabels {
    PluginLabels::new("tail.0")
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn glob_in(dir: &Path, pattern: &str) -> String {
    format!("{}/{pattern}", dir.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_lines_tag_and_extra_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web-1_default_nginx-0123.log");
    append(&path, "2024-01-15T10:00:00Z stdout F GET /\r\nsecond\n");
    let mut h = start(&[
        ("Path", &glob_in(dir.path(), "*.log")),
        ("Tag", "kube.*"),
        ("Read_From_Head", "On"),
        ("Path_Key", "file"),
        ("Offset_Key", "off"),
    ]);
    let c = h.chunk().await;
    // Fluent Bit collapses repeated dots (tempdirs are named `.tmpXXXX`).
    let expected_tag = format!("kube{}", path.display().to_string().replace('/', ".").replace("..", "."));
    assert_eq!(&*c.tag, expected_tag);
    let p = path.display().to_string();
    let bodies: Vec<_> = c.records.iter().map(|r| r.body.to_json_string()).collect();
    assert_eq!(
        bodies,
        vec![
            format!(r#"{{"file":"{p}","off":0,"log":"2024-01-15T10:00:00Z stdout F GET /"}}"#),
            format!(r#"{{"file":"{p}","off":37,"log":"second"}}"#),
        ]
    );
    let now = hydrant_flb::EventTime::now();
    assert!(c.records.iter().all(|r| (now.secs - r.time.secs).abs() < 5), "raw lines carry the read time");
    c.ack.complete();
    append(&path, "third\n");
    assert_eq!(h.logs(1).await, ["third"]);
    assert_eq!(h.counter(|m| m.input_lines.get_or_create(&labels()).get()), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_from_head_off_starts_existing_files_at_their_end_and_new_ones_at_their_head() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.log");
    append(&old, "before start\n");
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("Refresh_Interval", "0.2"), ("Key", "message")]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    append(&old, "after start\n");
    let c = h.chunk().await;
    assert_eq!(c.records.len(), 1);
    assert_eq!(c.records[0].body.to_json_string(), r#"{"message":"after start"}"#);
    c.ack.complete();
    let new = dir.path().join("new.log");
    append(&new, "first of new\nsecond of new\n");
    let c = h.chunk().await;
    assert_eq!(&*c.tag, "tail.0", "without Tag, the instance name (as Fluent Bit)");
    let bodies: Vec<_> = c.records.iter().map(|r| r.body.to_json_string()).collect();
    assert_eq!(bodies, [r#"{"message":"first of new"}"#, r#"{"message":"second of new"}"#]);
    c.ack.complete();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_lines_are_parsed_and_partials_joined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    append(
        &path,
        "2024-01-15T10:00:00.000000001Z stdout P hello \n\
         2024-01-15T10:00:01Z stderr F oops\n\
         2024-01-15T10:00:02Z stdout F world\n\
         not a cri line\n",
    );
    let mut h =
        start(&[("Path", &glob_in(dir.path(), "*.log")), ("Read_From_Head", "On"), ("multiline.parser", "cri")]);
    let mut records = Vec::new();
    while records.len() < 3 {
        let c = h.chunk().await;
        records.extend(c.records.iter().map(|r| (r.body.to_json_string(), r.time)));
        c.ack.complete();
    }
    assert_eq!(records[0].0, r#"{"time":"2024-01-15T10:00:01Z","stream":"stderr","_p":"F","log":"oops"}"#);
    assert_eq!(records[0].1, hydrant_flb::EventTime::new(1_705_312_801, 0));
    assert_eq!(
        records[1].0,
        r#"{"time":"2024-01-15T10:00:00.000000001Z","stream":"stdout","_p":"P","log":"hello world"}"#
    );
    assert_eq!(records[1].1, hydrant_flb::EventTime::new(1_705_312_800, 1));
    assert_eq!(records[2].0, r#"{"log":"not a cri line"}"#);
    assert_eq!(h.counter(|m| m.input_skipped.get_or_create(&labels()).get()), 1, "the unparsable line is counted");

    // A partial with no final part is flushed as it is after 4 s.
    let t0 = Instant::now();
    append(&path, "2024-01-15T10:00:03Z stdout P dangling\n");
    let body = h.bodies(1).await;
    let waited = t0.elapsed();
    assert_eq!(body, [r#"{"time":"2024-01-15T10:00:03Z","stream":"stdout","_p":"P","log":"dangling"}"#]);
    assert!(waited >= Duration::from_millis(3_900) && waited < Duration::from_secs(6), "flushed after {waited:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_lines_are_parsed_and_split_lines_joined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.log");
    append(
        &path,
        concat!(
            r#"{"log":"one, ","stream":"stdout","time":"2021-02-01T01:40:03.53413Z"}"#,
            "\n",
            r#"{"log":"two\n","stream":"stdout","time":"2021-02-01T01:40:03.53414Z"}"#,
            "\n"
        ),
    );
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("Read_From_Head", "On"), ("Parser", "docker")]);
    let c = h.chunk().await;
    assert_eq!(c.records.len(), 1);
    assert_eq!(
        c.records[0].body.to_json_string(),
        r#"{"log":"one, two\n","stream":"stdout","time":"2021-02-01T01:40:03.53413Z"}"#
    );
    assert_eq!(c.records[0].time, hydrant_flb::EventTime::new(1_612_143_603, 534_130_000));
    c.ack.complete();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_parsers_and_missing_path_are_refused() {
    let metrics = Arc::new(Metrics::new());
    let err = hydrant_tail::build(&plugin(&[("Path", "/x/*.log"), ("Parser", "json")]), &context(metrics.clone()))
        .err()
        .unwrap();
    assert!(err.to_string().contains("only the built-in `cri` and `docker`"), "{err}");
    let err = hydrant_tail::build(
        &plugin(&[("Path", "/x/*.log"), ("multiline.parser", "cri, java")]),
        &context(metrics.clone()),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("`java`"), "{err}");
    assert!(hydrant_tail::build(&plugin(&[("Tag", "x")]), &context(metrics.clone())).is_err());
    assert!(hydrant_tail::build(&plugin(&[("Path", "/x"), ("Buffer_Max_Size", "lots")]), &context(metrics)).is_err());
}

fn db_rows(db: &Path) -> Vec<(String, u64, u64, bool)> {
    hydrant_tail::positions::dump(db).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_advance_only_over_delivered_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let db = dir.path().join("pos.db");
    let db_s = db.display().to_string();
    let pattern = glob_in(dir.path(), "*.log");
    let props = [("Path", pattern.as_str()), ("DB", db_s.as_str()), ("Read_From_Head", "On")];

    append(&path, "a1\na2\n");
    let mut h = start(&props);
    let a = h.chunk().await;
    append(&path, "b1\n");
    let b = h.chunk().await;
    append(&path, "c1\n");
    let c = h.chunk().await;
    fn logs(c: &Chunk) -> Vec<&str> {
        c.records.iter().map(|r| r.body.get("log").unwrap().as_str().unwrap()).collect()
    }
    assert_eq!((logs(&a), logs(&b), logs(&c)), (vec!["a1", "a2"], vec!["b1"], vec!["c1"]));

    c.ack.complete(); // delivered, but after an undelivered span: must not count yet
    a.ack.complete();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = db_rows(&db);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].1, rows[0].2), (6, std::fs::metadata(&path).unwrap().ino()), "only a1, a2 are committed");
    b.ack.abandon();
    h.stop().await;
    assert_eq!(db_rows(&db)[0].1, 6, "an abandoned span is never passed");

    // Restart: exactly what was not committed comes again.
    let mut h = start(&props);
    assert_eq!(h.logs(2).await, ["b1", "c1"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(db_rows(&db)[0].1, 12);
    h.stop().await;

    // Restart again: nothing old, new lines only, no loss.
    append(&path, "d1\n");
    let mut h = start(&props);
    assert_eq!(h.logs(1).await, ["d1"]);
    h.quiet(Duration::from_millis(500)).await;
    h.stop().await;
    assert_eq!(db_rows(&db), vec![(path.display().to_string(), 15, std::fs::metadata(&path).unwrap().ino(), false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_written_by_fluent_bit_is_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fb.log");
    append(&path, "l1\nl2\nl3\nl4\n");
    let ino = std::fs::metadata(&path).unwrap().ino();
    let db = dir.path().join("flb_kube.db");
    {
        // Fluent Bit's schema and rows, as tail_sql.h writes them.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE in_tail_files (id INTEGER PRIMARY KEY, name TEXT NOT NULL, offset INTEGER, \
             inode INTEGER, created INTEGER, rotated INTEGER DEFAULT 0);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?1, 3, ?2, 1700000000)",
            rusqlite::params![path.display().to_string(), ino as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?1, 6, ?2, 1700000001)",
            rusqlite::params![path.display().to_string(), ino as i64],
        )
        .unwrap();
    }
    let db_s = db.display().to_string();
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("DB", &db_s), ("Read_From_Head", "On")]);
    assert_eq!(h.logs(2).await, ["l3", "l4"], "the newest row of the inode wins");
    h.stop().await;
    let rows = db_rows(&db);
    assert_eq!(rows[1].1, 12, "the existing row is updated: {rows:?}");
    assert_eq!(rows.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_under_continuous_writes_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "");
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("Read_From_Head", "On"), ("Rotate_Wait", "1")]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    const TOTAL: usize = 4000;
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&writer_path).unwrap();
        let mut rotations = 0;
        let mut reopen_in = 0;
        for i in 0..TOTAL {
            writeln!(f, "line {i:05}").unwrap();
            // The application keeps writing to the renamed file for a few lines, then reopens.
            if reopen_in > 0 {
                reopen_in -= 1;
                if reopen_in == 0 {
                    f = std::fs::OpenOptions::new().create(true).append(true).open(&writer_path).unwrap();
                }
            }
            if i % 1000 == 999 {
                rotations += 1;
                std::fs::rename(&writer_path, writer_path.with_extension(format!("log.{rotations}"))).unwrap();
                reopen_in = 3;
            }
            // About 0.5 s per file: polling sees a file that lives at least one poll
            // interval under a name the glob matches.
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let mut got = Vec::new();
    while got.len() < TOTAL {
        let Ok(Some(c)) = tokio::time::timeout(WAIT, h.rx.recv()).await else {
            got.sort();
            let missing: Vec<_> = (0..TOTAL).filter(|i| got.binary_search(&format!("line {i:05}")).is_err()).collect();
            panic!("{} records; missing {:?}", got.len(), missing);
        };
        got.extend(c.records.iter().map(|r| r.body.get("log").unwrap().as_str().unwrap().to_owned()));
        c.ack.complete();
    }
    writer.join().unwrap();
    h.quiet(Duration::from_millis(1_500)).await;
    got.sort();
    let expected: Vec<String> = (0..TOTAL).map(|i| format!("line {i:05}")).collect();
    assert_eq!(got, expected);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_written_to_a_renamed_file_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "before\n");
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("Read_From_Head", "On"), ("Rotate_Wait", "1")]);
    assert_eq!(h.logs(1).await, ["before"]);
    let mut old = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    append(&path, "new file\n");
    tokio::time::sleep(Duration::from_millis(400)).await;
    writeln!(old, "late write to the old file").unwrap();
    let mut got = h.logs(2).await;
    got.sort();
    assert_eq!(got, ["late write to the old file", "new file"]);
    h.quiet(Duration::from_millis(1_500)).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_names_matching_the_glob_are_not_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "one\ntwo\n");
    let mut h = start(&[
        ("Path", &glob_in(dir.path(), "app.log*")),
        ("Read_From_Head", "On"),
        ("Rotate_Wait", "0.3"),
        ("Refresh_Interval", "0.2"),
    ]);
    assert_eq!(h.logs(2).await, ["one", "two"]);
    std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    append(&path, "three\n");
    assert_eq!(h.logs(1).await, ["three"]);
    // Through several scans and past Rotate_Wait, the rotated file is not read again.
    h.quiet(Duration::from_millis(1_200)).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_restarts_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "a long first line of the old content\nanother line of the old content\n");
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("Read_From_Head", "On")]);
    assert_eq!(h.logs(2).await.len(), 2);
    std::fs::copy(&path, dir.path().join("app.log.1")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    append(&path, "fresh\n");
    assert_eq!(h.logs(1).await, ["fresh"]);
    append(&path, "more\n");
    assert_eq!(h.logs(1).await, ["more"]);
    h.stop().await;
}

async fn long_lines(skip: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.log");
    let long = "x".repeat(500);
    append(&path, &format!("short one\n{long}\nshort two\n"));
    let mut h = start(&[
        ("Path", &glob_in(dir.path(), "*.log")),
        ("Read_From_Head", "On"),
        ("Buffer_Chunk_Size", "100"),
        ("Buffer_Max_Size", "100"),
        ("Skip_Long_Lines", skip),
    ]);
    assert_eq!(h.logs(2).await, ["short one", "short two"]);
    // A long line split across reads, then the file keeps flowing.
    append(&path, &"y".repeat(300));
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(&path, &format!("{}\nshort three\n", "y".repeat(300)));
    assert_eq!(h.logs(1).await, ["short three"]);
    assert_eq!(h.counter(|m| m.input_skipped.get_or_create(&labels()).get()), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_are_skipped_with_skip_long_lines_on() {
    long_lines("On").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_are_skipped_and_the_file_followed_with_skip_long_lines_off() {
    long_lines("Off").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mem_buf_limit_pauses_until_acks_free_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.log");
    let line = |i: usize| format!("{i:03} {}\n", "z".repeat(95)); // 100 bytes
    append(&path, &(0..10).map(line).collect::<String>());
    let mut h = start(&[("Path", &glob_in(dir.path(), "*.log")), ("Read_From_Head", "On"), ("Mem_Buf_Limit", "1000")]);
    let first = h.chunk().await;
    assert_eq!(first.records.len(), 10);
    let backlog = || h.metrics.backlog_bytes.get_or_create(&labels()).get();
    assert_eq!(backlog(), 1000);
    append(&path, &(10..20).map(line).collect::<String>());
    h.quiet(Duration::from_millis(600)).await;
    assert_eq!(h.counter(|m| m.input_paused.get_or_create(&labels()).get()), 1);
    first.ack.complete();
    let second = h.chunk().await;
    let logs: Vec<_> = second.records.iter().map(|r| r.body.get("log").unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(logs, (10..20).map(|i| line(i).trim_end().to_owned()).collect::<Vec<_>>());
    second.ack.complete();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.metrics.backlog_bytes.get_or_create(&labels()).get(), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_path_and_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    let keep: PathBuf = dir.path().join("keep.log");
    let skip = dir.path().join("skip.log");
    append(&keep, "kept\n");
    append(&skip, "excluded\n");
    let mut h = start(&[
        ("Path", &glob_in(dir.path(), "*.log")),
        ("Exclude_Path", &format!("{}, /nowhere/*", glob_in(dir.path(), "skip*"))),
        ("Read_From_Head", "On"),
    ]);
    assert_eq!(h.logs(1).await, ["kept"]);
    h.quiet(Duration::from_millis(400)).await;
    assert_eq!(h.metrics.input_files.get_or_create(&labels()).get(), 1);
    std::fs::remove_file(&keep).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(h.metrics.input_files.get_or_create(&labels()).get(), 0, "deleted files are closed");
    h.stop().await;
}
