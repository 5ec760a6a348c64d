//! Extraction of the signature parameters from the two places SigV4 allows:
//! the `Authorization` header and the presigned-URL query parameters.
//!
//! Error codes and messages follow what AWS returns for the same mistakes, so
//! that SDK users get the diagnostics they would search the web for.

use crate::AwsError;

use super::canonical::{QueryParam, ALGORITHM};

/// The signature parameters, wherever they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureParams {
    pub(crate) credential: Credential,
    /// Lowercase, sorted, as the client listed them.
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
    pub(crate) source: Source,
}

/// Where the signature parameters were found, and what only that place carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `Authorization` header; the timestamp comes from `x-amz-date` or `Date`.
    Header,
    /// Presigned query parameters, which carry their own timestamp and lifetime.
    Query {
        /// The raw `X-Amz-Date` parameter.
        amz_date: String,
        /// The `X-Amz-Expires` parameter, in seconds.
        expires_secs: u32,
    },
}

/// `Credential=AKID/20150830/us-east-1/service/aws4_request`, split apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub(crate) access_key_id: String,
    pub(crate) day: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) terminator: String,
}

/// The longest presigned-URL lifetime AWS accepts (seven days).
const MAX_EXPIRES_SECS: u32 = 604_800;

/// Longest excerpt of a client's Authorization header echoed back in a
/// message; the header is attacker-controlled and messages end up in logs.
const MAX_ECHO_CHARS: usize = 512;

/// Parses an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` value.
pub(crate) fn parse_header(value: &str) -> Result<SignatureParams, AwsError> {
    // Only built on the error paths: this runs for every request.
    let echo = || echo_header(value);
    let (algorithm, rest) = value.trim().split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((value.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(AwsError::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{}'. Expected '{ALGORITHM}'. Authorization={}",
            truncate(algorithm, 64),
            echo()
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let Some((key, val)) = component.split_once('=') else {
            return Err(AwsError::incomplete_signature(format!(
                "Invalid key=value pair (missing equal-sign) in Authorization header. Authorization={}",
                echo()
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // AWS ignores parameters it does not know; so do we.
            _ => continue,
        };
        if slot.replace(val.trim()).is_some() {
            return Err(AwsError::incomplete_signature(format!(
                "Authorization header has duplicate '{}' parameter. Authorization={}",
                key.trim(),
                echo()
            )));
        }
    }

    let credential = credential.filter(|v| !v.is_empty());
    let signed_headers = signed_headers.filter(|v| !v.is_empty());
    let signature = signature.filter(|v| !v.is_empty());
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        // AWS lists every missing parameter, in this order, before the echo.
        let missing: String = [
            ("Credential", credential.is_none()),
            ("Signature", signature.is_none()),
            ("SignedHeaders", signed_headers.is_none()),
        ]
        .into_iter()
        .filter(|(_, is_missing)| *is_missing)
        .map(|(name, _)| format!("Authorization header requires '{name}' parameter. "))
        .collect();
        return Err(AwsError::incomplete_signature(format!("{missing}Authorization={}", echo())));
    };

    Ok(SignatureParams {
        credential: parse_credential(credential)?,
        signed_headers: parse_signed_headers(signed_headers)
            .map_err(|why| AwsError::incomplete_signature(format!("{why} Authorization={}", echo())))?,
        signature: signature.to_owned(),
        source: Source::Header,
    })
}

/// Parses presigned-URL parameters (`X-Amz-Algorithm`, `X-Amz-Credential`, ...).
pub(crate) fn parse_query(params: &[QueryParam]) -> Result<SignatureParams, AwsError> {
    let get = |name: &str| -> Result<Option<String>, AwsError> {
        let mut found = params.iter().filter(|p| p.key == name.as_bytes());
        let first = found.next();
        if found.next().is_some() {
            return Err(AwsError::incomplete_signature(format!(
                "AWS query-string parameters must include '{name}' only once. Re-examine the query-string parameters."
            )));
        }
        first
            .map(|p| {
                String::from_utf8(p.value.clone()).map_err(|_| {
                    AwsError::incomplete_signature(format!("AWS query-string parameter '{name}' is not valid UTF-8."))
                })
            })
            .transpose()
    };
    let require = |name: &str| -> Result<String, AwsError> {
        get(name)?.filter(|v| !v.is_empty()).ok_or_else(|| {
            AwsError::incomplete_signature(format!(
                "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
            ))
        })
    };

    let algorithm = require("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AwsError::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{}'. Expected '{ALGORITHM}'.",
            truncate(&algorithm, 64)
        )));
    }
    let credential = parse_credential(&require("X-Amz-Credential")?)?;
    let signed_headers =
        parse_signed_headers(&require("X-Amz-SignedHeaders")?).map_err(AwsError::incomplete_signature)?;
    let signature = require("X-Amz-Signature")?;
    let amz_date = require("X-Amz-Date")?;
    let expires = require("X-Amz-Expires")?;
    let expires_secs =
        expires.parse::<u32>().ok().filter(|secs| (1..=MAX_EXPIRES_SECS).contains(secs)).ok_or_else(|| {
            AwsError::incomplete_signature(format!(
                "X-Amz-Expires must be a whole number of seconds between 1 and {MAX_EXPIRES_SECS}, got '{}'.",
                truncate(&expires, 32)
            ))
        })?;

    Ok(SignatureParams { credential, signed_headers, signature, source: Source::Query { amz_date, expires_secs } })
}

fn parse_credential(value: &str) -> Result<Credential, AwsError> {
    let parts: Vec<&str> = value.split('/').collect();
    let [access_key_id, day, region, service, terminator] = parts.as_slice() else {
        return Err(AwsError::incomplete_signature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            truncate(value, 256)
        )));
    };
    Ok(Credential {
        access_key_id: (*access_key_id).to_owned(),
        day: (*day).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        terminator: (*terminator).to_owned(),
    })
}

