//! Value units and tag matching.

mod common;

use common::{errors_of, load_text};
use hydrant_flb::config::tag_match::{wildcard_match, TagMatcher};
use hydrant_flb::config::units::{parse_bool, parse_duration, parse_size, parse_time};
use hydrant_flb::config::Rule;

#[test]
fn sizes_use_decimal_units_like_flb_utils_size_to_bytes() {
    let cases = [
        ("0", 0),
        ("100", 100),
        ("32k", 32_000),
        ("32K", 32_000),
        ("32KB", 32_000),
        ("32kb", 32_000),
        ("66KB", 66_000),
        ("5M", 5_000_000),
        ("45MB", 45_000_000),
        ("1G", 1_000_000_000),
        ("1gb", 1_000_000_000),
        ("2.5M", 2_500_000),
        ("1.5k", 1_500),
        ("0.0015k", 1),
        (" 8k ", 8_000),
        ("false", 0),
    ];
    for (text, bytes) in cases {
        assert_eq!(parse_size(text), Ok(bytes), "{text}");
    }
}

#[test]
fn bad_sizes_are_errors() {
    for text in ["", "k", "abc", "10KiB", "10T", "10MBs", "-5", "99999999999999999999G"] {
        let e = parse_size(text).unwrap_err();
        assert_eq!(e.kind, "size", "{text}");
    }
    assert_eq!(
        parse_size("10Q").unwrap_err().to_string(),
        "`10Q` is not a valid size: the unit must be K, KB, M, MB, G or GB"
    );
}

#[test]
fn times_are_seconds_with_s_m_h_d_suffixes() {
    let cases = [("0", 0), ("10", 10), ("300s", 300), ("5m", 300), ("5M", 300), ("1h", 3_600), ("2d", 172_800)];
    for (text, secs) in cases {
        assert_eq!(parse_time(text), Ok(secs), "{text}");
    }
    assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
    for text in ["", "s", "1.5h", "5 minutes", "10w"] {
        assert!(parse_time(text).is_err(), "{text}");
    }
}

#[test]
fn booleans_are_on_off_true_false_yes_no() {
    for t in ["On", "on", "ON", "true", "True", "yes", "YES"] {
        assert_eq!(parse_bool(t), Ok(true), "{t}");
    }
    for f in ["Off", "false", "FALSE", "no", "No"] {
        assert_eq!(parse_bool(f), Ok(false), "{f}");
    }
    for bad in ["1", "0", "y", "enabled", ""] {
        assert!(parse_bool(bad).is_err(), "{bad}");
    }
}

#[test]
fn match_wildcards_follow_fluent_bit() {
    let yes = [
        ("*", "anything.at.all"),
        ("*", ""),
        ("kube.*", "kube.var.log.containers.a_b_c-0123.log"),
        ("kube.*", "kube."),
        ("kube.*.log", "kube.var.log.containers.x.log"),
        ("*.log", "a.b.log"),
        ("a*b*c", "abc"),
        ("a*b*c", "aXXbYYbZZc"),
        ("**", "x"),
        ("app", "app"),
        ("*kube*", "my.kube.tag"),
    ];
    for (pattern, tag) in yes {
        assert!(wildcard_match(pattern, tag), "{pattern} should match {tag}");
    }
    let no = [
        ("kube.*", "kube"),
        ("kube.*", "Kube.x"),
        ("kube.*", "xkube.y"),
        ("app", "app2"),
        ("app", "ap"),
        ("a*b*c", "aXXbYY"),
        ("kube.?", "kube.a"),
        ("", "a"),
    ];
    for (pattern, tag) in no {
        assert!(!wildcard_match(pattern, tag), "{pattern} should not match {tag}");
    }
    assert!(wildcard_match("", ""));
}

#[test]
fn match_regex_is_anchored_at_the_start_only() {
    let m = TagMatcher::regex(r"kube\.var\.log\.containers\.nginx").unwrap();
    assert!(m.matches("kube.var.log.containers.nginx-abc.log"), "need not reach the end");
    assert!(!m.matches("x.kube.var.log.containers.nginx"), "anchored at the start");
    let alt = TagMatcher::regex("a|b").unwrap();
    assert!(alt.matches("b.tag") && !alt.matches("c.b"), "alternation stays anchored");
    assert!(TagMatcher::regex("(").is_err());
}

#[test]
fn plugin_matcher_prefers_match_regex_and_reports_bad_values() {
    let cfg = load_text(
        "[OUTPUT]\n    Name stdout\n    Match nothing\n    Match_Regex ^app\\.\n\n[OUTPUT]\n    Name null\n    Match_Regex \
         (\n    Retry_Limit lots\n",
        "o.conf",
    )
    .unwrap();
    let first = cfg.outputs[0].matcher().unwrap().unwrap();
    assert!(first.matches("app.x") && !first.matches("nothing"));
    let e = cfg.outputs[1].matcher().unwrap_err();
    assert_eq!(e.rule, Rule::InvalidValue);
    assert!(e.to_string().starts_with("o.conf:6: invalid value: null `Match_Regex`:"), "{e}");
    assert!(cfg.outputs[1].get_bool("Retry_Limit").is_err());
    let none = load_text("[OUTPUT]\n    Name stdout\n", "o.conf").unwrap();
    assert!(none.outputs[0].matcher().unwrap().is_none());
}

#[test]
fn properties_set_and_remove_are_case_insensitive() {
    let mut cfg = load_text("[INPUT]\n    Name tail\n    Path a\n    path b\n    Tag t\n", "i.conf").unwrap();
    let props = &mut cfg.inputs[0].properties;
    props.set("PATH", "c");
    assert_eq!(props.0, [("Path".to_string(), "c".to_string()), ("Tag".to_string(), "t".to_string())]);
    assert_eq!(props.remove("tag"), 1);
    props.set("DB", "/x.db");
    assert_eq!(props.get("db"), Some("/x.db"));
    assert!(errors_of("[INPUT]\n    Path a\n", "i.conf").has(Rule::MissingKey));
}
