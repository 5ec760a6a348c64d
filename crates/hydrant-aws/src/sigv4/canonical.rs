//! The canonical request, string to sign and signing key of SigV4, built from
//! what arrived on the wire rather than from what a signer would have produced.

use hmac::{Hmac, Mac};
use http::request::Parts;
use percent_encoding::{percent_decode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything except RFC 3986 unreserved characters gets percent-encoded.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Paths keep their `/` separators; everything else follows the query rule.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// The SigV4 algorithm name, as it appears in headers, query strings and the string to sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The payload-hash placeholder a client uses to leave the body out of the signature.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// One decoded query parameter. Kept as bytes because percent-decoding may
/// produce non-UTF-8, which still has to be re-encoded exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryParam {
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// Splits and decodes a raw query string the way `aws-sigv4` does
/// (`application/x-www-form-urlencoded` rules, so `+` means space): the
/// canonical form re-encodes each key and value, so the decoding has to agree
/// with the signer's.
pub(crate) fn parse_query(raw: &str) -> Vec<QueryParam> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            QueryParam { key: form_decode(key), value: form_decode(value) }
        })
        .collect()
}

fn form_decode(s: &str) -> Vec<u8> {
    let plus_as_space: Vec<u8> = s.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
    percent_decode(&plus_as_space).collect()
}

/// The canonical query string: every parameter (except those `skip` rejects)
/// RFC 3986-encoded, sorted by encoded key and then encoded value.
pub(crate) fn canonical_query(params: &[QueryParam], skip: impl Fn(&QueryParam) -> bool) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|p| !skip(p))
        .map(|p| {
            (
                percent_encoding::percent_encode(&p.key, QUERY_ENCODE).to_string(),
                percent_encoding::percent_encode(&p.value, QUERY_ENCODE).to_string(),
            )
        })
        .collect();
    encoded.sort();
    let pairs: Vec<String> = encoded.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

/// The canonical URI for every service except S3: the path as sent (still
/// percent-encoded), with `.`/`..` segments and empty segments removed, then
/// percent-encoded a second time. That double encoding is what `aws-sigv4`
/// and botocore do by default for non-S3 services, so a `%3A` in a path is
/// signed as `%253A`.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    percent_encoding::utf8_percent_encode(&normalize_path(raw_path), PATH_ENCODE).to_string()
}

/// RFC 3986 section 5.2.4 dot-segment removal, plus collapsing of empty
/// segments, with a trailing slash kept when the input ended in a directory.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = format!("/{}", segments.join("/"));
    let ends_in_directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if ends_in_directory && !normalized.ends_with('/') {
        normalized.push('/');
    }
    normalized
}

/// Trims leading/trailing spaces and collapses runs of spaces, as SigV4
/// requires of canonical header values. Only spaces are touched, matching
/// `aws-sigv4`; HTTP parsers have already stripped surrounding tabs.
fn normalize_header_value(value: &[u8], out: &mut Vec<u8>) {
    let mut previous_was_space = false;
    let start = out.len();
    for &b in value.iter().skip_while(|&&b| b == b' ') {
        if b == b' ' {
            if !previous_was_space {
                out.push(b);
            }
            previous_was_space = true;
        } else {
            out.push(b);
            previous_was_space = false;
        }
    }
    if out.len() > start && out.last() == Some(&b' ') {
        out.pop();
    }
}

/// Builds the canonical request for `signed_headers`, exactly as listed by the
/// client. Returns `None` when a signed header is absent from the request:
/// the client cannot have signed a header it did not send.
pub(crate) fn canonical_request(
    parts: &Parts,
    canonical_query: &str,
    signed_headers: &[&str],
    payload_hash: &str,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(parts.uri.path()).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    for &name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = parts.headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            // HTTP/2 carries the host in the `:authority` pseudo-header, which
            // ends up in the URI rather than the header map.
            let authority = parts.uri.authority().filter(|_| name == "host")?;
            out.extend_from_slice(authority.as_str().as_bytes());
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            normalize_header_value(value.as_bytes(), &mut out);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Some(out)
}