/// SignedHeaders must be what every signer produces: lowercase names, sorted,
/// no duplicates. Accepting anything else would mean guessing the order the
/// client used to build its canonical request.
fn parse_signed_headers(value: &str) -> Result<Vec<String>, String> {
    let names: Vec<&str> = value.split(';').collect();
    let well_formed = names.iter().all(|name| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b':')
    });
    if !well_formed {
        return Err("SignedHeaders must be a semicolon-separated list of lowercase header names.".to_owned());
    }
    if !names.windows(2).all(|w| w[0] < w[1]) {
        return Err("SignedHeaders must be sorted and must not repeat a header name.".to_owned());
    }
    Ok(names.into_iter().map(str::to_owned).collect())
}

/// The client's header as echoed in error messages, with the signature value
/// removed: it is a live credential for this request until it expires.
fn echo_header(value: &str) -> String {
    let redacted = match value.find("Signature=") {
        Some(at) => {
            let start = at + "Signature=".len();
            let end = value[start..].find(',').map_or(value.len(), |offset| start + offset);
            format!("{}<redacted>{}", &value[..start], &value[end..])
        }
        None => value.to_owned(),
    };
    truncate(&redacted, MAX_ECHO_CHARS).to_owned()
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::canonical;

    const VANILLA: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn parses_header() {
        let params = parse_header(VANILLA).unwrap();
        assert_eq!(
            params.credential,
            Credential {
                access_key_id: "AKIDEXAMPLE".into(),
                day: "20150830".into(),
                region: "us-east-1".into(),
                service: "service".into(),
                terminator: "aws4_request".into(),
            }
        );
        assert_eq!(params.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(params.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        assert_eq!(params.source, Source::Header);
    }

    #[test]
    fn tolerates_spacing_variants() {
        let compact = VANILLA.replace(", ", ",");
        assert_eq!(parse_header(&compact).unwrap(), parse_header(VANILLA).unwrap());
        let spaced = VANILLA.replace(", ", " ,  ");
        assert_eq!(parse_header(&spaced).unwrap(), parse_header(VANILLA).unwrap());
    }

    #[test]
    fn reports_every_missing_parameter() {
        let err = parse_header("AWS4-HMAC-SHA256 SignedHeaders=host").unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
        assert_eq!(err.status, 400);
        assert!(err
            .message
            .starts_with("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host"),
            "{}", err.message);
        let err = parse_header("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=x").unwrap_err();
        assert!(err.message.starts_with("Authorization header requires 'SignedHeaders' parameter."));
    }

    #[test]
    fn rejects_wrong_algorithm() {
        for value in [
            "AWS4-HMAC-SHA512 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
            "AWS AKID:signature",
            "Bearer token",
            "",
        ] {
            let err = parse_header(value).unwrap_err();
            assert_eq!(err.code, "IncompleteSignature", "{value}");
            assert!(err.message.contains("Unsupported AWS 'algorithm'"), "{}", err.message);
        }
    }

    #[test]
    fn rejects_bad_credential_shape() {
        let err = parse_header(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/aws4_request, SignedHeaders=host, Signature=x",
        )
        .unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
        assert!(err.message.contains("exactly 5 slash-delimited elements"));
    }

    #[test]
    fn rejects_unsorted_or_uppercase_signed_headers() {
        for signed in ["x-amz-date;host", "Host;x-amz-date", "host;host", "host;;x", "host;a b"] {
            let value = format!("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders={signed}, Signature=x");
            let err = parse_header(&value).unwrap_err();
            assert_eq!(err.code, "IncompleteSignature", "{signed}");
        }
    }

    #[test]
    fn rejects_missing_equals_and_duplicates() {
        let err = parse_header("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Bogus, Signature=x").unwrap_err();
        assert!(err.message.contains("missing equal-sign"));
        let err = parse_header("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x, Signature=y")
            .unwrap_err();
        assert!(err.message.contains("duplicate 'Signature'"));
    }

    #[test]
    fn echo_redacts_signature_and_is_bounded() {
        let err = parse_header("AWS4-HMAC-SHA256 Signature=deadbeef, SignedHeaders=host").unwrap_err();
        assert!(!err.message.contains("deadbeef"), "{}", err.message);
        assert!(err.message.contains("Signature=<redacted>, SignedHeaders=host"));

        let huge = format!("AWS4-HMAC-SHA256 SignedHeaders={}", "a".repeat(10_000));
        let err = parse_header(&huge).unwrap_err();
        assert!(err.message.len() < 1_000);
    }

    #[test]
    fn parses_presigned_query() {
        let params = canonical::parse_query(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=abc",
        );
        let parsed = parse_query(&params).unwrap();
        assert_eq!(parsed.credential.access_key_id, "AKIDEXAMPLE");
        assert_eq!(parsed.signed_headers, ["host"]);
        assert_eq!(parsed.signature, "abc");
        assert_eq!(parsed.source, Source::Query { amz_date: "20150830T123600Z".into(), expires_secs: 3600 });
    }

    #[test]
    fn presigned_query_errors() {
        let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb%2Fc%2Fd%2Fe&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=abc";
        let cases = [
            (base.to_owned(), "'X-Amz-Expires'"),
            (format!("{base}&X-Amz-Expires=0"), "X-Amz-Expires must be"),
            (format!("{base}&X-Amz-Expires=604801"), "X-Amz-Expires must be"),
            (format!("{base}&X-Amz-Expires=soon"), "X-Amz-Expires must be"),
            (format!("{base}&X-Amz-Expires=60&X-Amz-Signature=def"), "only once"),
            (base.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256") + "&X-Amz-Expires=60", "Unsupported"),
        ];
        for (query, want) in cases {
            let err = parse_query(&canonical::parse_query(&query)).unwrap_err();
            assert_eq!(err.code, "IncompleteSignature", "{query}");
            assert!(err.message.contains(want), "{query}: {}", err.message);
        }
        let ok = parse_query(&canonical::parse_query(&format!("{base}&X-Amz-Expires=604800")));
        assert!(ok.is_ok());
    }
}
