//! Shared parts of the integration tests: a STRICT HTTP endpoint receiver that checks
//! every delivery request against spec section 2 and answers as programmed, an
//! in-process service harness driven through the real `aws-sdk-firehose` client, and
//! helpers to read the local backup bucket.
//!
//! Also compiled into the `crates/hydrant` tests that run the binary (through `#[path]`),
//! so every item is not used by every test binary.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, ContentEncoding, HttpEndpointBufferingHints, HttpEndpointCommonAttribute,
    HttpEndpointConfiguration, HttpEndpointDestinationConfiguration, HttpEndpointRequestConfiguration,
    HttpEndpointRetryOptions, HttpEndpointS3BackupMode, Record, S3DestinationConfiguration,
};
use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";

/// The ARN the service gives a stream of the default account.
pub fn stream_arn(name: &str) -> String {
    format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}")
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A loopback port held for a receiver started later with [`Receiver::start_on`]: bound
/// but not listening, so connections to it are refused (an endpoint that is down) and no
/// other socket can take the port meanwhile. A port found free and released again could
/// be taken by any client's ephemeral port before the receiver binds it (seen in CI as
/// `AddrInUse`).
pub struct ReservedPort {
    socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

/// Reserves a loopback port (see [`ReservedPort`]).
pub fn reserve_port() -> ReservedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    ReservedPort { socket, addr }
}

// ---------------------------------------------------------------------------------------
// The strict receiver
// ---------------------------------------------------------------------------------------

/// What a receiver expects of every request (spec section 2).
#[derive(Debug, Clone)]
pub struct Expect {
    /// Path and query exactly as configured in the stream's Url.
    pub path_and_query: String,
    /// `X-Amz-Firehose-Source-Arn`.
    pub source_arn: String,
    /// `X-Amz-Firehose-Access-Key` (None: the header must be absent).
    pub access_key: Option<String>,
    /// The configured common attributes, in order (empty: header absent).
    pub common_attributes: Vec<(String, String)>,
    /// `Content-Encoding: gzip` and a gzipped body.
    pub gzip: bool,
}

impl Expect {
    pub fn new(stream: &str) -> Self {
        Expect {
            path_and_query: "/v1/input".into(),
            source_arn: stream_arn(stream),
            access_key: None,
            common_attributes: Vec::new(),
            gzip: false,
        }
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200, application/json, `{"requestId":<id>,"timestamp":<ms>}`.
    Ok,
    /// This status with a JSON body echoing the request id (only the status is wrong).
    Status(u16),
    /// 200 with another request id.
    WrongRequestId,
    /// 200 without a timestamp.
    MissingTimestamp,
    /// 200 with a valid body but `Content-Type: text/plain`.
    TextPlain,
    /// 200, application/json, a body that is not JSON.
    NonJson,
    /// 200, valid JSON body, but with a `Content-Encoding` header.
    ContentEncoding,
    /// 302 to another path (must not be followed).
    Redirect,
    /// 200, application/json, a valid body padded past the 1 MiB response limit.
    TooLarge,
    /// Waits, then answers.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    fn is_ok(&self) -> bool {
        match self {
            Reply::Ok => true,
            Reply::Delay(_, r) => r.is_ok(),
            _ => false,
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub request_id: String,
    pub access_key: Option<String>,
    pub records: Vec<Vec<u8>>,
    /// What the receiver answered; None while the answer is pending (or the client
    /// went away before it was sent).
    pub answered: Option<Reply>,
}

impl Received {
    /// Whether the receiver accepted the records (answered a valid 200).
    pub fn accepted(&self) -> bool {
        self.answered.as_ref().is_some_and(Reply::is_ok)
    }
}

struct State {
    expect: Expect,
    queue: VecDeque<Reply>,
    default: Reply,
    requests: Vec<Received>,
    violations: Vec<String>,
}

/// A strict HTTP endpoint receiver on loopback.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(expect: Expect) -> Receiver {
        Self::start_on(reserve_port(), expect).await
    }

