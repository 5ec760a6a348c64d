//! HTTP endpoint delivery (spec section 2) end to end: the real SDK client against the
//! service in process, delivering to strict receivers on loopback.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_firehose::types::{
    HttpEndpointBufferingHints, HttpEndpointConfiguration, HttpEndpointDestinationUpdate, HttpEndpointRetryOptions,
};
use common::*;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

async fn describe_version(client: &aws_sdk_firehose::Client, name: &str) -> String {
    let d = client.describe_delivery_stream().delivery_stream_name(name).send().await.unwrap();
    d.delivery_stream_description().unwrap().version_id().to_string()
}

/// 1. CreateDeliveryStream (GZIP, common attributes, access key, interval 0), PutRecord,
/// PutRecordBatch, Describe, UpdateDestination, List, Delete, all through the SDK; the
/// strict receiver gets every record exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_round_trip() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("round-trip", "");
    spec.gzip = true;
    spec.access_key = Some("dd-api-key/with+odd=chars and spaces".into());
    spec.common_attributes = vec![("env".into(), "prod".into()), ("team".into(), "a \"quoted\" b".into())];
    spec.endpoint_name = Some("Strict receiver".into());
    spec.size_mb = 4;
    let mut expect = Expect::new(&spec.name);
    expect.path_and_query = "/api/v2/logs?dd-protocol=aws-kinesis-firehose&x=a%20b".into();
    expect.access_key = spec.access_key.clone();
    expect.common_attributes = spec.common_attributes.clone();
    expect.gzip = true;
    let rx = Receiver::start(expect).await;
    spec.url = rx.url();
    spec.create(&h.client).await;

    let mut sent = Vec::new();
    for r in records("single", 3, 100) {
        put_one(&h.client, &spec.name, &r).await;
        sent.push(r);
    }
    let batch = records("batch", 500, 1024);
    let ids = put_batch(&h.client, &spec.name, &batch).await;
    assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), 500, "record ids are unique");
    sent.extend(batch);

    assert!(
        wait_for(Duration::from_secs(10), || rx.accepted_records().len() >= sent.len()).await,
        "only {} of {} records arrived",
        rx.accepted_records().len(),
        sent.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.accepted_records(), sent, "every record exactly once, in order");
    assert!(rx.requests().iter().all(|r| r.accepted()));

    // Describe: the configuration back, never the access key.
    let raw = RawBody::default();
    let d = h
        .client
        .describe_delivery_stream()
        .delivery_stream_name(&spec.name)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .unwrap();
    let d = d.delivery_stream_description().unwrap();
    assert_eq!(d.delivery_stream_arn(), stream_arn(&spec.name));
    assert_eq!(d.delivery_stream_status().as_str(), "ACTIVE");
    assert_eq!(d.version_id(), "1");
    let dest = d.destinations()[0].http_endpoint_destination_description().unwrap();
    assert_eq!(dest.endpoint_configuration().unwrap().url(), Some(spec.url.as_str()));
    assert_eq!(dest.endpoint_configuration().unwrap().name(), Some("Strict receiver"));
    assert_eq!(dest.buffering_hints().unwrap().interval_in_seconds(), Some(0));
    assert_eq!(dest.request_configuration().unwrap().content_encoding().unwrap().as_str(), "GZIP");
    assert_eq!(dest.request_configuration().unwrap().common_attributes().len(), 2);
    let text = raw.text();
    assert!(text.contains("HttpEndpointDestinationDescription"), "{text}");
    assert!(!text.contains("AccessKey"), "the description has an AccessKey member: {text}");
    assert!(!text.contains("dd-api-key"), "the description leaks the access key: {text}");

    // UpdateDestination: a new access key reaches the next delivery; VersionId goes up.
    h.client
        .update_destination()
        .delivery_stream_name(&spec.name)
        .current_delivery_stream_version_id("1")
        .destination_id(d.destinations()[0].destination_id())
        .http_endpoint_destination_update(
            HttpEndpointDestinationUpdate::builder()
                .endpoint_configuration(
                    HttpEndpointConfiguration::builder().url(&spec.url).access_key("rotated-key").build().unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    rx.set_expected_access_key(Some("rotated-key"));
    assert_eq!(describe_version(&h.client, &spec.name).await, "2");
    // A stale version id is refused.
    let stale = h
        .client
        .update_destination()
        .delivery_stream_name(&spec.name)
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .http_endpoint_destination_update(HttpEndpointDestinationUpdate::builder().build())
        .send()
        .await
        .unwrap_err();
    assert!(format!("{stale:?}").contains("ConcurrentModificationException"), "{stale:?}");
    let after = records("after-update", 2, 50);
    put_batch(&h.client, &spec.name, &after).await;
    sent.extend(after);
    assert!(wait_for(Duration::from_secs(10), || rx.accepted_records().len() >= sent.len()).await);
    assert_eq!(rx.accepted_records(), sent);
    assert_eq!(rx.requests().last().unwrap().access_key.as_deref(), Some("rotated-key"));

    // List and Delete.
    let list = h.client.list_delivery_streams().send().await.unwrap();
    assert_eq!(list.delivery_stream_names(), [spec.name.clone()]);
    assert!(!list.has_more_delivery_streams());
    h.client.delete_delivery_stream().delivery_stream_name(&spec.name).send().await.unwrap();
    let list = h.client.list_delivery_streams().send().await.unwrap();
    assert!(list.delivery_stream_names().is_empty());
    let gone = h.client.describe_delivery_stream().delivery_stream_name(&spec.name).send().await.unwrap_err();
    assert!(format!("{gone:?}").contains("ResourceNotFoundException"), "{gone:?}");

    rx.assert_no_violations();
    h.stop().await;
}

/// 2a. SizeInMBs=1 with IntervalInSeconds=900: nothing goes out until more than 1 MiB
/// is buffered; then a batch arrives at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_by_size() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("by-size", "");
    spec.interval_s = 900;
    spec.size_mb = 1;
    let rx = Receiver::start(spec.expect()).await;
    spec.url = rx.url();
    spec.create(&h.client).await;

    // 900 KiB: under the hint.
    let first = records("under", 90, 10 * 1024);
    put_batch(&h.client, &spec.name, &first).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.request_count(), 0, "delivered before the size hint was reached");

    // 200 KiB more: over the hint.
    let more = records("over", 20, 10 * 1024);
    let t = Instant::now();
    put_batch(&h.client, &spec.name, &more).await;
    assert!(wait_for(Duration::from_secs(3), || rx.request_count() >= 1).await, "no batch once over 1 MiB");
    let latency = rx.requests()[0].at - t;
    assert!(latency < Duration::from_secs(2), "batch took {latency:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1, "one batch of about the size hint, the rest stays buffered");
    let got = &reqs[0].records;
    let bytes: usize = got.iter().map(Vec::len).sum();
    assert!(bytes <= 1 << 20, "batch of {bytes} bytes exceeds the 1 MiB hint");
    assert!(got.len() > first.len(), "the batch holds the buffered records and some of the new ones");
    let all: Vec<Vec<u8>> = first.iter().chain(more.iter()).cloned().collect();
    assert_eq!(got[..], all[..got.len()], "in order");
    rx.assert_no_violations();
    h.stop().await;
}

