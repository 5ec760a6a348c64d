//! The router end to end, as the real binary: the seed's ConfigMap (unchanged but for
//! region and stream name) tails the simulated sample app's CRI files, enriches them from a
//! recorded Kubernetes API and ships them with PutRecordBatch to a `hydrant firehose`
//! service, which delivers them to a strict HTTP endpoint receiver. Then `kill -9` of the
//! router under load: nothing written to the files is lost.

#[path = "../../hydrant-firehose/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use hydrant_kubernetes::recorded::RecordedApi;
use hydrant_sampleapp::SampleApp;
use serde_json::Value;

const CONFIGMAP: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fargate-datadog/aws-logging-configmap.yaml");
const STREAM: &str = "fargate-logs";

/// A running `hydrant router`; killed (SIGKILL) when dropped.
struct RouterProcess {
    child: KillOnDrop,
    metrics_url: String,
}

impl RouterProcess {
    fn start(dir: &Path, logs: &Path, kube_url: &str, firehose: &str, firehose_data: &Path, run: usize) -> Self {
        let log = std::fs::File::create(dir.join(format!("router-{run}.log"))).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hydrant"))
            .arg("router")
            .args(["--config", CONFIGMAP])
            .arg("--data-dir")
            .arg(dir.join("router-data"))
            .arg("--input-path")
            .arg(logs.join("*.log"))
            .args(["--kube-url", kube_url])
            .args(["--http-listen", "127.0.0.1:0"])
            // The standard AWS SDK settings: the ConfigMap itself names no endpoint.
            .env("AWS_SHARED_CREDENTIALS_FILE", firehose_data.join("credentials"))
            .env("AWS_PROFILE", "hydrant")
            .env("AWS_ENDPOINT_URL_FIREHOSE", firehose)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HYDRANT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting hydrant router");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("hydrant router metrics on ") {
                    let _ = tx.send(rest.split(',').next().unwrap().trim().to_owned());
                }
            }
        });
        let metrics_url = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("router did not start: {}", std::fs::read_to_string(dir.join(format!("router-{run}.log"))).unwrap())
        });
        RouterProcess { child: KillOnDrop(child), metrics_url }
    }

    fn kill9(mut self) {
        self.child.0.kill().unwrap();
        assert!(!self.child.0.wait().unwrap().success());
    }

    async fn metrics(&self) -> String {
        reqwest::get(&self.metrics_url).await.unwrap().text().await.unwrap()
    }
}

async fn setup(dir: &Path) -> (Harness, Receiver) {
    let firehose = Harness::start(&dir.join("firehose"), |_| {}).await;
    let spec = StreamSpec::new(STREAM, "");
    let receiver = Receiver::start(spec.expect()).await;
    StreamSpec { url: receiver.url(), ..spec }.create(&firehose.client).await;
    (firehose, receiver)
}

fn firehose_url(h: &Harness) -> String {
    h.endpoint.clone()
}

