//! kill -9 of a process writing the log with small segments, so that segments are
//! recycled all the time: after every crash, replay must return every acknowledged
//! record still needed, and nothing from a recycled file's previous life.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use hydrant_wal::{FrameBuilder, Wal};
use uuid::Uuid;

const CHILD_ENV: &str = "HYDRANT_WAL_KILL9_DIR";
const SEGMENT_BYTES: u64 = 8 << 10;
/// The writer declares everything but its last `KEEP` acknowledged records done.
const KEEP: u64 = 64;

fn generation() -> Uuid {
    Uuid::from_u128(0x6b696c6c39)
}

/// A record's content, derived from its sequence number; lengths vary so that a new
/// life's frames end anywhere in a recycled file's previous ones.
fn record(seq: u64) -> Vec<u8> {
    let len = 1 + (seq.wrapping_mul(2654435761) % 1500) as usize;
    let mut r = format!("record-{seq}-").into_bytes();
    r.resize(len.max(r.len()), b'a' + (seq % 26) as u8);
    r
}

/// The child: recovers, then appends one record per frame forever, printing each
/// sequence number once it is durable, and collecting segments as it goes.
#[tokio::test]
async fn kill9_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let (wal, entries) = Wal::open(dir.as_ref(), SEGMENT_BYTES, true, None).unwrap();
    let mut seq = entries.iter().map(|e| e.end_seq()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    loop {
        let mut b = FrameBuilder::new(generation(), 0, 2048);
        b.push(&record(seq));
        let (tx, rx) = tokio::sync::oneshot::channel();
        wal.append(b.finish().seal(seq), Box::new(move |r| drop(tx.send(r))));
        rx.await.unwrap().unwrap();
        writeln!(out, "ack {seq}").unwrap();
        out.flush().unwrap();
        seq += 1;
        if seq % 8 == 0 {
            let done_below = seq.saturating_sub(KEEP);
            wal.collect_garbage(|_, end| end <= done_below).unwrap();
        }
    }
}

#[test]
fn acknowledged_records_survive_kill9_while_segments_are_recycled() {
    let dir = tempfile::tempdir().unwrap();
    let mut last_acked = None;
    for round in 0..6u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    acked = Some(n.parse::<u64>().unwrap());
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(300 + 70 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        assert!(acked.is_some() || last_acked.is_some(), "the writer acknowledged nothing");
        last_acked = acked.or(last_acked);

        let (wal, entries) = Wal::open(dir.path(), SEGMENT_BYTES, true, None).unwrap();
        drop(wal);
        let last = last_acked.unwrap();
        let seqs: Vec<u64> = entries.iter().map(|e| e.first_seq).collect();
        // Log order is sequence order: a frame of a previous life would break it.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "round {round}: out of order: {seqs:?}");
        for e in &entries {
            assert_eq!(e.records.len(), 1);
            assert_eq!(&e.records[0][..], &record(e.first_seq)[..], "round {round}: seq {}", e.first_seq);
        }
        // The last collection came after `last` was acknowledged, at most: it could take
        // records below `last + 1 - KEEP`, no more. All the others must replay.
        let needed = (last + 1).saturating_sub(KEEP)..=last;
        for s in needed {
            assert!(seqs.binary_search(&s).is_ok(), "round {round}: acknowledged seq {s} lost (last {last})");
        }
        assert!(seqs.iter().all(|&s| s <= last + 1), "round {round}: more than one unacknowledged frame");
        let spares = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".spare"))
            .count();
        eprintln!("round {round}: last acknowledged {last}, {} entries replayed, {spares} spares", seqs.len());
    }
}
