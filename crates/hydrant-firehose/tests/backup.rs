//! The S3 backup of an HTTP endpoint stream (spec section 3), in the local bucket
//! directory `<data_dir>/s3/<bucket>/`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use chrono::{TimeZone, Utc};
use common::*;
use serde_json::Value;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Checks a key `<base>http-endpoint-failed/YYYY/MM/DD/HH/<stream>-<ver>-YYYY-MM-DD-HH-MM-SS-<uuid><ext>`
/// (or without the error part) against the oldest arrival time of its records.
#[track_caller]
fn check_key(key: &str, base: &str, error: bool, stream: &str, version: u64, ext: &str, oldest_ms: u64) {
    let rest = key.strip_prefix(base).unwrap_or_else(|| panic!("{key} does not start with {base}"));
    let rest = if error {
        rest.strip_prefix("http-endpoint-failed/").unwrap_or_else(|| panic!("{key}: no http-endpoint-failed/"))
    } else {
        rest
    };
    let at = Utc.timestamp_millis_opt(oldest_ms as i64).unwrap();
    let dirs = at.format("%Y/%m/%d/%H/").to_string();
    let file = rest.strip_prefix(&dirs).unwrap_or_else(|| panic!("{key}: expected {dirs} after the prefix"));
    let stamp = at.format("%Y-%m-%d-%H-%M-%S").to_string();
    let head = format!("{stream}-{version}-{stamp}-");
    let uuid = file.strip_prefix(&head).unwrap_or_else(|| panic!("{key}: file name should start with {head}"));
    let uuid = uuid.strip_suffix(ext).unwrap_or_else(|| panic!("{key}: should end with {ext:?}"));
    assert!(uuid::Uuid::parse_str(uuid).is_ok() && uuid.len() == 36, "{key}: {uuid} is not a UUID");
}

/// Checks every error document under `bucket`: the exact field set and types, rawData
/// against the records, attemptsMade against what the receiver saw; checks the keys.
/// Returns the raw records in backup order.
fn check_failed_backup(
    bucket: &std::path::Path,
    base: &str,
    stream: &str,
    ext: &str,
    rx: &Receiver,
    code: &str,
    message_part: &str,
) -> Vec<Vec<u8>> {
    let docs = failed_documents(bucket);
    let mut by_key: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, d) in docs {
        by_key.entry(k).or_default().push(d);
    }
    let attempts_by_record: BTreeMap<Vec<u8>, usize> = {
        let reqs = rx.requests();
        let mut m = BTreeMap::new();
        for r in &reqs {
            let n = reqs.iter().filter(|o| o.request_id == r.request_id).count();
            for rec in &r.records {
                m.insert(rec.clone(), n);
            }
        }
        m
    };
    let now = now_ms();
    let mut out = Vec::new();
    let mut data_ids = std::collections::HashSet::new();
    for (key, docs) in &by_key {
        let oldest = docs.iter().map(|d| d["arrivalTimestamp"].as_u64().unwrap()).min().unwrap();
        check_key(key, base, true, stream, 1, ext, oldest);
        for d in docs {
            let o = d.as_object().unwrap();
            let mut fields: Vec<&str> = o.keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(
                fields,
                [
                    "arrivalTimestamp",
                    "attemptEndingTimestamp",
                    "attemptsMade",
                    "dataId",
                    "errorCode",
                    "errorMessage",
                    "rawData",
                    "subsequenceNumber"
                ],
                "{d}"
            );
            let arrival = d["arrivalTimestamp"].as_u64().expect("arrivalTimestamp is ms");
            let ending = d["attemptEndingTimestamp"].as_u64().expect("attemptEndingTimestamp is ms");
            assert!(arrival.abs_diff(now) < 60_000, "arrivalTimestamp {arrival} is not ms near {now}");
            assert!(
                ending >= arrival && ending <= now,
                "attemptEndingTimestamp {ending} (arrival {arrival}, now {now})"
            );
            assert_eq!(d["errorCode"], code);
            assert!(d["errorMessage"].as_str().unwrap().contains(message_part), "{d}");
            assert!(d["subsequenceNumber"].is_u64(), "{d}");
            assert!(d["dataId"].as_str().is_some_and(|s| !s.is_empty()), "{d}");
            assert!(data_ids.insert(d["dataId"].as_str().unwrap().to_string()), "dataId repeated: {d}");
            let raw = base64::engine::general_purpose::STANDARD.decode(d["rawData"].as_str().unwrap()).unwrap();
            let attempts = d["attemptsMade"].as_u64().expect("attemptsMade is a number") as usize;
            assert_eq!(Some(&attempts), attempts_by_record.get(&raw), "attemptsMade vs the receiver's count: {d}");
            out.push(raw);
        }
    }
    out
}

