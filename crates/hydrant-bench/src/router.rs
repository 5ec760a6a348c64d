//! `router-throughput`: the log router on about 1 GB of nginx access lines in CRI format
//! across three pod log files (the simulated sample app's), through tail (CRI parsing) +
//! kubernetes (Merge_Log On, metadata from a recorded Kubernetes API) + an output:
//!
//! - `null`: the router's own cost (target: at least 100 MB per CPU-second);
//! - `kinesis_firehose`: PutRecordBatch to a `hydrant firehose` in this process, whose
//!   stream delivers to a discarding HTTP endpoint.
//!
//! The router runs as the real `hydrant router` binary (next to this one in the target
//! directory), so its CPU time (`/proc/<pid>/stat`) and peak RSS (`VmHWM`, target under
//! 50 MB: Fargate's budget for its router) are its own. A run ends when the router's
//! `/metrics` count every line as delivered by the output.
//!
//! Baseline, same run, same files (in the page cache for both): one thread reading them in
//! 1 MiB blocks and counting lines with memchr, the floor of any line-oriented reader.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use hydrant_kubernetes::recorded::RecordedApi;
use hydrant_sampleapp::SampleApp;

/// Arguments of `router-throughput`.
#[derive(clap::Args)]
pub struct Args {
    /// Total size of the three log files, MB.
    #[arg(long, default_value_t = 1000)]
    mb: u64,
    /// Directory for the files; default: a temporary directory under ./target.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Which runs: `null`, `firehose` or `both`.
    #[arg(long, default_value = "both", value_parser = ["null", "firehose", "both"])]
    outputs: String,
}

use crate::{KEY, SECRET};
const TICKS: f64 = 100.0;

struct RunResult {
    wall: Duration,
    cpu_secs: f64,
    peak_rss_kib: u64,
}

