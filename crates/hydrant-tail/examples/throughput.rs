//! Throughput of the tail input on CRI nginx lines, in MB of source per second.
//!
//! `cargo run --release -p hydrant-tail --example throughput [MB]`
//!
//! 1. Parsing alone: line splitting plus the `cri` parser building records, in memory.
//! 2. The whole input: a file of CRI lines read from its head through the input, chunks
//!    received and acknowledged as a null output would (raw mode, as on Fargate, then `cri`).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrant_flb::config::{Config, Format, Origin, Plugin};
use hydrant_flb::metrics::Metrics;
use hydrant_flb::{BuildContext, EventTime, InputContext};
use hydrant_tail::multiline::{self, Assembler};
use hydrant_tail::reader::{LineEvent, LineReader};

fn nginx_lines(target_bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target_bytes + 512);
    let mut i = 0u64;
    while out.len() < target_bytes {
        writeln!(
            out,
            "2024-01-15T10:{:02}:{:02}.{:09}Z stdout F 10.0.{}.{} - - [15/Jan/2024:10:00:00 +0000] \
             \"GET /api/v1/items/{} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64) curl/8.5.0\" \"-\"",
            (i / 60) % 60,
            i % 60,
            i * 7919 % 1_000_000_000,
            i % 256,
            (i * 13) % 256,
            i,
            100 + i % 9000
        )
        .unwrap();
        i += 1;
    }
    out
}

fn parse_only(data: &[u8]) {
    let start = Instant::now();
    let mut reader = LineReader::new(0, 64_000);
    let mut assembler = Assembler::new(vec![multiline::Format::Cri]);
    let now = Instant::now();
    let mut records = Vec::with_capacity(1000);
    let mut count = 0usize;
    for block in data.chunks(256 * 1024) {
        reader.feed(block, |e| {
            if let LineEvent::Line { bytes, offset } = e {
                let text = String::from_utf8_lossy(bytes);
                assembler.push(&text, offset, EventTime::default(), now, &mut |a| records.push(a.record));
            }
        });
        count += records.len();
        records.clear();
    }
    let secs = start.elapsed().as_secs_f64();
    println!("parse (split + cri records): {count} records, {:.0} MB/s", data.len() as f64 / 1e6 / secs);
}

async fn whole_input(dir: &std::path::Path, data_len: usize, records: usize, parser: Option<&str>) {
    let mut plugin = Plugin::new("tail", Origin::new("bench", 0));
    plugin.properties.push("Path", format!("{}/*.log", dir.display()));
    plugin.properties.push("Read_From_Head", "On");
    plugin.properties.push("Tag", "kube.*");
    if let Some(p) = parser {
        plugin.properties.push("multiline.parser", p);
    }
    let ctx = BuildContext {
        config: Arc::new(Config::empty(Format::Classic)),
        metrics: Arc::new(Metrics::new()),
        name: "tail.0".into(),
        data_dir: dir.to_path_buf(),
    };
    let input = hydrant_tail::build(&plugin, &ctx).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let start = Instant::now();
    let cpu0 = cpu_time();
    let task = tokio::spawn(input.run(InputContext { chunks: tx, shutdown: shutdown.clone() }));
    let mut got = 0;
    while got < records {
        let c = rx.recv().await.unwrap();
        got += c.records.len();
        c.ack.complete();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_time() - cpu0;
    shutdown.cancel();
    drop(rx);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    println!(
        "input ({}): {got} records in {secs:.2} s: {:.0} MB/s wall, {:.0} MB per CPU-second",
        parser.unwrap_or("raw"),
        data_len as f64 / 1e6 / secs,
        data_len as f64 / 1e6 / cpu.as_secs_f64()
    );
}

/// CPU time of this process (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

#[tokio::main]
async fn main() {
    let mb: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let data = nginx_lines(mb * 1_000_000);
    let lines = data.iter().filter(|&&b| b == b'\n').count();
    parse_only(&data);
    for parser in [None, Some("cri")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web-1_default_nginx-0123.log"), &data).unwrap();
        whole_input(dir.path(), data.len(), lines, parser).await;
    }
}
