//! The HTTP face of the service: AWS JSON 1.1 over `POST /` with `X-Amz-Target`, SigV4
//! authentication, IAM authorization, and the Put data plane; plus `/metrics` and
//! `/health`.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::{BufMut, Bytes};
use http_body_util::BodyExt;
use hydrant_aws::iam::access_denied;
use hydrant_aws::sigv4::Verifier;
use hydrant_aws::AwsError;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::metrics::ApiLabels;
use crate::operations;
use crate::put_scan;
use crate::service::{now_ms, Firehose, PutResult, Stream};
use crate::validate::{stream_name, Violations};
use crate::wal::FrameBuilder;

/// Largest record, before base64 (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1_024_000;
/// Largest PutRecordBatch, in record data before base64 (4 MiB).
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// Most records in one PutRecordBatch.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Largest request body read: 4 MiB of data in base64 plus JSON framing. Anything
/// larger is refused from its Content-Length (or as soon as it passes the limit when
/// chunked), before it is read whole.
pub const MAX_BODY_BYTES: usize = MAX_BATCH_BYTES / 3 * 4 + MAX_BATCH_RECORDS * 64 + 64 * 1024;
/// Largest control-plane request body.
const MAX_CONTROL_BODY_BYTES: usize = 1 << 20;

const TARGET_PREFIX: &str = "Firehose_20150804.";
const OPERATIONS: &[&str] = &[
    "CreateDeliveryStream",
    "DeleteDeliveryStream",
    "DescribeDeliveryStream",
    "ListDeliveryStreams",
    "PutRecord",
    "PutRecordBatch",
    "UpdateDestination",
    "TagDeliveryStream",
    "UntagDeliveryStream",
    "ListTagsForDeliveryStream",
    "StartDeliveryStreamEncryption",
    "StopDeliveryStreamEncryption",
];

/// The router: the API on `POST /`, metrics, health.
pub fn router(svc: Arc<Firehose>) -> Router {
    Router::new().route("/", post(handle)).route("/metrics", get(metrics)).route("/health", get(health)).with_state(svc)
}

async fn metrics(State(svc): State<Arc<Firehose>>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        svc.metrics.render(),
    )
        .into_response()
}

async fn health(State(svc): State<Arc<Firehose>>) -> Response {
    let streams: usize = svc.stream_names(&svc.config.account_id).len();
    axum::Json(serde_json::json!({ "status": "ok", "streams": streams })).into_response()
}

fn aws_response(request_id: &str, status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(request_id: &str, e: &AwsError) -> Response {
    aws_response(request_id, e.status, e.to_json())
}

async fn handle(State(svc): State<Arc<Firehose>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let operation = target.strip_prefix(TARGET_PREFIX).filter(|op| OPERATIONS.contains(op)).map(str::to_string);
    let result = match &operation {
        None => Err(AwsError::unknown_operation(if target.is_empty() {
            "Missing X-Amz-Target header".to_string()
        } else {
            format!("Operation {target} is not supported.")
        })),
        Some(op) => call(&svc, op, parts, body).await,
    };
    let op_label = operation.clone().unwrap_or_else(|| "unknown".into());
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.clone(),
    };
    svc.metrics.api_requests.get_or_create(&ApiLabels { operation: op_label.clone(), outcome }).inc();
    match result {
        Ok(body) => aws_response(&request_id, StatusCode::OK, body),
        Err(e) => {
            tracing::debug!(operation = %op_label, code = %e.code, message = %e.message, request_id, "request refused");
            error_response(&request_id, &e)
        }
    }
}

/// Reads the body with a limit, refusing early from Content-Length.
async fn read_body(parts: &axum::http::request::Parts, body: Body, limit: usize, put: bool) -> Result<Bytes, AwsError> {
    let too_large = || {
        if put {
            AwsError::invalid_argument("Records size exceeds 4 MB limit")
        } else {
            AwsError::new(StatusCode::PAYLOAD_TOO_LARGE, "SerializationException", "Request body is too large.")
        }
    };
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(AwsError::serialization("The request body could not be read.")),
    }
}

fn authenticate(svc: &Firehose, parts: &axum::http::request::Parts, body: &[u8]) -> Result<Principal, AwsError> {
    let principals = svc.principals.read().expect("principals poisoned");
    let verified = Verifier::new("firehose").verify(parts, body, chrono::Utc::now(), &*principals)?;
    if verified.region != svc.config.region {
        return Err(AwsError::signature_does_not_match(format!(
            "Credential should be scoped to a valid region, not '{}'. This endpoint serves '{}'.",
            verified.region, svc.config.region
        )));
    }
    principals
        .get(&verified.access_key_id)
        .cloned()
        .ok_or_else(|| AwsError::invalid_client_token_id("The security token included in the request is invalid."))
}