    /// Starts listening on a reserved port.
    pub async fn start_on(port: ReservedPort, expect: Expect) -> Receiver {
        let listener = port.socket.listen(1024).unwrap();
        let addr = port.addr;
        let state = Arc::new(Mutex::new(State {
            expect,
            queue: VecDeque::new(),
            default: Reply::Ok,
            requests: Vec::new(),
            violations: Vec::new(),
        }));
        let s = state.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| handle(s.clone(), req));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, state, task }
    }

    /// The Url to configure in a stream.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.state.lock().unwrap().expect.path_and_query)
    }

    /// The answer once the queued ones are used up.
    pub fn set_default(&self, r: Reply) {
        self.state.lock().unwrap().default = r;
    }

    /// Answers to give first, in order.
    pub fn push_replies(&self, r: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().queue.extend(r);
    }

    pub fn set_expected_access_key(&self, key: Option<&str>) {
        self.state.lock().unwrap().expect.access_key = key.map(str::to_string);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Records of accepted requests, in arrival order (duplicates possible after retries
    /// of an accepted batch, which these tests do not provoke).
    pub fn accepted_records(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().requests.iter().filter(|r| r.accepted()).flat_map(|r| r.records.clone()).collect()
    }

    /// Accepted records, deduplicated by request id (what a receiver following the spec keeps).
    pub fn accepted_records_dedup(&self) -> Vec<Vec<u8>> {
        let st = self.state.lock().unwrap();
        let mut seen = std::collections::HashSet::new();
        st.requests
            .iter()
            .filter(|r| r.accepted() && seen.insert(r.request_id.clone()))
            .flat_map(|r| r.records.clone())
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "receiver {} saw spec violations:\n{}", self.addr, v.join("\n"));
    }
}

fn header_once(h: &HeaderMap, name: &str, v: &mut Vec<String>) -> Option<String> {
    let all: Vec<_> = h.get_all(name).iter().collect();
    match all.len() {
        0 => None,
        1 => match all[0].to_str() {
            Ok(s) => Some(s.to_string()),
            Err(_) => {
                v.push(format!("header {name} is not visible ASCII"));
                None
            }
        },
        n => {
            v.push(format!("header {name} appears {n} times"));
            all[0].to_str().ok().map(str::to_string)
        }
    }
}