/// 2b. IntervalInSeconds=1 with little data: delivered after about a second, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_by_interval() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("by-interval", "");
    spec.interval_s = 1;
    spec.size_mb = 5;
    let rx = Receiver::start(spec.expect()).await;
    spec.url = rx.url();
    spec.create(&h.client).await;

    let recs = records("small", 5, 200);
    let t = Instant::now();
    put_batch(&h.client, &spec.name, &recs).await;
    assert!(wait_for(Duration::from_secs(4), || rx.request_count() >= 1).await, "not delivered within 4 s");
    let after = rx.requests()[0].at - t;
    assert!(after >= Duration::from_millis(800), "delivered after {after:?}, before the 1 s interval");
    assert!(after <= Duration::from_millis(2500), "delivered after {after:?}, long after the 1 s interval");
    assert_eq!(rx.accepted_records(), recs);
    rx.assert_no_violations();
    h.stop().await;
}

/// 3. Every kind of invalid "success" is a failed attempt: retried with the same
/// request id, and delivered once the receiver answers properly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_responses_are_retried_with_the_same_request_id() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("invalid-responses", "");
    spec.access_key = Some("k".into());
    let rx = Receiver::start(spec.expect()).await;
    let bad = vec![
        Reply::WrongRequestId,
        Reply::MissingTimestamp,
        Reply::TextPlain,
        Reply::NonJson,
        Reply::ContentEncoding,
        Reply::Status(201),
        Reply::Status(204),
        Reply::Redirect,
        Reply::TooLarge,
        Reply::Status(500),
        Reply::Status(503),
        Reply::Status(400),
        Reply::Status(429),
    ];
    rx.push_replies(bad.clone());
    spec.url = rx.url();
    spec.create(&h.client).await;

    let recs = records("validate", 10, 100);
    put_batch(&h.client, &spec.name, &recs).await;
    assert!(
        wait_for(Duration::from_secs(15), || rx.requests().iter().any(|r| r.accepted())).await,
        "never delivered; {} attempts",
        rx.request_count()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = rx.requests();
    assert_eq!(reqs.len(), bad.len() + 1, "one attempt per bad answer, then the good one, nothing after");
    for (r, want) in reqs.iter().zip(bad.iter()) {
        assert_eq!(r.answered.as_ref(), Some(want));
    }
    assert!(reqs.iter().all(|r| r.request_id == reqs[0].request_id), "the same request id on every retry");
    assert!(reqs.iter().all(|r| r.records == recs), "every retry carries the same batch");
    assert_eq!(rx.accepted_records(), recs);
    // Nothing was backed up: the batch was delivered.
    assert!(failed_documents(&h.bucket_dir("backup")).is_empty());
    rx.assert_no_violations();
    h.stop().await;
}