/// IAM authorization of `op` on the stream `stream` (the account's streams when the
/// request names none: validation then reports the missing name).
fn authorize(svc: &Firehose, who: &Principal, op: &str, stream: Option<&str>) -> Result<(), AwsError> {
    let (action, resource) = action_and_resource(svc, who, op, stream);
    if who.allowed(&action, &resource) {
        Ok(())
    } else {
        tracing::info!(principal = %who.arn, action, resource, "access denied");
        Err(access_denied(&who.arn, &action, &resource))
    }
}

fn action_and_resource(svc: &Firehose, who: &Principal, op: &str, stream: Option<&str>) -> (String, String) {
    let action = format!("firehose:{op}");
    let resource = match op {
        "ListDeliveryStreams" => "*".to_string(),
        _ => match stream {
            Some(name) => hydrant_aws::arn::firehose_stream_arn(&svc.config.region, &who.account_id, name),
            // Validation reports the missing name; authorization checks the account's streams.
            None => format!("arn:aws:firehose:{}:{}:deliverystream/*", svc.config.region, who.account_id),
        },
    };
    (action, resource)
}

async fn call(
    svc: &Arc<Firehose>,
    op: &str,
    parts: axum::http::request::Parts,
    body: Body,
) -> Result<Vec<u8>, AwsError> {
    let put = op == "PutRecord" || op == "PutRecordBatch";
    let limit = if put { MAX_BODY_BYTES } else { MAX_CONTROL_BODY_BYTES };
    let body = read_body(&parts, body, limit, put).await?;
    let who = authenticate(svc, &parts, &body)?;
    // Puts are authorized once their body is parsed: parsing a 5 MiB body twice just to
    // read the stream name would double the hot path's JSON work.
    if !put {
        authorize(svc, &who, op, operations::target_stream(&body).as_deref())?;
    }
    let out: Value = match op {
        "PutRecordBatch" => return put_record_batch(svc, &who, &body).await,
        "PutRecord" => return put_record(svc, &who, &body).await,
        "CreateDeliveryStream" => operations::create(svc, &who, &body).await?,
        "DeleteDeliveryStream" => operations::delete(svc, &who, &body).await?,
        "DescribeDeliveryStream" => operations::describe(svc, &who, &body)?,
        "ListDeliveryStreams" => operations::list(svc, &who, &body)?,
        "UpdateDestination" => operations::update_destination(svc, &who, &body).await?,
        "TagDeliveryStream" => operations::tag(svc, &who, &body).await?,
        "UntagDeliveryStream" => operations::untag(svc, &who, &body).await?,
        "ListTagsForDeliveryStream" => operations::list_tags(svc, &who, &body)?,
        "StartDeliveryStreamEncryption" => operations::set_encryption(svc, &who, &body, true).await?,
        "StopDeliveryStreamEncryption" => operations::set_encryption(svc, &who, &body, false).await?,
        _ => return Err(AwsError::unknown_operation(format!("Operation {op} is not supported."))),
    };
    serde_json::to_vec(&out).map_err(|e| AwsError::internal(e.to_string()))
}

#[derive(Deserialize)]
struct RecordIn<'a> {
    #[serde(rename = "Data", borrow)]
    data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PutRecordBatchIn<'a> {
    #[serde(rename = "DeliveryStreamName", borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "Records", borrow)]
    records: Option<Vec<RecordIn<'a>>>,
}

#[derive(Deserialize)]
struct PutRecordIn<'a> {
    #[serde(rename = "DeliveryStreamName", borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "Record", borrow)]
    record: Option<RecordIn<'a>>,
}

/// Decodes records into a frame, enforcing the per-record and per-call limits. The
/// whole request is refused on any violation, before anything is stored.
fn decode_records(
    stream_generation: uuid::Uuid,
    records: &[Option<&[u8]>],
    path: &str,
    single: bool,
) -> Result<FrameBuilder, AwsError> {
    let encoded: usize = records.iter().map(|r| r.map_or(0, <[u8]>::len)).sum();
    let mut frame = FrameBuilder::new(stream_generation, now_ms(), encoded / 4 * 3 + 8);
    let mut v = Violations::default();
    for (i, r) in records.iter().enumerate() {
        // Only spelled out for an error message.
        let member = || if single { path.to_string() } else { format!("{path}.{}.member", i + 1) };
        let Some(data) = r else {
            v.required(&format!("{}.data", member()));
            continue;
        };
        // Upper bound of the decoded size, to refuse before decoding a huge record.
        if data.len() / 4 * 3 > MAX_RECORD_BYTES + 3 {
            v.push(
                "java.nio.HeapByteBuffer",
                &format!("{}.data", member()),
                &format!("Member must have length less than or equal to {MAX_RECORD_BYTES}"),
            );
            continue;
        }
        // base64-simd: the scalar `base64` crate's decoding was ~10% of the CPU at peak ingest.
        let b64 = base64_simd::STANDARD;
        let Ok(len) = b64.decoded_length(data) else {
            return Err(not_base64(&member()));
        };
        let ok = len <= MAX_RECORD_BYTES
            && frame.push_with(|buf| {
                let start = buf.len();
                buf.put_bytes(0, len);
                let decoded = b64.decode(data, base64_simd::Out::from_slice(&mut buf[start..])).is_ok();
                if !decoded {
                    buf.truncate(start);
                }
                decoded
            });
        if !ok {
            if len <= MAX_RECORD_BYTES {
                return Err(not_base64(&member()));
            }
            v.push(
                "java.nio.HeapByteBuffer",
                &format!("{}.data", member()),
                &format!("Member must have length less than or equal to {MAX_RECORD_BYTES}"),
            );
        }
    }
    v.finish()?;
    if frame.data_bytes() > MAX_BATCH_BYTES {
        return Err(AwsError::invalid_argument("Records size exceeds 4 MB limit"));
    }
    Ok(frame)
}

