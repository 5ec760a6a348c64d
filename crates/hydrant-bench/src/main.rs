//! `hydrant-bench`: benchmarks of Hydrant's hot paths, each printed next to a baseline
//! measured in the same run on the same disk, because these machines are noisy.
//!
//! `firehose-ingest`: durable PutRecordBatch ingest. Several concurrent clients send
//! SigV4-signed PutRecordBatch calls (500 records of about 1 KiB) over loopback to an
//! in-process service; a call counts when it returned 200 with `"FailedPutCount":0`,
//! i.e. after its records were fsync'd in the write-ahead log. The baseline is this
//! disk's fsync'd sequential write bandwidth (2 MiB writes, fdatasync after each) in the
//! same directory. By default the stream delivers to an in-process HTTP endpoint that
//! reads and acknowledges every batch (as a healthy destination does, so the backlog's
//! memory is recycled); `--destination parked` points it at an endpoint that never
//! answers, leaving ingest alone on the CPU while the backlog grows in memory.
//!
//! `intake-ingest` ([`intake`]): logs/s through the logs intake's receive, preprocessing,
//! seed pipeline, write-ahead log and index, against single-thread decoding of the same
//! batches. `intake-query` ([`query`]): query latency over a store of millions of logs,
//! against the match-all page. `router-throughput` ([`router`]): the log router's MB/s,
//! CPU-seconds per GB and peak RSS, against reading and splitting the same files.
//! `up-latency` ([`up`]): the seed flow's write-to-searchable latency through `hydrant up`.

mod cpu;
mod intake;
mod query;
mod records;
mod router;
mod up;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine;
use clap::{Parser, Subcommand};
use hydrant_firehose::config::PrincipalConfig;
use hydrant_firehose::{Firehose, FirehoseConfig};
use rand::RngCore;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(about = "Hydrant benchmarks")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Durable PutRecordBatch ingest against fsync'd sequential write bandwidth.
    FirehoseIngest(IngestArgs),
    /// Intake logs/s (receive, preprocessing, seed pipeline, index) against single-thread decoding.
    IntakeIngest(intake::Args),
    /// Query latency over a large log store against the match-all page.
    IntakeQuery(query::Args),
    /// Router MB/s, CPU-seconds per GB and peak RSS on ~1 GB of CRI nginx lines, against reading the files.
    RouterThroughput(router::Args),
    /// `hydrant up`: line written to a pod's log file -> searchable, p50/p99, against posting to the intake.
    UpLatency(up::Args),
}

#[derive(clap::Args)]
struct IngestArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Records per PutRecordBatch.
    #[arg(long, default_value_t = 500)]
    records: usize,
    /// Bytes per record.
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Seconds per phase (peak, then half of the peak rate).
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Directory for the data (the disk being measured); default: a temporary
    /// directory under ./target.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// MiB written by the fsync baseline.
    #[arg(long, default_value_t = 512)]
    baseline_mib: usize,
    /// Skip fsync in the log (to see what the rest of the path costs).
    #[arg(long)]
    no_fsync: bool,
    /// The stream's buffering size hint, MiB (Datadog's recommendation: 4).
    #[arg(long, default_value_t = 4)]
    buffer_mib: u32,
    /// Calls/s offered in the paced phase instead of half of the measured peak (to compare
    /// builds or settings at the same load).
    #[arg(long)]
    paced_calls: Option<f64>,
    /// Seconds of idling after the load, then the resident memory again: what the
    /// allocator kept of the load's memory (freed memory goes back after 10 s; 0: skip).
    #[arg(long, default_value_t = 12.0)]
    idle_seconds: f64,
    /// `discard`: a receiver that acknowledges every batch; `parked`: one that never answers.
    #[arg(long, default_value = "discard", value_parser = ["discard", "parked"])]
    destination: String,
}

