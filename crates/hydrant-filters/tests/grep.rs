mod common;
use common::*;

const RECORDS: [&str; 4] = [
    r#"{"log":"aaa","kubernetes":{"labels":{"app":"myapp"}}}"#,
    r#"{"log":"bbb","kubernetes":{"labels":{"app":"other"}}}"#,
    r#"{"log":"ccc"}"#,
    r#"{"log":123}"#,
];

fn grep(rules: &str) -> Vec<String> {
    let (mut f, _) = filter(&format!("[FILTER]\n    Name grep\n    Match *\n{rules}"));
    let (out, _) = run(&mut f, "t", RECORDS.iter().map(|r| rec(r)).collect());
    out.iter().map(|r| r.body.get("log").unwrap().to_text().unwrap().into_owned()).collect()
}

#[test]
fn regex_keeps_matching_records() {
    assert_eq!(grep("    Regex log aa\n"), ["aaa"]);
    assert_eq!(grep("    Regex $log ^(aaa|ccc)$\n"), ["aaa", "ccc"]);
}

#[test]
fn exclude_drops_matching_records_and_keeps_non_strings() {
    assert_eq!(grep("    Exclude log aa\n"), ["bbb", "ccc", "123"]);
}

#[test]
fn record_accessor_keys() {
    assert_eq!(grep("    Regex $kubernetes['labels']['app'] ^myapp$\n"), ["aaa"]);
    assert_eq!(grep("    Exclude $kubernetes['labels']['app'] myapp\n"), ["bbb", "ccc", "123"]);
}

#[test]
fn legacy_rules_stop_at_the_first_decisive_one() {
    // A matching Regex keeps the record even though a later Exclude matches it too.
    assert_eq!(grep("    Regex log a\n    Exclude log aaa\n"), ["aaa"]);
    // An Exclude that does not match lets the next rule decide.
    assert_eq!(grep("    Exclude log zzz\n    Regex log b\n"), ["bbb"]);
}

#[test]
fn logical_op_and_or() {
    assert_eq!(grep("    Logical_Op or\n    Regex log aaa\n    Regex log ccc\n"), ["aaa", "ccc"]);
    assert_eq!(grep("    Logical_Op and\n    Regex log a\n    Regex $kubernetes['labels']['app'] my\n"), ["aaa"]);
    assert_eq!(grep("    Logical_Op or\n    Exclude log aaa\n    Exclude log bbb\n"), ["ccc", "123"]);
    assert_eq!(grep("    Logical_Op and\n    Exclude log aaa\n    Exclude log a\n"), ["bbb", "ccc", "123"]);
}

#[test]
fn mixing_regex_and_exclude_with_logical_op_is_refused() {
    let e =
        build_error("[FILTER]\n    Name grep\n    Match *\n    Logical_Op and\n    Regex log a\n    Exclude log b\n");
    assert!(e.starts_with("test.conf:1: invalid value: grep `Exclude`"), "{e}");
}

#[test]
fn onigmo_only_regex_is_refused_with_a_clear_message() {
    let e = build_error("[FILTER]\n    Name grep\n    Match *\n    Regex log (?<=a)b\n");
    assert!(e.starts_with("test.conf:1: invalid value: grep `Regex`"), "{e}");
    assert!(e.contains("look-behind") && e.contains("Onigmo feature"), "{e}");
}

#[test]
fn drops_are_counted() {
    let (mut f, ctx) = filter("[FILTER]\n    Name grep\n    Match *\n    Regex log aa\n");
    run(&mut f, "t", RECORDS.iter().map(|r| rec(r)).collect());
    let text = ctx.metrics.encode();
    assert!(text.contains("hydrant_router_filter_dropped_records_total{name=\"test.0\"} 3"), "{text}");
}
