//! Delivery to an HTTP endpoint, per the real service's "HTTP Endpoint Delivery Request
//! and Response Specifications": the request (headers, body with a millisecond
//! timestamp, optional gzip), the strict validation of the response, and retries with
//! exponential back-off within `RetryOptions.DurationInSeconds`.
//!
//! One batch is in flight per stream at a time, so a receiver sees a stream's records
//! in order; streams deliver independently (one task each), so a slow endpoint only
//! holds back its own stream.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use uuid::Uuid;

use crate::buffering::{next_batch, Limits};
use crate::config::DeliveryConfig;
use crate::destination::{Destination, HttpEndpointSettings};
use crate::metrics::DeliveryLabels;
use crate::service::{now_ms, Firehose, Stream};
use crate::sink::FailedBackup;
use crate::stream::{ConsumerId, Record};

/// At most this many records go in one request.
pub const MAX_RECORDS_PER_REQUEST: usize = 10_000;
/// A request body is at most 64 MiB before compression. Base64 takes 4 bytes per 3 and
/// each record adds at most 15 bytes of JSON around its data, so this much record data
/// fits in one request (SizeInMBs=64 would not: about 85 MiB of body).
pub const MAX_REQUEST_DATA_BYTES: u64 = ((64 << 20) - MAX_RECORDS_PER_REQUEST as u64 * 15 - 1024) / 4 * 3;
/// A response body larger than this is `HttpEndpoint.ResponseTooLarge`.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The HTTP client for deliveries: no redirects (the spec: they are not followed), a
/// per-attempt timeout, and rustls with the system roots plus an optional extra CA.
pub fn client(cfg: &DeliveryConfig) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.attempt_timeout)
        .connect_timeout(cfg.attempt_timeout.min(Duration::from_secs(30)))
        .user_agent(concat!("hydrant-firehose/", env!("CARGO_PKG_VERSION")))
        .use_rustls_tls();
    if let Some(ca) = &cfg.extra_ca_file {
        let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

/// Why an attempt failed, in the real service's error codes.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `HttpEndpoint.DestinationException`, `HttpEndpoint.InvalidResponseFromDestination`, ...
    pub code: &'static str,
    /// What happened, with the endpoint's response where there was one.
    pub message: String,
    /// 413: the batch is neither retried nor backed up.
    pub permanent: bool,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), permanent: false }
    }
}

/// A batch that exhausted its retries.
#[derive(Debug, Clone)]
pub struct Exhausted {
    /// The last failure.
    pub failure: Failure,
    /// Attempts made.
    pub attempts: u32,
    /// When the last attempt ended (ms since epoch).
    pub ending_ms: u64,
}

enum Outcome {
    Delivered,
    Permanent(Failure),
    Exhausted(Exhausted),
    Cancelled,
}

/// The HTTP consumer of a stream: batches, delivers, finalizes.
pub async fn run(svc: Arc<Firehose>, stream: Arc<Stream>) {
    let backup = FailedBackup::spawn(svc.clone(), stream.clone());
    let mut cursor = watermark(&stream);
    loop {
        let batch = next_batch(&stream, cursor, |d| Limits {
            buffering: http_settings(d)
                .map(|h| crate::destination::Buffering {
                    size_bytes: h.buffering.size_bytes.min(MAX_REQUEST_DATA_BYTES),
                    ..h.buffering
                })
                .unwrap_or(crate::destination::Buffering { size_bytes: 5 << 20, interval: Duration::from_secs(300) }),
            max_records: MAX_RECORDS_PER_REQUEST,
        })
        .await;
        let Some(batch) = batch else { return };
        let (first, end) = (batch[0].seq, batch[batch.len() - 1].seq + 1);
        cursor = end;
        let request_id = batch_request_id(stream.generation, first, end);
        let labels = DeliveryLabels { stream: stream.name.clone(), outcome: String::new() };
        match deliver(&svc, &stream, &batch, &request_id).await {
            Outcome::Delivered => {
                stream.backlog.finalize(ConsumerId::Http, first, end);
                let l = DeliveryLabels { outcome: "ok".into(), ..labels };
                svc.metrics.delivery_records.get_or_create(&l).inc_by(batch.len() as u64);
            }
            Outcome::Permanent(f) => {
                tracing::warn!(stream = %stream.name, records = batch.len(), error = %f.message, "endpoint refused the batch as too large (413); dropped, not backed up");
                stream.backlog.finalize(ConsumerId::Http, first, end);
                let l = DeliveryLabels { outcome: "dropped_413".into(), ..labels };
                svc.metrics.delivery_records.get_or_create(&l).inc_by(batch.len() as u64);
            }
            Outcome::Exhausted(x) => {
                tracing::warn!(stream = %stream.name, records = batch.len(), attempts = x.attempts, code = x.failure.code, error = %x.failure.message, "delivery failed after retries; backing up");
                let l = DeliveryLabels { outcome: "backed_up".into(), ..labels };
                svc.metrics.delivery_records.get_or_create(&l).inc_by(batch.len() as u64);
                // Blocks while the backup itself is failing: delivery pauses, nothing drops.
                if !backup.push(batch, x).await {
                    return;
                }
            }
            Outcome::Cancelled => return,
        }
    }
}