// Large request buffers come and go on every Put; glibc's malloc hands them back to the
// kernel and takes fresh zeroed pages on the next request, which profiled as a quarter of
// the ingest CPU. mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KEY: &str = "AKIABENCHBENCHBENCH0";
const SECRET: &str = "benchsecretbenchsecretbenchsecretbench00";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // firehose-ingest measures the service as `hydrant firehose` runs it, with its allocator
    // options; mimalloc reads them as the process starts, so the benchmark runs itself
    // again with them, unless any is set already (set one to compare another value).
    // intake-ingest likewise with the intake's.
    let options = match cli.bench {
        Bench::FirehoseIngest(_) => hydrant_firehose::ALLOCATOR_OPTIONS,
        Bench::IntakeIngest(_) => hydrant_intake::ALLOCATOR_OPTIONS,
        _ => &[],
    };
    if !options.is_empty() && options.iter().all(|(k, _)| std::env::var_os(k).is_none()) {
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .envs(options.iter().copied())
            .exec();
        anyhow::bail!("could not re-execute with the service's allocator options: {err}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Clients run on their own threads, as a separate process would: their latency then
    // does not include waiting behind the server's tasks in the same run queue.
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    // The firehose-ingest destination too: in production it is another machine; on the
    // service's runtime its reading of every delivered batch shared the run queue of the
    // Put handlers.
    let destination = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-destination")
        .enable_all()
        .build()?;
    let result = match cli.bench {
        Bench::FirehoseIngest(args) => {
            rt.block_on(ingest(args, clients.handle().clone(), destination.handle().clone()))
        }
        Bench::IntakeIngest(args) => intake::run(args, rt.handle(), clients.handle()),
        Bench::IntakeQuery(args) => query::run(args),
        Bench::RouterThroughput(args) => router::run(args, rt.handle()),
        Bench::UpLatency(args) => up::run(args, rt.handle()),
    };
    drop(rt);
    clients.shutdown_background();
    destination.shutdown_background();
    result
}

/// A service on `data_dir` with one root principal ([`KEY`], [`SECRET`]) and room for a
/// large backlog.
fn bench_firehose_config(data_dir: PathBuf) -> FirehoseConfig {
    FirehoseConfig {
        data_dir,
        principals: vec![PrincipalConfig {
            name: "bench".into(),
            access_key_id: KEY.into(),
            secret_access_key: SECRET.into(),
            account_id: None,
            root: true,
            policy_files: vec![],
            inline_policies: vec![],
        }],
        limits: hydrant_firehose::config::LimitsConfig { max_streams: 50, max_backlog_bytes: 16 << 30 },
        ..Default::default()
    }
}

/// Start a service from `config` on a loopback port and create the stream `bench` through
/// its API, like any client, delivering to `endpoint` with the given buffering hints.
async fn start_bench_firehose(
    config: FirehoseConfig,
    endpoint: SocketAddr,
    endpoint_name: &str,
    size_mb: u32,
    interval_s: u32,
) -> anyhow::Result<(Arc<Firehose>, hydrant_firehose::server::Listener)> {
    let principals = hydrant_firehose::auth::Principals::load(&config)?.principals;
    let svc = Firehose::start(config, principals).await?;
    let listener = hydrant_firehose::server::listen(svc.clone(), "127.0.0.1:0".parse()?, None).await?;
    let create = serde_json::json!({
        "DeliveryStreamName": "bench",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": format!("http://{endpoint}/"), "Name": endpoint_name},
            "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval_s},
            "S3Configuration": {"RoleARN": "arn:aws:iam::123456789012:role/bench", "BucketARN": "arn:aws:s3:::bench"}
        }
    });
    control(listener.local_addr, "CreateDeliveryStream", &create.to_string()).await?;
    Ok((svc, listener))
}

/// Waits until the bench stream holds at most `bytes` not yet delivered (or `limit`
/// passed): how long that took.
async fn drain(svc: &Firehose, bytes: u64, limit: Duration) -> anyhow::Result<Duration> {
    let stream = svc.stream(&svc.config.account_id, "bench").map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let started = Instant::now();
    while stream.backlog.size().1 > bytes && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(started.elapsed())
}

