//! Server-side verification of AWS Signature Version 4.
//!
//! The canonical request is built by hand here rather than by re-signing with
//! `aws-sigv4`: that crate is a *signer*, it decides for itself which headers to
//! sign, whereas a verifier must rebuild the canonical request from exactly the
//! `SignedHeaders` list the client chose (boto3, the Java SDK, the Kinesis agent
//! and Fluent Bit all choose differently). HMAC-SHA256 comes from `hmac` + `sha2`,
//! and the final comparison is constant-time.
//!
//! Both places a signature can travel are supported: the `Authorization`
//! header and presigned-URL query parameters (`X-Amz-Algorithm=...`).
//!
//! Canonicalization follows what `aws-sigv4` and botocore do for every service
//! except S3:
//! - the path is normalized (dot segments and empty segments removed, empty
//!   path becomes `/`) and then percent-encoded *again*, so `%3A` is signed as
//!   `%253A`;
//! - query parameters are decoded with form rules (`+` is a space), re-encoded
//!   per RFC 3986 and sorted by key, then value;
//! - signed header values are trimmed, runs of spaces collapsed, and repeated
//!   headers joined with `,`.
//!
//! Payload: the canonical request always carries `hex(sha256(body))`, unless the
//! client sent `x-amz-content-sha256: UNSIGNED-PAYLOAD`, in which case that
//! literal is used and the body is not covered by the signature (the client's
//! explicit choice, as in S3). Any other `x-amz-content-sha256` value must equal
//! the body's hash, otherwise the request fails with 400
//! `XAmzContentSHA256Mismatch`; this is reported separately from
//! `SignatureDoesNotMatch` because it means the body was altered or truncated
//! in transit rather than a wrong key.
//!
//! Only S3 uses single-encoded, unnormalized paths, and Hydrant does not serve
//! the S3 API, so that mode is not offered.
//!
//! Secrets never appear in errors; echoed `Authorization` headers have their
//! signature value redacted.

mod authorization;
mod canonical;

use chrono::{DateTime, Duration, Utc};
use http::request::Parts;
use subtle::ConstantTimeEq;

use crate::time::{format_amz_date, format_amz_day, parse_amz_date, parse_http_date};
use crate::AwsError;

use authorization::{SignatureParams, Source};
use canonical::{QueryParam, UNSIGNED_PAYLOAD};

/// What the verifier needs to know about a principal's secret.
pub trait SecretLookup {
    /// The secret access key for `access_key_id`, or `None` if the key is unknown.
    fn secret_for(&self, access_key_id: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> SecretLookup for F {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self(access_key_id)
    }
}

/// A request whose signature checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// The region from the credential scope. Not checked against anything:
    /// callers that care which region a client thinks it is talking to check it.
    pub region: String,
    /// The service from the credential scope (always the verifier's service).
    pub service: String,
    /// When the client signed the request.
    pub signed_at: DateTime<Utc>,
}

/// Verifies SigV4 signatures for one service namespace.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The service name the credential scope must carry, e.g. `firehose`.
    pub service: String,
    /// How far the signing time may be from the server's clock, either way.
    /// AWS uses 15 minutes.
    pub max_skew: Duration,
    /// Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD`, which leaves the body out of
    /// the signature. Only S3 needs it; off by default, so a captured request cannot be
    /// replayed with another body.
    pub allow_unsigned_payload: bool,
}

const MISSING_TOKEN: &str = "Missing Authentication Token";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

impl Verifier {
    /// A verifier for `service` with AWS's 15-minute clock-skew allowance.
    pub fn new(service: impl Into<String>) -> Self {
        Self { service: service.into(), max_skew: Duration::minutes(15), allow_unsigned_payload: false }
    }