/// The request id of the batch `[first, end)`. The same batch gets the same id on every
/// retry, and after a restart too when it is cut the same way, so receivers can drop
/// what they already accepted.
pub(crate) fn batch_request_id(generation: Uuid, first: u64, end: u64) -> String {
    let mut name = generation.as_bytes().to_vec();
    name.extend_from_slice(&first.to_be_bytes());
    name.extend_from_slice(&end.to_be_bytes());
    Uuid::new_v5(&Uuid::NAMESPACE_OID, &name).to_string()
}

/// One attempt to deliver `batch` with the stream's current settings (the failed-data
/// backup uses it to hand parked batches to an endpoint that recovered).
pub(crate) async fn attempt_once(svc: &Firehose, stream: &Stream, batch: &[Record]) -> Result<(), Failure> {
    let settings = stream.settings.borrow().clone();
    let Some(h) = http_settings(&settings) else {
        return Err(Failure::new("InternalFailure", "the stream no longer has an HTTP endpoint"));
    };
    let request_id = batch_request_id(stream.generation, batch[0].seq, batch[batch.len() - 1].seq + 1);
    attempt(&svc.http, h, &stream.arn, batch, &request_id).await
}

fn watermark(stream: &Stream) -> u64 {
    stream.backlog.watermarks().into_iter().find(|(c, _)| *c == ConsumerId::Http).map_or(0, |(_, w)| w)
}

fn http_settings(d: &Destination) -> Option<&HttpEndpointSettings> {
    match d {
        Destination::HttpEndpoint(h) => Some(h),
        Destination::ExtendedS3(_) => None,
    }
}

/// Attempts a batch until it succeeds, fails permanently, or its retry time runs out.
async fn deliver(svc: &Firehose, stream: &Stream, batch: &[Record], request_id: &str) -> Outcome {
    let cfg = &svc.config.delivery;
    let mut attempts = 0u32;
    // Time spent between attempts: the retry clock excludes time waiting for responses.
    let mut waited = Duration::ZERO;
    let mut backoff = cfg.backoff_base;
    loop {
        // Read the settings afresh each attempt: UpdateDestination reaches retries in flight.
        let settings = stream.settings.borrow().clone();
        let Some(h) = http_settings(&settings) else { return Outcome::Cancelled };
        attempts += 1;
        let result = tokio::select! {
            r = attempt(&svc.http, h, &stream.arn, batch, request_id) => r,
            _ = stream.cancel.cancelled() => return Outcome::Cancelled,
        };
        let outcome = match &result {
            Ok(()) => "ok",
            Err(f) => f.code,
        };
        svc.metrics
            .delivery_attempts
            .get_or_create(&DeliveryLabels { stream: stream.name.clone(), outcome: outcome.to_string() })
            .inc();
        let failure = match result {
            Ok(()) => return Outcome::Delivered,
            Err(f) if f.permanent => return Outcome::Permanent(f),
            Err(f) => f,
        };
        let budget = {
            let s = stream.settings.borrow();
            http_settings(&s).map_or(Duration::ZERO, |h| h.retry_duration)
        };
        if waited >= budget {
            return Outcome::Exhausted(Exhausted { failure, attempts, ending_ms: now_ms() });
        }
        let wait = jitter(backoff).min(budget - waited);
        tracing::debug!(stream = %stream.name, attempt = attempts, code = failure.code, wait_ms = wait.as_millis() as u64, "delivery attempt failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stream.cancel.cancelled() => return Outcome::Cancelled,
        }
        waited += wait;
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

/// +-15% jitter.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::thread_rng().gen_range(0.85..=1.15))
}

/// The request body: `{"requestId":..,"timestamp":<ms>,"records":[{"data":"<b64>"},..]}`.
pub fn request_body(request_id: &str, timestamp_ms: u64, batch: &[Record]) -> Vec<u8> {
    let data: usize = batch.iter().map(|r| r.data.len()).sum();
    let mut s = String::with_capacity(data * 4 / 3 + batch.len() * 16 + 96);
    s.push_str("{\"requestId\":\"");
    s.push_str(request_id);
    s.push_str("\",\"timestamp\":");
    s.push_str(&timestamp_ms.to_string());
    s.push_str(",\"records\":[");
    for (i, r) in batch.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"data\":\"");
        base64_simd::STANDARD.encode_append(&r.data, &mut s);
        s.push_str("\"}");
    }
    s.push_str("]}");
    s.into_bytes()
}

