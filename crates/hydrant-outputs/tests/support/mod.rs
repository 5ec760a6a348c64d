//! Shared parts of the output tests: building outputs from sections as the router does,
//! chunks with observable acks, and a loopback server speaking Firehose's JSON protocol that
//! fails what it is told to.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Response};
use base64::Engine;
use hydrant_flb::config::{Config, Format, Origin, Plugin};
use hydrant_flb::metrics::{Metrics, PluginLabels};
use hydrant_flb::{Ack, AckOutcome, BuildContext, Chunk, EventTime, Map, Record, Value};
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

/// Static credentials every test of a binary uses, through the SDK's environment provider
/// (the first link of the default chain), so the real chain is what the output runs.
pub const ACCESS_KEY: &str = "AKIAHYDRANTOUTPUTS01";
pub const SECRET_KEY: &str = "hydrant/outputs/test/secret/key/0000000000";

/// Must be the first thing each test does (before any thread reads the environment).
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/hydrant-test-config");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/hydrant-test-credentials");
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A configuration whose [SERVICE] holds `service`.
pub fn context(name: &str, service: &[(&str, &str)]) -> BuildContext {
    let mut config = Config::empty(Format::Classic);
    for (k, v) in service {
        config.service.push(*k, *v);
    }
    BuildContext {
        config: Arc::new(config),
        metrics: Arc::new(Metrics::new()),
        name: name.to_owned(),
        data_dir: std::env::temp_dir(),
    }
}

/// An `[OUTPUT]` section.
pub fn section(name: &str, props: &[(&str, &str)]) -> Plugin {
    let mut p = Plugin::new(name, Origin::new("output.conf", 3));
    for (k, v) in props {
        p.properties.push(*k, *v);
    }
    p
}

/// A counter of the output's metrics.
pub fn counter(ctx: &BuildContext, which: &str) -> u64 {
    let l = PluginLabels::new(&ctx.name);
    let m = &ctx.metrics;
    match which {
        "records" => m.output_records.get_or_create(&l).get(),
        "bytes" => m.output_bytes.get_or_create(&l).get(),
        "retries" => m.output_retries.get_or_create(&l).get(),
        "dropped" => m.output_dropped.get_or_create(&l).get(),
        "errors" => m.output_errors.get_or_create(&l).get(),
        _ => panic!("no counter {which}"),
    }
}

/// Where ack outcomes land, with what else happened in order.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<String>>>);

impl Events {
    pub fn push(&self, e: impl Into<String>) {
        self.0.lock().unwrap().push(e.into());
    }
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    /// An ack that logs `ack <label> <outcome>`.
    pub fn ack(&self, label: &str) -> Ack {
        let me = self.clone();
        let label = label.to_owned();
        Ack::new(move |o| {
            me.push(format!("ack {label} {}", if o == AckOutcome::Delivered { "delivered" } else { "abandoned" }))
        })
    }
}

/// A record with body `{"log": <log>}` at time `secs`.
pub fn log_record(log: &str, secs: i64) -> Record {
    let mut body = Map::new();
    body.insert("log", Value::Str(log.to_owned()));
    Record::new(EventTime::new(secs, 0), body)
}

pub fn chunk(records: Vec<Record>, ack: Ack) -> Chunk {
    Chunk::new("kube.test".into(), records, ack)
}

/// Runs `output` on a fresh queue; returns the sender and the task.
pub fn start(output: Box<dyn hydrant_flb::Output>) -> (mpsc::Sender<Chunk>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    (tx, tokio::spawn(output.run(rx)))
}

/// Polls `cond` until it holds or `timeout` passes.
pub async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

// ---------------------------------------------------------------------------------------
// A loopback Firehose
// ---------------------------------------------------------------------------------------

/// How the mock answers one PutRecordBatch.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Every record accepted.
    Ok,
    /// The records at these indexes fail with ServiceUnavailableException.
    Fail(Vec<usize>),
    /// The whole request fails: HTTP status and `__type`.
    Error(u16, &'static str),
}

/// One PutRecordBatch the mock received.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub stream: String,
    pub records: Vec<Vec<u8>>,
    pub body_len: usize,
}

struct MockState {
    replies: VecDeque<Reply>,
    default: Reply,
    calls: Vec<Call>,
    events: Events,
}

pub struct Mock {
    pub addr: SocketAddr,
    state: Arc<Mutex<MockState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mock {
    pub async fn start(replies: Vec<Reply>, default: Reply, events: Events) -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(MockState { replies: replies.into(), default, calls: Vec::new(), events }));
        let s = state.clone();
        let app = axum::Router::new()
            .fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
                let s = s.clone();
                async move { handle(&s, &headers, &body) }
            })
            // Requests reach 4 MiB; axum's default body limit is 2 MB.
            .layer(axum::extract::DefaultBodyLimit::disable());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn call_count(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    pub fn set_default(&self, r: Reply) {
        self.state.lock().unwrap().default = r;
    }
}

fn handle(state: &Mutex<MockState>, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(target, "Firehose_20150804.PutRecordBatch");
    let doc: Json = serde_json::from_slice(body).expect("JSON request");
    let records: Vec<Vec<u8>> = doc["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .map(|r| base64::engine::general_purpose::STANDARD.decode(r["Data"].as_str().unwrap()).unwrap())
        .collect();
    let mut st = state.lock().unwrap();
    let n = st.calls.len();
    st.events.push(format!("call {n} of {}", records.len()));
    let reply = st.replies.pop_front().unwrap_or_else(|| st.default.clone());
    st.calls.push(Call {
        at: Instant::now(),
        stream: doc["DeliveryStreamName"].as_str().unwrap_or_default().to_owned(),
        records: records.clone(),
        body_len: body.len(),
    });
    let (status, out) = match reply {
        Reply::Ok | Reply::Fail(_) => {
            let failing = if let Reply::Fail(f) = &reply { f.clone() } else { Vec::new() };
            let responses: Vec<Json> = (0..records.len())
                .map(|i| {
                    if failing.contains(&i) {
                        json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
                    } else {
                        json!({"RecordId": format!("rec-{n}-{i}")})
                    }
                })
                .collect();
            (200, json!({"FailedPutCount": failing.len(), "Encrypted": false, "RequestResponses": responses}))
        }
        Reply::Error(status, kind) => (status, json!({"__type": kind, "message": format!("mock {kind}")})),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Body::from(out.to_string()))
        .unwrap()
}
