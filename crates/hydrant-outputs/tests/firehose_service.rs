//! The kinesis_firehose output against a real, in-process `hydrant firehose` service, signed
//! with credentials found by the AWS SDK's default chain: records reach the stream's HTTP
//! endpoint destination, over plain HTTP and over TLS with `tls.ca_file`.

#[path = "../../hydrant-firehose/tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::time::Duration;

use support::{chunk, context, counter, log_record, section, setup, start, Events, ACCESS_KEY, SECRET_KEY};

/// Starts the service with the test binary's static credentials as its root principal.
async fn service(dir: &Path) -> common::Harness {
    std::fs::write(
        dir.join("credentials"),
        format!("[hydrant]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    let h = common::Harness::start(dir, |_| {}).await;
    let (key, _) = hydrant_firehose::auth::read_credentials(&dir.join("credentials")).unwrap().unwrap();
    assert_eq!(key, ACCESS_KEY);
    h
}

/// A stream named `name` delivering to a fresh strict receiver.
async fn stream_to_receiver(h: &common::Harness, name: &str) -> common::Receiver {
    let mut spec = common::StreamSpec::new(name, "");
    let receiver = common::Receiver::start(spec.expect()).await;
    spec.url = receiver.url();
    spec.create(&h.client).await;
    receiver
}

#[tokio::test]
async fn records_reach_the_stream_destination() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let h = service(dir.path()).await;
    let receiver = stream_to_receiver(&h, "app-logs").await;
    let listener = hydrant_firehose::server::listen(h.svc.clone(), "127.0.0.1:0".parse().unwrap(), None).await.unwrap();

    let ctx = context("kinesis_firehose.0", &[("Flush", "0.2")]);
    let endpoint = format!("http://{}", listener.local_addr);
    let out = hydrant_outputs::build(
        &section(
            "kinesis_firehose",
            &[
                ("Match", "kube.*"),
                ("region", common::REGION),
                ("delivery_stream", "app-logs"),
                ("endpoint", &endpoint),
                ("time_key", "@timestamp"),
                ("time_key_format", "%Y-%m-%dT%H:%M:%S.%3NZ"),
            ],
        ),
        &ctx,
    )
    .unwrap();
    let events = Events::default();
    let (tx, task) = start(out);
    let mut first = log_record("GET /health 200", 1_700_000_000);
    first.time.nanos = 42_000_000;
    tx.send(chunk(vec![first, log_record("second line", 1_700_000_001)], events.ack("a"))).await.unwrap();
    tx.send(chunk((0..600).map(|i| log_record(&format!("bulk {i}"), 1_700_000_002)).collect(), events.ack("b")))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(events.list(), vec!["ack a delivered", "ack b delivered"]);
    assert_eq!(counter(&ctx, "records"), 602);
    assert_eq!(counter(&ctx, "errors"), 0);

    assert!(common::wait_for(Duration::from_secs(20), || receiver.accepted_records().len() >= 602).await);
    receiver.assert_no_violations();
    let got = receiver.accepted_records();
    assert_eq!(got.len(), 602);
    assert_eq!(got[0], b"{\"log\":\"GET /health 200\",\"@timestamp\":\"2023-11-14T22:13:20.042Z\"}\n");
    assert_eq!(got[1], b"{\"log\":\"second line\",\"@timestamp\":\"2023-11-14T22:13:21.000Z\"}\n");
    assert_eq!(got[601], b"{\"log\":\"bulk 599\",\"@timestamp\":\"2023-11-14T22:13:22.000Z\"}\n");
    listener.stop(Duration::from_secs(1)).await;
    h.stop().await;
}

/// A CA and a certificate for localhost / 127.0.0.1 signed by it, written to `dir`.
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, "Hydrant test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[tokio::test]
async fn tls_endpoint_trusted_through_ca_file() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let h = service(dir.path()).await;
    let receiver = stream_to_receiver(&h, "tls-logs").await;
    let (ca, cert, key) = certificates(dir.path());
    let tls = hydrant_firehose::server::tls_config(&cert, &key).await.unwrap();
    let listener =
        hydrant_firehose::server::listen(h.svc.clone(), "127.0.0.1:0".parse().unwrap(), Some(tls)).await.unwrap();
    let endpoint = format!("https://localhost:{}", listener.local_addr.port());
    let ca = ca.to_str().unwrap().to_owned();

    // Trusting the CA: delivered.
    let ctx = context("kinesis_firehose.0", &[]);
    let base = [("region", common::REGION), ("delivery_stream", "tls-logs"), ("endpoint", endpoint.as_str())];
    let mut props = base.to_vec();
    props.push(("tls.ca_file", &ca));
    props.push(("tls.verify", "on"));
    let out = hydrant_outputs::build(&section("kinesis_firehose", &props), &ctx).unwrap();
    let events = Events::default();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("over tls", 0)], events.ack("tls"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(events.list(), vec!["ack tls delivered"]);
    assert!(common::wait_for(Duration::from_secs(20), || receiver.accepted_records().len() == 1).await);
    assert_eq!(receiver.accepted_records()[0], b"{\"log\":\"over tls\"}\n");

    // Without it the certificate is refused: the failures are counted, and with Retry_Limit 1
    // the record is dropped (and counted) after one retry.
    let ctx = context("kinesis_firehose.1", &[("scheduler.base", "0.01"), ("scheduler.cap", "0.02")]);
    let mut props = base.to_vec();
    props.push(("Retry_Limit", "1"));
    props.push(("auto_retry_requests", "false"));
    let out = hydrant_outputs::build(&section("kinesis_firehose", &props), &ctx).unwrap();
    let events = Events::default();
    let (tx, task) = start(out);
    tx.send(chunk(vec![log_record("refused", 0)], events.ack("untrusted"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(counter(&ctx, "errors"), 2);
    assert_eq!(counter(&ctx, "dropped"), 1);
    assert_eq!(counter(&ctx, "records"), 0);
    assert_eq!(events.list(), vec!["ack untrusted delivered"]);
    listener.stop(Duration::from_secs(1)).await;
    h.stop().await;
}