/// 5a. Retries exhausted: the batch goes to `<Prefix>http-endpoint-failed/...` as one
/// JSON error document per line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_go_to_the_failed_data_backup() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("to-backup", "");
    spec.retry_s = 1;
    spec.prefix = Some("pfx/".into());
    let rx = Receiver::start(spec.expect()).await;
    rx.set_default(Reply::Status(500));
    spec.url = rx.url();
    spec.create(&h.client).await;
    let mut recs = records("first", 20, 300);
    put_batch(&h.client, &spec.name, &recs).await;
    let more = records("second", 5, 300);
    put_batch(&h.client, &spec.name, &more).await;
    recs.extend(more);
    let bucket = h.bucket_dir("backup");
    assert!(
        wait_for(Duration::from_secs(10), || failed_records(&bucket).len() >= recs.len()).await,
        "backup has {} of {} records",
        failed_records(&bucket).len(),
        recs.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.request_count() >= 3, "retried for a second: {} attempts", rx.request_count());
    let mut backed =
        check_failed_backup(&bucket, "pfx/", &spec.name, "", &rx, "HttpEndpoint.DestinationException", "500");
    assert_eq!(rx.accepted_records().len(), 0);
    backed.sort();
    let mut want = recs.clone();
    want.sort();
    assert_eq!(backed, want, "every record backed up exactly once");
    // Nothing else in the bucket (FailedDataOnly).
    assert!(objects(&bucket).iter().all(|(k, _)| k.starts_with("pfx/http-endpoint-failed/")));
    rx.assert_no_violations();
    h.stop().await;
}

/// 5b. CompressionFormat GZIP and an ErrorOutputPrefix: a `.gz` object under the error
/// prefix that gunzips to the same lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_failed_data_backup_under_the_error_prefix() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("gz-backup", "");
    spec.retry_s = 0;
    spec.prefix = Some("data/".into());
    spec.error_prefix = Some("errors/".into());
    spec.s3_gzip = true;
    spec.bucket = "gz-bucket".into();
    let rx = Receiver::start(spec.expect()).await;
    rx.set_default(Reply::Status(503));
    spec.url = rx.url();
    spec.create(&h.client).await;
    let recs = records("gz", 50, 200);
    put_batch(&h.client, &spec.name, &recs).await;
    let bucket = h.bucket_dir("gz-bucket");
    assert!(wait_for(Duration::from_secs(10), || failed_records(&bucket).len() >= recs.len()).await);
    let objs = objects(&bucket);
    assert!(!objs.is_empty());
    for (key, content) in &objs {
        assert!(key.ends_with(".gz"), "{key}");
        assert_eq!(&content[..2], &[0x1f, 0x8b], "{key} is not gzip");
    }
    let backed =
        check_failed_backup(&bucket, "errors/", &spec.name, ".gz", &rx, "HttpEndpoint.DestinationException", "503");
    assert_eq!(backed, recs);
    rx.assert_no_violations();
    h.stop().await;
}