/// Lowercase hex SHA-256, the digest format used throughout SigV4.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The credential scope string `date/region/service/aws4_request`.
pub(crate) fn credential_scope(day: &str, region: &str, service: &str) -> String {
    format!("{day}/{region}/{service}/aws4_request")
}

/// The string to sign for a canonical request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request))
}

/// The hex signature of `string_to_sign` under the key derived from `secret`
/// for the given scope.
pub(crate) fn signature(secret: &str, day: &str, region: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn normalizes_paths_like_the_signers() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./", "/"),
            ("/example/./", "/example/"),
            ("/example/.", "/example/"),
            ("/a/b/../c", "/a/c"),
            ("/../a", "/a"),
            ("/a/b", "/a/b"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(input), want, "{input:?}");
        }
    }

    #[test]
    fn double_encodes_paths() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(
            canonical_uri("/2015-03-31/functions/arn%3Aaws%3Alambda/invocations"),
            "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations"
        );
        assert_eq!(canonical_uri("/test/@connections/x%3D"), "/test/%40connections/x%253D");
        assert_eq!(canonical_uri("/-._~az09"), "/-._~az09");
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        let params = parse_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1");
        assert_eq!(canonical_query(&params, |_| false), "%E1%88%B4=Value1&Param=Value2&Param-3=Value3");
        // Sorting is by key first, then by value, on the encoded forms.
        let params = parse_query("b=2&a=z&a=y&A=1");
        assert_eq!(canonical_query(&params, |_| false), "A=1&a=y&a=z&b=2");
    }

    #[test]
    fn canonical_query_handles_empty_and_special_values() {
        let params = parse_query("flag&empty=&sp=a+b%20c&&slash=a/b&eq=a=b");
        assert_eq!(canonical_query(&params, |_| false), "empty=&eq=a%3Db&flag=&slash=a%2Fb&sp=a%20b%20c");
        assert_eq!(canonical_query(&parse_query(""), |_| false), "");
    }

    #[test]
    fn canonical_query_can_skip_params() {
        let params = parse_query("X-Amz-Signature=abc&a=1");
        assert_eq!(canonical_query(&params, |p| p.key == b"X-Amz-Signature"), "a=1");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = Vec::new();
        normalize_header_value(b"  \"a   b   c\"  ", &mut out);
        assert_eq!(out, b"\"a b c\"");
        let mut out = b"x".to_vec();
        normalize_header_value(b"   ", &mut out);
        assert_eq!(out, b"x");
    }

    #[test]
    fn canonical_request_joins_repeated_headers_in_order() {
        let p = parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("my-header1", "value4"),
                ("my-header1", " value1 "),
                ("x-amz-date", "20150830T123600Z"),
            ],
        );
        let creq = canonical_request(&p, "", &["host", "my-header1", "x-amz-date"], &sha256_hex(b"")).unwrap();
        assert_eq!(
            String::from_utf8(creq).unwrap(),
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1\n\
             x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn host_falls_back_to_uri_authority() {
        let p = parts("POST", "https://firehose.local:8443/", &[]);
        let creq = canonical_request(&p, "", &["host"], "h").unwrap();
        assert!(String::from_utf8(creq).unwrap().contains("\nhost:firehose.local:8443\n"));
    }

    #[test]
    fn missing_signed_header_yields_none() {
        let p = parts("POST", "/", &[("host", "h")]);
        assert!(canonical_request(&p, "", &["host", "x-amz-target"], "h").is_none());
        let p = parts("POST", "/", &[]);
        assert!(canonical_request(&p, "", &["host"], "h").is_none());
    }

    #[test]
    fn get_vanilla_known_answer() {
        // From AWS's SigV4 test suite, case "get-vanilla".
        let creq = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                    host;x-amz-date\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let scope = credential_scope("20150830", "us-east-1", "service");
        let sts = string_to_sign("20150830T123600Z", &scope, creq.as_bytes());
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service", &sts),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }
}