/// 4a. With the real back-off (1 s, doubling, +-15%), three failures then a success
/// show gaps of about 1 s, 2 s and 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_schedule_doubles_from_one_second() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |c| {
        c.delivery.backoff_base = Duration::from_secs(1);
        c.delivery.backoff_max = Duration::from_secs(120);
    })
    .await;
    let mut spec = StreamSpec::new("schedule", "");
    spec.retry_s = 300;
    let rx = Receiver::start(spec.expect()).await;
    rx.push_replies([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    spec.url = rx.url();
    spec.create(&h.client).await;
    let recs = records("sched", 3, 64);
    put_batch(&h.client, &spec.name, &recs).await;
    assert!(
        wait_for(Duration::from_secs(12), || rx.request_count() >= 4).await,
        "only {} attempts",
        rx.request_count()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs[3].accepted());
    for (i, base) in [1.0f64, 2.0, 4.0].into_iter().enumerate() {
        let gap = (reqs[i + 1].at - reqs[i].at).as_secs_f64();
        let (lo, hi) = (base * 0.85 - 0.02, base * 1.15 + 0.3);
        assert!(gap >= lo && gap <= hi, "gap {} is {gap:.3} s, expected {base} s +-15% ({lo:.3}..{hi:.3})", i + 1);
    }
    assert_eq!(rx.accepted_records(), recs);
    rx.assert_no_violations();
    h.stop().await;
}

/// 4a'. The retry clock excludes the time spent waiting for responses: with 1 s of
/// retries, 300 ms back-offs and a receiver that takes 600 ms to fail, four or five
/// attempts are made (counting response time, there would be two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_clock_excludes_response_time() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |c| {
        c.delivery.backoff_base = Duration::from_millis(300);
        c.delivery.backoff_max = Duration::from_millis(300);
    })
    .await;
    let mut spec = StreamSpec::new("slow-failures", "");
    spec.retry_s = 1;
    let rx = Receiver::start(spec.expect()).await;
    rx.set_default(Reply::Delay(Duration::from_millis(600), Box::new(Reply::Status(500))));
    spec.url = rx.url();
    spec.create(&h.client).await;
    let recs = records("clock", 2, 64);
    put_batch(&h.client, &spec.name, &recs).await;
    let bucket = h.bucket_dir("backup");
    assert!(wait_for(Duration::from_secs(10), || failed_records(&bucket).len() >= recs.len()).await, "no backup");
    let attempts = rx.request_count();
    assert!((4..=5).contains(&attempts), "{attempts} attempts within a 1 s retry duration");
    assert!(rx.requests().iter().all(|r| r.answered.is_some()), "an attempt in flight was cut short");
    for (_, doc) in failed_documents(&bucket) {
        assert_eq!(doc["attemptsMade"], attempts);
    }
    rx.assert_no_violations();
    h.stop().await;
}

