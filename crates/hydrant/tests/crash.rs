//! Crash test: the real `hydrant` binary is killed with SIGKILL in the middle of a
//! PutRecordBatch load and restarted on the same data directory; every record whose Put
//! was acknowledged must still reach the endpoint (or the backup bucket).

#[path = "../../hydrant-firehose/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use common::*;

/// A running `hydrant firehose`; killed (SIGKILL) when dropped.
struct Hydrant {
    child: KillOnDrop,
    endpoint: String,
}

impl Hydrant {
    fn start(dir: &Path, run: usize) -> Hydrant {
        Self::start_with_env(dir, run, &[])
    }

    fn start_with_env(dir: &Path, run: usize, env: &[(&str, &str)]) -> Hydrant {
        let data = dir.join("data");
        let config = dir.join("hydrant.toml");
        std::fs::write(&config, "[delivery]\nbackoff_base = 20\nbackoff_max = 200\n").unwrap();
        let log = std::fs::File::create(dir.join(format!("hydrant-{run}.log"))).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
            .arg("firehose")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .env("HYDRANT_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting the hydrant binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("hydrant firehose listening on http://") {
                    if !sent {
                        let _ = tx.send(addr.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("hydrant did not report its address; log: {}", log_of(dir, run));
            }
        };
        Hydrant { child: KillOnDrop(child), endpoint: format!("http://{addr}") }
    }

    fn kill9(mut self) {
        // `Child::kill` is SIGKILL on Unix: no shutdown, no last checkpoint.
        self.child.0.kill().unwrap();
        let status = self.child.0.wait().unwrap();
        assert!(!status.success());
    }
}

fn log_of(dir: &Path, run: usize) -> String {
    std::fs::read_to_string(dir.join(format!("hydrant-{run}.log"))).unwrap_or_default()
}

/// Runs `clients` concurrent PutRecordBatch loops until `stop_at` or the first error;
/// returns every payload acknowledged with a RecordId.
async fn load(client: aws_sdk_firehose::Client, stream: &str, clients: usize, stop_at: Instant) -> Vec<Vec<u8>> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, acked, stream) = (client.clone(), acked.clone(), stream.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < stop_at {
                let payloads: Vec<Vec<u8>> =
                    (0..50).map(|i| format!("rec-{c}-{:07}-{}\n", n + i, "x".repeat(150)).into_bytes()).collect();
                n += payloads.len();
                let records = payloads.iter().map(|p| Record::builder().data(Blob::new(p.clone())).build().unwrap());
                let sent = client.put_record_batch().delivery_stream_name(&stream).set_records(Some(records.collect()));
                let out = match tokio::time::timeout(Duration::from_secs(10), sent.send()).await {
                    Ok(Ok(out)) => out,
                    // The server is gone (or the answer was lost): not acknowledged.
                    _ => break,
                };
                let mut a = acked.lock().unwrap();
                for (p, r) in payloads.into_iter().zip(out.request_responses()) {
                    if r.record_id().is_some() {
                        a.push(p);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = acked.lock().unwrap().clone();
    v
}

fn missing(acked: &[Vec<u8>], rx: &Receiver, bucket: &Path) -> Vec<Vec<u8>> {
    let mut have: HashSet<Vec<u8>> = rx.accepted_records().into_iter().collect();
    have.extend(failed_records(bucket));
    acked.iter().filter(|r| !have.contains(*r)).cloned().collect()
}

async fn crash_and_recover(receiver_up_during_load: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let mut port = Some(reserve_port());
    let addr = port.as_ref().expect("reserved").addr;
    let mut spec = StreamSpec::new("crash", &format!("http://{addr}/v1/input"));
    spec.retry_s = 3600;
    spec.access_key = Some("crash-key".into());
    spec.gzip = true;
    let mut rx = None;
    if receiver_up_during_load {
        // Slow enough that records pile up, fast enough that some are delivered.
        let r = Receiver::start_on(port.take().expect("reserved"), spec.expect()).await;
        r.set_default(Reply::Delay(Duration::from_millis(400), Box::new(Reply::Ok)));
        rx = Some(r);
    }

    let first = Hydrant::start(dir.path(), 1);
    let client = sdk_client(&first.endpoint, &data);
    spec.create(&client).await;
    let started = Instant::now();
    let loader = tokio::spawn(load(client, "crash", 4, started + Duration::from_millis(2500)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill9();
    let acked = loader.await.unwrap();
    assert!(acked.len() >= 500, "too little load to mean anything: {} records acknowledged", acked.len());
    let delivered_before = rx.as_ref().map_or(0, |r| r.accepted_records().len());
    if receiver_up_during_load {
        assert!(delivered_before > 0, "the receiver was up, yet nothing was delivered before the crash");
    }

    let second = Hydrant::start(dir.path(), 2);
    let rx = match rx {
        Some(r) => {
            r.set_default(Reply::Ok);
            r
        }
        None => Receiver::start_on(port.take().expect("reserved"), spec.expect()).await,
    };
    let bucket = data.join("s3").join("backup");
    let ok = wait_for(Duration::from_secs(30), || missing(&acked, &rx, &bucket).is_empty()).await;
    let lost = missing(&acked, &rx, &bucket);
    assert!(
        ok,
        "{} of {} acknowledged records lost across kill -9 (e.g. {:?}); log after restart:\n{}",
        lost.len(),
        acked.len(),
        lost.first().map(|r| String::from_utf8_lossy(&r[..20]).to_string()),
        log_of(dir.path(), 2)
    );
    rx.assert_no_violations();
    // The restarted service still takes and delivers new records.
    let client = sdk_client(&second.endpoint, &data);
    let after = records("after-restart", 5, 50);
    put_batch(&client, "crash", &after).await;
    assert!(wait_for(Duration::from_secs(10), || missing(&after, &rx, &bucket).is_empty()).await);
    rx.assert_no_violations();
    eprintln!(
        "crash test (receiver up during load: {receiver_up_during_load}): {} acknowledged, {} delivered before the crash, {} requests in all",
        acked.len(),
        delivered_before,
        rx.request_count()
    );
    drop(second);
}

/// 9a. The endpoint is down (connection refused) during the load, so every acknowledged
/// record is waiting in the log when the process is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_while_the_endpoint_is_down_loses_nothing() {
    crash_and_recover(false).await;
}

/// 9b. The endpoint is up (and slowish) during the load: some records were delivered
/// before the kill, the rest after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_while_delivering_loses_nothing() {
    crash_and_recover(true).await;
}

/// `hydrant firehose` runs with freed memory kept 10 s (mimalloc's 1 s purge stalled Puts
/// every second: BENCHMARKS.md, firehose): it re-executes itself with the option set, and
/// an operator's own value is left alone.
#[test]
fn firehose_runs_with_its_allocator_options() {
    let environ = |h: &Hydrant| {
        let raw = std::fs::read(format!("/proc/{}/environ", h.child.0.id())).unwrap();
        raw.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).to_string()).collect::<Vec<_>>()
    };
    let dir = tempfile::tempdir().unwrap();
    let h = Hydrant::start(dir.path(), 1);
    let env = environ(&h);
    assert_eq!(hydrant_firehose::ALLOCATOR_OPTIONS, &[("MIMALLOC_PURGE_DELAY", "10000")]);
    for (k, v) in hydrant_firehose::ALLOCATOR_OPTIONS {
        assert!(env.contains(&format!("{k}={v}")), "environment: {env:?}");
    }
    drop(h);
    let h = Hydrant::start_with_env(dir.path(), 2, &[("MIMALLOC_PURGE_DELAY", "250")]);
    let env = environ(&h);
    assert!(env.iter().any(|v| v == "MIMALLOC_PURGE_DELAY=250"), "environment: {env:?}");
}
