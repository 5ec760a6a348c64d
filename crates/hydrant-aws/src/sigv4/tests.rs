//! Verifier tests against requests signed by the real `aws-sigv4` signer.
//! Known-answer vectors from AWS's published suite live in `tests/sigv4_suite.rs`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4::SigningParams;
use chrono::{DateTime, TimeZone, Utc};
use http::request::Parts;

use super::*;

const AKID: &str = "AKIAHYDRANTTEST00001";
const SECRET: &str = "hydrant/secret+key/0123456789abcdefghijklmn";
const BODY: &[u8] = br#"{"DeliveryStreamName":"my-stream","Records":[{"Data":"aGVsbG8K"}]}"#;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn secrets(id: &str) -> Option<String> {
    (id == AKID).then(|| SECRET.to_owned())
}

/// How a test request gets signed.
struct Signing {
    akid: &'static str,
    secret: &'static str,
    session_token: Option<&'static str>,
    region: &'static str,
    service: &'static str,
    at: DateTime<Utc>,
    settings: SigningSettings,
    unsigned_payload: bool,
}

impl Default for Signing {
    fn default() -> Self {
        Self {
            akid: AKID,
            secret: SECRET,
            session_token: None,
            region: "us-east-1",
            service: "firehose",
            at: t0(),
            settings: SigningSettings::default(),
            unsigned_payload: false,
        }
    }
}

/// A PutRecordBatch request carrying the headers boto3 sends.
fn boto3_like(uri: &str, body: &[u8]) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "firehose.us-east-1.amazonaws.com")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Firehose_20150804.PutRecordBatch")
        .header("content-length", body.len().to_string())
        .header("user-agent", "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux")
        .body(body.to_vec())
        .unwrap()
}

fn sign_with(mut req: http::Request<Vec<u8>>, signing: Signing) -> (Parts, Vec<u8>) {
    let identity =
        Credentials::new(signing.akid, signing.secret, signing.session_token.map(str::to_owned), None, "test").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(signing.region)
        .name(signing.service)
        .time(SystemTime::from(signing.at))
        .settings(signing.settings)
        .build()
        .unwrap()
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    let body = if signing.unsigned_payload { SignableBody::UnsignedPayload } else { SignableBody::Bytes(req.body()) };
    let signable =
        SignableRequest::new(req.method().as_str(), uri, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), body)
            .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    let (parts, body) = req.into_parts();
    (parts, body)
}

fn signed(signing: Signing) -> (Parts, Vec<u8>) {
    sign_with(boto3_like("https://firehose.us-east-1.amazonaws.com/", BODY), signing)
}

fn verify_at(parts: &Parts, body: &[u8], now: DateTime<Utc>) -> Result<Verified, AwsError> {
    Verifier::new("firehose").verify(parts, body, now, &secrets)
}

fn assert_code(result: Result<Verified, AwsError>, code: &str, status: u16) -> AwsError {
    let err = result.expect_err("verification should fail");
    assert_eq!(err.code, code, "{err}");
    assert_eq!(err.status.as_u16(), status, "{err}");
    assert!(!err.message.contains(SECRET), "secret leaked: {err}");
    err
}

#[test]
fn boto3_style_request_verifies() {
    let (parts, body) = signed(Signing::default());
    let auth = parts.headers["authorization"].to_str().unwrap();
    assert!(auth.contains("SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target"));
    let verified = verify_at(&parts, &body, t0()).unwrap();
    assert_eq!(verified.access_key_id, AKID);
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.service, "firehose");
    assert_eq!(verified.signed_at, t0());
}

#[test]
fn other_region_verifies_and_is_reported() {
    let (parts, body) = signed(Signing { region: "eu-central-1", ..Signing::default() });
    assert_eq!(verify_at(&parts, &body, t0()).unwrap().region, "eu-central-1");
}