/// The request body of a batch, gzip'd when the destination asks for it.
fn encode_body(request_id: &str, batch: &[Record], gzip: bool) -> std::io::Result<Vec<u8>> {
    let body = request_body(request_id, now_ms(), batch);
    if !gzip {
        return Ok(body);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    enc.write_all(&body)?;
    enc.finish()
}

/// The `X-Amz-Firehose-Common-Attributes` header value.
fn common_attributes_header(attrs: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        attrs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::json!({ "commonAttributes": map }).to_string()
}

async fn attempt(
    client: &reqwest::Client,
    h: &HttpEndpointSettings,
    source_arn: &str,
    batch: &[Record],
    request_id: &str,
) -> Result<(), Failure> {
    // Encoding a batch (up to 48 MiB, then gzip) is long CPU work: off the async
    // workers, so that Puts on the same runtime are not held up behind it.
    let body = {
        let (batch, request_id, gzip) = (batch.to_vec(), request_id.to_string(), h.gzip);
        tokio::task::spawn_blocking(move || encode_body(&request_id, &batch, gzip))
            .await
            .map_err(|e| Failure::new("InternalFailure", e.to_string()))?
            .map_err(|e| Failure::new("InternalFailure", e.to_string()))?
    };
    let mut req = client
        .post(&h.url)
        .header("X-Amz-Firehose-Protocol-Version", "1.0")
        .header("X-Amz-Firehose-Request-Id", request_id)
        .header("X-Amz-Firehose-Source-Arn", source_arn)
        .header("Content-Type", "application/json");
    if let Some(key) = &h.access_key {
        req = req.header("X-Amz-Firehose-Access-Key", key);
    }
    if !h.common_attributes.is_empty() {
        req = req.header("X-Amz-Firehose-Common-Attributes", common_attributes_header(&h.common_attributes));
    }
    if h.gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    let resp = req.body(body).send().await.map_err(|e| transport_failure(&e))?;
    let status = resp.status();
    if status.as_u16() == 413 {
        let text = read_limited(resp, 8192).await.unwrap_or_default();
        return Err(Failure {
            code: "HttpEndpoint.DestinationException",
            message: format!(
                "The following response was received from the endpoint destination. 413: {}",
                String::from_utf8_lossy(&text)
            ),
            permanent: true,
        });
    }
    if status.as_u16() != 200 {
        let text = read_limited(resp, 8192).await.unwrap_or_default();
        return Err(Failure::new(
            "HttpEndpoint.DestinationException",
            format!(
                "The following response was received from the endpoint destination. {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&text)
            ),
        ));
    }
    let headers = resp.headers().clone();
    let body = match read_limited(resp, MAX_RESPONSE_BYTES).await {
        Ok(b) => b,
        Err(f) => return Err(f),
    };
    validate_response(&headers, &body, request_id)
}

const INVALID_RESPONSE: &str = "HttpEndpoint.InvalidResponseFromDestination";

/// The spec's rules for a successful response.
pub fn validate_response(headers: &reqwest::header::HeaderMap, body: &[u8], request_id: &str) -> Result<(), Failure> {
    let invalid = |why: &str| {
        Failure::new(
            INVALID_RESPONSE,
            format!(
                "The response received from the endpoint is invalid ({why}). Contact the owner of the endpoint to resolve the issue. Response: {}",
                String::from_utf8_lossy(&body[..body.len().min(1024)])
            ),
        )
    };
    let json_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(invalid("Content-Type is not application/json"));
    }
    if headers.contains_key(reqwest::header::CONTENT_ENCODING) {
        return Err(invalid("the response has a Content-Encoding"));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| invalid("the body is not valid JSON"))?;
    match v.get("requestId").and_then(|r| r.as_str()) {
        Some(id) if id == request_id => {}
        Some(_) => return Err(invalid("requestId does not match the request's")),
        None => return Err(invalid("requestId is missing")),
    }
    if !v.get("timestamp").is_some_and(|t| t.is_number()) {
        return Err(invalid("timestamp is missing or not a number"));
    }
    Ok(())
}

/// Reads at most `limit` bytes of a response body.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(Failure::new(
                        "HttpEndpoint.ResponseTooLarge",
                        "The response received from the endpoint is too large. Contact the owner of the endpoint to resolve this issue.",
                    ));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(transport_failure(&e)),
        }
    }
}