/// 5c. AllData: every record is also written, raw and concatenated, to objects under the
/// Prefix, whether delivered or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_data_mode_writes_every_record() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    // Stream 1: the endpoint accepts everything.
    let mut ok = StreamSpec::new("all-ok", "");
    ok.all_data = true;
    ok.prefix = Some("all/".into());
    ok.bucket = "all-ok".into();
    let ok_rx = Receiver::start(ok.expect()).await;
    ok.url = ok_rx.url();
    ok.create(&h.client).await;
    // Stream 2: the endpoint fails, no retries.
    let mut bad = StreamSpec::new("all-bad", "");
    bad.all_data = true;
    bad.retry_s = 0;
    bad.bucket = "all-bad".into();
    let bad_rx = Receiver::start(bad.expect()).await;
    bad_rx.set_default(Reply::Status(500));
    bad.url = bad_rx.url();
    bad.create(&h.client).await;

    let recs1 = records("okdata", 40, 150);
    let recs2 = records("baddata", 30, 150);
    for chunk in recs1.chunks(10) {
        put_batch(&h.client, &ok.name, chunk).await;
    }
    put_batch(&h.client, &bad.name, &recs2).await;

    let data_records = |bucket: &std::path::Path| -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (k, c) in objects(bucket) {
            if k.contains("http-endpoint-failed") {
                continue;
            }
            out.extend(c.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec));
        }
        out.sort();
        out
    };
    let sorted = |v: &[Vec<u8>]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let b1 = h.bucket_dir("all-ok");
    let b2 = h.bucket_dir("all-bad");
    assert!(
        wait_for(Duration::from_secs(10), || data_records(&b1).len() >= recs1.len()
            && data_records(&b2).len() >= recs2.len()
            && ok_rx.accepted_records().len() >= recs1.len()
            && failed_records(&b2).len() >= recs2.len())
        .await,
        "all-data objects: {} / {}, delivered {}, failed backup {}",
        data_records(&b1).len(),
        data_records(&b2).len(),
        ok_rx.accepted_records().len(),
        failed_records(&b2).len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(data_records(&b1), sorted(&recs1), "AllData objects hold every record once");
    assert_eq!(ok_rx.accepted_records(), recs1);
    assert!(failed_records(&b1).is_empty());
    assert_eq!(data_records(&b2), sorted(&recs2));
    assert_eq!(failed_records(&b2), recs2);
    for (k, c) in objects(&b1) {
        // Raw records concatenated, the key under the Prefix with the hour directories.
        let first_line = c.split(|&b| b == b'\n').next().unwrap().to_vec();
        assert!(first_line.starts_with(b"okdata-"), "{k}");
        let t = Utc::now();
        assert!(k.starts_with("all/") && k.contains("/all-ok-1-"), "{k}");
        assert!(k[4..].starts_with(&t.format("%Y/").to_string()), "{k}");
    }
    ok_rx.assert_no_violations();
    bad_rx.assert_no_violations();
    h.stop().await;
}

/// The backup documents carry the error code of the last attempt: a timeout, a refused
/// connection (whatever the URL looks like), a destination error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_codes_of_the_last_attempt() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |c| c.delivery.attempt_timeout = Duration::from_millis(500)).await;
    let mut slow = StreamSpec::new("times-out", "");
    slow.retry_s = 0;
    slow.bucket = "timeouts".into();
    let slow_rx = Receiver::start(slow.expect()).await;
    slow_rx.set_default(Reply::Delay(Duration::from_secs(3), Box::new(Reply::Ok)));
    slow.url = slow_rx.url();
    slow.create(&h.client).await;
    let down = reserve_port();
    let mut refused = StreamSpec::new("refused", &format!("http://{}/tls/ssl-certificate-handshake", down.addr));
    refused.retry_s = 0;
    refused.bucket = "refused".into();
    refused.create(&h.client).await;
    put_batch(&h.client, &slow.name, &records("slow", 2, 50)).await;
    put_batch(&h.client, &refused.name, &records("refused", 2, 50)).await;
    let (b1, b2) = (h.bucket_dir("timeouts"), h.bucket_dir("refused"));
    assert!(
        wait_for(Duration::from_secs(10), || failed_records(&b1).len() >= 2 && failed_records(&b2).len() >= 2).await,
        "backups: {} / {}",
        failed_records(&b1).len(),
        failed_records(&b2).len()
    );
    for (_, d) in failed_documents(&b1) {
        assert_eq!(d["errorCode"], "HttpEndpoint.RequestTimeout", "{d}");
        assert_eq!(d["attemptsMade"], 1);
    }
    for (_, d) in failed_documents(&b2) {
        assert_eq!(d["errorCode"], "HttpEndpoint.ConnectionFailed", "{d}");
    }
    slow_rx.assert_no_violations();
    h.stop().await;
}

