//! The intake over real HTTP on loopback: what Firehose posts, what Datadog's clients post,
//! and what comes back out of the search API.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hydrant_intake::{Intake, IntakeConfig};
use serde_json::{json, Value};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";

struct Running {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _intake: Arc<Intake>,
}

async fn start_in(dir: tempfile::TempDir) -> Running {
    start_with(dir, |_| {}).await
}

async fn start_with(dir: tempfile::TempDir, adjust: impl FnOnce(&mut IntakeConfig)) -> Running {
    let mut config = IntakeConfig {
        data_dir: dir.path().to_path_buf(),
        api_keys: vec![API.into()],
        app_keys: vec![APP.into()],
        commit_interval_ms: 50,
        ..Default::default()
    };
    adjust(&mut config);
    let intake = Intake::start(config).unwrap().intake;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = hydrant_intake::router(intake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Running { base, http: reqwest::Client::new(), _dir: dir, _intake: intake }
}

async fn start() -> Running {
    start_in(tempfile::tempdir().unwrap()).await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Exactly what Firehose sends: headers, gzip'd body, millisecond timestamp.
async fn firehose_post(r: &Running, path: &str, request_id: &str, key: &str, records: &[&[u8]]) -> reqwest::Response {
    let body = json!({
        "requestId": request_id,
        "timestamp": chrono::Utc::now().timestamp_millis(),
        "records": records.iter().map(|d| json!({"data": b64(d)})).collect::<Vec<_>>(),
    });
    r.http
        .post(format!("{}{path}", r.base))
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Request-Id", request_id)
        .header("X-Amz-Firehose-Source-Arn", "arn:aws:firehose:us-east-1:123456789012:deliverystream/fargate-logs")
        .header("X-Amz-Firehose-Access-Key", key)
        .header("X-Amz-Firehose-Common-Attributes", r#"{"commonAttributes":{"env":"dev","team":"Platform"}}"#)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gzip(body.to_string().as_bytes()))
        .send()
        .await
        .unwrap()
}

/// The Firehose response rules of the spec (section 2): 200, JSON content type, no
/// content encoding, the same requestId, a numeric timestamp.
async fn assert_firehose_ok(resp: reqwest::Response, request_id: &str) {
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().get("content-encoding").is_none());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["requestId"], request_id);
    let ts = v["timestamp"].as_i64().unwrap();
    assert!((ts - chrono::Utc::now().timestamp_millis()).abs() < 5000);
}

async fn search(r: &Running, query: &str) -> Vec<Value> {
    let resp = r
        .http
        .post(format!("{}/api/v2/logs/events/search", r.base))
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .json(&json!({"filter": {"query": query, "from": "now-1h", "to": "now"}, "page": {"limit": 1000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["data"].as_array().unwrap().clone()
}

async fn wait_for(r: &Running, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let found = search(r, query).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} logs for {query}: {:?}", search(r, query).await);
}

const FLUENT_BIT_RECORD: &[u8] = br#"{"log":"2023/01/27 16:53:42 [notice] 1#1: using the \"epoll\" event method","stream":"stderr","time":"2023-01-27T16:53:42.123456789Z","kubernetes":{"pod_name":"sample-app-6c8b449b8f-kq2qz","namespace_name":"fargate-namespace","container_name":"nginx","docker_id":"9a2c6e4b1f","host":"fargate-ip-10-0-1-1"}}
"#;

#[tokio::test]
async fn firehose_delivery_is_stored_and_searchable() {
    let r = start().await;
    let resp = firehose_post(&r, "/v1/input", "req-1", API, &[FLUENT_BIT_RECORD, b"plain text line\n"]).await;
    assert_firehose_ok(resp, "req-1").await;
    let logs = wait_for(&r, "source:aws service:aws", 2).await;
    let nginx = logs.iter().find(|l| l["attributes"]["message"].as_str().unwrap().contains("epoll")).unwrap();
    let a = &nginx["attributes"];
    assert_eq!(a["service"], "aws");
    assert_eq!(a["attributes"]["kubernetes"]["namespace_name"], "fargate-namespace");
    assert_eq!(
        a["attributes"]["aws"]["firehose"]["arn"],
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/fargate-logs"
    );
    let tags: Vec<&str> = a["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"env:dev") && tags.contains(&"team:platform"), "{tags:?}");
    assert_eq!(wait_for(&r, "@kubernetes.namespace_name:fargate-namespace", 1).await.len(), 1);
    assert_eq!(wait_for(&r, "epoll", 1).await.len(), 1);
    // The other path Datadog's sites use.
    let resp =
        firehose_post(&r, "/api/v2/logs?dd-protocol=aws-kinesis-firehose", "req-2", API, &[b"second path\n"]).await;
    assert_firehose_ok(resp, "req-2").await;
    wait_for(&r, "\"second path\"", 1).await;
}

#[tokio::test]
async fn a_retried_request_id_is_stored_once() {
    let r = start().await;
    // Concurrent and sequential retries of one batch: stored once, acknowledged each time.
    let (a, b) = tokio::join!(
        firehose_post(&r, "/v1/input", "same-id", API, &[b"only once\n"]),
        firehose_post(&r, "/v1/input", "same-id", API, &[b"only once\n"])
    );
    assert_firehose_ok(a, "same-id").await;
    assert_firehose_ok(b, "same-id").await;
    assert_firehose_ok(firehose_post(&r, "/v1/input", "same-id", API, &[b"only once\n"]).await, "same-id").await;
    wait_for(&r, "once", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(search(&r, "once").await.len(), 1);
}

#[tokio::test]
async fn firehose_bad_input_gets_firehose_shaped_errors() {
    let r = start().await;
    let resp = firehose_post(&r, "/v1/input", "bad-key", "wrong", &[b"x"]).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["requestId"], "bad-key");
    assert!(v["errorMessage"].as_str().unwrap().contains("key"));
    // Malformed JSON.
    let resp = r
        .http
        .post(format!("{}/v1/input", r.base))
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Request-Id", "m")
        .header("X-Amz-Firehose-Access-Key", API)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.json::<Value>().await.unwrap()["errorMessage"].is_string());
    // Bad base64 in a record: refused whole, nothing stored.
    let body = json!({"requestId": "b", "timestamp": 1, "records": [{"data": b64(b"good")}, {"data": "!!!"}]});
    let resp = r
        .http
        .post(format!("{}/v1/input", r.base))
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Access-Key", API)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Over the size limit: refused from Content-Length before being read.
    let resp = r
        .http
        .post(format!("{}/v1/input", r.base))
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Access-Key", API)
        .header("Content-Length", (200u64 << 20).to_string())
        .body(vec![b' '; 16])
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(search(&r, "good").await.is_empty());
    // More events than a request may hold (one record of newline-delimited JSON): 413 in
    // Firehose's shape, and none of them stored.
    let many = "{\"message\":\"toomany\"}\n".repeat(hydrant_intake::receive::MAX_FIREHOSE_EVENTS + 1);
    let resp = firehose_post(&r, "/v1/input", "many", API, &[many.as_bytes()]).await;
    assert_eq!(resp.status(), 413);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["requestId"], "many");
    assert!(v["errorMessage"].as_str().unwrap().contains("more than"));
    // The refused batch's request id is not taken: a retry with good records is stored,
    // and only those (the good record before the bad one was not kept either).
    let resp = firehose_post(&r, "/v1/input", "b", API, &[b"good again"]).await;
    assert_firehose_ok(resp, "b").await;
    assert_eq!(wait_for(&r, "again", 1).await.len(), 1);
    assert_eq!(search(&r, "good").await.len(), 1);
    assert!(search(&r, "toomany").await.is_empty());
}

async fn v2_post(r: &Running, key: Option<&str>, body: Vec<u8>, gzip_it: bool) -> reqwest::Response {
    let mut req = r.http.post(format!("{}/api/v2/logs", r.base)).header("Content-Type", "application/json");
    if let Some(k) = key {
        req = req.header("DD-API-KEY", k);
    }
    let body = if gzip_it {
        req = req.header("Content-Encoding", "gzip");
        gzip(&body)
    } else {
        body
    };
    req.body(body).send().await.unwrap()
}

#[tokio::test]
async fn v2_logs_intake() {
    let r = start().await;
    let logs = json!([
        {"message": "payment failed", "ddsource": "python", "ddtags": "env:prod,version:1.2", "hostname": "web-1", "service": "checkout", "status": "error", "duration": 250},
        {"message": "payment ok", "ddsource": "python", "service": "checkout", "level": "info", "duration": 80}
    ]);
    let resp = v2_post(&r, Some(API), logs.to_string().into_bytes(), true).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.text().await.unwrap(), "{}");
    let found = wait_for(&r, "service:checkout", 2).await;
    assert_eq!(found.len(), 2);
    assert_eq!(wait_for(&r, "status:error @duration:>100 env:prod", 1).await.len(), 1);
    assert_eq!(search(&r, "host:web-1 source:python").await.len(), 1);

    let resp = v2_post(&r, None, b"[]".to_vec(), false).await;
    assert_eq!(resp.status(), 401);
    let resp = v2_post(&r, Some("nope"), b"[]".to_vec(), false).await;
    assert_eq!(resp.status(), 403);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["status"], "403");
    let resp = v2_post(&r, Some(API), b"{nope".to_vec(), false).await;
    assert_eq!(resp.status(), 400);
    let too_many = Value::Array(vec![json!({"message": "m"}); 1001]).to_string();
    assert_eq!(v2_post(&r, Some(API), too_many.into_bytes(), false).await.status(), 413);
    let too_big = json!([{"message": "x".repeat(6 << 20)}]).to_string();
    assert_eq!(v2_post(&r, Some(API), too_big.into_bytes(), true).await.status(), 413);
}

#[tokio::test]
async fn search_api_paging_sorting_and_errors() {
    let r = start().await;
    let logs: Vec<Value> =
        (0..25).map(|i| json!({"message": format!("event number {i}"), "service": "pager", "n": i})).collect();
    assert_eq!(v2_post(&r, Some(API), Value::Array(logs).to_string().into_bytes(), false).await.status(), 202);
    wait_for(&r, "service:pager", 25).await;
    // Cursor paging with GET, oldest first.
    let mut seen = Vec::new();
    let mut url = format!(
        "{}/api/v2/logs/events?filter[query]=service:pager&filter[from]=now-1h&sort=timestamp&page[limit]=10",
        r.base
    );
    loop {
        let v: Value = r
            .http
            .get(&url)
            .header("DD-API-KEY", API)
            .header("DD-APPLICATION-KEY", APP)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for l in v["data"].as_array().unwrap() {
            seen.push(l["id"].as_str().unwrap().to_string());
        }
        match v["meta"]["page"]["after"].as_str() {
            Some(after) => {
                url = format!("{}/api/v2/logs/events?filter[query]=service:pager&filter[from]=now-1h&sort=timestamp&page[limit]=10&page[cursor]={after}", r.base)
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "no log twice across pages");
    // Bad query: 400 with where.
    let resp = r
        .http
        .post(format!("{}/api/v2/logs/events/search", r.base))
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .json(&json!({"filter": {"query": "service:(a OR"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("position"), "{v}");
    // Missing application key.
    let resp = r
        .http
        .post(format!("{}/api/v2/logs/events/search", r.base))
        .header("DD-API-KEY", API)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Aggregate: count by facet, and a time series.
    let v: Value = r
        .http
        .post(format!("{}/api/v2/logs/analytics/aggregate", r.base))
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .json(&json!({"filter": {"query": "*", "from": "now-1h"}, "compute": [{"aggregation": "count"}, {"aggregation": "max", "metric": "@n"}], "group_by": [{"facet": "service"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = &v["data"]["buckets"][0];
    assert_eq!(b["by"]["service"], "pager");
    assert_eq!(b["computes"]["c0"], 25.0);
    assert_eq!(b["computes"]["c1"], 24.0);
    let v: Value = r
        .http
        .post(format!("{}/api/v2/logs/analytics/aggregate", r.base))
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .json(&json!({"filter": {"query": "service:pager", "from": "now-10m"}, "compute": [{"aggregation": "count", "type": "timeseries", "interval": "1m"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let series = v["data"]["buckets"][0]["computes"]["c0"].as_array().unwrap();
    assert_eq!(series.iter().map(|p| p["value"].as_f64().unwrap()).sum::<f64>(), 25.0);
    assert!(series[0]["time"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn live_tail_streams_matching_logs() {
    let r = start().await;
    let url = format!("{}/api/v2/logs/tail?query=service:tailme&dd-api-key={API}&dd-application-key={APP}", r.base);
    let mut resp = r.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let body =
        json!([{"message": "not this", "service": "other"}, {"message": "this one", "service": "tailme"}]).to_string();
    assert_eq!(v2_post(&r, Some(API), body.into_bytes(), false).await.status(), 202);
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !got.contains("this one") {
        let chunk =
            tokio::time::timeout_at(deadline, resp.chunk()).await.expect("tail event in time").unwrap().unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!got.contains("not this"));
    let data_line = got.lines().find(|l| l.starts_with("data:") && l.contains("this one")).unwrap();
    let v: Value = serde_json::from_str(data_line.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(v["type"], "log");
    assert_eq!(v["attributes"]["service"], "tailme");
}

/// The seed's pipeline, as the Datadog UI creates it.
fn seed_pipeline() -> Value {
    let remap = |source: &str, target: &str| {
        json!({"type": "attribute-remapper", "name": format!("Remap {source} to {target}"), "is_enabled": true,
               "sources": [source], "source_type": "attribute", "target": target, "target_type": "tag",
               "preserve_source": true, "override_on_conflict": false})
    };
    json!({
        "name": "EKS Fargate Log Pipeline", "is_enabled": true,
        "filter": {"query": "service:aws source:aws"},
        "processors": [
            remap("kubernetes.container_name", "kube_container_name"),
            remap("kubernetes.namespace_name", "kube_namespace"),
            remap("kubernetes.pod_name", "pod_name"),
            remap("kubernetes.docker_id", "container_id"),
        ]
    })
}

async fn pipelines_call(r: &Running, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = r
        .http
        .request(method, format!("{}/api/v1/logs/config/{path}", r.base))
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_seed_pipeline_tags_the_seed_logs() {
    let r = start().await;
    let resp = pipelines_call(&r, reqwest::Method::POST, "pipelines", Some(seed_pipeline())).await;
    assert_eq!(resp.status(), 200);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["type"], "pipeline");
    assert_eq!(created["processors"].as_array().unwrap().len(), 4);

    assert_firehose_ok(firehose_post(&r, "/v1/input", "seed-1", API, &[FLUENT_BIT_RECORD]).await, "seed-1").await;
    let logs = wait_for(&r, "kube_namespace:fargate-namespace", 1).await;
    let tags: Vec<&str> =
        logs[0]["attributes"]["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    for want in [
        "kube_container_name:nginx",
        "kube_namespace:fargate-namespace",
        "pod_name:sample-app-6c8b449b8f-kq2qz",
        "container_id:9a2c6e4b1f",
    ] {
        assert!(tags.contains(&want), "{want} in {tags:?}");
    }
    // Logs outside the filter are untouched.
    let other = json!([{"message": "other service", "service": "web", "kubernetes": {"namespace_name": "x"}}]);
    assert_eq!(v2_post(&r, Some(API), other.to_string().into_bytes(), false).await.status(), 202);
    let found = wait_for(&r, "service:web", 1).await;
    assert!(found[0]["attributes"]["tags"].as_array().unwrap().is_empty());

    // Read, list, order, replace, delete.
    let got: Value =
        pipelines_call(&r, reqwest::Method::GET, &format!("pipelines/{id}"), None).await.json().await.unwrap();
    assert_eq!(got["name"], "EKS Fargate Log Pipeline");
    let second: Value = pipelines_call(
        &r,
        reqwest::Method::POST,
        "pipelines",
        Some(json!({"name": "second", "filter": {"query": "*"}})),
    )
    .await
    .json()
    .await
    .unwrap();
    let second_id = second["id"].as_str().unwrap().to_string();
    let order: Value = pipelines_call(&r, reqwest::Method::GET, "pipeline-order", None).await.json().await.unwrap();
    assert_eq!(order["pipeline_ids"], json!([id, second_id]));
    let resp =
        pipelines_call(&r, reqwest::Method::PUT, "pipeline-order", Some(json!({"pipeline_ids": [second_id, id]})))
            .await;
    assert_eq!(resp.status(), 200);
    let list: Value = pipelines_call(&r, reqwest::Method::GET, "pipelines", None).await.json().await.unwrap();
    assert_eq!(list[0]["id"], second_id.as_str());
    let resp = pipelines_call(&r, reqwest::Method::PUT, "pipeline-order", Some(json!({"pipeline_ids": [id]}))).await;
    assert_eq!(resp.status(), 422);
    let resp =
        pipelines_call(&r, reqwest::Method::PUT, &format!("pipelines/{second_id}"), Some(json!({"name": "renamed"})))
            .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], second_id.as_str());
    assert_eq!(
        pipelines_call(&r, reqwest::Method::DELETE, &format!("pipelines/{second_id}"), None).await.status(),
        200
    );
    assert_eq!(pipelines_call(&r, reqwest::Method::GET, &format!("pipelines/{second_id}"), None).await.status(), 404);

    // Bad input: Datadog's error shape.
    let resp = pipelines_call(
        &r,
        reqwest::Method::POST,
        "pipelines",
        Some(json!({"name": "x", "processors": [{"type": "no-such-processor"}]})),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "InvalidArgument");
    assert!(v["error"]["message"].as_str().unwrap().contains("no-such-processor"), "{v}");
    let resp = pipelines_call(
        &r,
        reqwest::Method::POST,
        "pipelines",
        Some(json!({"name": "x", "filter": {"query": "service:(a"}})),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp =
        r.http.get(format!("{}/api/v1/logs/config/pipelines", r.base)).header("DD-API-KEY", API).send().await.unwrap();
    assert_eq!(resp.status(), 403);
}

/// While the backlog is at its limit, a batch is refused with 503 before its body is read
/// (a body that is not even gzip gets 503, not 400), a retry of an accepted batch still
/// gets its 200, and once the index commits, batches are taken again.
#[tokio::test]
async fn a_full_backlog_answers_503_before_reading_the_body() {
    let r = start_with(tempfile::tempdir().unwrap(), |c| {
        c.max_queued_bytes = 1;
        // Long enough that the first commit cannot come between the requests below.
        c.commit_interval_ms = 5000;
    })
    .await;
    assert_firehose_ok(firehose_post(&r, "/v1/input", "req-1", API, &[FLUENT_BIT_RECORD]).await, "req-1").await;
    let garbage = |path: &str, firehose: bool| {
        let mut req =
            r.http.post(format!("{}{path}", r.base)).header("DD-API-KEY", API).header("Content-Encoding", "gzip");
        if firehose {
            req = req
                .header("X-Amz-Firehose-Protocol-Version", "1.0")
                .header("X-Amz-Firehose-Request-Id", "req-2")
                .header("X-Amz-Firehose-Access-Key", API);
        }
        req.body("not gzip").send()
    };
    let resp = garbage("/v1/input", true).await.unwrap();
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["requestId"], "req-2");
    assert!(v["errorMessage"].as_str().unwrap().contains("overloaded"), "{v}");
    for path in ["/api/v2/logs", "/v1/input"] {
        let resp = garbage(path, false).await.unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["errors"][0]["status"], "503", "{path}: {v}");
    }
    assert_firehose_ok(firehose_post(&r, "/v1/input", "req-1", API, &[FLUENT_BIT_RECORD]).await, "req-1").await;
    // The commit empties the backlog: the same garbage now gets its 400.
    let mut status = 0;
    for _ in 0..200 {
        status = garbage("/v1/input", true).await.unwrap().status().as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 400);
    assert_eq!(
        wait_for(&r, "kube_namespace:fargate-namespace OR @kubernetes.namespace_name:fargate-namespace", 1).await.len(),
        1
    );
}

/// `POST /api/hydrant/v1/logs/facets` answers each facet with what the aggregate API gives
/// for a count grouped by it, and refuses what the aggregate API refuses.
#[tokio::test]
async fn facets_call_equals_one_aggregate_per_facet() {
    let r = start().await;
    let logs: Vec<Value> = (0..30)
        .map(|i| {
            let (service, env, code) = (["web", "api", "db"][i % 3], ["prod", "dev"][i % 2], [200, 404, 500][i % 3]);
            let tags = format!("env:{env},team:t{}", i % 4);
            json!({"message": format!("m {i}"), "service": service, "ddtags": tags, "http": {"status_code": code}})
        })
        .collect();
    assert_eq!(v2_post(&r, Some(API), Value::Array(logs).to_string().into_bytes(), false).await.status(), 202);
    wait_for(&r, "m", 30).await;
    let post = |path: &'static str, body: Value, app: Option<&'static str>| {
        let mut req = r.http.post(format!("{}{path}", r.base)).header("DD-API-KEY", API).json(&body);
        if let Some(app) = app {
            req = req.header("DD-APPLICATION-KEY", app);
        }
        req.send()
    };
    let facets = ["service", "env", "team", "@http.status_code", "status", "nope"];
    let filter = json!({"query": "-service:db", "from": "now-1h"});
    let resp = post("/api/hydrant/v1/logs/facets", json!({"filter": filter, "facets": facets, "limit": 3}), Some(APP))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let answers = v["data"]["facets"].as_array().unwrap();
    assert_eq!(answers.len(), facets.len());
    let mut nonempty = 0;
    for (facet, answer) in facets.iter().zip(answers) {
        assert_eq!(answer["facet"], *facet);
        let agg: Value = post(
            "/api/v2/logs/analytics/aggregate",
            json!({"filter": filter, "compute": [{"aggregation": "count"}], "group_by": [{"facet": facet, "limit": 3}]}),
            Some(APP),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(answer["buckets"], agg["data"]["buckets"], "{facet}");
        nonempty += usize::from(!answer["buckets"].as_array().unwrap().is_empty());
    }
    assert_eq!(nonempty, 5, "{v}");
    assert_eq!(answers[0]["buckets"][0]["computes"]["c0"], 10.0, "{v}");
    // Refused as the other search APIs refuse: no application key, bad JSON, a query that
    // does not parse, too many facets.
    let body = json!({"facets": ["service"]});
    assert_eq!(post("/api/hydrant/v1/logs/facets", body.clone(), None).await.unwrap().status(), 403);
    assert_eq!(post("/api/hydrant/v1/logs/facets", body, Some("wrong")).await.unwrap().status(), 403);
    assert_eq!(post("/api/hydrant/v1/logs/facets", json!({"facet": []}), Some(APP)).await.unwrap().status(), 400);
    let resp =
        post("/api/hydrant/v1/logs/facets", json!({"filter": {"query": "a:(b"}, "facets": ["service"]}), Some(APP))
            .await
            .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("position"), "{v}");
    let many: Vec<String> = (0..65).map(|i| format!("k{i}")).collect();
    assert_eq!(post("/api/hydrant/v1/logs/facets", json!({"facets": many}), Some(APP)).await.unwrap().status(), 400);
}