#[test]
fn tampered_body_fails() {
    let (parts, _) = signed(Signing::default());
    let tampered = BODY.to_vec().into_iter().map(|b| if b == b'8' { b'9' } else { b }).collect::<Vec<_>>();
    assert_ne!(tampered, BODY);
    assert_code(verify_at(&parts, &tampered, t0()), "SignatureDoesNotMatch", 403);
    assert_code(verify_at(&parts, b"", t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn tampered_signed_header_fails() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.insert("x-amz-target", "Firehose_20150804.DeleteDeliveryStream".parse().unwrap());
    let err = assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
    assert_eq!(err.message, SIGNATURE_MISMATCH);
}

#[test]
fn extra_value_for_signed_header_fails() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.append("x-amz-target", "Firehose_20150804.PutRecord".parse().unwrap());
    assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn removed_signed_header_fails() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.remove("x-amz-target");
    assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn unsigned_headers_may_change() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.insert("user-agent", "something-else/2.0".parse().unwrap());
    parts.headers.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
    verify_at(&parts, &body, t0()).unwrap();
}

#[test]
fn tampered_method_and_path_fail() {
    let (mut parts, body) = signed(Signing::default());
    parts.method = http::Method::PUT;
    assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);

    let (mut parts, body) = signed(Signing::default());
    parts.uri = "https://firehose.us-east-1.amazonaws.com/other".parse().unwrap();
    assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn wrong_secret_fails() {
    let (parts, body) = signed(Signing { secret: "not-the-secret", ..Signing::default() });
    assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn unknown_access_key_fails() {
    let (parts, body) = signed(Signing { akid: "AKIAUNKNOWN000000000", ..Signing::default() });
    let err = assert_code(verify_at(&parts, &body, t0()), "InvalidClientTokenId", 403);
    assert_eq!(err.message, "The security token included in the request is invalid.");
}

#[test]
fn wrong_service_scope_fails() {
    let (parts, body) = signed(Signing { service: "kinesis", ..Signing::default() });
    let err = assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
    assert_eq!(err.message, "Credential should be scoped to correct service: 'firehose'. ");
}

#[test]
fn skew_window_is_fifteen_minutes_each_way() {
    let (parts, body) = signed(Signing::default());
    let minutes = chrono::Duration::minutes;
    verify_at(&parts, &body, t0() + minutes(14)).unwrap();
    verify_at(&parts, &body, t0() - minutes(14)).unwrap();
    verify_at(&parts, &body, t0() + minutes(15)).unwrap();
    verify_at(&parts, &body, t0() - minutes(15)).unwrap();

    let err = assert_code(verify_at(&parts, &body, t0() + minutes(16)), "RequestExpired", 400);
    assert_eq!(
        err.message,
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120100Z (20260101T121600Z - 15 min.)"
    );

    let err = assert_code(verify_at(&parts, &body, t0() - minutes(16)), "RequestExpired", 400);
    assert_eq!(
        err.message,
        "Signature not yet current: 20260101T120000Z is still later than 20260101T115900Z (20260101T114400Z + 15 min.)"
    );
}

#[test]
fn custom_skew_is_honored() {
    let (parts, body) = signed(Signing::default());
    let verifier = Verifier { max_skew: chrono::Duration::minutes(5), ..Verifier::new("firehose") };
    let now = t0() + chrono::Duration::minutes(6);
    let err = verifier.verify(&parts, &body, now, &secrets).unwrap_err();
    assert_eq!(err.code, "RequestExpired");
    assert!(err.message.ends_with("- 5 min.)"), "{}", err.message);
}

#[test]
fn scope_date_must_match_x_amz_date() {
    let (mut parts, body) = signed(Signing::default());
    let auth = parts.headers["authorization"].to_str().unwrap().replace("/20260101/", "/20251231/");
    parts.headers.insert("authorization", auth.parse().unwrap());
    let err = assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
    assert_eq!(
        err.message,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T120000Z'."
    );
}

#[test]
fn bad_terminator_and_region_fail() {
    for (from, to, want) in [
        ("/aws4_request", "/aws5_request", "valid terminator"),
        ("/us-east-1/", "//", "valid region"),
        ("/us-east-1/", "/US EAST/", "valid region"),
    ] {
        let (mut parts, body) = signed(Signing::default());
        let auth = parts.headers["authorization"].to_str().unwrap().replace(from, to);
        parts.headers.insert("authorization", auth.parse().unwrap());
        let err = assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
        assert!(err.message.contains(want), "{}", err.message);
    }
}

#[test]
fn missing_authorization_is_missing_token() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.remove("authorization");
    let err = assert_code(verify_at(&parts, &body, t0()), "MissingAuthenticationToken", 403);
    assert_eq!(err.message, "Missing Authentication Token");
}

#[test]
fn missing_date_is_incomplete() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.remove("x-amz-date");
    let err = assert_code(verify_at(&parts, &body, t0()), "IncompleteSignature", 400);
    assert!(err.message.contains("'X-Amz-Date' or a 'Date'"), "{}", err.message);
}

#[test]
fn malformed_date_is_incomplete() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.insert("x-amz-date", "2026-01-01T12:00:00Z".parse().unwrap());
    let err = assert_code(verify_at(&parts, &body, t0()), "IncompleteSignature", 400);
    assert!(err.message.contains("Got '2026-01-01T12:00:00Z'"), "{}", err.message);
}