/// Makes the local bucket unwritable: its directory path is a file.
fn break_bucket(data_dir: &std::path::Path, bucket: &str) -> std::path::PathBuf {
    let p = data_dir.join("s3").join(bucket);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"not a directory").unwrap();
    p
}

async fn failing_backup_setup(
    name: &str,
) -> (tempfile::TempDir, Harness, StreamSpec, Receiver, Vec<Vec<u8>>, std::path::PathBuf) {
    let dir = tempdir();
    let blocker = break_bucket(dir.path(), "broken");
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new(name, "");
    spec.retry_s = 0;
    spec.bucket = "broken".into();
    let rx = Receiver::start(spec.expect()).await;
    rx.set_default(Reply::Status(500));
    spec.url = rx.url();
    spec.create(&h.client).await;
    let mut acked = Vec::new();
    for i in 0..6 {
        let recs = records(&format!("{name}{i}"), 10, 100);
        put_batch(&h.client, &spec.name, &recs).await;
        acked.extend(recs);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(rx.request_count() >= 2, "attempts were made: {}", rx.request_count());
    (dir, h, spec, rx, acked, blocker)
}

fn missing(acked: &[Vec<u8>], rx: &Receiver, bucket: &std::path::Path) -> usize {
    let mut have: std::collections::HashSet<Vec<u8>> = rx.accepted_records().into_iter().collect();
    have.extend(failed_records(bucket));
    acked.iter().filter(|r| !have.contains(*r)).count()
}

/// 8a. Endpoint failing (no retries) and backup failing: delivery pauses, nothing is
/// dropped; when the endpoint recovers, every acknowledged record reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backup_then_endpoint_recovers() {
    let (dir, h, spec, rx, acked, _blocker) = failing_backup_setup("endpoint-heals").await;
    assert_eq!(rx.accepted_records().len(), 0);
    rx.set_default(Reply::Ok);
    let bucket = dir.path().join("s3").join("broken");
    assert!(
        wait_for(Duration::from_secs(15), || missing(&acked, &rx, &bucket) == 0).await,
        "{} of {} acknowledged records neither delivered nor backed up after the endpoint recovered",
        missing(&acked, &rx, &bucket),
        acked.len()
    );
    // And the stream goes on.
    let later = records("later", 3, 50);
    put_batch(&h.client, &spec.name, &later).await;
    assert!(wait_for(Duration::from_secs(5), || missing(&later, &rx, &bucket) == 0).await);
    rx.assert_no_violations();
    h.stop().await;
}

/// 8b. The same, but the backup recovers while the endpoint keeps failing: every
/// acknowledged record ends up in the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_backup_then_backup_recovers() {
    let (dir, h, _spec, rx, acked, blocker) = failing_backup_setup("backup-heals").await;
    std::fs::remove_file(&blocker).unwrap();
    let bucket = dir.path().join("s3").join("broken");
    assert!(
        wait_for(Duration::from_secs(15), || failed_records(&bucket).len() >= acked.len()).await,
        "{} of {} acknowledged records backed up after the bucket recovered",
        failed_records(&bucket).len(),
        acked.len()
    );
    let mut got = failed_records(&bucket);
    got.sort();
    let mut want = acked.clone();
    want.sort();
    assert_eq!(got, want);
    rx.assert_no_violations();
    h.stop().await;
}