fn not_base64(member: &str) -> AwsError {
    AwsError::serialization(format!("Could not parse the request: the Data of {member} is not valid base64."))
}

fn check_name(name: Option<&str>, v: &mut Violations) -> String {
    match name {
        Some(n) => {
            stream_name(v, n, "deliveryStreamName");
            n.to_string()
        }
        None => {
            v.required("deliveryStreamName");
            String::new()
        }
    }
}

async fn put_record_batch(svc: &Arc<Firehose>, who: &Principal, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    // The plain shape first, without checking the `Data` strings twice (see `put_scan`).
    // Anything that is not a clean success there (a record that does not decode, a
    // refusal of any kind) is decided by serde_json's reading of the body, as before, so
    // that every answer, error or not, is the one it always was.
    if let Some((stream, frame)) = put_scan::scan(body).and_then(|scanned| scanned_batch(svc, who, scanned)) {
        return put_batch(svc, &stream, frame).await;
    }
    let input: PutRecordBatchIn<'_> = serde_json::from_slice(body)
        .map_err(|e| AwsError::serialization(format!("Could not parse the request: {e}")))?;
    authorize(svc, who, "PutRecordBatch", input.name.as_deref())?;
    let records =
        input.records.as_ref().map(|r| r.iter().map(|r| r.data.as_deref().map(str::as_bytes)).collect::<Vec<_>>());
    let (stream, frame) = batch_frame(svc, who, input.name.as_deref(), records.as_deref())?;
    put_batch(svc, &stream, frame).await
}

/// [`batch_frame`] of a scanned body, when the caller may put to the stream and it
/// succeeds (authorization is checked quietly: a refusal is logged once, by the parser's
/// path).
fn scanned_batch(
    svc: &Arc<Firehose>,
    who: &Principal,
    scanned: put_scan::ScannedBatch<'_>,
) -> Option<(Arc<Stream>, FrameBuilder)> {
    let (action, resource) = action_and_resource(svc, who, "PutRecordBatch", scanned.name);
    if !who.allowed(&action, &resource) {
        return None;
    }
    let records = scanned.records.map(|r| r.into_iter().map(Some).collect::<Vec<_>>());
    batch_frame(svc, who, scanned.name, records.as_deref()).ok()
}

/// Validates an authorized PutRecordBatch and decodes its records: its stream and frame.
fn batch_frame(
    svc: &Arc<Firehose>,
    who: &Principal,
    name: Option<&str>,
    records: Option<&[Option<&[u8]>]>,
) -> Result<(Arc<Stream>, FrameBuilder), AwsError> {
    let mut v = Violations::default();
    let name = check_name(name, &mut v);
    match records {
        None => v.required("records"),
        Some([]) => v.push("[]", "records", "Member must have length greater than or equal to 1"),
        Some(r) if r.len() > MAX_BATCH_RECORDS => v.push(
            &format!("[{} records]", r.len()),
            "records",
            &format!("Member must have length less than or equal to {MAX_BATCH_RECORDS}"),
        ),
        _ => {}
    }
    v.finish()?;
    let stream = svc.stream(&who.account_id, &name)?;
    let frame = decode_records(stream.generation, records.unwrap_or(&[]), "records", false)?;
    Ok((stream, frame))
}

async fn put_batch(svc: &Arc<Firehose>, stream: &Arc<Stream>, frame: FrameBuilder) -> Result<Vec<u8>, AwsError> {
    let results = svc.put(stream, frame).await?;
    Ok(batch_response(&results, stream.encrypted()))
}