/// Checks a request against spec section 2; returns (request id, access key, records).
fn check(
    expect: &Expect,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    h: &HeaderMap,
    raw: &[u8],
    v: &mut Vec<String>,
) -> (String, Option<String>, Vec<Vec<u8>>) {
    if method != axum::http::Method::POST {
        v.push(format!("method {method}, expected POST"));
    }
    let pq = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    if pq != expect.path_and_query {
        v.push(format!("path and query {pq:?}, expected {:?}", expect.path_and_query));
    }
    const KNOWN: &[&str] = &[
        "x-amz-firehose-protocol-version",
        "x-amz-firehose-request-id",
        "x-amz-firehose-source-arn",
        "x-amz-firehose-access-key",
        "x-amz-firehose-common-attributes",
    ];
    for name in h.keys() {
        if name.as_str().starts_with("x-amz-firehose-") && !KNOWN.contains(&name.as_str()) {
            v.push(format!("unexpected header {name}"));
        }
    }
    match header_once(h, "x-amz-firehose-protocol-version", v).as_deref() {
        Some("1.0") => {}
        other => v.push(format!("X-Amz-Firehose-Protocol-Version {other:?}, expected \"1.0\"")),
    }
    let request_id = header_once(h, "x-amz-firehose-request-id", v).unwrap_or_default();
    match uuid::Uuid::parse_str(&request_id) {
        Ok(u) if u.hyphenated().to_string() == request_id.to_ascii_lowercase() => {}
        _ => v.push(format!("X-Amz-Firehose-Request-Id {request_id:?} is not a UUID")),
    }
    let arn = header_once(h, "x-amz-firehose-source-arn", v);
    if arn.as_deref() != Some(expect.source_arn.as_str()) {
        v.push(format!("X-Amz-Firehose-Source-Arn {arn:?}, expected {:?}", expect.source_arn));
    }
    let key = header_once(h, "x-amz-firehose-access-key", v);
    if key != expect.access_key {
        v.push(format!("X-Amz-Firehose-Access-Key {key:?}, expected {:?}", expect.access_key));
    }
    let attrs = header_once(h, "x-amz-firehose-common-attributes", v);
    match (&attrs, expect.common_attributes.is_empty()) {
        (None, true) => {}
        (Some(a), true) => v.push(format!("X-Amz-Firehose-Common-Attributes {a:?} sent but none configured")),
        (None, false) => v.push("X-Amz-Firehose-Common-Attributes missing".into()),
        (Some(a), false) => {
            let map: serde_json::Map<String, Value> =
                expect.common_attributes.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let want = json!({ "commonAttributes": map });
            match serde_json::from_str::<Value>(a) {
                Ok(got) if got == want => {}
                _ => v.push(format!("X-Amz-Firehose-Common-Attributes {a:?}, expected {want}")),
            }
        }
    }
    match header_once(h, "content-type", v).as_deref() {
        Some("application/json") => {}
        other => v.push(format!("Content-Type {other:?}, expected application/json")),
    }
    let encoding = header_once(h, "content-encoding", v);
    let body = match (encoding.as_deref(), expect.gzip) {
        (Some("gzip"), true) => {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(raw).read_to_end(&mut out) {
                Ok(_) => out,
                Err(e) => {
                    v.push(format!("body is not valid gzip: {e}"));
                    return (request_id, key, Vec::new());
                }
            }
        }
        (None, false) => raw.to_vec(),
        (other, gzip) => {
            v.push(format!("Content-Encoding {other:?} with ContentEncoding {}", if gzip { "GZIP" } else { "NONE" }));
            return (request_id, key, Vec::new());
        }
    };
    if body.len() > 64 << 20 {
        v.push(format!("body of {} bytes is over 64 MiB", body.len()));
    }
    let doc: Value = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            v.push(format!("body is not JSON: {e}"));
            return (request_id, key, Vec::new());
        }
    };
    let Some(obj) = doc.as_object() else {
        v.push("body is not a JSON object".into());
        return (request_id, key, Vec::new());
    };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["records", "requestId", "timestamp"] {
        v.push(format!("body members {keys:?}, expected exactly requestId, timestamp, records"));
    }
    if obj.get("requestId").and_then(Value::as_str) != Some(request_id.as_str()) {
        v.push(format!("body requestId {:?} differs from header {request_id:?}", obj.get("requestId")));
    }
    match obj.get("timestamp").and_then(Value::as_u64) {
        Some(ts) => {
            let now = now_ms();
            if ts.abs_diff(now) > 5_000 {
                v.push(format!("timestamp {ts} is not epoch milliseconds near now ({now})"));
            }
        }
        None => v.push(format!("timestamp {:?} is not an integer", obj.get("timestamp"))),
    }
    let mut records = Vec::new();
    match obj.get("records").and_then(Value::as_array) {
        None => v.push("records is not an array".into()),
        Some(list) => {
            if list.is_empty() || list.len() > 10_000 {
                v.push(format!("{} records in one request (1..=10000 allowed)", list.len()));
            }
            for (i, r) in list.iter().enumerate() {
                let data = r.as_object().filter(|o| o.len() == 1).and_then(|o| o.get("data")).and_then(Value::as_str);
                match data.map(|d| base64::engine::general_purpose::STANDARD.decode(d)) {
                    Some(Ok(bytes)) => records.push(bytes),
                    _ => v.push(format!("records[{i}] is not {{\"data\":\"<base64>\"}}: {r}")),
                }
            }
        }
    }
    (request_id, key, records)
}

