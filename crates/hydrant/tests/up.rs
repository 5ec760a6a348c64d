//! `hydrant up` as a user runs it: the real binary on a fresh data directory. Within 5
//! seconds of start the intake's search API returns `source:aws` logs of the simulated
//! sample app carrying the four Kubernetes tags of the seed's pipeline. Then the failure
//! demo: with the intake stopped for longer than the stream's retry duration, the records
//! land under `http-endpoint-failed/` in the local bucket, decodable; with the intake back,
//! new records flow again.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

/// The tests run one at a time: each `hydrant up` binds ports picked free beforehand, and
/// the other test's processes binding port 0 meanwhile could take them; two whole flows
/// on two cores would also stretch the five-second figure.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Up {
    process: Proc,
    intake: String,
    api_key: String,
    app_key: String,
}

/// Starts `hydrant up` with `extra` flags; returns once it printed its summary.
///
/// A port picked free can still be taken before `hydrant up` binds it: the kernel hands
/// the same range out as the source ports of outgoing connections (this test's searches,
/// the flow's own clients). Such a start is retried with new ports; any other failure is
/// reported at once.
fn start_up(dir: &Path, extra: &[&str]) -> Up {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        match try_start_up(dir, extra) {
            Ok(up) => return up,
            Err(log) if attempt < ATTEMPTS && log.contains("Address already in use") => continue,
            Err(log) => panic!("hydrant up did not start: {log}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

fn try_start_up(dir: &Path, extra: &[&str]) -> Result<Up, String> {
    let ports: Vec<String> = (0..4).map(|_| format!("127.0.0.1:{}", free_port())).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .arg("up")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--firehose-listen", &ports[0], "--firehose-tls-listen", &ports[1]])
        .args(["--intake-listen", &ports[2], "--router-http-listen", &ports[3]])
        .args(extra)
        .env("HYDRANT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("up.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let (mut intake, mut api_key, mut app_key) = (String::new(), String::new(), String::new());
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if let Some(rest) = line.trim().strip_prefix("explorer  ") {
            let url = rest.split_whitespace().next().unwrap();
            intake = url.split("/#").next().unwrap().to_owned();
            api_key = url.split("api_key=").nth(1).unwrap().split('&').next().unwrap().to_owned();
            app_key = url.split("app_key=").nth(1).unwrap().to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("intake    ") {
            if intake.is_empty() {
                intake = rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        let done = line.starts_with("Ctrl-C");
        lines.push(line);
        if done {
            return Ok(Up { process: Proc(child), intake, api_key, app_key });
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{lines:?}\n{}", std::fs::read_to_string(dir.join("up.log")).unwrap_or_default()))
}

async fn search(intake: &str, api: &str, app: &str, query: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{intake}/api/v2/logs/events/search"))
        .header("DD-API-KEY", api)
        .header("DD-APPLICATION-KEY", app)
        .json(&serde_json::json!({"filter": {"query": query, "from": "now-15m", "to": "now+1m"}, "page": {"limit": 1000}}))
        .send()
        .await;
    match resp {
        Ok(r) if r.status().is_success() => {
            r.json::<Value>().await.unwrap()["data"].as_array().cloned().unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn tagged(log: &Value) -> bool {
    let tags: Vec<&str> = log["attributes"]["tags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    tags.contains(&"kube_container_name:nginx")
        && tags.contains(&"kube_namespace:fargate-namespace")
        && tags.iter().any(|t| t.starts_with("pod_name:sample-app-6c8b449b8f-"))
        && tags.iter().any(|t| t.strip_prefix("container_id:").is_some_and(|id| id.len() == 64))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_flow_is_searchable_within_five_seconds() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut up = start_up(dir.path(), &[]);
    let mut found = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        found = search(&up.intake, &up.api_key, &up.app_key, "source:aws").await;
        if found.iter().any(tagged) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    assert!(
        found.iter().any(tagged),
        "no tagged source:aws log within 5 s ({} logs found); log:\n{}",
        found.len(),
        std::fs::read_to_string(dir.path().join("up.log")).unwrap()
    );
    println!("first tagged source:aws log searchable {:.2} s after start", elapsed.as_secs_f64());
    // The nginx start-up lines, CRI-parsed, from the three pods.
    let mut pods = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pods.len() < 3 && Instant::now() < deadline {
        let logs = search(&up.intake, &up.api_key, &up.app_key, "source:aws \"Configuration complete\"").await;
        pods = logs
            .iter()
            .filter(|l| tagged(l))
            .filter_map(|l| l["attributes"]["attributes"]["kubernetes"]["pod_name"].as_str().map(str::to_owned))
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(pods.len(), 3, "start-up lines of the three pods");
    // The router's principal holds only the seed's policy: anything else is denied.
    let policy = std::fs::read_to_string(dir.path().join("data/router/allow_kinesis_put_permission.json")).unwrap();
    assert!(policy.contains("arn:aws:firehose:us-east-1:123456789012:deliverystream/fargate-logs"), "{policy}");

    // Ctrl-C (SIGINT): the router flushes, everything stops, exit status 0.
    let pid = up.process.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = up.process.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "hydrant up still running 20 s after Ctrl-C");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status after Ctrl-C: {status}");
}

/// `hydrant intake` on `addr` with fixed keys.
fn start_intake(dir: &Path, addr: &str) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
        .arg("intake")
        .args(["--listen", addr, "--api-key", "up-test-api-key", "--app-key", "up-test-app-key"])
        .arg("--data-dir")
        .arg(dir.join("intake-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::options().create(true).append(true).open(dir.join("intake.log")).unwrap())
        .spawn()
        .unwrap();
    Proc(child)
}

fn backup_documents(dir: &Path) -> Vec<Value> {
    let root = dir.join("data/firehose/s3/fargate-logs-backup");
    let mut docs = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("http-endpoint-failed/") {
                // The example stream backs up with GZIP.
                let mut text = String::new();
                flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut text).unwrap();
                docs.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
            }
        }
    }
    docs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_intake_sends_records_to_the_backup_and_delivery_resumes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let intake_addr = format!("127.0.0.1:{}", free_port());
    let intake_url = format!("http://{intake_addr}");
    let intake = start_intake(dir.path(), &intake_addr);
    let up = start_up(
        dir.path(),
        &[
            "--intake-url",
            &format!("{intake_url}/api/v2/logs?dd-protocol=aws-kinesis-firehose"),
            "--api-key",
            "up-test-api-key",
            "--lines-per-second",
            "20",
        ],
    );
    let (api, app) = ("up-test-api-key", "up-test-app-key");
    let deadline = Instant::now() + Duration::from_secs(20);
    while search(&intake_url, api, app, "source:aws").await.len() < 5 {
        assert!(Instant::now() < deadline, "logs never reached the external intake");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop the intake for longer than the stream's 10 s retry duration.
    drop(intake);
    let deadline = Instant::now() + Duration::from_secs(40);
    let docs = loop {
        let docs = backup_documents(dir.path());
        if !docs.is_empty() {
            break docs;
        }
        assert!(Instant::now() < deadline, "nothing backed up under http-endpoint-failed/");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for doc in &docs {
        assert_eq!(doc["errorCode"], "HttpEndpoint.ConnectionFailed", "{doc}");
        let raw = base64::engine::general_purpose::STANDARD.decode(doc["rawData"].as_str().unwrap()).unwrap();
        let record: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(record["kubernetes"]["namespace_name"], "fargate-namespace", "{record}");
    }

    // Bring it back: new records flow again.
    let before = search(&intake_url, api, app, "source:aws").await.len();
    let _intake = start_intake(dir.path(), &intake_addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = search(&intake_url, api, app, "source:aws").await.len();
        if now > before {
            break;
        }
        assert!(Instant::now() < deadline, "delivery did not resume ({now} logs, {before} before)");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(up);
}