/// Serialized compactly: Fluent Bit looks for the exact bytes `"FailedPutCount":0`.
fn batch_response(results: &[PutResult], encrypted: bool) -> Vec<u8> {
    let failed = results.iter().filter(|r| r.is_err()).count();
    let mut out = Vec::with_capacity(64 + results.len() * 48);
    out.extend_from_slice(
        format!("{{\"FailedPutCount\":{failed},\"Encrypted\":{encrypted},\"RequestResponses\":[").as_bytes(),
    );
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match r {
            Ok(id) => out.extend_from_slice(format!("{{\"RecordId\":\"{id}\"}}").as_bytes()),
            Err((code, message)) => out.extend_from_slice(
                serde_json::json!({ "ErrorCode": code, "ErrorMessage": message }).to_string().as_bytes(),
            ),
        }
    }
    out.extend_from_slice(b"]}");
    out
}

async fn put_record(svc: &Arc<Firehose>, who: &Principal, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let input: PutRecordIn<'_> = serde_json::from_slice(body)
        .map_err(|e| AwsError::serialization(format!("Could not parse the request: {e}")))?;
    authorize(svc, who, "PutRecord", input.name.as_deref())?;
    let mut v = Violations::default();
    let name = check_name(input.name.as_deref(), &mut v);
    if input.record.is_none() {
        v.required("record");
    }
    v.finish()?;
    let stream = svc.stream(&who.account_id, &name)?;
    let record = input.record.expect("checked");
    let frame = decode_records(stream.generation, &[record.data.as_deref().map(str::as_bytes)], "record", true)?;
    match svc.put(&stream, frame).await?.remove(0) {
        Ok(id) => Ok(serde_json::json!({ "RecordId": id, "Encrypted": stream.encrypted() }).to_string().into_bytes()),
        // A single record has no per-record answer: throttling is the whole call's error.
        Err((_, message)) => Err(AwsError::service_unavailable(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records<'a>(data: &[&'a str]) -> Vec<Option<&'a [u8]>> {
        data.iter().map(|d| Some(d.as_bytes())).collect()
    }

    #[test]
    fn records_are_decoded_or_refused_whole() {
        let g = uuid::Uuid::new_v4();
        let frame = decode_records(g, &records(&["aGVsbG8=", "", "d29y", "AAEC"]), "records", false);
        let frame = frame.unwrap().finish().seal(0);
        let got: Vec<&[u8]> = frame.entry.records.iter().map(|r| &r[..]).collect();
        assert_eq!(got, [&b"hello"[..], b"", b"wor", &[0, 1, 2]]);
        for bad in ["aGVsbG8", "aGV sbG8=", "%%%%", "aGVsbG8==", "aGVsbG8=aGVsbG8="] {
            let e = decode_records(g, &records(&["aGVsbG8=", bad]), "records", false).err().expect(bad);
            assert_eq!(e.code, "SerializationException", "{bad}");
            assert!(e.message.contains("records.2.member"), "{}", e.message);
        }
        // Over the record limit: a validation error naming the member, not a decoding one.
        let big = base64_simd::STANDARD.encode_to_string(vec![7u8; MAX_RECORD_BYTES + 1]);
        let e = decode_records(g, &records(&[&big]), "record", true).err().unwrap();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("record.data"), "{}", e.message);
        let at_limit = base64_simd::STANDARD.encode_to_string(vec![7u8; MAX_RECORD_BYTES]);
        assert!(decode_records(g, &records(&[&at_limit]), "record", true).is_ok());
    }

    #[test]
    fn batch_response_is_compact() {
        let ok: Vec<PutResult> = vec![Ok("a".into()), Ok("b".into())];
        let body = String::from_utf8(batch_response(&ok, false)).unwrap();
        assert!(body.contains("\"FailedPutCount\":0"));
        assert_eq!(
            body,
            r#"{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[{"RecordId":"a"},{"RecordId":"b"}]}"#
        );
        let mixed: Vec<PutResult> = vec![Ok("a".into()), Err(("ServiceUnavailableException", "Slow down."))];
        let body = String::from_utf8(batch_response(&mixed, true)).unwrap();
        assert!(!body.contains("\"FailedPutCount\":0"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["FailedPutCount"], 1);
        assert_eq!(v["RequestResponses"][1]["ErrorCode"], "ServiceUnavailableException");
    }

    #[test]
    fn body_limit_covers_a_maximal_batch() {
        // 500 records of 8 KiB (4,000 KiB in all) in base64 with the JSON around them.
        let record = format!("{{\"Data\":\"{}\"}}", "A".repeat(8 * 1024 / 3 * 4));
        let body = format!("{{\"DeliveryStreamName\":\"s\",\"Records\":[{}]}}", vec![record; 500].join(","));
        assert!(body.len() < MAX_BODY_BYTES, "{} >= {}", body.len(), MAX_BODY_BYTES);
    }
}
