//! Write-ahead log recovery at the service level: acknowledged records survive a
//! restart; a deleted stream's records never reach a re-created stream of the same name.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

/// 10a. Records acknowledged while the endpoint is down are delivered after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let down = reserve_port();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("durable", &format!("http://{}/v1/input", down.addr));
    spec.retry_s = 3600;
    spec.create(&h.client).await;
    let recs = records("durable", 300, 200);
    for chunk in recs.chunks(100) {
        put_batch(&h.client, &spec.name, chunk).await;
    }
    put_one(&h.client, &spec.name, b"single-record").await;
    // Let some connection-refused attempts happen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.stop().await;

    let h = Harness::start(dir.path(), |_| {}).await;
    let rx = Receiver::start_on(down, spec.expect()).await;
    let mut want = recs.clone();
    want.push(b"single-record".to_vec());
    assert!(
        wait_for(Duration::from_secs(10), || rx.accepted_records_dedup().len() >= want.len()).await,
        "{} of {} records delivered after the restart",
        rx.accepted_records_dedup().len(),
        want.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.accepted_records_dedup(), want, "every acknowledged record, in order");
    assert!(failed_records(&h.bucket_dir("backup")).is_empty());
    // The stream itself survived, at the same version.
    let d = h.client.describe_delivery_stream().delivery_stream_name(&spec.name).send().await.unwrap();
    assert_eq!(d.delivery_stream_description().unwrap().version_id(), "1");
    rx.assert_no_violations();
    h.stop().await;
}

/// 10b. Records of a deleted stream are not delivered to a re-created stream of the
/// same name, before or after a restart; its old endpoint hears nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_stream_records_never_reach_a_recreated_stream() {
    let dir = tempfile::tempdir().unwrap();
    let old_port = reserve_port();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut old = StreamSpec::new("reborn", &format!("http://{}/v1/input", old_port.addr));
    old.retry_s = 3600;
    old.create(&h.client).await;
    let old_recs = records("old", 50, 100);
    put_batch(&h.client, &old.name, &old_recs).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.client.delete_delivery_stream().delivery_stream_name(&old.name).send().await.unwrap();

    let mut new = StreamSpec::new("reborn", "");
    let rx = Receiver::start(new.expect()).await;
    new.url = rx.url();
    new.create(&h.client).await;
    let mut want = records("new", 20, 100);
    put_batch(&h.client, &new.name, &want).await;
    assert!(wait_for(Duration::from_secs(5), || rx.accepted_records_dedup().len() >= want.len()).await);
    h.stop().await;

    let h = Harness::start(dir.path(), |_| {}).await;
    let old_rx = Receiver::start_on(old_port, old.expect()).await;
    let newer = records("newer", 10, 100);
    put_batch(&h.client, &new.name, &newer).await;
    want.extend(newer);
    assert!(wait_for(Duration::from_secs(5), || rx.accepted_records_dedup().len() >= want.len()).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = rx.accepted_records_dedup();
    let old_set: HashSet<_> = old_recs.iter().collect();
    assert!(got.iter().all(|r| !old_set.contains(r)), "a deleted stream's record reached the new stream");
    assert_eq!(got, want);
    assert_eq!(old_rx.request_count(), 0, "the deleted stream still delivers");
    rx.assert_no_violations();
    h.stop().await;
}

/// A clean restart does not lose the position: records delivered before it are not
/// all sent again, and new records after it go out normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_records_are_not_replayed_after_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(dir.path(), |_| {}).await;
    let mut spec = StreamSpec::new("checkpointed", "");
    let rx = Receiver::start(spec.expect()).await;
    spec.url = rx.url();
    spec.create(&h.client).await;
    let first = records("before", 100, 100);
    put_batch(&h.client, &spec.name, &first).await;
    assert!(wait_for(Duration::from_secs(5), || rx.accepted_records().len() >= first.len()).await);
    // The receiver has answered; wait until the service has read the answer too (a
    // delivery cut short by the shutdown is legitimately sent again).
    let stream = h.svc.stream(ACCOUNT, &spec.name).unwrap();
    assert!(wait_for(Duration::from_secs(5), || stream.backlog.size().0 == 0).await);
    h.stop().await;
    let h = Harness::start(dir.path(), |_| {}).await;
    let second = records("after", 10, 100);
    put_batch(&h.client, &spec.name, &second).await;
    let mut want = first.clone();
    want.extend(second);
    assert!(wait_for(Duration::from_secs(5), || rx.accepted_records().len() >= want.len()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.accepted_records(), want, "delivered records were sent again after a clean shutdown");
    rx.assert_no_violations();
    h.stop().await;
}
