//! The HTTP receivers: Firehose's HTTP endpoint (`/v1/input` with Firehose's headers,
//! `/api/v2/logs?dd-protocol=aws-kinesis-firehose`), the standard `POST /api/v2/logs`
//! and the legacy `POST /v1/input`. Each answers in its protocol's own shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hydrant_log::Log;
use serde_json::json;

use crate::ingest::IngestError;
use crate::receive::{self, BodyError, FirehoseBody, FirehoseContext, LegacyParams, MAX_FIREHOSE_EVENTS};
use crate::Intake;

/// Largest Firehose request body (64 MiB of records in base64, plus framing).
pub const MAX_FIREHOSE_BODY: usize = 96 << 20;
/// Largest `/api/v2/logs` payload, uncompressed (Datadog: 5 MB).
pub const MAX_V2_BODY: usize = 5 << 20;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Reads a body up to `limit` bytes, decompressing per `Content-Encoding` with the
/// same limit on the result. `Err(true)` means too large, `Err(false)` unreadable.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, bool> {
    let declared = headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(true);
    }
    let raw = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => return Err(e.downcast_ref::<http_body_util::LengthLimitError>().is_some()),
    };
    let encoding = headers.get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(raw.to_vec()),
        "gzip" => {
            crate::decode::gunzip(&raw, limit as u64).map_err(|e| matches!(e, crate::decode::GunzipError::TooLarge(_)))
        }
        "deflate" => {
            use std::io::Read;
            let mut out = Vec::new();
            let n = flate2::read::ZlibDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|_| false)?;
            if n > limit {
                return Err(true);
            }
            Ok(out)
        }
        _ => Err(false),
    }
}

/// `POST /v1/input`: Firehose's endpoint when Firehose's headers are there, else legacy.
pub async fn v1_input(State(intake): State<Arc<Intake>>, Query(params): Query<LegacyParams>, req: Request) -> Response {
    if req.headers().contains_key("x-amz-firehose-protocol-version") {
        firehose(intake, req).await
    } else {
        legacy(intake, params, req).await
    }
}

/// `POST /api/v2/logs`: Firehose's endpoint with `?dd-protocol=aws-kinesis-firehose`,
/// else the standard logs intake.
pub async fn v2_logs(
    State(intake): State<Arc<Intake>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    req: Request,
) -> Response {
    if q.get("dd-protocol").map(String::as_str) == Some("aws-kinesis-firehose") {
        firehose(intake, req).await
    } else {
        standard(intake, q.get("dd-api-key").cloned(), req).await
    }
}

fn firehose_answer(status: StatusCode, request_id: &str, error: Option<&str>) -> Response {
    let mut body = json!({ "requestId": request_id, "timestamp": now_ms() });
    if let Some(e) = error {
        body["errorMessage"] = json!(e);
    }
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn firehose(intake: Arc<Intake>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut request_id = header("x-amz-firehose-request-id").unwrap_or_default();
    let key = header("x-amz-firehose-access-key").or_else(|| header("dd-api-key")).unwrap_or_default();
    if key.is_empty() || !intake.keys.api_key_ok(&key) {
        intake.metrics.refused("firehose", "auth");
        return firehose_answer(StatusCode::UNAUTHORIZED, &request_id, Some("Invalid or missing access key."));
    }
    if let Err(e) = intake.ingest.admit((!request_id.is_empty()).then_some(request_id.as_str())) {
        return overloaded(&intake, "firehose", e, |msg| {
            firehose_answer(StatusCode::SERVICE_UNAVAILABLE, &request_id, Some(msg))
        });
    }
    let raw = match read_body(h, body, MAX_FIREHOSE_BODY).await {
        Ok(b) => b,
        Err(true) => {
            return firehose_answer(StatusCode::PAYLOAD_TOO_LARGE, &request_id, Some("Request body too large."))
        }
        Err(false) => {
            return firehose_answer(StatusCode::BAD_REQUEST, &request_id, Some("Request body could not be read."))
        }
    };
    let parsed: FirehoseBody = match serde_json::from_slice(&raw) {
        Ok(b) => b,
        Err(e) => return firehose_answer(StatusCode::BAD_REQUEST, &request_id, Some(&format!("Malformed body: {e}"))),
    };
    if request_id.is_empty() {
        request_id = parsed.request_id.clone();
    }
    let ctx = FirehoseContext {
        source_arn: header("x-amz-firehose-source-arn"),
        common_attributes: match header("x-amz-firehose-common-attributes") {
            None => Vec::new(),
            Some(v) => match receive::common_attributes(&v) {
                Ok(a) => a,
                Err(e) => return firehose_answer(StatusCode::BAD_REQUEST, &request_id, Some(&e)),
            },
        },
    };
    // Each log is stored as it is decoded; a bad record refuses the whole request.
    let now = now_ms();
    let produce = |push: &mut dyn FnMut(Log)| receive::firehose_each(&parsed, &ctx, now, push);
    match intake.ingest.accept_from(parsed.records.len(), Some(&request_id), produce).await {
        Ok(outcome) => {
            intake.metrics.accepted("firehose", outcome);
            firehose_answer(StatusCode::OK, &request_id, None)
        }
        Err(IngestError::Rejected(BodyError::TooMany(_))) => firehose_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            &request_id,
            Some(&format!("more than {MAX_FIREHOSE_EVENTS} events in one request")),
        ),
        Err(IngestError::Rejected(BodyError::Malformed(e))) => {
            firehose_answer(StatusCode::BAD_REQUEST, &request_id, Some(&e))
        }
        Err(e) => overloaded(&intake, "firehose", e, |msg| {
            firehose_answer(StatusCode::SERVICE_UNAVAILABLE, &request_id, Some(msg))
        }),
    }
}