/// Sequential writes of `chunk` bytes, each followed by fdatasync: MB/s.
fn fsync_bandwidth(dir: &Path, total: usize, chunk: usize) -> anyhow::Result<f64> {
    let path = dir.join("fsync-baseline.bin");
    let mut f = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    let mut buf = vec![0u8; chunk];
    rand::thread_rng().fill_bytes(&mut buf);
    let started = Instant::now();
    let mut written = 0;
    while written < total {
        f.write_all(&buf)?;
        f.sync_data()?;
        written += chunk;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(written as f64 / secs / 1e6)
}

/// An endpoint that reads each batch whole and acknowledges it per the spec, without
/// decoding it: the cheapest healthy destination. It is served on the runtime `on`.
fn discard_endpoint(on: &tokio::runtime::Handle) -> anyhow::Result<SocketAddr> {
    async fn accept(headers: axum::http::HeaderMap, body: axum::body::Bytes) -> axum::response::Response {
        let id = headers.get("x-amz-firehose-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
        let ms = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let _ = body.len();
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            format!("{{\"requestId\":\"{id}\",\"timestamp\":{ms}}}"),
        )
            .into_response()
    }
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route("/", axum::routing::post(accept))
        .layer(axum::extract::DefaultBodyLimit::max(256 << 20));
    let (l, addr) = loopback_listener()?;
    on.spawn(async move { axum::serve(tokio::net::TcpListener::from_std(l)?, app).await });
    Ok(addr)
}

/// A TCP listener that accepts connections and never answers: the parked destination,
/// served on the runtime `on`.
fn parked_endpoint(on: &tokio::runtime::Handle) -> anyhow::Result<SocketAddr> {
    let (l, addr) = loopback_listener()?;
    on.spawn(async move {
        let l = tokio::net::TcpListener::from_std(l)?;
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
        std::io::Result::Ok(())
    });
    Ok(addr)
}

/// A listener on a loopback port, ready to be served by any runtime.
fn loopback_listener() -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    l.set_nonblocking(true)?;
    let addr = l.local_addr()?;
    Ok((l, addr))
}

struct Client {
    http: reqwest::Client,
    url: String,
    host: String,
    body: bytes::Bytes,
    body_sha256: String,
    records: usize,
    data_bytes: usize,
}