#[test]
fn host_must_be_signed() {
    let (mut parts, body) = signed(Signing::default());
    let auth = parts.headers["authorization"].to_str().unwrap().replace("content-type;host;", "content-type;");
    parts.headers.insert("authorization", auth.parse().unwrap());
    let err = assert_code(verify_at(&parts, &body, t0()), "IncompleteSignature", 400);
    assert!(err.message.contains("'Host'"), "{}", err.message);
}

#[test]
fn malformed_authorization_is_incomplete() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.insert(
        "authorization",
        format!("AWS4-HMAC-SHA256 Credential={AKID}/20260101/us-east-1/firehose/aws4_request").parse().unwrap(),
    );
    let err = assert_code(verify_at(&parts, &body, t0()), "IncompleteSignature", 400);
    assert!(err.message.starts_with(
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential="
    ), "{}", err.message);
}

#[test]
fn duplicate_authorization_headers_are_rejected() {
    let (mut parts, body) = signed(Signing::default());
    let auth = parts.headers["authorization"].clone();
    parts.headers.append("authorization", auth);
    assert_code(verify_at(&parts, &body, t0()), "IncompleteSignature", 400);
}

#[test]
fn signature_compare_is_exact() {
    let (mut parts, body) = signed(Signing::default());
    let auth = parts.headers["authorization"].to_str().unwrap().to_owned();
    let (prefix, sig) = auth.rsplit_once("Signature=").unwrap();
    for forged in [sig.to_uppercase(), sig[..63].to_owned(), format!("{sig}0"), String::from("0")] {
        parts.headers.insert("authorization", format!("{prefix}Signature={forged}").parse().unwrap());
        assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
    }
}