fn overloaded(intake: &Intake, receiver: &str, e: IngestError, answer: impl FnOnce(&str) -> Response) -> Response {
    tracing::warn!(receiver, error = %e, "batch refused");
    intake.metrics.refused(receiver, "unavailable");
    answer(&e.to_string())
}

/// Datadog's error shape for the logs intake: `{"errors":[{"status","title","detail"}]}`.
pub fn dd_errors(status: StatusCode, detail: &str) -> Response {
    let body = json!({ "errors": [{
        "status": status.as_u16().to_string(),
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
    }]});
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn api_key_from(h: &HeaderMap, query: Option<String>) -> Option<String> {
    h.get("dd-api-key").and_then(|v| v.to_str().ok()).map(str::to_string).or(query)
}

async fn standard(intake: Arc<Intake>, query_key: Option<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    match api_key_from(&parts.headers, query_key) {
        None => return dd_errors(StatusCode::UNAUTHORIZED, "API key is missing"),
        Some(k) if !intake.keys.api_key_ok(&k) => {
            intake.metrics.refused("v2", "auth");
            return dd_errors(StatusCode::FORBIDDEN, "API key is invalid");
        }
        Some(_) => {}
    }
    if let Err(e) = intake.ingest.admit(None) {
        return overloaded(&intake, "v2", e, |m| dd_errors(StatusCode::SERVICE_UNAVAILABLE, m));
    }
    let raw = match read_body(&parts.headers, body, MAX_V2_BODY).await {
        Ok(b) => b,
        Err(true) => return dd_errors(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large: at most 5 MB uncompressed"),
        Err(false) => return dd_errors(StatusCode::BAD_REQUEST, "The body could not be read or decompressed"),
    };
    let logs = match receive::v2_logs(&raw, now_ms()) {
        Ok(l) => l,
        Err(BodyError::Malformed(m)) => return dd_errors(StatusCode::BAD_REQUEST, &m),
        Err(BodyError::TooMany(n)) => {
            return dd_errors(StatusCode::PAYLOAD_TOO_LARGE, &format!("{n} entries: at most 1000 per payload"))
        }
    };
    match intake.ingest.accept(logs, None).await {
        Ok(outcome) => {
            intake.metrics.accepted("v2", outcome);
            (StatusCode::ACCEPTED, [("content-type", "application/json")], "{}").into_response()
        }
        Err(e) => overloaded(&intake, "v2", e, |m| dd_errors(StatusCode::SERVICE_UNAVAILABLE, m)),
    }
}

async fn legacy(intake: Arc<Intake>, params: LegacyParams, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query_key =
        parts.uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("dd-api-key=").map(str::to_string)));
    match api_key_from(&parts.headers, query_key) {
        None => return dd_errors(StatusCode::UNAUTHORIZED, "API key is missing"),
        Some(k) if !intake.keys.api_key_ok(&k) => return dd_errors(StatusCode::FORBIDDEN, "API key is invalid"),
        Some(_) => {}
    }
    if let Err(e) = intake.ingest.admit(None) {
        return overloaded(&intake, "v1", e, |m| dd_errors(StatusCode::SERVICE_UNAVAILABLE, m));
    }
    let raw = match read_body(&parts.headers, body, MAX_V2_BODY).await {
        Ok(b) => b,
        Err(true) => return dd_errors(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
        Err(false) => return dd_errors(StatusCode::BAD_REQUEST, "The body could not be read or decompressed"),
    };
    let logs = match receive::legacy_logs(&raw, &params, now_ms()) {
        Ok(l) => l,
        Err(BodyError::Malformed(m)) => return dd_errors(StatusCode::BAD_REQUEST, &m),
        Err(BodyError::TooMany(n)) => return dd_errors(StatusCode::PAYLOAD_TOO_LARGE, &format!("{n} entries")),
    };
    match intake.ingest.accept(logs, None).await {
        Ok(outcome) => {
            intake.metrics.accepted("v1", outcome);
            (StatusCode::OK, [("content-type", "application/json")], "{}").into_response()
        }
        Err(e) => overloaded(&intake, "v1", e, |m| dd_errors(StatusCode::SERVICE_UNAVAILABLE, m)),
    }
}