/// 4b. RetryOptions.DurationInSeconds=0: one attempt, then the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_retry_duration_means_one_attempt_then_backup() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("no-retries", "");
    spec.retry_s = 0;
    let rx = Receiver::start(spec.expect()).await;
    rx.set_default(Reply::Status(500));
    spec.url = rx.url();
    spec.create(&h.client).await;
    let recs = records("once", 4, 64);
    put_batch(&h.client, &spec.name, &recs).await;
    let bucket = h.bucket_dir("backup");
    assert!(wait_for(Duration::from_secs(5), || failed_records(&bucket).len() >= recs.len()).await, "no backup");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.request_count(), 1, "exactly one attempt");
    assert_eq!(failed_records(&bucket), recs);
    for (_, doc) in failed_documents(&bucket) {
        assert_eq!(doc["attemptsMade"], 1);
        assert_eq!(doc["errorCode"], "HttpEndpoint.DestinationException");
    }
    rx.assert_no_violations();
    h.stop().await;
}

/// 4c. 413: exactly one attempt, no retry, and no backup; the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_too_large_is_neither_retried_nor_backed_up() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("too-large", "");
    spec.retry_s = 300;
    let rx = Receiver::start(spec.expect()).await;
    rx.push_replies([Reply::Status(413)]);
    spec.url = rx.url();
    spec.create(&h.client).await;
    let dropped = records("dropped", 3, 64);
    put_batch(&h.client, &spec.name, &dropped).await;
    assert!(wait_for(Duration::from_secs(5), || rx.request_count() >= 1).await);
    // Longer than many back-offs (20 ms .. 100 ms): a retry would have happened.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(rx.request_count(), 1, "a 413 must not be retried");
    let later = records("later", 2, 64);
    put_batch(&h.client, &spec.name, &later).await;
    assert!(wait_for(Duration::from_secs(5), || rx.accepted_records() == later).await, "the stream stopped");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let objects = objects(&h.bucket_dir("backup"));
    assert!(
        objects.iter().all(|(k, _)| !k.contains("http-endpoint-failed")),
        "a 413 batch was backed up: {:?}",
        objects.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert_eq!(rx.request_count(), 2);
    rx.assert_no_violations();
    h.stop().await;
}

/// 6. UpdateDestination reaches a batch whose retries are in flight: the new URL and
/// access key are used, with the same request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_destination_reaches_retries_in_flight() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("moving", "");
    spec.retry_s = 300;
    spec.access_key = Some("old-key".into());
    let a = Receiver::start(spec.expect()).await;
    a.set_default(Reply::Status(500));
    let mut b_expect = spec.expect();
    b_expect.path_and_query = "/b/intake?v=2".into();
    b_expect.access_key = Some("new-key".into());
    let b = Receiver::start(b_expect).await;
    spec.url = a.url();
    spec.create(&h.client).await;
    let recs = records("moving", 7, 80);
    put_batch(&h.client, &spec.name, &recs).await;
    assert!(wait_for(Duration::from_secs(5), || a.request_count() >= 2).await);

    h.client
        .update_destination()
        .delivery_stream_name(&spec.name)
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .http_endpoint_destination_update(
            HttpEndpointDestinationUpdate::builder()
                .endpoint_configuration(
                    HttpEndpointConfiguration::builder().url(b.url()).access_key("new-key").build().unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || b.requests().iter().any(|r| r.accepted())).await,
        "B never got the batch"
    );
    let at_a = a.request_count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.request_count(), at_a, "A still gets attempts after B accepted");
    let id = &a.requests()[0].request_id;
    assert!(a.requests().iter().all(|r| &r.request_id == id));
    let breqs = b.requests();
    assert_eq!(breqs.len(), 1);
    assert_eq!(&breqs[0].request_id, id, "the same request id after the update");
    assert_eq!(breqs[0].access_key.as_deref(), Some("new-key"));
    assert_eq!(breqs[0].records, recs);
    a.assert_no_violations();
    b.assert_no_violations();
    h.stop().await;
}

