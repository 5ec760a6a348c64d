mod common;
use common::*;

use hydrant_flb::EventTime;

const MEM: &str = r#"{"Mem.total":1016024,"Mem.used":716672,"Mem.free":299352,"Swap.total":2064380,"Swap.used":32656,"Swap.free":2031724}"#;

fn one(filter_text: &str, input: &str) -> String {
    let (mut f, _) = filter(filter_text);
    bodies(&run(&mut f, "t", vec![rec(input)]).0).remove(0)
}

#[test]
fn record_modifier_docs_examples() {
    let base = "[FILTER]\n    Name record_modifier\n    Match *\n";
    assert_eq!(
        one(&format!("{base}    Record hostname localhost\n    Record product Awesome Tool\n"), MEM),
        r#"{"Mem.total":1016024,"Mem.used":716672,"Mem.free":299352,"Swap.total":2064380,"Swap.used":32656,"Swap.free":2031724,"hostname":"localhost","product":"Awesome Tool"}"#
    );
    assert_eq!(
        one(&format!("{base}    Remove_Key Mem.total\n    Remove_Key swap.*\n"), MEM),
        r#"{"Mem.used":716672,"Mem.free":299352}"#
    );
    assert_eq!(
        one(&format!("{base}    Allowlist_Key Mem.total\n    Whitelist_Key Swap.free\n"), MEM),
        r#"{"Mem.total":1016024,"Swap.free":2031724}"#
    );
    let out = one(&format!("{base}    Uuid_Key id\n"), r#"{"a":1}"#);
    let id = map(&out).get("id").unwrap().as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    let e = build_error(&format!("{base}    Remove_Key a\n    Allowlist_Key b\n"));
    assert!(e.starts_with("test.conf:1: invalid value"), "{e}");
}

#[test]
fn rewrite_tag_docs_example() {
    let (mut f, ctx) = filter(
        "[FILTER]\n    Name rewrite_tag\n    Match test_tag\n    Rule $tool ^(fluent)$  from.$TAG.new.$tool.$sub['s1']['s2'].out false\n    Emitter_Name re_emitted\n    Emitter_Mem_Buf_Limit 10M\n",
    );
    let (out, emitted) = run(
        &mut f,
        "test_tag",
        vec![rec(r#"{"tool":"fluent","sub":{"s1":{"s2":"bit"}}}"#), rec(r#"{"tool":"other"}"#)],
    );
    assert_eq!(bodies(&out), [r#"{"tool":"other"}"#]);
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0].tag, "from.test_tag.new.fluent.bit.out");
    assert_eq!(emitted[0].record.body.to_json_string(), r#"{"tool":"fluent","sub":{"s1":{"s2":"bit"}}}"#);
    assert_eq!(emitted[0].record.time, EventTime::new(1, 0));
    let text = ctx.metrics.encode();
    assert!(text.contains("hydrant_router_filter_emitted_records_total{name=\"test.0\"} 1"), "{text}");
    assert!(text.contains("hydrant_router_filter_dropped_records_total{name=\"test.0\"} 1"), "{text}");
}

#[test]
fn rewrite_tag_captures_tag_parts_and_keep() {
    let (mut f, _) = filter(
        "[FILTER]\n    Name rewrite_tag\n    Match kube.*\n    Rule $kubernetes['namespace_name'] ^(prod|staging)-(\\w+)$ app.$2.$1.$TAG[1] true\n    Rule $log ERROR errors.$TAG true\n",
    );
    let (out, emitted) = run(
        &mut f,
        "kube.var.log",
        vec![
            rec(r#"{"log":"x","kubernetes":{"namespace_name":"prod-shop"}}"#),
            rec(r#"{"log":"an ERROR here"}"#),
            rec(r#"{"log":"fine"}"#),
        ],
    );
    assert_eq!(out.len(), 3);
    let tags: Vec<&str> = emitted.iter().map(|e| e.tag.as_str()).collect();
    assert_eq!(tags, ["app.shop.prod.var", "errors.kube.var.log"]);
    let e = build_error("[FILTER]\n    Name rewrite_tag\n    Match *\n    Rule $log only_two\n");
    assert!(e.contains("expected `$KEY REGEX NEW_TAG KEEP`"), "{e}");
}

#[test]
fn throttle_window_average() {
    let (mut f, ctx) = filter("[FILTER]\n    Name throttle\n    Match *\n    Rate 1\n    Window 5\n    Interval 1s\n");
    let (out, _) = run(&mut f, "t", (0..8).map(|i| rec(&format!(r#"{{"i":{i}}}"#))).collect());
    // Five records fill the window's average to 1 record per interval: the rest is dropped.
    assert_eq!(out.len(), 5);
    assert!(ctx.metrics.encode().contains("hydrant_router_filter_dropped_records_total{name=\"test.0\"} 3"));

    let plugin = config("[FILTER]\n    Name throttle\n    Match *\n    Rate 2\n    Window 2\n    Interval 1s\n")
        .filters[0]
        .clone();
    let c = common::ctx(config("[FILTER]\n    Name grep\n    Match *\n"));
    let mut t = hydrant_filters::throttle::build(&plugin, &c).unwrap();
    let kept =
        |t: &mut hydrant_filters::throttle::Throttle, at: u64, n: usize| (0..n).filter(|_| t.keep_at(at)).count();
    assert_eq!(kept(&mut t, 0, 10), 4);
    // One interval later the window still holds the first pane: nothing more fits.
    assert_eq!(kept(&mut t, 1000, 10), 0);
    // Two intervals later the first pane has left the window.
    assert_eq!(kept(&mut t, 2000, 10), 4);
    // Long idle: the window is empty again.
    assert_eq!(kept(&mut t, 60_000, 10), 4);
    let e = build_error("[FILTER]\n    Name throttle\n    Match *\n    Rate fast\n");
    assert!(e.starts_with("test.conf:1: invalid value: throttle `Rate`"), "{e}");
}

#[test]
fn nest_docs_examples() {
    assert_eq!(
        one(
            "[FILTER]\n    Name nest\n    Match *\n    Operation nest\n    Wildcard Mem.*\n    Nest_under Memstats\n",
            MEM
        ),
        r#"{"Swap.total":2064380,"Swap.used":32656,"Swap.free":2031724,"Memstats":{"Mem.total":1016024,"Mem.used":716672,"Mem.free":299352}}"#
    );
    assert_eq!(
        one(
            "[FILTER]\n    Name nest\n    Match *\n    Operation nest\n    Wildcard Mem.*\n    Wildcard Swap.used\n    Nest_under Stats\n    Remove_prefix Mem.\n",
            MEM
        ),
        r#"{"Swap.total":2064380,"Swap.free":2031724,"Stats":{"total":1016024,"used":716672,"free":299352,"Swap.used":32656}}"#
    );
    assert_eq!(
        one(
            "[FILTER]\n    Name nest\n    Match *\n    Operation lift\n    Nested_under Stats\n    Add_prefix Lifted_\n",
            r#"{"a":1,"Stats":{"x":"1","y":{"z":2}},"b":2}"#
        ),
        r#"{"a":1,"b":2,"Lifted_x":"1","Lifted_y":{"z":2}}"#
    );
    // Nothing to nest or lift: unchanged.
    let nest = "[FILTER]\n    Name nest\n    Match *\n    Operation nest\n    Wildcard Disk.*\n    Nest_under D\n";
    assert_eq!(one(nest, r#"{"a":1}"#), r#"{"a":1}"#);
    let lift = "[FILTER]\n    Name nest\n    Match *\n    Operation lift\n    Nested_under a\n";
    assert_eq!(one(lift, r#"{"a":1}"#), r#"{"a":1}"#);
    let e = build_error("[FILTER]\n    Name nest\n    Match *\n    Operation nest\n    Nest_under x\n");
    assert!(e.contains("Wildcard"), "{e}");
    let e = build_error("[FILTER]\n    Name nest\n    Match *\n    Operation fold\n");
    assert!(e.contains("expected nest or lift"), "{e}");
}

#[test]
fn modify_docs_example() {
    assert_eq!(
        one(
            "[FILTER]\n    Name modify\n    Match *\n    Add Service1 SOMEVALUE\n    Add Service3 SOMEVALUE3\n    Add Mem.total2 TOTALMEM2\n    Rename Mem.free MEMFREE\n    Rename Mem.used MEMUSED\n    Rename Swap.total SWAPTOTAL\n    Add Mem.total TOTALMEM\n",
            MEM
        ),
        r#"{"Mem.total":1016024,"MEMUSED":716672,"MEMFREE":299352,"SWAPTOTAL":2064380,"Swap.used":32656,"Swap.free":2031724,"Service1":"SOMEVALUE","Service3":"SOMEVALUE3","Mem.total2":"TOTALMEM2"}"#
    );
}

#[test]
fn modify_rules() {
    let m = |rules: &str, input: &str| one(&format!("[FILTER]\n    Name modify\n    Match *\n{rules}"), input);
    let input = r#"{"a":"1","b":"2","c":"3"}"#;
    assert_eq!(m("    Set a \"x y\"\n    Set d 4\n", input), r#"{"b":"2","c":"3","a":"x y","d":"4"}"#);
    assert_eq!(m("    Remove b\n    Remove zz\n", input), r#"{"a":"1","c":"3"}"#);
    assert_eq!(
        m("    Remove_wildcard Mem.*\n", MEM),
        r#"{"Swap.total":2064380,"Swap.used":32656,"Swap.free":2031724}"#
    );
    assert_eq!(
        m("    Remove_regex ^Swap\\.(used|free)$\n", MEM),
        r#"{"Mem.total":1016024,"Mem.used":716672,"Mem.free":299352,"Swap.total":2064380}"#
    );
    assert_eq!(m("    Rename a b\n", input), input);
    assert_eq!(m("    Hard_rename a b\n", input), r#"{"b":"1","c":"3"}"#);
    assert_eq!(m("    Copy a z\n    Copy a b\n", input), r#"{"a":"1","z":"1","b":"2","c":"3"}"#);
    assert_eq!(m("    Hard_copy c a\n", input), r#"{"b":"2","c":"3","a":"3"}"#);
    assert_eq!(
        m("    Move_to_start Swap.*\n", MEM),
        r#"{"Swap.total":2064380,"Swap.used":32656,"Swap.free":2031724,"Mem.total":1016024,"Mem.used":716672,"Mem.free":299352}"#
    );
    assert_eq!(
        m("    Move_to_end Mem.t*\n", MEM),
        r#"{"Mem.used":716672,"Mem.free":299352,"Swap.total":2064380,"Swap.used":32656,"Swap.free":2031724,"Mem.total":1016024}"#
    );
}

#[test]
fn modify_conditions() {
    let m = |cond: &str, input: &str| {
        one(&format!("[FILTER]\n    Name modify\n    Match *\n    Condition {cond}\n    Set hit yes\n"), input)
    };
    let input = r#"{"level":"error","code":"500","kubernetes":{"labels":{"app":"web"}},"n":5}"#;
    let hit = |cond: &str| m(cond, input).contains(r#""hit":"yes""#);
    assert!(hit("Key_exists level"));
    assert!(hit("Key_exists $kubernetes['labels']['app']"));
    assert!(!hit("Key_exists nope"));
    assert!(hit("Key_does_not_exist nope"));
    assert!(hit("A_key_matches ^lev"));
    assert!(!hit("No_key_matches ^lev"));
    assert!(hit("Key_value_equals level error"));
    assert!(hit("Key_value_equals $kubernetes['labels']['app'] web"));
    assert!(!hit("Key_value_equals n 5"));
    assert!(hit("Key_value_does_not_equal level info"));
    assert!(!hit("Key_value_does_not_equal missing info"));
    assert!(hit("Key_value_matches code ^5\\d\\d$"));
    assert!(hit("Key_value_does_not_match code ^4"));
    assert!(hit("Matching_keys_have_matching_values ^(level|code)$ ^(error|500)$"));
    assert!(!hit("Matching_keys_have_matching_values ^(level|n)$ ^(error|5)$"));
    assert!(hit("Matching_keys_do_not_have_matching_values ^code$ ^4"));
    let e = build_error("[FILTER]\n    Name modify\n    Match *\n    Condition Key_is_blue level\n");
    assert!(e.contains("unknown condition `key_is_blue`"), "{e}");
    let e = build_error("[FILTER]\n    Name modify\n    Match *\n    Rename only_one\n");
    assert!(e.starts_with("test.conf:1: invalid value: modify `Rename`"), "{e}");
}

#[test]
fn unknown_filter_is_refused_at_its_line() {
    let c = common::ctx(config("[FILTER]\n    Name grep\n    Match *\n\n[FILTER]\n    Name lua\n    Match *\n"));
    let plugin = c.config.filters[1].clone();
    let e = hydrant_filters::build(&plugin, &c).err().unwrap().to_string();
    assert!(e.starts_with("test.conf:5: unsupported plugin: unknown filter `lua`"), "{e}");
}
