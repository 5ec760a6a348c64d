mod common;
use common::*;

use hydrant_filters::Parsers;
use hydrant_flb::EventTime;

fn parsers(text: &str) -> Parsers {
    Parsers::from_config(&config(text)).unwrap_or_else(|e| panic!("{e}"))
}

fn utc(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

#[test]
fn apache_regex_parser_from_the_docs() {
    let p = parsers(
        r#"[PARSER]
    Name   apache
    Format regex
    Regex  ^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$
    Time_Key time
    Time_Format %d/%b/%Y:%H:%M:%S %z
"#,
    );
    let apache = p.get("apache").unwrap();
    assert_eq!(apache.name(), "apache");
    let (time, map) =
        apache.parse(r#"192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395"#).unwrap();
    assert_eq!(time, Some(EventTime::new(1154093230, 0)));
    assert_eq!(
        map.to_json_string(),
        r#"{"host":"192.168.2.20","user":"-","method":"GET","path":"/cgi-bin/try/","code":"200","size":"3395"}"#
    );
    assert!(apache.parse("not an access log").is_none());
}

const CRI: &str = r#"[PARSER]
    Name cri
    Format regex
    Regex ^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<message>.*)$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L%z
    Time_Keep   On
"#;

#[test]
fn fargate_cri_parser() {
    let p = parsers(CRI);
    let (time, map) = p.get("cri").unwrap().parse("2019-05-07T18:57:50.904275087+00:00 stdout F hello world").unwrap();
    assert_eq!(time, Some(EventTime::new(1557255470, 904275087)));
    assert_eq!(
        map.to_json_string(),
        r#"{"time":"2019-05-07T18:57:50.904275087+00:00","stream":"stdout","logtag":"F","message":"hello world"}"#
    );
}

#[test]
fn fargate_cri_parser_in_the_parser_filter() {
    let (mut f, _) = filter(&format!(
        "{CRI}[FILTER]\n    Name parser\n    Match kube.*\n    Key_Name log\n    Parser cri\n    Reserve_Data On\n"
    ));
    let (out, _) = run(
        &mut f,
        "kube.x",
        vec![rec(r#"{"log":"2019-05-07T18:57:50.9Z stderr P oops","kubernetes":{"pod_name":"web"}}"#)],
    );
    assert_eq!(out[0].time, EventTime::new(1557255470, 900000000));
    assert_eq!(
        out[0].body.to_json_string(),
        r#"{"time":"2019-05-07T18:57:50.9Z","stream":"stderr","logtag":"P","message":"oops","kubernetes":{"pod_name":"web"}}"#
    );
}

#[test]
fn regex_time_without_keep_is_removed_and_bad_time_drops_the_key() {
    let p = parsers(
        "[PARSER]\n    Name t\n    Format regex\n    Regex ^(?<time>\\S+) (?<msg>.*)$\n    Time_Format %Y-%m-%dT%H:%M:%S\n",
    );
    let t = p.get("t").unwrap();
    let (time, map) = t.parse("2020-01-02T03:04:05 hi").unwrap();
    assert_eq!(time, Some(EventTime::new(utc("2020-01-02T03:04:05Z"), 0)));
    assert_eq!(map.to_json_string(), r#"{"msg":"hi"}"#);
    let (time, map) = t.parse("yesterday hi").unwrap();
    assert_eq!(time, None);
    assert_eq!(map.to_json_string(), r#"{"msg":"hi"}"#);
}

#[test]
fn time_offset_applies_to_times_without_zone() {
    let p = parsers(
        "[PARSER]\n    Name t\n    Format regex\n    Regex ^(?<time>[^ ]+ [^ ]+) (?<msg>.*)$\n    Time_Format %Y-%m-%d %H:%M:%S\n    Time_Offset +0200\n",
    );
    let (time, _) = p.get("t").unwrap().parse("2020-01-02 03:04:05 hi").unwrap();
    assert_eq!(time, Some(EventTime::new(utc("2020-01-02T01:04:05Z"), 0)));
}

#[test]
fn skip_empty_values_and_types() {
    let text = "[PARSER]\n    Name t\n    Format regex\n    Regex ^(?<a>[^,]*),(?<b>[^,]*),(?<c>[^,]*),(?<d>[^,]*),(?<e>.*)$\n    Types a:integer b:float c:bool d:hex\n";
    let p = parsers(text);
    let (_, map) = p.get("t").unwrap().parse("42,1.5,TRUE,ff,").unwrap();
    assert_eq!(map.to_json_string(), r#"{"a":42,"b":1.5,"c":true,"d":255}"#);
    let (_, map) = p.get("t").unwrap().parse("7x,abc,maybe,zz,x").unwrap();
    assert_eq!(map.to_json_string(), r#"{"a":7,"b":0.0,"c":"maybe","d":0,"e":"x"}"#);
    let p = parsers(&format!("{text}    Skip_Empty_Values Off\n"));
    let (_, map) = p.get("t").unwrap().parse(",,,,").unwrap();
    assert_eq!(map.to_json_string(), r#"{"a":0,"b":0.0,"c":"","d":0,"e":""}"#);
}

#[test]
fn json_parser_from_the_docs_keeps_order() {
    let p = parsers(
        "[PARSER]\n    Name docker\n    Format json\n    Time_Key time\n    Time_Format %Y-%m-%dT%H:%M:%S %z\n    Time_Keep On\n",
    );
    let (time, map) =
        p.get("docker").unwrap().parse(r#"{"key1": 12345, "key2": "abc", "time": "2006-07-28T13:22:04 Z"}"#).unwrap();
    assert_eq!(time, Some(EventTime::new(utc("2006-07-28T13:22:04Z"), 0)));
    assert_eq!(map.to_json_string(), r#"{"key1":12345,"key2":"abc","time":"2006-07-28T13:22:04 Z"}"#);
    assert!(p.get("docker").unwrap().parse("[1,2]").is_none());
    assert!(p.get("docker").unwrap().parse("plain text").is_none());

    let p = parsers("[PARSER]\n    Name j\n    Format json\n    Time_Key ts\n    Time_Format %s\n");
    let (time, map) = p.get("j").unwrap().parse(r#"{"z":1,"ts":"1700000000","a":{"b":[true,null]}}"#).unwrap();
    assert_eq!(time, Some(EventTime::new(1700000000, 0)));
    assert_eq!(map.to_json_string(), r#"{"z":1,"a":{"b":[true,null]}}"#);
}

#[test]
fn logfmt_parser_from_the_docs() {
    let p = parsers("[PARSER]\n    Name logfmt\n    Format logfmt\n");
    let (_, map) = p.get("logfmt").unwrap().parse("key1=val1 key2=val2 key3").unwrap();
    assert_eq!(map.to_json_string(), r#"{"key1":"val1","key2":"val2","key3":true}"#);
    let (_, map) = p.get("logfmt").unwrap().parse(r#"level=info msg="hello \"world\"" empty="" n=3"#).unwrap();
    assert_eq!(map.to_json_string(), r#"{"level":"info","msg":"hello \"world\"","empty":"","n":"3"}"#);
    let strict = parsers("[PARSER]\n    Name l\n    Format logfmt\n    Logfmt_No_Bare_Keys true\n");
    assert!(strict.get("l").unwrap().parse("key1=val1 key3").is_none());
}

#[test]
fn ltsv_parser_from_the_docs() {
    let p = parsers(
        "[PARSER]\n    Name access_log_ltsv\n    Format ltsv\n    Time_Key time\n    Time_Format [%d/%b/%Y:%H:%M:%S %z]\n    Types status:integer size:integer\n",
    );
    let line = "host:127.0.0.1\tident:-\tuser:frank\ttime:[10/Oct/2000:13:55:36 -0700]\treq:GET /apache_pb.gif HTTP/1.0\tstatus:200\tsize:2326\treferer:http://www.example.com/start.html\tua:Mozilla/4.08 [en] (Win98; I ;Nav)";
    let (time, map) = p.get("access_log_ltsv").unwrap().parse(line).unwrap();
    assert_eq!(time, Some(EventTime::new(971211336, 0)));
    assert_eq!(
        map.to_json_string(),
        r#"{"host":"127.0.0.1","ident":"-","user":"frank","req":"GET /apache_pb.gif HTTP/1.0","status":200,"size":2326,"referer":"http://www.example.com/start.html","ua":"Mozilla/4.08 [en] (Win98; I ;Nav)"}"#
    );
}

#[test]
fn decoders() {
    let p = parsers(
        "[PARSER]\n    Name d\n    Format regex\n    Regex ^(?<log>.*)$\n    Decode_Field_As escaped log do_next\n    Decode_Field_As json log\n",
    );
    let (_, map) = p.get("d").unwrap().parse(r#"{\"a\":1,\"b\":\"x\"}"#).unwrap();
    assert_eq!(map.to_json_string(), r#"{"log":{"a":1,"b":"x"}}"#);
    let p = parsers("[PARSER]\n    Name d\n    Format regex\n    Regex ^(?<log>.*)$\n    Decode_Field json log\n");
    let (_, map) = p.get("d").unwrap().parse(r#"{"a":1}"#).unwrap();
    assert_eq!(map.to_json_string(), r#"{"log":"{\"a\":1}","a":1}"#);
}

#[test]
fn bad_parsers_are_refused_at_their_line() {
    let err = |text: &str| Parsers::from_config(&config(text)).unwrap_err().to_string();
    let e = err(
        "[PARSER]\n    Name ok\n    Format json\n\n[PARSER]\n    Name bad\n    Format regex\n    Regex ^(?<a>x)(?=y)\n",
    );
    assert!(e.starts_with("test.conf:5: invalid value: parser `bad`"), "{e}");
    assert!(e.contains("look-ahead") && e.contains("Onigmo feature"), "{e}");
    let e = err("[PARSER]\n    Name bad\n    Format csv\n");
    assert!(e.contains("unknown `Format csv`"), "{e}");
    let e = err("[PARSER]\n    Name bad\n    Format regex\n");
    assert!(e.starts_with("test.conf:1: missing required key"), "{e}");
    let e = err("[PARSER]\n    Name bad\n    Format json\n    Time_Format %Q\n");
    assert!(e.contains("unknown conversion `%Q`"), "{e}");
}

#[test]
fn parser_filter_docs_example() {
    let parser = "[PARSER]\n    Name dummy_test\n    Format regex\n    Regex ^(?<INT>[^ ]+) (?<FLOAT>[^ ]+) (?<BOOL>[^ ]+) (?<STRING>.+)$\n";
    let input = r#"{"data":"100 0.5 true This is example","key1":"value1","key2":"value2"}"#;
    let run_with = |opts: &str| {
        let (mut f, _) = filter(&format!(
            "{parser}[FILTER]\n    Name parser\n    Match *\n    Key_Name data\n    Parser dummy_test\n{opts}"
        ));
        bodies(&run(&mut f, "t", vec![rec(input)]).0).remove(0)
    };
    assert_eq!(run_with(""), r#"{"INT":"100","FLOAT":"0.5","BOOL":"true","STRING":"This is example"}"#);
    assert_eq!(
        run_with("    Reserve_Data On\n"),
        r#"{"INT":"100","FLOAT":"0.5","BOOL":"true","STRING":"This is example","key1":"value1","key2":"value2"}"#
    );
    assert_eq!(
        run_with("    Reserve_Data On\n    Preserve_Key On\n"),
        r#"{"INT":"100","FLOAT":"0.5","BOOL":"true","STRING":"This is example","data":"100 0.5 true This is example","key1":"value1","key2":"value2"}"#
    );
    // Unescape_Key is accepted (deprecated in Fluent Bit).
    assert_eq!(
        run_with("    Unescape_Key On\n"),
        r#"{"INT":"100","FLOAT":"0.5","BOOL":"true","STRING":"This is example"}"#
    );
}

#[test]
fn parser_filter_tries_parsers_in_order_and_leaves_unparsed_records() {
    let (mut f, _) = filter(
        "[PARSER]\n    Name j\n    Format json\n[PARSER]\n    Name kv\n    Format logfmt\n[FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser j\n    Parser kv\n",
    );
    let (out, _) = run(
        &mut f,
        "t",
        vec![
            rec(r#"{"log":"{\"a\":1}"}"#),
            rec(r#"{"log":"a=1 b=2"}"#),
            rec(r#"{"log":"   "}"#),
            rec(r#"{"other":1}"#),
        ],
    );
    assert_eq!(bodies(&out), [r#"{"a":1}"#, r#"{"a":"1","b":"2"}"#, r#"{"log":"   "}"#, r#"{"other":1}"#]);
    assert!(out.iter().all(|r| r.time == EventTime::new(1, 0)));
}

#[test]
fn parser_filter_without_known_parser_is_refused() {
    let e = build_error("[FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser nope\n");
    assert!(e.starts_with("test.conf:1: invalid value: parser `Parser`: no parser named nope"), "{e}");
    let e = build_error("[FILTER]\n    Name parser\n    Match *\n    Parser nope\n");
    assert!(e.starts_with("test.conf:1: missing required key: parser: `Key_Name` is required"), "{e}");
}
