//! The kinesis_firehose output against a loopback server speaking Firehose's JSON protocol:
//! batching boundaries, partial failures, back-off, Retry_Limit, and acks.

mod support;

use std::io::Read;
use std::time::Duration;

use support::*;

const STREAM: &str = "logs";

fn firehose_section(mock: &Mock, extra: &[(&str, &str)]) -> hydrant_flb::config::Plugin {
    let mut props = vec![("Match", "*"), ("region", "us-east-1"), ("delivery_stream", STREAM)];
    let url = mock.url();
    props.push(("endpoint", url.as_str()));
    props.extend_from_slice(extra);
    section("kinesis_firehose", &props)
}

#[tokio::test]
async fn five_hundred_and_one_records_make_two_calls() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[("Flush", "5")]);
    let out = hydrant_outputs::build(&firehose_section(&mock, &[]), &ctx).unwrap();
    let (tx, task) = start(out);
    let records: Vec<_> = (0..501).map(|i| log_record(&format!("line {i}"), 1_700_000_000)).collect();
    tx.send(chunk(records, events.ack("a"))).await.unwrap();
    // The full batch goes at once, without waiting for Flush or the close.
    assert!(wait_for(Duration::from_secs(5), || mock.call_count() == 1).await);
    drop(tx);
    task.await.unwrap();
    let calls = mock.calls();
    assert_eq!(calls.iter().map(|c| c.records.len()).collect::<Vec<_>>(), vec![500, 1]);
    assert_eq!(calls[0].stream, STREAM);
    assert_eq!(calls[0].records[7], b"{\"log\":\"line 7\"}\n");
    assert_eq!(calls[1].records[0], b"{\"log\":\"line 500\"}\n");
    assert_eq!(events.list().last().unwrap(), "ack a delivered");
    assert_eq!(counter(&ctx, "records"), 501);
    assert_eq!(counter(&ctx, "errors"), 0);
}

#[tokio::test]
async fn requests_stay_under_four_mebibytes() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[]);
    let out = hydrant_outputs::build(&firehose_section(&mock, &[]), &ctx).unwrap();
    let (tx, task) = start(out);
    // Data of 600,000 bytes is 800,000 in base64: five fit in 4,194,304 bytes, six do not.
    let big = "x".repeat(600_000 - 11);
    let records: Vec<_> = (0..12).map(|_| log_record(&big, 0)).collect();
    tx.send(chunk(records, events.ack("big"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let calls = mock.calls();
    assert_eq!(calls.iter().map(|c| c.records.len()).collect::<Vec<_>>(), vec![5, 5, 2]);
    for c in &calls {
        assert!(c.body_len <= 4_194_304, "request body of {} bytes", c.body_len);
        assert!(c.records.iter().all(|r| r.len() == 600_000));
    }
    assert_eq!(events.list().last().unwrap(), "ack big delivered");
}

#[tokio::test]
async fn only_failed_records_are_resent_and_the_ack_waits_for_them() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![Reply::Fail(vec![1, 3]), Reply::Fail(vec![0])], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[("scheduler.base", "0.05"), ("scheduler.cap", "0.2")]);
    let out = hydrant_outputs::build(&firehose_section(&mock, &[]), &ctx).unwrap();
    let (tx, task) = start(out);
    let records: Vec<_> = (0..5).map(|i| log_record(&format!("r{i}"), 0)).collect();
    tx.send(chunk(records, events.ack("c"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let bodies: Vec<Vec<String>> = mock
        .calls()
        .iter()
        .map(|c| c.records.iter().map(|r| String::from_utf8(r.clone()).unwrap()).collect())
        .collect();
    let line = |i: usize| format!("{{\"log\":\"r{i}\"}}\n");
    assert_eq!(
        bodies,
        vec![vec![line(0), line(1), line(2), line(3), line(4)], vec![line(1), line(3)], vec![line(1)]],
        "each retry carries exactly the records that failed, in order"
    );
    assert_eq!(events.list(), vec!["call 0 of 5", "call 1 of 2", "call 2 of 1", "ack c delivered"]);
    assert_eq!(counter(&ctx, "records"), 5);
    assert_eq!(counter(&ctx, "retries"), 3);
    assert_eq!(counter(&ctx, "dropped"), 0);
}

#[tokio::test]
async fn throttled_requests_back_off_exponentially() {
    setup();
    let events = Events::default();
    let throttle = Reply::Error(400, "ServiceUnavailableException");
    let mock = Mock::start(vec![throttle.clone(), throttle.clone(), throttle], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[("scheduler.base", "0.1"), ("scheduler.cap", "10")]);
    // auto_retry_requests off: every attempt is Hydrant's, with its back-off.
    let out = hydrant_outputs::build(&firehose_section(&mock, &[("auto_retry_requests", "false")]), &ctx).unwrap();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("t", 0)], events.ack("t"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let calls = mock.calls();
    assert_eq!(calls.len(), 4);
    let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Waits of 0.1, 0.2, 0.4 s, each jittered into its upper half.
    for (gap, full) in gaps.iter().zip([100u64, 200, 400]) {
        assert!(*gap >= Duration::from_millis(full / 2), "gap {gap:?} for a back-off of {full} ms");
        assert!(*gap < Duration::from_millis(full + 150), "gap {gap:?} for a back-off of {full} ms");
    }
    assert_eq!(counter(&ctx, "errors"), 3);
    assert_eq!(counter(&ctx, "records"), 1);
    assert_eq!(events.list().last().unwrap(), "ack t delivered");
}

#[tokio::test]
async fn retry_limit_drops_counts_and_releases_the_ack() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Error(400, "AccessDeniedException"), events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[("scheduler.base", "0.01"), ("scheduler.cap", "0.05")]);
    let out =
        hydrant_outputs::build(&firehose_section(&mock, &[("Retry_Limit", "2"), ("auto_retry_requests", "off")]), &ctx)
            .unwrap();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("a", 0), log_record("b", 0)], events.ack("d"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.call_count(), 3, "the first attempt and two retries");
    assert_eq!(counter(&ctx, "dropped"), 2);
    assert_eq!(counter(&ctx, "records"), 0);
    assert_eq!(counter(&ctx, "errors"), 3);
    // Dropped deliberately and counted: the span is done with.
    assert_eq!(events.list().last().unwrap(), "ack d delivered");
}

