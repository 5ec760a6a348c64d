//! Evaluation against JSON logs, one feature at a time.

use hydrant_query::{parse, Document, JsonLog, Reserved};
use serde_json::{json, Value};

fn log(v: Value) -> JsonLog {
    JsonLog::new(v)
}

#[track_caller]
fn yes(q: &str, doc: &JsonLog) {
    let query = parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    assert!(query.matches(doc), "{q:?} should match {}", doc.value());
}

#[track_caller]
fn no(q: &str, doc: &JsonLog) {
    let query = parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
    assert!(!query.matches(doc), "{q:?} should not match {}", doc.value());
}

fn fargate() -> JsonLog {
    log(json!({
        "message": "GET /api/v1/users 200 in 35ms: user_id=42 Network-Error retry",
        "host": "ip-10-0-1-5",
        "service": "aws",
        "source": "aws",
        "status": "Error",
        "trace_id": "1234",
        "tags": ["kube_namespace:fargate-namespace", "env:prod", "version:1.2:beta", "standalone"],
        "attributes": {
            "kubernetes": {"namespace_name": "fargate-namespace", "labels": {"app": "web"}},
            "http": {"status_code": 200, "url": "https://x/api-v1/users", "method": "GET", "duration": 35.5},
            "code_str": "200",
            "ok": true,
            "nothing": null,
            "users": {"names": ["Peter", "Paul"]},
            "Event": {"EventData": {"Data": [{"Name": "ObjectServer"}, {"Name": "Other", "Value": 7}]}},
            "network": {"client": {"ip": "10.1.2.3"}, "ip": {"list": ["192.168.0.1", "2001:db8::1"]}},
            "aws.firehose.arn": "arn:aws:firehose:eu-west-1:1:deliverystream/x",
            "empty": [],
            "version": "v1.10",
            "temp": -3,
            "my_attribute": "hello world",
            "colon": "hello:world"
        }
    }))
}

// --- the seed ---------------------------------------------------------------------------------

#[test]
fn seed_filters() {
    let d = fargate();
    yes("service:aws source:aws", &d);
    yes("source:aws", &d);
    yes("kube_namespace:fargate-namespace", &d);
    yes("@kubernetes.namespace_name:fargate-namespace", &d);
    no("service:aws source:lambda", &d);
    no("kube_namespace:other", &d);
    no("@kubernetes.namespace_name:Fargate-namespace", &d);
}

#[test]
fn source_falls_back_to_ddsource() {
    let d = log(json!({"ddsource": "nginx", "message": "x"}));
    yes("source:nginx", &d);
    assert_eq!(d.reserved(Reserved::Source), Some("nginx"));
    no("source:aws", &d);
}

#[test]
fn match_all() {
    let d = fargate();
    yes("", &d);
    yes("*", &d);
    no("-*", &d);
    yes("*", &log(json!({})));
}

// --- free text ------------------------------------------------------------------------------------

#[test]
fn free_text_whole_words_case_insensitive() {
    let d = fargate();
    yes("retry", &d);
    yes("RETRY", &d);
    yes("network", &d);
    yes("users", &d);
    no("retr", &d);
    no("etry", &d);
    no("user", &d);
    yes("user_id", &d);
    no("kube_namespace", &d);
}

#[test]
fn free_text_implicit_and() {
    let d = fargate();
    yes("get retry", &d);
    no("get missing", &d);
    yes("get OR missing", &d);
}

#[test]
fn free_text_phrases() {
    let d = fargate();
    yes("\"network error\"", &d);
    yes("\"Network-Error retry\"", &d);
    yes("\"api v1\"", &d);
    no("\"error network\"", &d);
    yes("api/v1/users", &d);
    no("\"35ms in\"", &d);
}

#[test]
fn free_text_wildcards_per_word() {
    let d = fargate();
    yes("retr*", &d);
    yes("*etry", &d);
    yes("*ETWOR*", &d);
    yes("us?rs", &d);
    no("us?r", &d);
    no("get*users", &d);
    yes("api/v*", &d);
}

#[test]
fn quoted_wildcards_are_literal() {
    let d = log(json!({"message": "a *test* here"}));
    yes("\"*test*\"", &d);
    let d2 = log(json!({"message": "testing"}));
    no("\"test*\"", &d2);
    yes("test*", &d2);
}

#[test]
fn free_text_needs_a_message() {
    let d = log(json!({"service": "x"}));
    no("anything", &d);
    no("message:*", &d);
    yes("-message:*", &d);
    yes("message:*", &fargate());
}

#[test]
fn free_text_unicode_case() {
    let d = log(json!({"message": "Échec de connexion"}));
    yes("échec", &d);
    yes("ÉCHEC", &d);
    yes("éch*", &d);
}

// --- boolean logic -----------------------------------------------------------------------------

