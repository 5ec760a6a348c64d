//! Known-answer tests: requests signed in AWS's published SigV4 test suite must
//! verify, and must stop verifying under a different secret or a changed byte.
//! See `tests/data/sigv4-suite/README.md` for where the vectors come from.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use hydrant_aws::sigv4::Verifier;
use hydrant_aws::time::parse_amz_date;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4-suite")
}

/// A raw signed request from the suite, parsed into what a server would hand
/// the verifier.
struct Case {
    name: String,
    parts: http::request::Parts,
    body: Vec<u8>,
    service: String,
    now: DateTime<Utc>,
}

fn parse_case(name: &str, text: &str) -> Case {
    let (head, body) = match text.split_once("\n\n") {
        Some((head, body)) => (head, body.as_bytes().to_vec()),
        None => (text.trim_end_matches('\n'), Vec::new()),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, target) = request_line.split_once(' ').unwrap();
    let target = target.strip_suffix(" HTTP/1.1").unwrap_or(target);
    // An HTTP client percent-encodes non-ASCII in the request target; the
    // suite writes it raw.
    let target: String =
        target.bytes().map(|b| if b.is_ascii() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();

    let mut builder = http::Request::builder().method(method).uri(target);
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        builder = builder.header(name.trim(), value.trim_matches([' ', '\t']));
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();

    let (service, now) = match parts.headers.get("authorization") {
        Some(auth) => {
            let auth = auth.to_str().unwrap();
            let scope = auth.split("Credential=").nth(1).unwrap();
            let service = scope.split('/').nth(3).unwrap().to_owned();
            let date = parts.headers["x-amz-date"].to_str().unwrap();
            (service, parse_amz_date(date).unwrap())
        }
        None => {
            let query = parts.uri.query().unwrap();
            let credential = query.split("X-Amz-Credential=").nth(1).unwrap();
            let service = credential.split("%2F").nth(3).unwrap().to_owned();
            let date = query.split("X-Amz-Date=").nth(1).unwrap();
            (service, parse_amz_date(&date[..16]).unwrap())
        }
    };
    Case { name: name.to_owned(), parts, body, service, now }
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(suite_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let case = dir.file_name().unwrap().to_str().unwrap().to_owned();
        for file in ["header-signed-request.txt", "query-signed-request.txt"] {
            let path = dir.join(file);
            if path.exists() {
                let text = std::fs::read_to_string(&path).unwrap();
                cases.push(parse_case(&format!("{case}/{file}"), &text));
            }
        }
    }
    cases
}

fn good_secret(id: &str) -> Option<String> {
    (id == "AKIDEXAMPLE").then(|| SECRET.to_owned())
}

#[test]
fn suite_is_present() {
    // Guards against the data directory silently going missing or shrinking.
    assert!(all_cases().len() >= 50, "only {} cases", all_cases().len());
}

#[test]
fn every_suite_request_verifies() {
    let mut failures = Vec::new();
    for case in all_cases() {
        let verifier = Verifier::new(case.service.clone());
        if let Err(err) = verifier.verify(&case.parts, &case.body, case.now, &good_secret) {
            failures.push(format!("{}: {err}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_suite_request_fails_under_another_secret() {
    let wrong = |id: &str| (id == "AKIDEXAMPLE").then(|| SECRET.replace('K', "k"));
    for case in all_cases() {
        let err = Verifier::new(case.service.clone()).verify(&case.parts, &case.body, case.now, &wrong).unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch", "{}", case.name);
    }
}

#[test]
fn get_vanilla_signature_is_the_published_one() {
    let text = std::fs::read_to_string(suite_dir().join("get-vanilla/header-signed-request.txt")).unwrap();
    assert!(text.contains("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
    let case = parse_case("get-vanilla", &text);
    assert_eq!(case.service, "service");
    let verified = Verifier::new("service").verify(&case.parts, &case.body, case.now, &good_secret).unwrap();
    assert_eq!(verified.access_key_id, "AKIDEXAMPLE");
    assert_eq!(verified.region, "us-east-1");
    assert_eq!(verified.signed_at.to_rfc3339(), "2015-08-30T12:36:00+00:00");
}

#[test]
fn get_vanilla_rejects_a_changed_host() {
    let text = std::fs::read_to_string(suite_dir().join("get-vanilla/header-signed-request.txt")).unwrap();
    let case = parse_case("get-vanilla", &text.replace("Host:example.amazonaws.com", "Host:example2.amazonaws.com"));
    let err = Verifier::new("service").verify(&case.parts, &case.body, case.now, &good_secret).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
}