fn transport_failure(e: &reqwest::Error) -> Failure {
    let chain = error_chain(e);
    // The top-level message names the URL, which may well contain "tls" or "ssl":
    // classify by the causes only.
    let causes = std::error::Error::source(e).map(error_chain).unwrap_or_default();
    if e.is_timeout() {
        Failure::new(
            "HttpEndpoint.RequestTimeout",
            "The delivery timed out before a response was received and will be retried. If this error persists, contact the owner of the endpoint to resolve the issue.",
        )
    } else if causes.contains("certificate")
        || causes.contains("tls")
        || causes.contains("handshake")
        || causes.contains("ssl")
    {
        Failure::new(
            "HttpEndpoint.SSLHandshakeFailure",
            format!("Unable to complete an SSL Handshake with the endpoint. Contact the owner of the endpoint to resolve this issue. ({chain})"),
        )
    } else if e.is_connect() {
        Failure::new(
            "HttpEndpoint.ConnectionFailed",
            format!("Unable to connect to the destination endpoint. Contact the owner of the endpoint to resolve this issue. ({chain})"),
        )
    } else {
        Failure::new(
            "HttpEndpoint.ConnectionReset",
            format!("Unable to maintain connection with the endpoint. Contact the owner of the endpoint to resolve this issue. ({chain})"),
        )
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn body_shape() {
        let batch = vec![
            Record { seq: 0, arrival_ms: 0, data: Bytes::from_static(b"hello") },
            Record { seq: 1, arrival_ms: 0, data: Bytes::from_static(b"{\"a\":1}\n") },
        ];
        let body = request_body("id-1", 1_594_265_943_615, &batch);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["requestId"], "id-1");
        assert_eq!(v["timestamp"], 1_594_265_943_615u64);
        assert_eq!(v["records"][0]["data"], "aGVsbG8=");
        assert_eq!(v["records"][1]["data"], "eyJhIjoxfQo=");
        assert_eq!(v.as_object().unwrap().len(), 3);
    }

    #[test]
    fn a_full_request_fits_in_64_mib() {
        // The worst case: the most records, each with the most base64 padding.
        let per = (MAX_REQUEST_DATA_BYTES / MAX_RECORDS_PER_REQUEST as u64) as usize / 3 * 3 + 1;
        let n = (MAX_REQUEST_DATA_BYTES as usize / per).min(MAX_RECORDS_PER_REQUEST);
        let batch: Vec<Record> =
            (0..n).map(|i| Record { seq: i as u64, arrival_ms: 0, data: Bytes::from(vec![b'x'; per]) }).collect();
        let body = request_body("0b9d1a3c-6d4e-4c1f-9a0e-2f3b4c5d6e7f", u64::MAX, &batch);
        assert!(body.len() <= 64 << 20, "{} bytes", body.len());
    }

    #[test]
    fn common_attributes_shape() {
        let h = common_attributes_header(&[("env".into(), "prod".into()), ("team".into(), "a b".into())]);
        assert_eq!(h, r#"{"commonAttributes":{"env":"prod","team":"a b"}}"#);
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h
    }

    #[test]
    fn response_rules() {
        let ok = br#"{"requestId":"r1","timestamp":1594265943615}"#;
        assert!(validate_response(&json_headers(), ok, "r1").is_ok());
        let with_error = br#"{"requestId":"r1","timestamp":1594265943615,"errorMessage":""}"#;
        assert!(validate_response(&json_headers(), with_error, "r1").is_ok());
        let cases: [(&[u8], &str); 5] = [
            (br#"{"requestId":"r2","timestamp":1}"#, "does not match"),
            (br#"{"timestamp":1}"#, "missing"),
            (br#"{"requestId":"r1","timestamp":"1"}"#, "timestamp"),
            (br#"{"requestId":"r1""#, "not valid JSON"),
            (b"OK", "not valid JSON"),
        ];
        for (body, why) in cases {
            let f = validate_response(&json_headers(), body, "r1").unwrap_err();
            assert_eq!(f.code, INVALID_RESPONSE);
            assert!(f.message.contains(why), "{why}: {}", f.message);
        }
        let mut text = HeaderMap::new();
        text.insert("content-type", HeaderValue::from_static("text/plain"));
        assert!(validate_response(&text, ok, "r1").is_err());
        let mut gz = json_headers();
        gz.insert("content-encoding", HeaderValue::from_static("gzip"));
        assert!(validate_response(&gz, ok, "r1").is_err());
    }

    #[test]
    fn jitter_stays_within_15_percent() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(10));
            assert!(j >= Duration::from_millis(8500) && j <= Duration::from_millis(11500), "{j:?}");
        }
    }
}
