//! Errors in the shape the AWS JSON 1.1 protocol puts on the wire.
//!
//! SDKs pick the exception type from the `__type` member of the body (falling
//! back to the `x-amzn-ErrorType` header) and decide whether to retry from the
//! HTTP status, so both have to match what AWS itself sends for the same
//! condition; the constructors below pin each code to AWS's status.

use http::StatusCode;
use serde::Serialize;

/// An error in the AWS JSON 1.1 protocol's shape: HTTP status + `{"__type": code, "message": msg}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    /// The HTTP status the error is sent with.
    pub status: StatusCode,
    /// The modeled error code, e.g. `ResourceNotFoundException`.
    pub code: String,
    /// The human-readable message.
    pub message: String,
}

/// The body's field order is fixed by declaration order, independent of
/// whether some other crate in the build turns on serde_json's `preserve_order`.
#[derive(Serialize)]
struct WireError<'a> {
    #[serde(rename = "__type")]
    code: &'a str,
    message: &'a str,
}

impl AwsError {
    /// An error with an arbitrary status and code.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into() }
    }

    /// 400 with the given modeled client-error code.
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `InvalidArgumentException`: a parameter has a value the service rejects.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::client("InvalidArgumentException", message)
    }

    /// 400 `ResourceNotFoundException`: the named resource does not exist.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::client("ResourceNotFoundException", message)
    }

    /// 400 `ResourceInUseException`: the resource is not in a state that allows the operation.
    pub fn resource_in_use(message: impl Into<String>) -> Self {
        Self::client("ResourceInUseException", message)
    }

    /// 400 `LimitExceededException`: a quota would be exceeded.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::client("LimitExceededException", message)
    }

    /// 400 `ConcurrentModificationException`: an optimistic-concurrency check failed.
    pub fn concurrent_modification(message: impl Into<String>) -> Self {
        Self::client("ConcurrentModificationException", message)
    }

    /// 400 `ValidationException`: the input does not satisfy the API's constraints.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// 400 `SerializationException`: the request body is not well-formed JSON for the operation.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client("SerializationException", message)
    }

    /// 400 `UnknownOperationException`: the `X-Amz-Target` names no known operation.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::client("UnknownOperationException", message)
    }

    /// 503 `ServiceUnavailableException`: transient; SDKs retry it.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableException", message)
    }

    /// 500 `InternalFailure`: an unexpected server-side fault; SDKs retry it.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", message)
    }

    /// 400 `AccessDeniedException`: the caller is authenticated but not authorized.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::client("AccessDeniedException", message)
    }

    /// 400 `IncompleteSignature`: the SigV4 authorization data is malformed or incomplete.
    pub fn incomplete_signature(message: impl Into<String>) -> Self {
        Self::client("IncompleteSignature", message)
    }

    /// 403 `InvalidClientTokenId`: the access key id is unknown.
    pub fn invalid_client_token_id(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "InvalidClientTokenId", message)
    }

    /// 403 `SignatureDoesNotMatch`: the signature (or its credential scope) is wrong.
    pub fn signature_does_not_match(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
    }

    /// 400 `RequestExpired`: the signing time is too far from the server's clock.
    pub fn request_expired(message: impl Into<String>) -> Self {
        Self::client("RequestExpired", message)
    }

    /// 403 `MissingAuthenticationToken`: the request carries no signature at all.
    pub fn missing_authentication_token(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "MissingAuthenticationToken", message)
    }

    /// 400 `XAmzContentSHA256Mismatch`: the `x-amz-content-sha256` header is not the body's hash.
    pub fn x_amz_content_sha256_mismatch(message: impl Into<String>) -> Self {
        Self::client("XAmzContentSHA256Mismatch", message)
    }

    /// Compact JSON body `{"__type":"...","message":"..."}` (serde_json, no spaces).
    pub fn to_json(&self) -> Vec<u8> {
        let wire = WireError { code: &self.code, message: &self.message };
        // Serializing two string fields into memory has no failure mode.
        serde_json::to_vec(&wire).expect("serializing two strings cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_is_compact_with_type_first() {
        let err = AwsError::resource_not_found("Firehose s not found under account 123.");
        assert_eq!(
            String::from_utf8(err.to_json()).unwrap(),
            r#"{"__type":"ResourceNotFoundException","message":"Firehose s not found under account 123."}"#
        );
    }

    #[test]
    fn to_json_escapes_message() {
        let err = AwsError::validation("bad \"quote\"\nline");
        let parsed: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(parsed["__type"], "ValidationException");
        assert_eq!(parsed["message"], "bad \"quote\"\nline");
    }

    #[test]
    fn constructors_pin_status_and_code() {
        let cases = [
            (AwsError::invalid_argument("m"), 400, "InvalidArgumentException"),
            (AwsError::resource_not_found("m"), 400, "ResourceNotFoundException"),
            (AwsError::resource_in_use("m"), 400, "ResourceInUseException"),
            (AwsError::limit_exceeded("m"), 400, "LimitExceededException"),
            (AwsError::concurrent_modification("m"), 400, "ConcurrentModificationException"),
            (AwsError::validation("m"), 400, "ValidationException"),
            (AwsError::serialization("m"), 400, "SerializationException"),
            (AwsError::unknown_operation("m"), 400, "UnknownOperationException"),
            (AwsError::service_unavailable("m"), 503, "ServiceUnavailableException"),
            (AwsError::internal("m"), 500, "InternalFailure"),
            (AwsError::access_denied("m"), 400, "AccessDeniedException"),
            (AwsError::incomplete_signature("m"), 400, "IncompleteSignature"),
            (AwsError::invalid_client_token_id("m"), 403, "InvalidClientTokenId"),
            (AwsError::signature_does_not_match("m"), 403, "SignatureDoesNotMatch"),
            (AwsError::request_expired("m"), 400, "RequestExpired"),
            (AwsError::missing_authentication_token("m"), 403, "MissingAuthenticationToken"),
            (AwsError::x_amz_content_sha256_mismatch("m"), 400, "XAmzContentSHA256Mismatch"),
            (AwsError::client("Custom", "m"), 400, "Custom"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status.as_u16(), status, "{code}");
            assert_eq!(err.code, code);
            assert_eq!(err.message, "m");
        }
    }

    #[test]
    fn display_shows_code_and_message() {
        let err = AwsError::new(StatusCode::CONFLICT, "Thing", "went wrong");
        assert_eq!(err.to_string(), "Thing: went wrong");
    }
}