/// 7. A hanging endpoint holds back only its own stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_deliver_independently() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut slow = StreamSpec::new("slow", "");
    let slow_rx = Receiver::start(slow.expect()).await;
    slow_rx.set_default(Reply::Delay(Duration::from_secs(20), Box::new(Reply::Ok)));
    slow.url = slow_rx.url();
    slow.create(&h.client).await;
    let mut fast = StreamSpec::new("fast", "");
    let fast_rx = Receiver::start(fast.expect()).await;
    fast.url = fast_rx.url();
    fast.create(&h.client).await;

    put_batch(&h.client, &slow.name, &records("slow", 3, 64)).await;
    assert!(wait_for(Duration::from_secs(5), || slow_rx.request_count() >= 1).await);
    let mut expected = Vec::new();
    for i in 0..5 {
        let recs = records(&format!("fast{i}"), 10, 64);
        let t = Instant::now();
        put_batch(&h.client, &fast.name, &recs).await;
        expected.extend(recs);
        assert!(
            wait_for(Duration::from_secs(2), || fast_rx.accepted_records().len() >= expected.len()).await,
            "stream 2 held back by stream 1's hanging endpoint"
        );
        assert!(t.elapsed() < Duration::from_secs(2));
    }
    assert_eq!(fast_rx.accepted_records(), expected);
    assert_eq!(slow_rx.request_count(), 1, "the hanging attempt is still the only one");
    assert!(slow_rx.requests()[0].answered.is_none());
    slow_rx.assert_no_violations();
    fast_rx.assert_no_violations();
    h.stop().await;
}

