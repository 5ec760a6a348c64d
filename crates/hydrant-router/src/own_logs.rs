//! The router's own logs as records (`flb_log_cw: 'true'` in the ConfigMap), so the
//! router's errors reach the same place as the logs it ships instead of a container
//! nobody reads (containers-roadmap 2293, 1218).
//!
//! Fargate ships Fluent Bit's own log to a CloudWatch log group whatever the user's
//! outputs match; Hydrant has no CloudWatch, so it sends these records to every output,
//! also whatever they match, tagged [`TAG`], with `ddsource`/`service` set to
//! `hydrant-router` so a Datadog-compatible destination files them apart from the
//! application's logs (which Firehose's receiver marks `source:aws`).
//!
//! A [`tracing`] layer ([`OwnLogsLayer`], installed with the process's other layers) turns
//! the router's events (its crates only, INFO and above) into records and hands them to
//! the [`OwnLogsInput`] through a bounded queue: when the queue is full (a destination
//! down, the router logging about it), events are counted and dropped rather than queued
//! without bound or fed back into more logging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use hydrant_flb::{Ack, BoxFuture, Chunk, EventTime, Input, InputContext, Map, Record, Value};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The tag of the router's own log records.
pub const TAG: &str = "hydrant.router";

/// Targets (crate names) whose events are the router's.
const ROUTER_CRATES: [&str; 6] =
    ["hydrant_router", "hydrant_tail", "hydrant_kubernetes", "hydrant_filters", "hydrant_outputs", "hydrant_flb"];

/// Events waiting for the input; past this they are dropped and counted.
const QUEUE: usize = 1024;

static SINK: OnceLock<mpsc::Sender<Record>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The layer to install in the process's subscriber. It does nothing until
/// [`OwnLogsInput::start`] connects it.
#[derive(Debug, Default, Clone, Copy)]
pub struct OwnLogsLayer;

impl<S: Subscriber> Layer<S> for OwnLogsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(sink) = SINK.get() else { return };
        let meta = event.metadata();
        if *meta.level() > Level::INFO || !ROUTER_CRATES.iter().any(|c| meta.target().starts_with(c)) {
            return;
        }
        let mut body = Map::with_capacity(8);
        body.push("ddsource", Value::from("hydrant-router"));
        body.push("service", Value::from("hydrant-router"));
        body.push("level", Value::from(meta.level().as_str().to_ascii_lowercase()));
        body.push("target", Value::from(meta.target()));
        let mut visitor = Fields(&mut body);
        event.record(&mut visitor);
        if sink.try_send(Record::new(EventTime::now(), body)).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Fields<'a>(&'a mut Map);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let key = if field.name() == "message" { "log" } else { field.name() };
        self.0.push(key, Value::Str(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let key = if field.name() == "message" { "log" } else { field.name() };
        self.0.push(key, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push(field.name(), Value::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push(field.name(), i64::try_from(value).map(Value::Int).unwrap_or(Value::UInt(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push(field.name(), Value::Bool(value));
    }
}

/// Events dropped because the queue was full.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The input that emits the router's own log records (tag [`TAG`]).
pub struct OwnLogsInput {
    events: mpsc::Receiver<Record>,
}

impl OwnLogsInput {
    /// Connect the layer to a new input; `None` if one was started already in this process.
    pub fn start() -> Option<OwnLogsInput> {
        let (tx, rx) = mpsc::channel(QUEUE);
        SINK.set(tx).ok()?;
        Some(OwnLogsInput { events: rx })
    }
}

impl Input for OwnLogsInput {
    fn run(mut self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let tag: std::sync::Arc<str> = TAG.into();
            loop {
                let first = tokio::select! {
                    _ = ctx.shutdown.cancelled() => return Ok(()),
                    r = self.events.recv() => match r { Some(r) => r, None => return Ok(()) },
                };
                let mut records = vec![first];
                while records.len() < 100 {
                    match self.events.try_recv() {
                        Ok(r) => records.push(r),
                        Err(_) => break,
                    }
                }
                // Kept in memory only: no position to hold back, nothing to re-read.
                if ctx.chunks.send(Chunk::new(tag.clone(), records, Ack::none())).await.is_err() {
                    return Ok(());
                }
            }
        })
    }
}