async fn handle(state: Arc<Mutex<State>>, req: axum::extract::Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let raw = match axum::body::to_bytes(body, 128 << 20).await {
        Ok(b) => b,
        Err(e) => {
            state.lock().unwrap().violations.push(format!("reading the body failed: {e}"));
            return Response::builder().status(500).body(Body::empty()).unwrap();
        }
    };
    let (index, reply, request_id) = {
        let mut st = state.lock().unwrap();
        let mut v = Vec::new();
        let (request_id, access_key, records) =
            check(&st.expect, &parts.method, &parts.uri, &parts.headers, &raw, &mut v);
        st.violations.extend(v.into_iter().map(|m| format!("request {request_id}: {m}")));
        let reply = st.queue.pop_front().unwrap_or_else(|| st.default.clone());
        st.requests.push(Received {
            at: Instant::now(),
            request_id: request_id.clone(),
            access_key,
            records,
            answered: None,
        });
        (st.requests.len() - 1, reply, request_id)
    };
    let mut r = reply.clone();
    while let Reply::Delay(d, inner) = r {
        tokio::time::sleep(d).await;
        r = *inner;
    }
    state.lock().unwrap().requests[index].answered = Some(reply);
    respond(&r, &request_id)
}

fn respond(r: &Reply, request_id: &str) -> Response<Body> {
    let good = json!({ "requestId": request_id, "timestamp": now_ms() }).to_string();
    let b = Response::builder();
    let (status, ctype, body, encoding) = match r {
        Reply::Ok => (200, "application/json", good, None),
        Reply::Status(s) => (*s, "application/json", good, None),
        Reply::WrongRequestId => (
            200,
            "application/json",
            json!({ "requestId": uuid::Uuid::new_v4().to_string(), "timestamp": now_ms() }).to_string(),
            None,
        ),
        Reply::MissingTimestamp => (200, "application/json", json!({ "requestId": request_id }).to_string(), None),
        Reply::TextPlain => (200, "text/plain", good, None),
        Reply::NonJson => (200, "application/json", "OK".to_string(), None),
        Reply::ContentEncoding => (200, "application/json", good, Some("identity")),
        Reply::TooLarge => (
            200,
            "application/json",
            json!({ "requestId": request_id, "timestamp": now_ms(), "errorMessage": "", "pad": "x".repeat(1 << 20) })
                .to_string(),
            None,
        ),
        Reply::Redirect => {
            return b.status(302).header("location", "/elsewhere").body(Body::empty()).unwrap();
        }
        Reply::Delay(..) => unreachable!(),
    };
    let mut b = b.status(StatusCode::from_u16(status).unwrap()).header("content-type", ctype);
    if let Some(e) = encoding {
        b = b.header("content-encoding", e);
    }
    b.body(Body::from(body)).unwrap()
}

// ---------------------------------------------------------------------------------------
// The service, in process, and the SDK client
// ---------------------------------------------------------------------------------------