#[tokio::test]
async fn acks_are_abandoned_when_the_output_stops_before_delivery() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Error(503, "ServiceUnavailableException"), events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[("scheduler.base", "0.02"), ("scheduler.cap", "0.05")]);
    let out = hydrant_outputs::build(&firehose_section(&mock, &[("workers", "2")]), &ctx).unwrap();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("x", 0)], events.ack("one"))).await.unwrap();
    tx.send(chunk(vec![log_record("y", 0)], events.ack("two"))).await.unwrap();
    drop(tx);
    assert!(wait_for(Duration::from_secs(5), || mock.call_count() >= 3).await);
    assert!(!events.list().iter().any(|e| e.starts_with("ack")), "nothing is acknowledged while it fails");
    // The router's grace period ends: it drops the output's future.
    task.abort();
    let _ = task.await;
    assert!(
        wait_for(Duration::from_secs(2), || events.list().iter().filter(|e| e.starts_with("ack")).count() == 2).await
    );
    let acks: Vec<String> = events.list().into_iter().filter(|e| e.starts_with("ack")).collect();
    assert_eq!(acks.len(), 2);
    assert!(acks.iter().all(|a| a.ends_with("abandoned")), "{acks:?}");
    assert_eq!(counter(&ctx, "dropped"), 0);
}

#[tokio::test]
async fn partial_batches_go_out_after_flush_seconds() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[("Flush", "0.2")]);
    let out = hydrant_outputs::build(&firehose_section(&mock, &[]), &ctx).unwrap();
    let (tx, task) = start(out);
    let sent = std::time::Instant::now();
    tx.send(chunk(vec![log_record("a", 0)], events.ack("a"))).await.unwrap();
    tx.send(chunk(vec![log_record("b", 0)], events.ack("b"))).await.unwrap();
    assert!(wait_for(Duration::from_secs(3), || mock.call_count() == 1).await);
    let waited = mock.calls()[0].at - sent;
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_millis(1000), "{waited:?}");
    assert_eq!(mock.calls()[0].records.len(), 2, "both chunks in one batch");
    assert!(wait_for(Duration::from_secs(2), || events.list().len() == 3).await);
    drop(tx);
    task.await.unwrap();
    assert_eq!(events.list(), vec!["call 0 of 2", "ack a delivered", "ack b delivered"]);
}