/// Updating the buffering hints takes effect on what is already buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_update_flushes_buffered_records() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("rehint", "");
    spec.interval_s = 900;
    spec.size_mb = 5;
    let rx = Receiver::start(spec.expect()).await;
    spec.url = rx.url();
    spec.create(&h.client).await;
    let recs = records("held", 5, 100);
    put_batch(&h.client, &spec.name, &recs).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.request_count(), 0);
    h.client
        .update_destination()
        .delivery_stream_name(&spec.name)
        .current_delivery_stream_version_id("1")
        .destination_id("destinationId-000000000001")
        .http_endpoint_destination_update(
            HttpEndpointDestinationUpdate::builder()
                .buffering_hints(HttpEndpointBufferingHints::builder().interval_in_seconds(0).build())
                .retry_options(HttpEndpointRetryOptions::builder().duration_in_seconds(10).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(wait_for(Duration::from_secs(3), || rx.accepted_records() == recs).await);
    rx.assert_no_violations();
    h.stop().await;
}

/// The strict receiver itself: every deviation from spec section 2 is a violation (so
/// the tests above can fail), and a conforming request is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_receiver_flags_deviations() {
    let mut expect = Expect::new("s");
    expect.access_key = Some("key".into());
    expect.common_attributes = vec![("a".into(), "1".into())];
    const ID: &str = "0b9d1a3c-6d4e-4c1f-9a0e-2f3b4c5d6e7f";
    let id = ID;
    fn good_body(ts: u64) -> String {
        format!(r#"{{"requestId":"{ID}","timestamp":{ts},"records":[{{"data":"aGk="}}]}}"#)
    }
    let http = reqwest::Client::new();
    type Tweak = Box<dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder>;
    let base = |rb: reqwest::RequestBuilder, skip: &str| {
        let mut rb = rb;
        for (k, v) in [
            ("X-Amz-Firehose-Protocol-Version", "1.0"),
            ("X-Amz-Firehose-Request-Id", id),
            ("X-Amz-Firehose-Source-Arn", "arn:aws:firehose:us-east-1:123456789012:deliverystream/s"),
            ("X-Amz-Firehose-Access-Key", "key"),
            ("X-Amz-Firehose-Common-Attributes", r#"{"commonAttributes":{"a":"1"}}"#),
            ("Content-Type", "application/json"),
        ] {
            if k != skip {
                rb = rb.header(k, v);
            }
        }
        rb
    };
    let now = now_ms();
    let cases: Vec<(&str, &str, Tweak)> = vec![
        ("conforming", "", Box::new(move |rb| rb.body(good_body(now_ms())))),
        ("seconds timestamp", "", Box::new(move |rb| rb.body(good_body(now / 1000)))),
        ("no protocol version", "X-Amz-Firehose-Protocol-Version", Box::new(move |rb| rb.body(good_body(now_ms())))),
        ("no request id", "X-Amz-Firehose-Request-Id", Box::new(move |rb| rb.body(good_body(now_ms())))),
        ("no source arn", "X-Amz-Firehose-Source-Arn", Box::new(move |rb| rb.body(good_body(now_ms())))),
        ("no access key", "X-Amz-Firehose-Access-Key", Box::new(move |rb| rb.body(good_body(now_ms())))),
        ("no attributes", "X-Amz-Firehose-Common-Attributes", Box::new(move |rb| rb.body(good_body(now_ms())))),
        ("no content type", "Content-Type", Box::new(move |rb| rb.body(good_body(now_ms())))),
        (
            "gzip header, plain body",
            "",
            Box::new(move |rb| rb.header("Content-Encoding", "gzip").body(good_body(now_ms()))),
        ),
        (
            "body id differs",
            "",
            Box::new(move |rb| rb.body(good_body(now_ms()).replace(ID, "1b9d1a3c-6d4e-4c1f-9a0e-2f3b4c5d6e7f"))),
        ),
        (
            "no records",
            "",
            Box::new(move |rb| rb.body(format!(r#"{{"requestId":"{ID}","timestamp":{},"records":[]}}"#, now_ms()))),
        ),
        (
            "extra member",
            "",
            Box::new(move |rb| rb.body(good_body(now_ms()).replace("{\"requestId", "{\"x\":1,\"requestId"))),
        ),
        ("bad base64", "", Box::new(move |rb| rb.body(good_body(now_ms()).replace("aGk=", "!!")))),
    ];
    for (what, skip, tweak) in cases {
        let rx = Receiver::start(expect.clone()).await;
        let resp = tweak(base(http.post(rx.url()), skip)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        if what == "conforming" {
            rx.assert_no_violations();
            assert_eq!(rx.accepted_records(), vec![b"hi".to_vec()]);
        } else {
            assert!(!rx.violations().is_empty(), "{what}: not flagged");
        }
    }
    // Wrong method and path.
    let rx = Receiver::start(expect.clone()).await;
    base(http.put(rx.url()), "").body(good_body(now_ms())).send().await.unwrap();
    base(http.post(format!("http://{}/v1/input?x=1", rx.addr)), "").body(good_body(now_ms())).send().await.unwrap();
    assert_eq!(rx.violations().len(), 2, "{:?}", rx.violations());
}

/// At most 10,000 records go in one request, whatever the buffering hints allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_ten_thousand_records_per_request() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("many-small", "");
    spec.interval_s = 900;
    spec.size_mb = 1;
    let rx = Receiver::start(spec.expect()).await;
    spec.url = rx.url();
    spec.create(&h.client).await;
    let recs: Vec<Vec<u8>> = (0..10_500).map(|i| format!("{i:07}").into_bytes()).collect();
    for chunk in recs.chunks(500) {
        put_batch(&h.client, &spec.name, chunk).await;
    }
    // 73.5 KB in all: only the record count can flush this buffer.
    assert!(wait_for(Duration::from_secs(5), || rx.request_count() >= 1).await, "10,000 records did not flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].records.len(), 10_000);
    assert_eq!(reqs[0].records[..], recs[..10_000]);
    rx.assert_no_violations();
    h.stop().await;
}

/// A request body stays within 64 MiB before compression, even with SizeInMBs=64
/// (64 MiB of data is about 85 MiB of base64).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_stays_under_64_mib() {
    let dir = tempdir();
    let h = Harness::start(dir.path(), |c| c.wal.unsafe_no_fsync = true).await;
    let mut spec = StreamSpec::new("big-batches", "");
    spec.interval_s = 900;
    spec.size_mb = 64;
    let rx = Receiver::start(spec.expect()).await;
    spec.url = rx.url();
    spec.create(&h.client).await;
    // 17 calls of 4 records of 1,000 KiB: 66.4 MiB, over the 64 MiB hint.
    let mut sent = Vec::new();
    for call in 0..17 {
        let batch: Vec<Vec<u8>> = (0..4)
            .map(|i| {
                let mut r = vec![b'a' + ((call * 4 + i) % 26) as u8; 1_024_000];
                r[..12].copy_from_slice(format!("{:04}-{:07}", call, i).as_bytes());
                r
            })
            .collect();
        put_batch(&h.client, &spec.name, &batch).await;
        sent.extend(batch);
    }
    assert!(wait_for(Duration::from_secs(20), || rx.request_count() >= 1).await, "64 MiB did not flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = rx.requests();
    let delivered: usize = reqs.iter().map(|r| r.records.len()).sum();
    assert!(delivered >= 40, "a batch of {delivered} records of 1,000 KiB is far below the hint");
    assert_eq!(reqs[0].records[..], sent[..reqs[0].records.len()]);
    rx.assert_no_violations();
    h.stop().await;
}