fn delivered(receiver: &Receiver) -> Vec<Value> {
    receiver
        .accepted_records()
        .iter()
        .map(|r| {
            assert_eq!(r.last(), Some(&b'\n'), "each record ends with a newline");
            serde_json::from_slice(r).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(r)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_configmap_ships_nginx_lines_with_kubernetes_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (firehose, receiver) = setup(dir.path()).await;
    let logs = dir.path().join("containers");
    std::fs::create_dir_all(&logs).unwrap();
    let mut app = SampleApp::new(11);
    let api = RecordedApi::start(app.api_objects()).await.unwrap();
    app.write_startup(&logs, chrono::Utc::now()).unwrap();
    app.write_access(&logs, 30).unwrap();
    let expected = 3 * hydrant_sampleapp::startup_lines(chrono::Utc::now()).len() + 30;

    let router = RouterProcess::start(dir.path(), &logs, &api.url(), &firehose_url(&firehose), &firehose.data_dir, 0);
    let app_records = |r: &Receiver| delivered(r).into_iter().filter(|v| v.get("ddsource").is_none()).count();
    let ok = wait_for(Duration::from_secs(30), || app_records(&receiver) >= expected).await;
    assert!(
        ok,
        "{} of {expected} records arrived; metrics:\n{}",
        receiver.accepted_records().len(),
        router.metrics().await
    );
    receiver.assert_no_violations();

    // The seed's ConfigMap says `flb_log_cw: 'true'`: the router's own logs travel too,
    // marked as its own.
    let (own, records): (Vec<Value>, Vec<Value>) =
        delivered(&receiver).into_iter().partition(|v| v["ddsource"] == "hydrant-router");
    assert_eq!(records.len(), expected);
    assert!(
        own.iter().any(|r| r["service"] == "hydrant-router"
            && r["level"] == "info"
            && r["log"].as_str().is_some_and(|l| l.contains("following file"))),
        "the router's own logs: {own:?}"
    );
    let pods: HashMap<String, &hydrant_sampleapp::Pod> = app.pods.iter().map(|p| (p.name.clone(), p)).collect();
    for r in &records {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        // CRI parsed: the nginx line itself, not the raw CRI line.
        let log = r["log"].as_str().unwrap();
        assert!(!log.contains(" stdout F ") && !log.contains(" stderr F "), "{log}");
        assert!(keys.contains(&"kubernetes"), "{r}");
        let k = &r["kubernetes"];
        let pod = pods[k["pod_name"].as_str().unwrap()];
        assert_eq!(k["namespace_name"], "fargate-namespace");
        assert_eq!(k["container_name"], "nginx");
        assert_eq!(k["docker_id"], pod.container_id.as_str());
        assert_eq!(k["pod_id"], pod.uid.as_str());
        assert_eq!(k["host"], pod.node.as_str());
        assert_eq!(k["pod_ip"], pod.ip.as_str());
        assert_eq!(k["labels"]["app"], "nginx");
        assert_eq!(k["container_image"], hydrant_sampleapp::IMAGE);
    }
    // Fluent Bit's key order, read from the bytes as sent (serde_json's map sorts keys).
    for raw in receiver.accepted_records() {
        let text = String::from_utf8(raw).unwrap();
        if text.contains("\"ddsource\":\"hydrant-router\"") {
            continue;
        }
        let k = &text[text.find("\"kubernetes\":{").expect("kubernetes map")..];
        let keys = [
            "pod_name",
            "namespace_name",
            "pod_id",
            "labels",
            "annotations",
            "host",
            "pod_ip",
            "container_name",
            "docker_id",
            "container_hash",
            "container_image",
        ];
        let at: Vec<usize> = keys.iter().map(|key| k.find(&format!("\"{key}\":")).unwrap_or(usize::MAX)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "key order in {text}");
    }
    assert!(records.iter().any(|r| r["log"] == "/docker-entrypoint.sh: Configuration complete; ready for start up"));
    assert!(records
        .iter()
        .any(|r| r["stream"] == "stderr" && r["log"].as_str().unwrap().contains("[notice] 1#1: nginx/1.23.3")));
    assert_eq!(records.iter().filter(|r| r["log"].as_str().unwrap().contains("HTTP/1.1\"")).count(), 30);

    let metrics = router.metrics().await;
    assert!(metrics.contains("hydrant_router_output_records_total{name=\"kinesis_firehose.0\"}"), "{metrics}");
    drop(router);
    firehose.stop().await;
}

/// Appends numbered access lines (`GET /seq/<n>`) to the three pods' files.
fn write_numbered(logs: &Path, app: &SampleApp, from: usize, to: usize) {
    let mut files: Vec<std::fs::File> = app
        .pods
        .iter()
        .map(|p| std::fs::OpenOptions::new().create(true).append(true).open(logs.join(p.log_file_name())).unwrap())
        .collect();
    for n in from..to {
        let now = chrono::Utc::now();
        let line = format!(
            "192.168.1.1 - - [{}] \"GET /seq/{n} HTTP/1.1\" 200 615 \"-\" \"curl/8.4.0\" \"-\"",
            now.format("%d/%b/%Y:%H:%M:%S %z")
        );
        writeln!(files[n % 3], "{}", hydrant_sampleapp::cri_line(now, "stdout", &line)).unwrap();
    }
}

fn seqs(records: &[Value]) -> Vec<usize> {
    records
        .iter()
        .filter_map(|r| r["log"].as_str()?.split("GET /seq/").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (firehose, receiver) = setup(dir.path()).await;
    let logs: PathBuf = dir.path().join("containers");
    std::fs::create_dir_all(&logs).unwrap();
    let app = SampleApp::new(12);
    let api = RecordedApi::start(app.api_objects()).await.unwrap();
    let endpoint = firehose_url(&firehose);
    const TOTAL: usize = 40_000;

    write_numbered(&logs, &app, 0, 5_000);
    let router = RouterProcess::start(dir.path(), &logs, &api.url(), &endpoint, &firehose.data_dir, 0);
    // Keep writing while the router ships; kill it once deliveries are well under way, with
    // lines read, in flight and unread.
    let mut written = 5_000;
    while written < 30_000 && seqs(&delivered(&receiver)).len() < 8_000 {
        write_numbered(&logs, &app, written, written + 500);
        written += 500;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = seqs(&delivered(&receiver)).len();
    assert!(before > 0 && before < written, "killed mid-stream: {before} of {written} delivered");
    router.kill9();
    write_numbered(&logs, &app, written, TOTAL);
    let router = RouterProcess::start(dir.path(), &logs, &api.url(), &endpoint, &firehose.data_dir, 1);
    let ok = wait_for(Duration::from_secs(60), || {
        let got: std::collections::HashSet<usize> = seqs(&delivered(&receiver)).into_iter().collect();
        got.len() == TOTAL
    })
    .await;
    let all = seqs(&delivered(&receiver));
    let unique: std::collections::HashSet<usize> = all.iter().copied().collect();
    let missing: Vec<usize> = (0..TOTAL).filter(|n| !unique.contains(n)).take(10).collect();
    assert!(
        ok,
        "{} of {TOTAL} lines delivered (first missing: {missing:?}); {before} before the kill; metrics:\n{}",
        unique.len(),
        router.metrics().await
    );
    println!(
        "kill -9: {before} lines delivered before the kill, {TOTAL} after the restart, {} delivered twice",
        all.len() - unique.len()
    );
    drop(router);
    firehose.stop().await;
}