pub fn run(args: Args, rt: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let base = args.dir.clone().unwrap_or_else(|| PathBuf::from("target"));
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::tempdir_in(&base).context("temporary directory")?;
    let logs = dir.path().join("containers");
    std::fs::create_dir_all(&logs)?;
    let app = SampleApp::new(42);
    let t = Instant::now();
    let mut lines = 0;
    let mut bytes = 0;
    for (i, pod) in app.pods.iter().enumerate() {
        let path = logs.join(pod.log_file_name());
        lines += hydrant_sampleapp::write_bulk(&path, args.mb * 1_000_000 / 3, i as u64)?;
        bytes += std::fs::metadata(&path)?.len();
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "router-throughput: {mb:.0} MB, {lines} CRI lines in 3 pod files (written in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    let base_secs = baseline(&logs)?;
    println!(
        "baseline: read + count lines (1 thread, memchr): {:.0} MB/s, {:.2} CPU-s/GB",
        mb / base_secs,
        base_secs / (mb / 1000.0)
    );

    let api = rt.block_on(RecordedApi::start(app.api_objects()))?;
    let hydrant = std::env::current_exe()?.with_file_name("hydrant");
    anyhow::ensure!(hydrant.exists(), "{} not found: cargo build --release -p hydrant first", hydrant.display());

    let mut results = Vec::new();
    if args.outputs != "firehose" {
        let r = run_router(rt, &hydrant, dir.path(), &logs, &api.url(), "null", "", lines, &[])?;
        results.push(("tail + kubernetes + null", r));
    }
    if args.outputs != "null" {
        let endpoint = rt.block_on(start_firehose(dir.path()))?;
        let env = [
            ("AWS_ACCESS_KEY_ID", KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("AWS_ENDPOINT_URL_FIREHOSE", endpoint),
        ];
        let extra = "    region us-east-1\n    delivery_stream bench\n";
        let r = run_router(rt, &hydrant, dir.path(), &logs, &api.url(), "kinesis_firehose", extra, lines, &env)?;
        results.push(("tail + kubernetes + kinesis_firehose", r));
    }
    println!("{:<38} {:>9} {:>12} {:>10} {:>12}", "pipeline", "MB/s wall", "CPU-s per GB", "MB/CPU-s", "peak RSS MB");
    for (name, r) in &results {
        let per_cpu = mb / r.cpu_secs;
        println!(
            "{name:<38} {:>9.1} {:>12.2} {:>10.1} {:>12.1}",
            mb / r.wall.as_secs_f64(),
            r.cpu_secs / (mb / 1000.0),
            per_cpu,
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    if let Some((_, r)) = results.iter().find(|(n, _)| n.ends_with("null")) {
        println!(
            "ratio: router (null) MB/CPU-s / baseline MB/CPU-s = {:.2}; targets: >= 100 MB/CPU-s ({:.1}), peak RSS < 50 MB ({:.1})",
            (mb / r.cpu_secs) / (mb / base_secs),
            mb / r.cpu_secs,
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    Ok(())
}

fn baseline(logs: &Path) -> anyhow::Result<f64> {
    use std::io::Read;
    let t = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0usize;
    for entry in std::fs::read_dir(logs)? {
        let mut f = std::fs::File::open(entry?.path())?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            lines += memchr::memchr_iter(b'\n', &buf[..n]).count();
        }
    }
    std::hint::black_box(lines);
    Ok(t.elapsed().as_secs_f64())
}

#[allow(clippy::too_many_arguments)]
fn run_router(
    rt: &tokio::runtime::Handle,
    hydrant: &Path,
    dir: &Path,
    logs: &Path,
    kube_url: &str,
    output: &str,
    output_extra: &str,
    lines: u64,
    env: &[(&str, String)],
) -> anyhow::Result<RunResult> {
    let run = dir.join(format!("run-{output}"));
    std::fs::create_dir_all(&run)?;
    let prefix = format!("kube.{}.", logs.canonicalize()?.to_str().unwrap().trim_matches('/').replace('/', "."));
    // The Fargate managed input, with Hydrant's CRI parsing, and the seed's filter.
    let config = format!(
        "[SERVICE]\n    Flush 1\n    Grace 5\n\n[INPUT]\n    Name tail\n    Buffer_Max_Size 66KB\n    DB {db}\n    \
         Mem_Buf_Limit 45MB\n    Path {path}\n    Read_From_Head On\n    Refresh_Interval 10\n    Rotate_Wait 30\n    \
         Skip_Long_Lines On\n    Tag kube.*\n    multiline.parser cri\n\n[FILTER]\n    Name kubernetes\n    Match kube.*\n    \
         Kube_URL {kube_url}\n    Kube_Tag_Prefix {prefix}\n    Merge_Log On\n    Buffer_Size 0\n    Kube_Meta_Cache_TTL 300s\n\n\
         [OUTPUT]\n    Name {output}\n    Match kube.*\n{output_extra}",
        db = run.join("flb_kube.db").display(),
        path = logs.canonicalize()?.join("*.log").display(),
    );
    let config_path = run.join("fluent-bit.conf");
    std::fs::write(&config_path, config)?;
    let mut cmd = Command::new(hydrant);
    cmd.arg("router")
        .arg("--config")
        .arg(&config_path)
        .arg("--data-dir")
        .arg(&run)
        .args(["--http-listen", "127.0.0.1:0"])
        .env("HYDRANT_LOG", "warn")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(run.join("router.log"))?);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let metrics_url = metrics_url(&mut child)?;
    let name = format!("{output}.0");
    let needle = format!("hydrant_router_output_records_total{{name=\"{name}\"}} ");
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("router exited early ({status}); see {}", run.join("router.log").display());
        }
        let text = rt.block_on(async { reqwest::get(&metrics_url).await?.text().await }).unwrap_or_default();
        let done = text.lines().find_map(|l| l.strip_prefix(&needle)).and_then(|v| v.trim().parse::<f64>().ok());
        if done.is_some_and(|n| n as u64 >= lines) {
            break;
        }
        if start.elapsed() > Duration::from_secs(1800) {
            anyhow::bail!("router did not finish in 30 minutes: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = start.elapsed();
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
    let cpu_secs = (fields[11].parse::<f64>()? + fields[12].parse::<f64>()?) / TICKS;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    // SIGTERM: let it shut down cleanly.
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
    Ok(RunResult { wall, cpu_secs, peak_rss_kib })
}

fn metrics_url(child: &mut Child) -> anyhow::Result<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().context("router stdout")?;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("hydrant router metrics on ") {
            return Ok(rest.split(',').next().unwrap_or_default().trim().to_owned());
        }
    }
    anyhow::bail!("the router did not print its metrics address")
}

async fn start_firehose(dir: &Path) -> anyhow::Result<String> {
    let endpoint = crate::discard_endpoint(&tokio::runtime::Handle::current())?;
    let config = crate::bench_firehose_config(dir.join("firehose"));
    let (svc, listener) = crate::start_bench_firehose(config, endpoint, "discard", 4, 1).await?;
    let addr = listener.local_addr;
    // The service and its listener live as long as the benchmark process.
    std::mem::forget(listener);
    std::mem::forget(svc);
    Ok(format!("http://{addr}"))
}
