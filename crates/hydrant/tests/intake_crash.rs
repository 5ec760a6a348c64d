//! The intake binary killed with SIGKILL in the middle of a load of Firehose deliveries
//! and restarted on the same data directory: every acknowledged batch is searchable, and
//! a batch Firehose retries after the restart (same request id) is not stored twice.

#[path = "../../hydrant-firehose/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::KillOnDrop;
use serde_json::{json, Value};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";

struct Intake {
    child: KillOnDrop,
    base: String,
}

impl Intake {
    fn start(dir: &Path) -> Intake {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
            .arg("intake")
            .args(["--listen", "127.0.0.1:0", "--api-key", API, "--app-key", APP])
            .arg("--data-dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the hydrant binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("hydrant intake listening on http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("the intake reports its address");
        Intake { child: KillOnDrop(child), base: format!("http://{addr}") }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn deliver(
    http: &reqwest::Client,
    base: &str,
    request_id: &str,
    lines: &[String],
) -> Result<u16, reqwest::Error> {
    let records: Vec<Value> = lines
        .iter()
        .map(|l| json!({"data": base64::engine::general_purpose::STANDARD.encode(format!("{{\"log\":\"{l}\"}}\n"))}))
        .collect();
    let body = json!({"requestId": request_id, "timestamp": chrono_ms(), "records": records});
    let resp = http
        .post(format!("{base}/v1/input"))
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Request-Id", request_id)
        .header("X-Amz-Firehose-Access-Key", API)
        .header("Content-Encoding", "gzip")
        .body(gzip(body.to_string().as_bytes()))
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

fn chrono_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Every message matching `query`, paging through the search API.
async fn messages(http: &reqwest::Client, base: &str, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page = json!({"limit": 1000});
        if let Some(c) = &cursor {
            page["cursor"] = json!(c);
        }
        let v: Value = http
            .post(format!("{base}/api/v2/logs/events/search"))
            .header("DD-API-KEY", API)
            .header("DD-APPLICATION-KEY", APP)
            .json(&json!({"filter": {"query": query, "from": "now-1h", "to": "now"}, "page": page}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for l in v["data"].as_array().unwrap() {
            out.push(l["attributes"]["message"].as_str().unwrap().to_string());
        }
        match v["meta"]["page"]["after"].as_str() {
            Some(a) => cursor = Some(a.to_string()),
            None => return out,
        }
    }
}

/// A delivered batch: its request id and lines.
type Batch = (String, Vec<String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batches_survive_kill_9_and_retries_are_not_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let intake = Intake::start(dir.path());
    let http = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<Batch>>> = Arc::new(Mutex::new(Vec::new()));
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut clients = Vec::new();
    for c in 0..3 {
        let (http, base, acked) = (http.clone(), intake.base.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                let id = format!("req-{c}-{n}");
                let lines: Vec<String> = (0..50).map(|i| format!("crashline c{c} b{n} l{i}")).collect();
                match deliver(&http, &base, &id, &lines).await {
                    Ok(200) => acked.lock().unwrap().push((id, lines)),
                    Ok(_) | Err(_) => break,
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut intake = intake;
    intake.child.0.kill().unwrap();
    intake.child.0.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 5, "the load acknowledged only {} batches", acked.len());
    let expected: std::collections::HashSet<&String> = acked.iter().flat_map(|(_, l)| l.iter()).collect();

    drop(intake);
    let intake = Intake::start(dir.path());
    // Every acknowledged log is back (replayed from the log if the index had not committed).
    // Batches stored but not yet acknowledged when the process died may be there too.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = Vec::new();
    while Instant::now() < deadline {
        found = messages(&http, &intake.base, "crashline").await;
        if found.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let set: std::collections::HashSet<&String> = found.iter().collect();
    assert_eq!(set.len(), found.len(), "no log stored twice");
    let missing = expected.iter().filter(|l| !set.contains(**l)).count();
    assert_eq!(missing, 0, "{missing} of {} acknowledged logs missing after kill -9 and restart", expected.len());
    // Firehose retries every acknowledged batch (as if it missed the answers): all are
    // acknowledged again and none is stored twice.
    for (id, lines) in acked.iter().take(20) {
        assert_eq!(deliver(&http, &intake.base, id, lines).await.unwrap(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(messages(&http, &intake.base, "crashline").await.len(), found.len(), "retries stored nothing new");
}

/// `hydrant intake` runs with its allocator options (freed memory kept 10 s, then
/// `MADV_FREE`: BENCHMARKS.md, intake): it re-executes itself with them set.
#[test]
fn intake_runs_with_its_allocator_options() {
    let dir = tempfile::tempdir().unwrap();
    let intake = Intake::start(dir.path());
    let raw = std::fs::read(format!("/proc/{}/environ", intake.child.0.id())).unwrap();
    let env: Vec<String> = raw.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).to_string()).collect();
    assert_eq!(
        hydrant_intake::ALLOCATOR_OPTIONS,
        &[("MIMALLOC_PURGE_DELAY", "10000"), ("MIMALLOC_PURGE_DECOMMITS", "0")]
    );
    for (k, v) in hydrant_intake::ALLOCATOR_OPTIONS {
        assert!(env.contains(&format!("{k}={v}")), "environment: {env:?}");
    }
}