#[tokio::test]
async fn dropped_records_are_counted_and_their_chunk_still_completes() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[]);
    let out = hydrant_outputs::build(&firehose_section(&mock, &[("log_key", "log")]), &ctx).unwrap();
    let (tx, task) = start(out);
    let huge = log_record(&"y".repeat(1_024_000), 0);
    let mut no_key = log_record("z", 0);
    no_key.body = hydrant_flb::Map::new();
    no_key.body.insert("other", hydrant_flb::Value::Str("v".into()));
    tx.send(chunk(vec![log_record("kept", 0), huge, no_key, log_record("", 0)], events.ack("m"))).await.unwrap();
    tx.send(chunk(vec![log_record("", 0)], events.ack("all-dropped"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.calls().len(), 1);
    assert_eq!(mock.calls()[0].records, vec![b"kept\n".to_vec()]);
    assert_eq!(counter(&ctx, "dropped"), 4);
    let mut acks: Vec<String> = events.list().into_iter().filter(|e| e.starts_with("ack")).collect();
    acks.sort();
    assert_eq!(acks, vec!["ack all-dropped delivered", "ack m delivered"]);
}

#[tokio::test]
async fn simple_aggregation_with_gzip_packs_records_and_compresses_each() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Ok, events.clone()).await;
    let ctx = context("kinesis_firehose.0", &[]);
    let out = hydrant_outputs::build(
        &firehose_section(
            &mock,
            &[("simple_aggregation", "on"), ("compression", "gzip"), ("time_key", "ts"), ("time_key_format", "%s.%3N")],
        ),
        &ctx,
    )
    .unwrap();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("a", 1), log_record("b", 2)], events.ack("1"))).await.unwrap();
    tx.send(chunk(vec![log_record("c", 3)], events.ack("2"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let calls = mock.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].records.len(), 1, "three records aggregated into one");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&calls[0].records[0][..]).read_to_string(&mut text).unwrap();
    assert_eq!(
        text,
        "{\"log\":\"a\",\"ts\":\"1.000\"}\n{\"log\":\"b\",\"ts\":\"2.000\"}\n{\"log\":\"c\",\"ts\":\"3.000\"}\n"
    );
    assert_eq!(counter(&ctx, "records"), 3);
    assert_eq!(events.list().iter().filter(|e| e.ends_with("delivered")).count(), 2);
}

#[tokio::test]
async fn go_plugin_name_uses_its_options() {
    setup();
    let events = Events::default();
    let mock = Mock::start(vec![], Reply::Ok, events.clone()).await;
    let ctx = context("firehose.0", &[]);
    let out = hydrant_outputs::build(
        &section(
            "firehose",
            &[
                ("region", "eu-west-1"),
                ("delivery_stream", STREAM),
                ("endpoint", &mock.url()),
                ("data_keys", "log"),
                ("log_key", "log"),
            ],
        ),
        &ctx,
    )
    .unwrap();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("say \"hi\"", 0)], events.ack("g"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.calls()[0].records, vec![b"say \"hi\"\n".to_vec()]);
}

#[test]
fn configuration_errors_name_the_problem() {
    let ctx = context("x.0", &[]);
    let err = |p: hydrant_flb::config::Plugin| hydrant_outputs::build(&p, &ctx).err().expect("refused").to_string();
    assert_eq!(
        err(section("es", &[])),
        "output.conf:3: unsupported: `es` output is not supported by Hydrant; supported: kinesis_firehose, firehose, stdout, null"
    );
    assert!(err(section("kinesis_firehose", &[("region", "us-east-1")])).contains("`delivery_stream` is required"));
    assert!(err(section("kinesis_firehose", &[("delivery_stream", "s")])).contains("`region` is required"));
    let base = [("region", "us-east-1"), ("delivery_stream", "s")];
    let with = |extra: &[(&str, &str)]| {
        let mut p: Vec<(&str, &str)> = base.to_vec();
        p.extend_from_slice(extra);
        err(section("kinesis_firehose", &p))
    };
    assert!(with(&[("time_key", "t"), ("log_key", "log")]).contains("can not be used together"));
    assert!(with(&[("compression", "lz4")]).contains("unknown compression `lz4`"));
    assert!(with(&[("time_key", "t"), ("time_key_format", "%Q")]).contains("time_key_format"));
    assert!(with(&[("workers", "0")]).contains("workers"));
    assert!(with(&[("Retry_Limit", "lots")]).contains("Retry_Limit"));
    assert!(with(&[("tls.verify", "off")]).contains("tls.verify off"));
    assert!(with(&[("tls.ca_file", "/nonexistent/ca.pem")]).contains("cannot read"));
    assert!(with(&[("endpoint", "ftp://x")]).contains("endpoint"));
    assert!(with(&[("data_keys", "log")]).contains("Go plugin"));
    let bad_flush = context("x.0", &[("Flush", "soon")]);
    assert!(hydrant_outputs::build(&section("kinesis_firehose", &base), &bad_flush)
        .err()
        .unwrap()
        .to_string()
        .contains("Flush"));
    // Go plugin: log_key with time_key is fine there.
    assert!(hydrant_outputs::build(
        &section("firehose", &[("region", "r"), ("delivery_stream", "s"), ("time_key", "t"), ("log_key", "l")]),
        &ctx
    )
    .is_ok());
}