#[test]
fn negation_and_grouping() {
    let d = fargate();
    no("-retry", &d);
    yes("-missing", &d);
    yes("NOT missing", &d);
    yes("(missing OR retry) get", &d);
    no("(missing OR retry) -get", &d);
    yes("missing OR retry get", &d);
    no("(missing OR retry) AND nope", &d);
    yes("env:prod AND -version:beta", &d);
}

// --- tags --------------------------------------------------------------------------------------

#[test]
fn tags_match_key_and_value_case_insensitively() {
    let d = fargate();
    yes("env:prod", &d);
    yes("ENV:PROD", &d);
    no("env:test", &d);
    yes("env:(prod OR test)", &d);
    no("env:(staging OR test)", &d);
    yes("version:1.2\\:beta", &d);
    yes("version:1.2:beta", &d);
    no("version:1.2", &d);
}

#[test]
fn tag_wildcards_and_existence() {
    let d = fargate();
    yes("env:pr*", &d);
    yes("kube_namespace:*-namespace", &d);
    no("env:st*", &d);
    yes("env:*", &d);
    no("team:*", &d);
    yes("-team:*", &d);
    yes("_exists_:env", &d);
    yes("_missing_:team", &d);
}

#[test]
fn bare_tags_via_tags_field() {
    let d = fargate();
    yes("tags:standalone", &d);
    yes("tags:env\\:prod", &d);
    yes("tags:stand*", &d);
    no("standalone:*", &d);
    yes("tags:*", &d);
    no("tags:*", &log(json!({"message": "x"})));
}

#[test]
fn ddtags_string_form() {
    let d = log(json!({"tags": "env:prod, team:core"}));
    yes("team:core", &d);
    yes("env:prod", &d);
}

// --- reserved fields ---------------------------------------------------------------------------

#[test]
fn status_case_insensitive() {
    let d = fargate();
    yes("status:error", &d);
    yes("status:ERROR", &d);
    yes("status:err*", &d);
    no("status:warn", &d);
}

#[test]
fn other_reserved_fields_case_sensitive() {
    let d = fargate();
    yes("host:ip-10-0-1-5", &d);
    yes("host:ip-10-*", &d);
    no("host:IP-10-0-1-5", &d);
    yes("trace_id:1234", &d);
    yes("service:a?s", &d);
    no("service:AWS", &d);
    no("host:*", &log(json!({"message": "x"})));
    yes("host:*", &d);
}

// --- attributes ----------------------------------------------------------------------------------

#[test]
fn attribute_strings_case_sensitive() {
    let d = fargate();
    yes("@http.method:GET", &d);
    no("@http.method:get", &d);
    yes("@my_attribute:\"hello world\"", &d);
    yes("@my_attribute:hello?world", &d);
    yes("@my_attribute:hello\\ world", &d);
    yes("@colon:hello\\:world", &d);
    yes("@colon:\"hello:world\"", &d);
}

#[test]
fn attribute_numbers_and_numeric_strings() {
    let d = fargate();
    yes("@http.status_code:200", &d);
    yes("@http.status_code:200.0", &d);
    yes("@code_str:200", &d);
    no("@http.status_code:201", &d);
    yes("@http.duration:35.5", &d);
    yes("@temp:-3", &d);
    yes("@http.status_code:2*", &d);
    no("@http.status_code:3*", &d);
}

#[test]
fn attribute_booleans() {
    let d = fargate();
    yes("@ok:true", &d);
    no("@ok:false", &d);
    yes("@ok:t*", &d);
}

#[test]
fn attribute_wildcards() {
    let d = fargate();
    yes("@http.url:https\\://x/api\\-v1/*", &d);
    yes("@http.url:*users", &d);
    no("@http.url:*USERS", &d);
    yes("@kubernetes.labels.app:w?b", &d);
}

#[test]
fn attribute_existence() {
    let d = fargate();
    yes("@http.status_code:*", &d);
    yes("_exists_:@http.status_code", &d);
    no("-@http.status_code:*", &d);
    yes("-@http.missing:*", &d);
    yes("_missing_:@http.missing", &d);
    no("@nothing:*", &d);
    yes("@kubernetes:*", &d);
    yes("@empty:*", &d);
    no("@nothing:null", &d);
}

#[test]
fn attribute_arrays() {
    let d = fargate();
    yes("@users.names:Peter", &d);
    yes("@users.names:Pa*", &d);
    no("@users.names:Mary", &d);
    yes("@Event.EventData.Data.Name:ObjectServer", &d);
    yes("@Event.EventData.Data.Value:>5", &d);
    no("@Event.EventData.Data.Name:Missing", &d);
    yes("@Event.EventData.Data.Value:*", &d);
    no("@Event.EventData.Data.Nope:*", &d);
}

#[test]
fn attribute_dotted_keys() {
    let d = fargate();
    yes("@aws.firehose.arn:arn\\:aws\\:firehose*", &d);
    yes("@aws.firehose.arn:*", &d);
    no("@aws.firehose:*", &d);
}