#[test]
fn path_with_query_string_verifies() {
    let req = boto3_like("https://firehose.us-east-1.amazonaws.com/some/path?b=2&a=hello%20world&a=a%2Fb&empty=", BODY);
    let (parts, body) = sign_with(req, Signing::default());
    verify_at(&parts, &body, t0()).unwrap();

    let mut tampered = parts.clone();
    tampered.uri =
        "https://firehose.us-east-1.amazonaws.com/some/path?b=3&a=hello%20world&a=a%2Fb&empty=".parse().unwrap();
    assert_code(verify_at(&tampered, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn reordered_query_still_verifies() {
    let req = boto3_like("https://firehose.us-east-1.amazonaws.com/?b=2&a=1", BODY);
    let (mut parts, body) = sign_with(req, Signing::default());
    parts.uri = "https://firehose.us-east-1.amazonaws.com/?a=1&b=2".parse().unwrap();
    verify_at(&parts, &body, t0()).unwrap();
}

#[test]
fn encoded_path_is_double_encoded() {
    let req = boto3_like("https://firehose.us-east-1.amazonaws.com/streams/arn%3Aaws%3Afirehose/x%20y", BODY);
    let (parts, body) = sign_with(req, Signing::default());
    verify_at(&parts, &body, t0()).unwrap();
}

#[test]
fn relative_path_segments_are_normalized() {
    let req = boto3_like("https://firehose.us-east-1.amazonaws.com/a/./b/../c//", BODY);
    let (parts, body) = sign_with(req, Signing::default());
    verify_at(&parts, &body, t0()).unwrap();
}

#[test]
fn session_token_is_just_a_signed_header() {
    let (parts, body) = signed(Signing { session_token: Some("FQoGZXIvYXdzEXAMPLETOKEN//+="), ..Signing::default() });
    let auth = parts.headers["authorization"].to_str().unwrap();
    assert!(auth.contains("x-amz-security-token"), "{auth}");
    verify_at(&parts, &body, t0()).unwrap();

    let mut tampered = parts.clone();
    tampered.headers.insert("x-amz-security-token", "other".parse().unwrap());
    assert_code(verify_at(&tampered, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn content_sha256_header_is_checked() {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let (parts, body) = signed(Signing { settings, ..Signing::default() });
    assert!(parts.headers.contains_key("x-amz-content-sha256"));
    verify_at(&parts, &body, t0()).unwrap();

    let err = assert_code(verify_at(&parts, b"truncated", t0()), "XAmzContentSHA256Mismatch", 400);
    assert!(err.message.contains("x-amz-content-sha256"));
}

#[test]
fn unsigned_payload_leaves_body_out() {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let (parts, body) = signed(Signing { settings, unsigned_payload: true, ..Signing::default() });
    assert_eq!(parts.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    // Refused by default: the body would not be covered by the signature.
    assert_code(verify_at(&parts, &body, t0()), "SignatureDoesNotMatch", 403);
    let verifier = Verifier { allow_unsigned_payload: true, ..Verifier::new("firehose") };
    verifier.verify(&parts, &body, t0(), &secrets).unwrap();
    verifier.verify(&parts, b"anything", t0(), &secrets).unwrap();
}

#[test]
fn http2_request_without_host_header_uses_authority() {
    let (mut parts, body) = signed(Signing::default());
    parts.headers.remove("host");
    verify_at(&parts, &body, t0()).unwrap();
}

#[test]
fn date_header_can_replace_x_amz_date() {
    // Sign with a `Date` header present, then drop the x-amz-date the signer
    // added and re-sign by hand the way a Date-only client would.
    let (mut parts, body) = signed(Signing::default());
    parts.headers.remove("x-amz-date");
    parts.headers.insert("date", "Thu, 01 Jan 2026 12:00:00 GMT".parse().unwrap());
    let signed_headers = ["content-length", "content-type", "date", "host", "x-amz-target"];
    let creq = canonical::canonical_request(&parts, "", &signed_headers, &canonical::sha256_hex(&body)).unwrap();
    let scope = canonical::credential_scope("20260101", "us-east-1", "firehose");
    let sts = canonical::string_to_sign("20260101T120000Z", &scope, &creq);
    let sig = canonical::signature(SECRET, "20260101", "us-east-1", "firehose", &sts);
    parts.headers.insert(
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={}, Signature={sig}",
            signed_headers.join(";")
        )
        .parse()
        .unwrap(),
    );
    let verified = verify_at(&parts, &body, t0()).unwrap();
    assert_eq!(verified.signed_at, t0());
}

#[test]
fn closure_and_custom_lookups_work() {
    struct Fixed;
    impl SecretLookup for Fixed {
        fn secret_for(&self, id: &str) -> Option<String> {
            (id == AKID).then(|| SECRET.to_owned())
        }
    }
    let (parts, body) = signed(Signing::default());
    let verifier = Verifier::new("firehose");
    verifier.verify(&parts, &body, t0(), &Fixed).unwrap();
    let lookup = |id: &str| (id == AKID).then(|| SECRET.to_owned());
    verifier.verify(&parts, &body, t0(), &lookup).unwrap();
}

fn presigned(uri: &str, expires: std::time::Duration) -> (Parts, Vec<u8>) {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let req = http::Request::builder()
        .method("GET")
        .uri(uri)
        .header("host", "firehose.us-east-1.amazonaws.com")
        .body(Vec::new())
        .unwrap();
    sign_with(req, Signing { settings, ..Signing::default() })
}

#[test]
fn presigned_url_verifies_until_it_expires() {
    let (parts, body) =
        presigned("https://firehose.us-east-1.amazonaws.com/?Action=Describe", std::time::Duration::from_secs(300));
    assert!(parts.uri.query().unwrap().contains("X-Amz-Signature="));
    verify_at(&parts, &body, t0()).unwrap();
    verify_at(&parts, &body, t0() + chrono::Duration::seconds(300)).unwrap();
    let err = assert_code(verify_at(&parts, &body, t0() + chrono::Duration::seconds(301)), "RequestExpired", 400);
    assert!(err.message.ends_with("- 300 sec.)"), "{}", err.message);
    assert_code(verify_at(&parts, &body, t0() - chrono::Duration::minutes(16)), "RequestExpired", 400);
}

#[test]
fn presigned_url_tampering_fails() {
    let (parts, body) =
        presigned("https://firehose.us-east-1.amazonaws.com/?Action=Describe", std::time::Duration::from_secs(300));
    let mut tampered = parts.clone();
    let query = parts.uri.query().unwrap().replace("Action=Describe", "Action=Delete");
    tampered.uri = format!("https://firehose.us-east-1.amazonaws.com/?{query}").parse().unwrap();
    assert_code(verify_at(&tampered, &body, t0()), "SignatureDoesNotMatch", 403);

    let mut longer = parts.clone();
    let query = parts.uri.query().unwrap().replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
    longer.uri = format!("https://firehose.us-east-1.amazonaws.com/?{query}").parse().unwrap();
    assert_code(verify_at(&longer, &body, t0()), "SignatureDoesNotMatch", 403);
}

#[test]
fn header_and_query_auth_together_are_rejected() {
    let (mut parts, body) = presigned("https://firehose.us-east-1.amazonaws.com/", std::time::Duration::from_secs(300));
    parts.headers.insert("authorization", "AWS4-HMAC-SHA256 Credential=x".parse().unwrap());
    let err = assert_code(verify_at(&parts, &body, t0()), "IncompleteSignature", 400);
    assert!(err.message.contains("Only one auth mechanism"));
}