/// The real SDK client for a service at `endpoint`, with the root credentials found in
/// `data_dir`. SDK retries are off so that a test sees every failure.
pub fn sdk_client(endpoint: &str, data_dir: &Path) -> aws_sdk_firehose::Client {
    let (key, secret) =
        hydrant_firehose::auth::read_credentials(&data_dir.join("credentials")).unwrap().expect("root credentials");
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(key, secret, None, None, "hydrant-test"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_firehose::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_firehose::Client::from_conf(config)
}

/// A service running in this process.
pub struct Harness {
    pub svc: Arc<hydrant_firehose::Firehose>,
    listener: Option<hydrant_firehose::server::Listener>,
    pub client: aws_sdk_firehose::Client,
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Harness {
    /// Starts the service on `data_dir` with short back-offs, after `tweak`.
    pub async fn start(data_dir: &Path, tweak: impl FnOnce(&mut hydrant_firehose::FirehoseConfig)) -> Harness {
        let mut config = hydrant_firehose::FirehoseConfig { data_dir: data_dir.to_path_buf(), ..Default::default() };
        config.delivery.backoff_base = Duration::from_millis(20);
        config.delivery.backoff_max = Duration::from_millis(100);
        tweak(&mut config);
        let loaded = hydrant_firehose::auth::Principals::load(&config).unwrap();
        let svc = hydrant_firehose::Firehose::start(config, loaded.principals).await.unwrap();
        let listener =
            hydrant_firehose::server::listen(svc.clone(), "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr);
        let client = sdk_client(&endpoint, data_dir);
        Harness { svc, listener: Some(listener), client, data_dir: data_dir.to_path_buf(), endpoint }
    }

    /// Stops the listener and the service (a last checkpoint is written).
    pub async fn stop(mut self) {
        if let Some(l) = self.listener.take() {
            l.stop(Duration::from_secs(1)).await;
        }
        self.svc.shutdown().await;
    }

    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.data_dir.join("s3").join(bucket)
    }
}

/// Everything a test sets on an HTTP endpoint stream.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub url: String,
    pub endpoint_name: Option<String>,
    pub access_key: Option<String>,
    pub gzip: bool,
    pub common_attributes: Vec<(String, String)>,
    pub size_mb: i32,
    pub interval_s: i32,
    pub retry_s: i32,
    pub all_data: bool,
    pub bucket: String,
    pub prefix: Option<String>,
    pub error_prefix: Option<String>,
    pub s3_gzip: bool,
    pub s3_interval_s: i32,
}

impl StreamSpec {
    /// Interval 0 (deliver at once), 1 MiB batches, 60 s of retries, FailedDataOnly to
    /// bucket `backup` flushed at once.
    pub fn new(name: &str, url: &str) -> Self {
        StreamSpec {
            name: name.into(),
            url: url.into(),
            endpoint_name: None,
            access_key: None,
            gzip: false,
            common_attributes: Vec::new(),
            size_mb: 1,
            interval_s: 0,
            retry_s: 60,
            all_data: false,
            bucket: "backup".into(),
            prefix: None,
            error_prefix: None,
            s3_gzip: false,
            s3_interval_s: 0,
        }
    }

    /// What a strict receiver should expect of this stream's requests.
    pub fn expect(&self) -> Expect {
        // Before the receiver exists (its Url comes from it), the default path.
        let url: url::Url = if self.url.is_empty() { "http://x/v1/input".parse() } else { self.url.parse() }.unwrap();
        let mut pq = url.path().to_string();
        if let Some(q) = url.query() {
            pq.push('?');
            pq.push_str(q);
        }
        Expect {
            path_and_query: pq,
            source_arn: stream_arn(&self.name),
            access_key: self.access_key.clone(),
            common_attributes: self.common_attributes.clone(),
            gzip: self.gzip,
        }
    }

    pub fn configuration(&self) -> HttpEndpointDestinationConfiguration {
        let mut ep = HttpEndpointConfiguration::builder().url(&self.url).set_name(self.endpoint_name.clone());
        if let Some(k) = &self.access_key {
            ep = ep.access_key(k);
        }
        let mut rc = HttpEndpointRequestConfiguration::builder().content_encoding(if self.gzip {
            ContentEncoding::Gzip
        } else {
            ContentEncoding::None
        });
        for (k, v) in &self.common_attributes {
            rc = rc.common_attributes(
                HttpEndpointCommonAttribute::builder().attribute_name(k).attribute_value(v).build().unwrap(),
            );
        }
        let mut s3 = S3DestinationConfiguration::builder()
            .role_arn(ROLE)
            .bucket_arn(format!("arn:aws:s3:::{}", self.bucket))
            .buffering_hints(BufferingHints::builder().size_in_mbs(1).interval_in_seconds(self.s3_interval_s).build())
            .compression_format(if self.s3_gzip { CompressionFormat::Gzip } else { CompressionFormat::Uncompressed });
        if let Some(p) = &self.prefix {
            s3 = s3.prefix(p);
        }
        if let Some(p) = &self.error_prefix {
            s3 = s3.error_output_prefix(p);
        }
        HttpEndpointDestinationConfiguration::builder()
            .endpoint_configuration(ep.build().unwrap())
            .buffering_hints(
                HttpEndpointBufferingHints::builder()
                    .size_in_mbs(self.size_mb)
                    .interval_in_seconds(self.interval_s)
                    .build(),
            )
            .request_configuration(rc.build())
            .retry_options(HttpEndpointRetryOptions::builder().duration_in_seconds(self.retry_s).build())
            .s3_backup_mode(if self.all_data {
                HttpEndpointS3BackupMode::AllData
            } else {
                HttpEndpointS3BackupMode::FailedDataOnly
            })
            .role_arn(ROLE)
            .s3_configuration(s3.build().unwrap())
            .build()
    }

    /// Creates the stream; returns its ARN.
    pub async fn create(&self, client: &aws_sdk_firehose::Client) -> String {
        let out = client
            .create_delivery_stream()
            .delivery_stream_name(&self.name)
            .http_endpoint_destination_configuration(self.configuration())
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating {}: {:?}", self.name, e));
        let arn = out.delivery_stream_arn().expect("DeliveryStreamARN").to_string();
        assert_eq!(arn, stream_arn(&self.name));
        arn
    }
}

/// PutRecordBatch; every record must be accepted. Returns the record ids.
pub async fn put_batch(client: &aws_sdk_firehose::Client, stream: &str, records: &[Vec<u8>]) -> Vec<String> {
    let out = client
        .put_record_batch()
        .delivery_stream_name(stream)
        .set_records(Some(
            records.iter().map(|r| Record::builder().data(Blob::new(r.clone())).build().unwrap()).collect(),
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRecordBatch to {stream}: {e:?}"));
    assert_eq!(out.failed_put_count(), 0, "{out:?}");
    assert_eq!(out.request_responses().len(), records.len());
    out.request_responses().iter().map(|r| r.record_id().expect("record id").to_string()).collect()
}

/// PutRecord of one record; returns its id.
pub async fn put_one(client: &aws_sdk_firehose::Client, stream: &str, record: &[u8]) -> String {
    let out = client
        .put_record()
        .delivery_stream_name(stream)
        .record(Record::builder().data(Blob::new(record.to_vec())).build().unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRecord to {stream}: {e:?}"));
    out.record_id().to_string()
}

/// `prefix-000001`-style records of `size` bytes, ending in a newline.
pub fn records(prefix: &str, n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut r = format!("{prefix}-{i:06}-").into_bytes();
            while r.len() + 1 < size {
                r.push(b'a' + (r.len() % 26) as u8);
            }
            r.push(b'\n');
            r
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The local backup bucket
// ---------------------------------------------------------------------------------------

/// Every object under `dir`, as (key relative to `dir`, content), sorted by key.
pub fn objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(content) = std::fs::read(&p) {
                // object_store writes through hidden temporary files; skip them.
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with('.') || name.contains("#") {
                    continue;
                }
                out.push((p.strip_prefix(root).unwrap().to_string_lossy().to_string(), content));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The content of an object, gunzipped when its key ends in `.gz`.
pub fn object_text(key: &str, content: &[u8]) -> Vec<u8> {
    if key.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(content).read_to_end(&mut out).expect("valid gzip object");
        out
    } else {
        content.to_vec()
    }
}

/// The error documents of every `http-endpoint-failed` object under `dir`.
pub fn failed_documents(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (key, content) in objects(dir) {
        if !key.contains("http-endpoint-failed/") {
            continue;
        }
        for line in object_text(&key, &content).split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.push((key.clone(), serde_json::from_slice(line).expect("error document is JSON")));
        }
    }
    out
}

/// The raw records of the failed-data backup under `dir`.
pub fn failed_records(dir: &Path) -> Vec<Vec<u8>> {
    failed_documents(dir)
        .into_iter()
        .map(|(_, d)| base64::engine::general_purpose::STANDARD.decode(d["rawData"].as_str().unwrap()).unwrap())
        .collect()
}

/// An SDK interceptor that keeps the raw body of the last response (to check what the
/// SDK's model would hide, like a member that must never be sent).
#[derive(Debug, Clone, Default)]
pub struct RawBody(pub Arc<Mutex<Vec<u8>>>);

impl RawBody {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl aws_sdk_firehose::config::Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_firehose::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_firehose::config::RuntimeComponents,
        _cfg: &mut aws_sdk_firehose::config::ConfigBag,
    ) -> Result<(), aws_sdk_firehose::error::BoxError> {
        if let Some(b) = context.response().body().bytes() {
            *self.0.lock().unwrap() = b.to_vec();
        }
        Ok(())
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so that a failing test leaves
/// no server running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