    /// Verify the request `parts` + full `body` at time `now`.
    ///
    /// Checks, in order: that a signature is present and well-formed, the
    /// credential scope (terminator, region, service, date), the signing time
    /// against `now`, the access key, the payload hash, and finally the
    /// signature itself.
    pub fn verify(
        &self,
        parts: &Parts,
        body: &[u8],
        now: DateTime<Utc>,
        secrets: &dyn SecretLookup,
    ) -> Result<Verified, AwsError> {
        let query = canonical::parse_query(parts.uri.query().unwrap_or(""));
        let params = signature_params(parts, &query)?;

        let (amz_date, signed_at) = signing_time(parts, &params)?;
        if !params.signed_headers.iter().any(|h| h == "host") {
            return Err(AwsError::incomplete_signature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        self.check_scope(&params, &amz_date, signed_at)?;
        self.check_time(&params, signed_at, now)?;

        let credential = &params.credential;
        let secret = Some(credential.access_key_id.as_str())
            .filter(|id| !id.is_empty())
            .and_then(|id| secrets.secret_for(id))
            .ok_or_else(|| AwsError::invalid_client_token_id(INVALID_TOKEN))?;

        let payload_hash = payload_hash(parts, body, self.allow_unsigned_payload)?;
        let canonical_query = canonical::canonical_query(&query, |p| {
            // A presigned URL cannot sign its own signature.
            matches!(params.source, Source::Query { .. }) && p.key == b"X-Amz-Signature"
        });
        let signed_headers: Vec<&str> = params.signed_headers.iter().map(String::as_str).collect();
        let canonical_request = canonical::canonical_request(parts, &canonical_query, &signed_headers, &payload_hash)
            .ok_or_else(|| AwsError::signature_does_not_match(SIGNATURE_MISMATCH))?;
        let scope = canonical::credential_scope(&credential.day, &credential.region, &credential.service);
        let string_to_sign = canonical::string_to_sign(&amz_date, &scope, &canonical_request);
        let expected =
            canonical::signature(&secret, &credential.day, &credential.region, &credential.service, &string_to_sign);
        if !bool::from(expected.as_bytes().ct_eq(params.signature.as_bytes())) {
            return Err(AwsError::signature_does_not_match(SIGNATURE_MISMATCH));
        }

        Ok(Verified {
            access_key_id: credential.access_key_id.clone(),
            region: credential.region.clone(),
            service: credential.service.clone(),
            signed_at,
        })
    }

    /// The credential scope must name this service, a plausible region, the
    /// `aws4_request` terminator, and the same day as the signing time. These
    /// are 403 SignatureDoesNotMatch at AWS, with these messages.
    fn check_scope(&self, params: &SignatureParams, amz_date: &str, signed_at: DateTime<Utc>) -> Result<(), AwsError> {
        let credential = &params.credential;
        if credential.terminator != "aws4_request" {
            return Err(AwsError::signature_does_not_match(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
                credential.terminator
            )));
        }
        let region_ok = !credential.region.is_empty()
            && credential.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(AwsError::signature_does_not_match(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                credential.region
            )));
        }
        if credential.service != self.service {
            return Err(AwsError::signature_does_not_match(format!(
                "Credential should be scoped to correct service: '{}'. ",
                self.service
            )));
        }
        let day = format_amz_day(signed_at);
        if credential.day != day {
            return Err(AwsError::signature_does_not_match(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{amz_date}'.",
                credential.day
            )));
        }
        Ok(())
    }

    /// The signing time may be at most `max_skew` away from `now`; a presigned
    /// URL additionally stops working `X-Amz-Expires` seconds after signing.
    fn check_time(
        &self,
        params: &SignatureParams,
        signed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let skew_minutes = self.max_skew.num_minutes();
        let latest = now + self.max_skew;
        if signed_at > latest {
            return Err(AwsError::request_expired(format!(
                "Signature not yet current: {} is still later than {} ({} + {skew_minutes} min.)",
                format_amz_date(signed_at),
                format_amz_date(latest),
                format_amz_date(now),
            )));
        }
        let (earliest, window) = match params.source {
            Source::Header => (now - self.max_skew, format!("{skew_minutes} min.")),
            Source::Query { expires_secs, .. } => {
                (now - Duration::seconds(i64::from(expires_secs)), format!("{expires_secs} sec."))
            }
        };
        if signed_at < earliest {
            return Err(AwsError::request_expired(format!(
                "Signature expired: {} is now earlier than {} ({} - {window})",
                format_amz_date(signed_at),
                format_amz_date(earliest),
                format_amz_date(now),
            )));
        }
        Ok(())
    }
}