impl Client {
    fn new(addr: SocketAddr, stream: &str, records: usize, record_bytes: usize) -> Self {
        let mut rng = rand::thread_rng();
        let mut body = format!("{{\"DeliveryStreamName\":\"{stream}\",\"Records\":[");
        let mut data = vec![0u8; record_bytes];
        for i in 0..records {
            rng.fill_bytes(&mut data);
            if i > 0 {
                body.push(',');
            }
            body.push_str("{\"Data\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&data, &mut body);
            body.push_str("\"}");
        }
        body.push_str("]}");
        let body_sha256 = hex::encode(Sha256::digest(body.as_bytes()));
        Client {
            http: reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client"),
            url: format!("http://{addr}/"),
            host: addr.to_string(),
            body: bytes::Bytes::from(body),
            body_sha256,
            records,
            data_bytes: records * record_bytes,
        }
    }

    /// A client sending `body` as is.
    fn with_body(addr: SocketAddr, body: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            url: format!("http://{addr}/"),
            host: addr.to_string(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
            records: 0,
            data_bytes: 0,
        }
    }

    /// Signs and sends the body to operation `op`, returning status, text and latency.
    async fn call(&self, op: &str) -> anyhow::Result<(reqwest::StatusCode, String, Duration)> {
        let identity = Credentials::new(KEY, SECRET, None, None, "bench").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("firehose")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let target = format!("Firehose_20150804.{op}");
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        // The payload hash is computed once per body: the client's cost stays out of
        // the measurement, the server still hashes every body it verifies.
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            headers.iter().copied(),
            SignableBody::Precomputed(self.body_sha256.clone()),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", &target);
        for (name, value) in instructions.headers() {
            req = req.header(name, value);
        }
        let started = Instant::now();
        let resp = req.body(self.body.clone()).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        Ok((status, text, started.elapsed()))
    }

    /// One PutRecordBatch that must be fully accepted; returns its latency.
    async fn put(&self) -> anyhow::Result<Duration> {
        let (status, text, latency) = self.call("PutRecordBatch").await?;
        if status != 200 || !text.contains("\"FailedPutCount\":0") {
            anyhow::bail!("PutRecordBatch refused: {status} {}", &text[..text.len().min(300)]);
        }
        Ok(latency)
    }
}

struct Phase {
    calls: usize,
    data_bytes: usize,
    records: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn mbps(&self) -> f64 {
        self.data_bytes as f64 / self.elapsed.as_secs_f64() / 1e6
    }
    fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        l[((l.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// Runs the clients for `secs`; with `rate` (calls/s over all clients) they are paced
/// (open loop, latency measured from the call's start), else closed loop.
async fn phase(clients: &[Arc<Client>], secs: f64, rate: Option<f64>) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        let n = clients.len();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let interval = rate.map(|r| Duration::from_secs_f64(n as f64 / r));
            // Spread paced clients over the interval so they do not fire together.
            let mut next = Instant::now() + interval.map_or(Duration::ZERO, |iv| iv.mul_f64(i as f64 / n as f64));
            while Instant::now() < until {
                if let Some(iv) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += iv;
                }
                lat.push(c.put().await?);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let calls = latencies.len();
    Ok(Phase {
        calls,
        data_bytes: calls * clients[0].data_bytes,
        records: calls * clients[0].records,
        elapsed,
        latencies,
    })
}

async fn ingest(
    args: IngestArgs,
    client_rt: tokio::runtime::Handle,
    destination_rt: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => PathBuf::from("target"),
    };
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::tempdir_in(&base).context("temporary data directory")?;

    println!(
        "firehose-ingest: {} clients, {} records x {} B per PutRecordBatch, {:.0} s per phase",
        args.clients, args.records, args.record_bytes, args.seconds
    );
    for (k, _) in hydrant_firehose::ALLOCATOR_OPTIONS {
        println!("allocator: mimalloc, {k}={}", std::env::var(k).unwrap_or_else(|_| "(mimalloc's default)".into()));
    }
    let baseline = fsync_bandwidth(dir.path(), args.baseline_mib << 20, 2 << 20)?;
    println!("baseline: fsync'd sequential write bandwidth (2 MiB writes + fdatasync): {baseline:.1} MB/s");

    let endpoint = match args.destination.as_str() {
        "parked" => parked_endpoint(&destination_rt)?,
        _ => discard_endpoint(&destination_rt)?,
    };
    let mut config = bench_firehose_config(dir.path().join("data"));
    config.wal.unsafe_no_fsync = args.no_fsync;
    let (svc, listener) = start_bench_firehose(config, endpoint, &args.destination, args.buffer_mib, 60).await?;
    let addr = listener.local_addr;

    let clients: Vec<Arc<Client>> =
        (0..args.clients).map(|_| Arc::new(Client::new(addr, "bench", args.records, args.record_bytes))).collect();
    // Warm up connections and the allocator.
    let run = |secs: f64, rate: Option<f64>| {
        let clients = clients.clone();
        client_rt.spawn(async move { phase(&clients, secs, rate).await })
    };
    run(1.0, None).await??;
    let wal_before = svc.wal().stats();
    let steal_before = cpu::steal_ms();
    let peak = run(args.seconds, None).await??;
    let peak_steal = cpu::steal_ms() - steal_before;
    let wal_after = svc.wal().stats();
    // The half-rate phase measures the steady state: it starts once delivery has caught up
    // with what the peak left buffered (otherwise its first second also pays for
    // delivering the peak's backlog). A parked destination never catches up: no wait.
    let settled = match args.destination.as_str() {
        "parked" => Duration::ZERO,
        _ => drain(&svc, (args.buffer_mib as u64) << 20, Duration::from_secs(30)).await?,
    };
    let offered = args.paced_calls.unwrap_or(peak.calls_per_sec() / 2.0);
    let steal_before = cpu::steal_ms();
    let half = run(args.seconds, Some(offered)).await??;
    let half_steal = cpu::steal_ms() - steal_before;
    let wal_end = svc.wal().stats();

    let syncs = (wal_after.syncs - wal_before.syncs).max(1);
    let wal_mb = (wal_after.bytes - wal_before.bytes) as f64 / peak.elapsed.as_secs_f64() / 1e6;
    println!("peak:      {:.1} MB/s of record data ({:.1} MB/s written to the log), {:.0} records/s, {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, vCPU steal {peak_steal:.0} ms",
        peak.mbps(), wal_mb, peak.records as f64 / peak.elapsed.as_secs_f64(), peak.calls_per_sec(),
        ms(peak.pct(0.5)), ms(peak.pct(0.99)));
    println!(
        "           group commit: {:.2} calls per fsync, {:.2} MiB per fsync, mean fsync {:.2} ms",
        (peak.calls as f64) / syncs as f64,
        (wal_after.bytes - wal_before.bytes) as f64 / syncs as f64 / 1048576.0,
        (wal_after.sync_micros - wal_before.sync_micros) as f64 / syncs as f64 / 1000.0
    );
    println!(
        "           log segments started (peak and half rate): {}, of which in recycled files: {}",
        wal_end.rolls - wal_before.rolls,
        wal_end.recycled_rolls - wal_before.recycled_rolls
    );
    println!(
        "half rate: {:.1} MB/s ({:.0} calls/s offered), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, vCPU steal {half_steal:.0} ms \
         (started after delivery caught up with the peak's backlog: {:.1} s)",
        half.mbps(),
        offered,
        ms(half.pct(0.5)),
        ms(half.pct(0.99)),
        ms(half.pct(1.0)),
        settled.as_secs_f64()
    );
    println!(
        "ratio: ingest / fsync bandwidth = {:.2} (target >= 0.80); p99 at half rate {:.2} ms (target < 10 ms)",
        peak.mbps() / baseline,
        ms(half.pct(0.99))
    );
    let metrics = svc.metrics.render();
    let fsync: Vec<&str> = metrics.lines().filter(|l| l.contains("wal_sync_seconds_bucket")).collect();
    println!(
        "fsync latency histogram (cumulative): {}",
        fsync
            .iter()
            .map(|l| {
                let le = l.split("le=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
                let n = l.rsplit(' ').next().unwrap_or("?");
                format!("<={le}s:{n}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    if args.idle_seconds > 0.0 {
        let busy = rss_mb();
        tokio::time::sleep(Duration::from_secs_f64(args.idle_seconds)).await;
        println!(
            "resident memory: {busy:.0} MB after the load, {:.0} MB after {:.0} s idle (peak {:.0} MB)",
            rss_mb(),
            args.idle_seconds,
            peak_rss_mb()
        );
    }
    listener.stop(Duration::from_secs(1)).await;
    svc.shutdown().await;
    Ok(())
}

/// A `VmRSS`-style line of `/proc/self/status`, MB.
fn status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(key)?.trim().strip_suffix(" kB")?.trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// This process's resident memory now, MB.
fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// This process's peak resident memory, MB.
fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A signed control-plane call that must succeed.
async fn control(addr: SocketAddr, op: &str, body: &str) -> anyhow::Result<String> {
    let (status, text, _) = Client::with_body(addr, body).call(op).await?;
    if status != 200 {
        anyhow::bail!("{op}: {status} {text}");
    }
    Ok(text)
}
