//! `up-latency`: the whole seed flow's latency, from a line appended to a pod's CRI log
//! file to that line being searchable in the intake, through `hydrant up` (the real
//! binary: router with the seed's ConfigMap, firehose over HTTPS with the example stream's
//! 1 s buffering interval, intake with the seed's pipeline). Lines are written at a steady
//! rate with a sequence number; the search API is polled every 50 ms and each line's
//! latency is the time from its write to the first poll that finds it (so figures carry up
//! to 50 ms of polling granularity).
//!
//! The pods' files exist before `hydrant up` starts (as on Fargate, where the router
//! starts with the pod): a file created later is found at the next `Refresh_Interval` (10 s
//! for the managed input), which would dominate the tail of the distribution.
//!
//! Baseline, same run: the same lines written straight to the intake's `/api/v2/logs`
//! (no router, no firehose): what indexing and the intake's commit interval cost alone.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use hydrant_kubernetes::recorded::RecordedApi;
use hydrant_sampleapp::SampleApp;

/// Arguments of `up-latency`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds of writing.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Lines per second (over the three pods).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn run(args: Args, rt: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(std::fs::canonicalize("target").unwrap_or_else(|_| PathBuf::from("/tmp")))?;
    let logs = dir.path().join("containers");
    std::fs::create_dir_all(&logs)?;
    let mut app = SampleApp::new(7);
    // The pods run before the router starts, as on Fargate: their files exist (with the
    // nginx start-up lines), so the figures are the steady state, not the managed input's
    // 10 s Refresh_Interval finding new files.
    app.write_startup(&logs, chrono::Utc::now())?;
    let api = rt.block_on(RecordedApi::start(app.api_objects()))?;
    let hydrant = std::env::current_exe()?.with_file_name("hydrant");
    anyhow::ensure!(hydrant.exists(), "{} not found: cargo build --release -p hydrant first", hydrant.display());
    let ports: Vec<String> = (0..4).map(|_| free_port().map(|p| format!("127.0.0.1:{p}"))).collect::<Result<_, _>>()?;
    let mut child = Command::new(&hydrant)
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--firehose-listen", &ports[0], "--firehose-tls-listen", &ports[1]])
        .args(["--intake-listen", &ports[2], "--router-http-listen", &ports[3]])
        .arg("--input-path")
        .arg(logs.join("*.log"))
        .args(["--kube-url", &api.url()])
        .env("HYDRANT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("up.log"))?)
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let (mut api_key, mut app_key) = (String::new(), String::new());
    {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(url) = line.trim().strip_prefix("explorer  ") {
                let url = url.split_whitespace().next().unwrap_or_default();
                api_key = url.split("api_key=").nth(1).and_then(|r| r.split('&').next()).unwrap_or_default().to_owned();
                app_key = url.split("app_key=").nth(1).unwrap_or_default().to_owned();
            }
            if line.starts_with("Ctrl-C") {
                break;
            }
        }
    }
    anyhow::ensure!(
        !api_key.is_empty(),
        "hydrant up did not print its keys; see {}",
        dir.path().join("up.log").display()
    );
    let intake = format!("http://{}", ports[2]);
    println!(
        "up-latency: {:.0} lines/s for {:.0} s through hydrant up (1 s buffering interval)",
        args.rate, args.seconds
    );

    let through_up = rt.block_on(measure(&intake, &api_key, &app_key, &args, "flow", |n, now| {
        let pod = &app.pods[n % app.pods.len()];
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(logs.join(pod.log_file_name()))?;
        writeln!(f, "{}", hydrant_sampleapp::cri_line(now, "stdout", &line("flow", n, now)))?;
        Ok(())
    }))?;
    let http = reqwest::Client::new();
    let direct = rt.block_on(measure(&intake, &api_key, &app_key, &args, "direct", |n, now| {
        let request = http
            .post(format!("{intake}/api/v2/logs"))
            .header("DD-API-KEY", &api_key)
            .json(&serde_json::json!([{"message": line("direct", n, now), "ddsource": "bench", "service": "bench"}]));
        tokio::spawn(async move {
            if let Err(e) = request.send().await.and_then(|r| r.error_for_status()) {
                eprintln!("direct send: {e}");
            }
        });
        Ok(())
    }))?;
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();

    report("baseline: /api/v2/logs straight to the intake", &direct);
    report("line written -> searchable, through hydrant up", &through_up);
    let p50 = pct(&through_up, 0.5);
    println!(
        "ratio: p50 through the flow / p50 straight to the intake = {:.2}; target p50 < 2 s ({:.2} s)",
        p50 / pct(&direct, 0.5).max(1e-9),
        p50
    );
    Ok(())
}

fn line(kind: &str, n: usize, now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "192.168.1.{} - - [{}] \"GET /lat/{kind}/{n} HTTP/1.1\" 200 615 \"-\" \"curl/8.4.0\" \"-\"",
        n % 250 + 1,
        now.format("%d/%b/%Y:%H:%M:%S %z")
    )
}

/// Write `rate` lines a second for `seconds`, polling the search API for them; returns
/// each line's latency in seconds.
async fn measure(
    intake: &str,
    api_key: &str,
    app_key: &str,
    args: &Args,
    kind: &str,
    mut write: impl FnMut(usize, chrono::DateTime<chrono::Utc>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::new();
    let total = (args.seconds * args.rate) as usize;
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut written: HashMap<usize, Instant> = HashMap::new();
    let mut seen: HashMap<usize, f64> = HashMap::new();
    let mut next_write = start;
    let mut next_poll = start;
    let deadline = start + Duration::from_secs_f64(args.seconds + 30.0);
    let needle = format!("/lat/{kind}/");
    while seen.len() < total && Instant::now() < deadline {
        let now = Instant::now();
        if written.len() < total && now >= next_write {
            let n = written.len();
            write(n, chrono::Utc::now())?;
            written.insert(n, Instant::now());
            next_write += period;
            continue;
        }
        if now >= next_poll {
            next_poll = now + Duration::from_millis(50);
            let body = serde_json::json!({
                "filter": {"query": format!("\"GET /lat/{kind}/\""), "from": "now-10m", "to": "now+1m"},
                "sort": "-timestamp", "page": {"limit": 1000}
            });
            let resp = client
                .post(format!("{intake}/api/v2/logs/events/search"))
                .header("DD-API-KEY", api_key)
                .header("DD-APPLICATION-KEY", app_key)
                .json(&body)
                .send()
                .await?;
            let found: serde_json::Value = resp.json().await?;
            let at = Instant::now();
            for log in found["data"].as_array().into_iter().flatten() {
                let msg = log["attributes"]["message"].as_str().unwrap_or_default();
                if let Some(n) =
                    msg.split(&needle).nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok())
                {
                    if let (Some(w), false) = (written.get(&n), seen.contains_key(&n)) {
                        seen.insert(n, at.duration_since(*w).as_secs_f64());
                    }
                }
            }
            continue;
        }
        let wake = next_poll.min(if written.len() < total { next_write } else { next_poll });
        tokio::time::sleep_until(wake.into()).await;
    }
    anyhow::ensure!(seen.len() == total, "{kind}: {} of {total} lines searchable in time", seen.len());
    Ok(seen.into_values().collect())
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, v: &[f64]) {
    println!(
        "{what}: {} lines, p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        v.len(),
        pct(v, 0.5),
        pct(v, 0.99),
        v.iter().copied().fold(0.0, f64::max)
    );
}