/// Finds the signature parameters, insisting on exactly one auth mechanism.
fn signature_params(parts: &Parts, query: &[QueryParam]) -> Result<SignatureParams, AwsError> {
    let mut headers = parts.headers.get_all(http::header::AUTHORIZATION).iter();
    let header = headers.next();
    let presigned = query.iter().any(|p| p.key == b"X-Amz-Algorithm");
    match (header, presigned) {
        (None, false) => Err(AwsError::missing_authentication_token(MISSING_TOKEN)),
        (Some(_), true) => Err(AwsError::incomplete_signature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
        )),
        (None, true) => authorization::parse_query(query),
        (Some(value), false) => {
            if headers.next().is_some() {
                return Err(AwsError::incomplete_signature(
                    "Only one Authorization header may be sent.",
                ));
            }
            let value = value.to_str().map_err(|_| {
                AwsError::incomplete_signature("Authorization header is not valid ASCII.")
            })?;
            authorization::parse_header(value)
        }
    }
}

/// The timestamp as it goes into the string to sign, and its parsed value.
///
/// Header-signed requests take it from `x-amz-date`, falling back to `Date`
/// (whose RFC 1123 form is converted to the basic format for the string to
/// sign); presigned URLs carry it as `X-Amz-Date`.
fn signing_time(parts: &Parts, params: &SignatureParams) -> Result<(String, DateTime<Utc>), AwsError> {
    let bad_format = |got: &str| {
        AwsError::incomplete_signature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            got.chars().take(64).collect::<String>()
        ))
    };
    match &params.source {
        Source::Query { amz_date, .. } => {
            let parsed = parse_amz_date(amz_date).ok_or_else(|| bad_format(amz_date))?;
            Ok((amz_date.clone(), parsed))
        }
        Source::Header => {
            if let Some(value) = parts.headers.get("x-amz-date") {
                let raw = value.to_str().map_err(|_| bad_format("<non-ASCII>"))?;
                let parsed = parse_amz_date(raw).ok_or_else(|| bad_format(raw))?;
                Ok((raw.to_owned(), parsed))
            } else if let Some(value) = parts.headers.get(http::header::DATE) {
                let raw = value.to_str().map_err(|_| bad_format("<non-ASCII>"))?;
                let parsed = parse_http_date(raw).ok_or_else(|| bad_format(raw))?;
                Ok((format_amz_date(parsed), parsed))
            } else {
                Err(AwsError::incomplete_signature(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                ))
            }
        }
    }
}

/// The payload hash for the canonical request; see the module docs.
fn payload_hash(parts: &Parts, body: &[u8], allow_unsigned: bool) -> Result<String, AwsError> {
    let claimed = parts.headers.get("x-amz-content-sha256");
    if claimed.is_some_and(|c| c.as_bytes() == UNSIGNED_PAYLOAD.as_bytes()) {
        return if allow_unsigned {
            Ok(UNSIGNED_PAYLOAD.to_owned())
        } else {
            Err(AwsError::signature_does_not_match(
                "This service requires a signed payload; UNSIGNED-PAYLOAD is not accepted.",
            ))
        };
    }
    let computed = canonical::sha256_hex(body);
    match claimed {
        None => Ok(computed),
        Some(claimed) if claimed.as_bytes() == computed.as_bytes() => Ok(computed),
        Some(_) => Err(AwsError::x_amz_content_sha256_mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )),
    }
}

#[cfg(test)]
mod tests;