#[test]
fn attributes_do_not_see_reserved_or_tags() {
    let d = fargate();
    no("@service:aws", &d);
    no("@env:prod", &d);
    no("kubernetes:*", &d);
}

// --- comparisons and ranges ----------------------------------------------------------------------

#[test]
fn numeric_comparisons() {
    let d = fargate();
    yes("@http.duration:>35", &d);
    no("@http.duration:>35.5", &d);
    yes("@http.duration:>=35.5", &d);
    yes("@http.duration:<36", &d);
    yes("@http.duration:<=35.5", &d);
    no("@http.duration:<35.5", &d);
    yes("@temp:<-2", &d);
    yes("@temp:>-3.5", &d);
    yes("@code_str:>100", &d);
    no("@code_str:>1000", &d);
    no("@missing:>0", &d);
}

#[test]
fn numeric_ranges() {
    let d = fargate();
    yes("@http.status_code:[200 TO 299]", &d);
    yes("@http.status_code:[100 TO 200]", &d);
    no("@http.status_code:{100 TO 200}", &d);
    yes("@http.status_code:{199 TO 200]", &d);
    no("@http.status_code:[200 TO 200}", &d);
    yes("@http.status_code:[* TO 300]", &d);
    yes("@http.status_code:[150 TO *]", &d);
    no("@http.status_code:[201 TO *]", &d);
    yes("@http.status_code:[1e2 TO 2.5e2]", &d);
    yes("@temp:[-5 TO -1]", &d);
}

#[test]
fn numeric_not_lexicographic() {
    let d = log(json!({"attributes": {"n": 9}}));
    yes("@n:<10", &d);
    yes("@n:[2 TO 10]", &d);
}

#[test]
fn string_ranges_lexicographic() {
    let d = fargate();
    yes("@http.method:[A TO Z]", &d);
    yes("@http.method:[GET TO GET]", &d);
    no("@http.method:{GET TO Z]", &d);
    no("@http.method:[a TO z]", &d);
    yes("@version:>v1", &d);
    yes("@version:<v1.9", &d);
    yes("env:[a TO q]", &d);
    yes("env:[A TO Q]", &d);
    no("env:>q", &d);
    yes("@http.status_code:<abc", &d);
}

// --- CIDR -----------------------------------------------------------------------------------------

#[test]
fn cidr_ipv4() {
    let d = fargate();
    yes("CIDR(@network.client.ip, 10.0.0.0/8)", &d);
    yes("CIDR(@network.client.ip, 10.1.2.0/24)", &d);
    yes("CIDR(@network.client.ip, 10.1.2.3/32)", &d);
    no("CIDR(@network.client.ip, 13.0.0.0/8)", &d);
    yes("CIDR(@network.client.ip, 13.0.0.0/8, 10.0.0.0/8)", &d);
    yes("CIDR(@network.client.ip, 0.0.0.0/0)", &d);
    yes("NOT(CIDR(@network.client.ip, 13.0.0.0/8))", &d);
    no("CIDR(@network.client.ip, ::/0)", &d);
    no("CIDR(@http.method, 0.0.0.0/0)", &d);
}

#[test]
fn cidr_ipv6_and_arrays() {
    let d = fargate();
    yes("CIDR(@network.ip.list, 2001:db8::/32)", &d);
    no("CIDR(@network.ip.list, 2001:db9::/32)", &d);
    yes("CIDR(@network.ip.list, 192.168.0.0/16)", &d);
    yes("CIDR(@network.ip.list, 2001:db8::1/128)", &d);
    let mapped = log(json!({"attributes": {"ip": "::ffff:10.9.8.7"}}));
    yes("CIDR(@ip, 10.0.0.0/8)", &mapped);
}

// --- a custom Document -----------------------------------------------------------------------------

struct Fixed {
    tags: Vec<String>,
    attrs: Value,
}

impl Document for Fixed {
    fn message(&self) -> Option<&str> {
        Some("custom document")
    }
    fn reserved(&self, r: Reserved) -> Option<&str> {
        (r == Reserved::Service).then_some("svc")
    }
    fn tags(&self) -> &[String] {
        &self.tags
    }
    fn attribute(&self, path: &[String]) -> Option<&Value> {
        hydrant_query::json_path(&self.attrs, path)
    }
}

#[test]
fn custom_document_and_dyn() {
    let doc = Fixed { tags: vec!["env:qa".into()], attrs: json!({"a": {"b": [1, 2, 3]}}) };
    let q = parse("custom service:svc env:qa @a.b:3 @a.b:[2 TO 2]").unwrap();
    assert!(q.matches(&doc));
    let dynamic: &dyn Document = &doc;
    assert!(q.matches(dynamic));
    assert!(!parse("@a.b:4").unwrap().matches(dynamic));
}
