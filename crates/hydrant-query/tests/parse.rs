//! Parsing: the AST of each syntax feature, error positions, and Display round trips.

use hydrant_query::{parse, Bound, Cidr, Field, Pattern, PatternPart, Predicate, Query, Reserved, Term};

fn p(q: &str) -> Query {
    parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

fn err(q: &str) -> (usize, String) {
    let e = parse(q).expect_err(q);
    (e.position, e.to_string())
}

fn m(field: Field, predicate: Predicate) -> Query {
    Query::Match { field, predicate }
}

fn eq(s: &str) -> Predicate {
    Predicate::Equals(Term::new(s))
}

fn text(s: &str) -> Query {
    m(Field::Text, eq(s))
}

fn tag(k: &str, v: &str) -> Query {
    m(Field::Tag(k.into()), eq(v))
}

fn attr(path: &str) -> Field {
    Field::Attribute(path.split('.').map(String::from).collect())
}

fn res(r: Reserved, v: &str) -> Query {
    m(Field::Reserved(r), eq(v))
}

fn not(q: Query) -> Query {
    Query::Not(Box::new(q))
}

fn lit(s: &str) -> PatternPart {
    PatternPart::Literal(s.into())
}

fn wild(parts: Vec<PatternPart>) -> Predicate {
    Predicate::Wildcard(Pattern::new(parts))
}

fn range(lower: Bound, upper: Bound) -> Predicate {
    Predicate::Range { lower, upper }
}

fn inc(s: &str) -> Bound {
    Bound::Included(Term::new(s))
}

fn exc(s: &str) -> Bound {
    Bound::Excluded(Term::new(s))
}

// --- the seed's filters -------------------------------------------------------------------

#[test]
fn seed_service_and_source() {
    assert_eq!(
        p("service:aws source:aws"),
        Query::And(vec![res(Reserved::Service, "aws"), res(Reserved::Source, "aws")])
    );
}

#[test]
fn seed_source() {
    assert_eq!(p("source:aws"), res(Reserved::Source, "aws"));
}

#[test]
fn seed_tag_with_dash() {
    assert_eq!(p("kube_namespace:fargate-namespace"), tag("kube_namespace", "fargate-namespace"));
}

#[test]
fn seed_nested_attribute() {
    assert_eq!(
        p("@kubernetes.namespace_name:fargate-namespace"),
        m(attr("kubernetes.namespace_name"), eq("fargate-namespace"))
    );
}

// --- terms, phrases, match-all ----------------------------------------------------------------

#[test]
fn empty_and_star_match_all() {
    assert_eq!(p(""), Query::All);
    assert_eq!(p("   "), Query::All);
    assert_eq!(p("*"), Query::All);
    assert_eq!(p("* error"), text("error"));
}

#[test]
fn bare_terms_are_lowercased_free_text() {
    assert_eq!(p("Error"), text("error"));
    assert_eq!(p("hello world"), Query::And(vec![text("hello"), text("world")]));
}

#[test]
fn quoted_phrase() {
    assert_eq!(p("\"Disk Full\""), text("disk full"));
}

#[test]
fn wildcards_inside_quotes_are_literal() {
    assert_eq!(p("\"*test*\""), text("*test*"));
    assert_eq!(p("@a:\"web*\""), m(attr("a"), eq("web*")));
}

#[test]
fn message_field_is_free_text() {
    assert_eq!(p("message:Hello"), text("hello"));
    assert_eq!(p("message:*"), m(Field::Text, Predicate::Exists));
}

#[test]
fn lowercase_operators_are_terms() {
    assert_eq!(p("a and b"), Query::And(vec![text("a"), text("and"), text("b")]));
}

// --- boolean operators and precedence ---------------------------------------------------------

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(p("a OR b c"), Query::Or(vec![text("a"), Query::And(vec![text("b"), text("c")])]));
    assert_eq!(p("a b OR c"), Query::Or(vec![Query::And(vec![text("a"), text("b")]), text("c")]));
    assert_eq!(p("a OR b AND c"), p("a OR (b AND c)"));
}

#[test]
fn not_binds_tighter_than_and() {
    assert_eq!(p("NOT a b"), Query::And(vec![not(text("a")), text("b")]));
    assert_eq!(p("NOT a OR b"), Query::Or(vec![not(text("a")), text("b")]));
}

#[test]
fn symbolic_operators() {
    assert_eq!(p("a && b || !c"), p("a AND b OR NOT c"));
    assert_eq!(p("+a"), text("a"));
}

#[test]
fn dash_negates() {
    assert_eq!(p("-a"), not(text("a")));
    assert_eq!(
        p("error -@http.status_code:*"),
        Query::And(vec![text("error"), not(m(attr("http.status_code"), Predicate::Exists))])
    );
    assert_eq!(p("-(a OR b)"), not(Query::Or(vec![text("a"), text("b")])));
}

#[test]
fn dash_inside_a_word_is_literal() {
    assert_eq!(p("env:us-east-1"), tag("env", "us-east-1"));
}

#[test]
fn double_negation_removed() {
    assert_eq!(p("NOT -a"), text("a"));
    assert_eq!(p("--a"), text("a"));
}

#[test]
fn parentheses_group_and_flatten() {
    assert_eq!(p("(a OR b) c"), Query::And(vec![Query::Or(vec![text("a"), text("b")]), text("c")]));
    assert_eq!(p("a (b c)"), Query::And(vec![text("a"), text("b"), text("c")]));
    assert_eq!(p("a OR (b OR c)"), Query::Or(vec![text("a"), text("b"), text("c")]));
    assert_eq!(p("((a))"), text("a"));
}

#[test]
fn all_inside_and_or() {
    assert_eq!(p("* AND a"), text("a"));
    assert_eq!(p("* OR a"), Query::All);
    assert_eq!(p("-*"), not(Query::All));
}

// --- fields -------------------------------------------------------------------------------------

#[test]
fn reserved_fields() {
    assert_eq!(p("host:i-123"), res(Reserved::Host, "i-123"));
    assert_eq!(p("trace_id:abc"), res(Reserved::TraceId, "abc"));
    assert_eq!(p("Service:Web"), res(Reserved::Service, "Web"));
}

#[test]
fn status_values_lowercased() {
    assert_eq!(p("status:ERROR"), res(Reserved::Status, "error"));
}

#[test]
fn tag_keys_and_values_lowercased() {
    assert_eq!(p("Env:Prod"), tag("env", "prod"));
    assert_eq!(p("tags:MyTag"), m(Field::Tags, eq("mytag")));
}

#[test]
fn attributes_keep_case() {
    assert_eq!(p("@User.Name:Peter"), m(Field::Attribute(vec!["User".into(), "Name".into()]), eq("Peter")));
}

#[test]
fn field_grouping_distributes() {
    assert_eq!(p("env:(prod OR test)"), Query::Or(vec![tag("env", "prod"), tag("env", "test")]));
    assert_eq!(p("@a:(x y)"), Query::And(vec![m(attr("a"), eq("x")), m(attr("a"), eq("y"))]));
    assert_eq!(p("env:(prod -test)"), Query::And(vec![tag("env", "prod"), not(tag("env", "test"))]));
    assert_eq!(
        p("service:(web* OR \"api gw\")"),
        Query::Or(vec![
            m(Field::Reserved(Reserved::Service), wild(vec![lit("web"), PatternPart::AnyString])),
            res(Reserved::Service, "api gw"),
        ])
    );
}

#[test]
fn negative_numbers_in_value_groups() {
    assert_eq!(p("@d:(-5 OR 3)"), Query::Or(vec![m(attr("d"), eq("-5")), m(attr("d"), eq("3"))]));
    assert_eq!(p("@d:-5"), m(attr("d"), eq("-5")));
}

#[test]
fn numbers_are_recognised() {
    let Query::Match { predicate: Predicate::Equals(t), .. } = p("@a:-1.5e3") else { panic!() };
    assert_eq!(t.number, Some(-1500.0));
    let Query::Match { predicate: Predicate::Equals(t), .. } = p("@a:inf") else { panic!() };
    assert_eq!(t.number, None);
    let Query::Match { predicate: Predicate::Equals(t), .. } = p("@a:0x10") else { panic!() };
    assert_eq!(t.number, None);
}

// --- wildcards and existence ------------------------------------------------------------------

#[test]
fn wildcards_in_values() {
    assert_eq!(
        p("service:web*"),
        m(Field::Reserved(Reserved::Service), wild(vec![lit("web"), PatternPart::AnyString]))
    );
    assert_eq!(
        p("@my_attribute:hello?world"),
        m(attr("my_attribute"), wild(vec![lit("hello"), PatternPart::AnyChar, lit("world")]))
    );
    assert_eq!(
        p("*NETWORK*"),
        m(Field::Text, wild(vec![PatternPart::AnyString, lit("network"), PatternPart::AnyString]))
    );
}

#[test]
fn escaped_wildcards_are_literal() {
    assert_eq!(p("@a:foo\\*"), m(attr("a"), eq("foo*")));
    assert_eq!(p("@a:\\*x*"), m(attr("a"), wild(vec![lit("*x"), PatternPart::AnyString])));
}

#[test]
fn existence_forms() {
    let exists = m(attr("http.status_code"), Predicate::Exists);
    assert_eq!(p("@http.status_code:*"), exists);
    assert_eq!(p("_exists_:@http.status_code"), exists);
    assert_eq!(p("-@http.status_code:*"), not(exists.clone()));
    assert_eq!(p("_missing_:@http.status_code"), not(exists));
    assert_eq!(p("env:*"), m(Field::Tag("env".into()), Predicate::Exists));
    assert_eq!(p("_exists_:env"), m(Field::Tag("env".into()), Predicate::Exists));
    assert_eq!(p("@a:[* TO *]"), m(attr("a"), Predicate::Exists));
}

// --- comparisons and ranges ---------------------------------------------------------------------

#[test]
fn comparisons() {
    assert_eq!(p("@duration:>100"), m(attr("duration"), range(exc("100"), Bound::Unbounded)));
    assert_eq!(p("@duration:>=100"), m(attr("duration"), range(inc("100"), Bound::Unbounded)));
    assert_eq!(p("@duration:<-2.5"), m(attr("duration"), range(Bound::Unbounded, exc("-2.5"))));
    assert_eq!(p("@duration:<=0"), m(attr("duration"), range(Bound::Unbounded, inc("0"))));
    assert_eq!(p("@v:>=\"b c\""), m(attr("v"), range(inc("b c"), Bound::Unbounded)));
}

#[test]
fn ranges() {
    assert_eq!(p("@d:[100 TO 200]"), m(attr("d"), range(inc("100"), inc("200"))));
    assert_eq!(p("@d:{100 TO 200}"), m(attr("d"), range(exc("100"), exc("200"))));
    assert_eq!(p("@d:[100 TO 200}"), m(attr("d"), range(inc("100"), exc("200"))));
    assert_eq!(p("@d:{100 TO 200]"), m(attr("d"), range(exc("100"), inc("200"))));
    assert_eq!(p("@d:[* TO 200]"), m(attr("d"), range(Bound::Unbounded, inc("200"))));
    assert_eq!(p("@d:[100 TO *}"), m(attr("d"), range(inc("100"), Bound::Unbounded)));
    assert_eq!(p("@d:[-1.5 TO 2e3]"), m(attr("d"), range(inc("-1.5"), inc("2e3"))));
    assert_eq!(p("@d:[ 1   TO 2 ]"), m(attr("d"), range(inc("1"), inc("2"))));
}

#[test]
fn range_without_field_is_on_the_message() {
    assert_eq!(p("[a TO b]"), m(Field::Text, range(inc("a"), inc("b"))));
    assert_eq!(p(">5"), m(Field::Text, range(exc("5"), Bound::Unbounded)));
    assert_eq!(p(">5").to_string(), "message:>5");
}

#[test]
fn comparison_equals_range() {
    assert_eq!(p("@d:>100"), p("@d:{100 TO *]"));
    assert_eq!(p("@d:<=5"), p("@d:[* TO 5]"));
}

#[test]
fn string_ranges_and_case() {
    assert_eq!(p("@name:[alpha TO beta]"), m(attr("name"), range(inc("alpha"), inc("beta"))));
    assert_eq!(p("env:[A TO M]"), m(Field::Tag("env".into()), range(inc("a"), inc("m"))));
}

// --- CIDR ------------------------------------------------------------------------------------------

#[test]
fn cidr_v4_and_v6() {
    let v4: Cidr = "10.0.0.0/8".parse().unwrap();
    let v6: Cidr = "2001:db8::/32".parse().unwrap();
    assert_eq!(p("CIDR(@network.client.ip, 10.0.0.0/8)"), m(attr("network.client.ip"), Predicate::Cidr(vec![v4])));
    assert_eq!(p("CIDR(@ip,10.0.0.0/8, 2001:db8::/32)"), m(attr("ip"), Predicate::Cidr(vec![v4, v6])));
    assert_eq!(p("NOT(CIDR(@ip, 2001:db8::/32))"), not(m(attr("ip"), Predicate::Cidr(vec![v6]))));
    assert_eq!(p("cidr(host, 10.0.0.0/8)"), m(Field::Reserved(Reserved::Host), Predicate::Cidr(vec![v4])));
}

#[test]
fn pattern_matching_directly() {
    let pat =
        Pattern::new(vec![lit("a"), PatternPart::AnyString, PatternPart::AnyString, lit("c"), PatternPart::AnyChar]);
    assert_eq!(pat.parts(), [lit("a"), PatternPart::AnyString, lit("c"), PatternPart::AnyChar]);
    assert!(pat.matches("abcd", false));
    assert!(pat.matches("acx", false));
    assert!(pat.matches("aXcYcZ", false));
    assert!(!pat.matches("ac", false));
    assert!(!pat.matches("Acd", false));
    assert!(pat.matches("Acd", true));
    assert!(pat.matches("aé…cé", false));
}

#[test]
fn cidr_block_parsing() {
    assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    assert!("::/129".parse::<Cidr>().is_err());
    assert!("10.0.0.0/".parse::<Cidr>().is_err());
    assert_eq!("10.1.2.3".parse::<Cidr>().unwrap().prefix, 32);
}

// --- escapes ---------------------------------------------------------------------------------------

#[test]
fn escapes() {
    assert_eq!(p("@url:https\\://x"), m(attr("url"), eq("https://x")));
    assert_eq!(p("@my_attribute:hello\\:world"), m(attr("my_attribute"), eq("hello:world")));
    assert_eq!(p("@a:hello\\ world"), m(attr("a"), eq("hello world")));
    assert_eq!(p("@http.url:/api\\-v1/*"), m(attr("http.url"), wild(vec![lit("/api-v1/"), PatternPart::AnyString])));
    assert_eq!(p(r#"@a:\+\=\&\|\>\<\!\(\)\{\}\[\]\^\"\~\?\\\#"#), m(attr("a"), eq(r#"+=&|><!(){}[]^"~?\#"#)));
    assert_eq!(p("@a\\.b:x"), m(Field::Attribute(vec!["a.b".into()]), eq("x")));
    assert_eq!(p("\"say \\\"hi\\\"\""), text("say \"hi\""));
}

#[test]
fn quoted_value_keeps_specials() {
    assert_eq!(p("@my_attribute:\"hello:world\""), m(attr("my_attribute"), eq("hello:world")));
    assert_eq!(p("@http.url_details.path:\"/api/v1/test\""), m(attr("http.url_details.path"), eq("/api/v1/test")));
}

// --- errors ---------------------------------------------------------------------------------------

#[test]
fn error_unclosed_paren() {
    assert_eq!(err("(a"), (0, "unclosed '(' at position 0".into()));
}

#[test]
fn error_stray_close_paren() {
    assert_eq!(err("a)"), (1, "unexpected ')' at position 1".into()));
    assert_eq!(err("(a OR b))"), (8, "unexpected ')' at position 8".into()));
}

#[test]
fn error_empty_attribute_name() {
    assert_eq!(err("@:x"), (1, "expected an attribute name after '@' at position 1".into()));
    assert_eq!(err("@a..b:x").0, 3);
}

#[test]
fn error_unfinished_range() {
    assert_eq!(err("[1 TO"), (5, "expected a range bound at position 5".into()));
    assert_eq!(err("@d:[1 TO"), (8, "expected a range bound at position 8".into()));
    assert_eq!(err("@d:[1 TO 2"), (10, "expected ']' or '}' to close the range at position 10".into()));
    assert_eq!(err("@d:[1 2]").0, 6);
}

#[test]
fn error_bad_cidr() {
    assert_eq!(err("CIDR(@ip, nope)"), (10, "invalid CIDR block 'nope' at position 10".into()));
    assert_eq!(err("CIDR(@ip)").0, 8);
    assert_eq!(err("CIDR(@ip, 10.0.0.0/8").0, 20);
}

#[test]
fn error_misc() {
    assert_eq!(err("a AND").0, 5);
    assert_eq!(err("a OR OR b"), (5, "unexpected 'OR' at position 5".into()));
    assert_eq!(err("\"abc"), (0, "unclosed '\"' at position 0".into()));
    assert_eq!(err("env:").0, 4);
    assert_eq!(err("env: prod").0, 4);
    assert_eq!(err("- a").0, 1);
    assert_eq!(err("()").0, 1);
    assert_eq!(err("@a:>").0, 4);
    assert_eq!(err("a\\").0, 1);
    assert_eq!(err("*:hello").0, 0);
    assert_eq!(err("é)").0, 1, "positions count characters, not bytes");
}

// --- display round trips ------------------------------------------------------------------------

#[test]
fn display_renders_syntax() {
    assert_eq!(p("a OR b c").to_string(), "a OR b AND c");
    assert_eq!(p("(a OR b) c").to_string(), "(a OR b) AND c");
    assert_eq!(p("-@a:* NOT (x y)").to_string(), "-@a:* AND NOT (x AND y)");
    assert_eq!(p("@d:[* TO 5}").to_string(), "@d:<5");
    assert_eq!(p("@d:{1 TO 5]").to_string(), "@d:{1 TO 5]");
    assert_eq!(p("@url:https\\://x").to_string(), "@url:\"https://x\"");
    assert_eq!(p("CIDR(@ip,10.0.0.0/8)").to_string(), "CIDR(@ip, 10.0.0.0/8)");
    assert_eq!(p("").to_string(), "*");
}

#[test]
fn display_round_trips() {
    let queries = [
        "service:aws source:aws",
        "kube_namespace:fargate-namespace",
        "@kubernetes.namespace_name:fargate-namespace",
        "a OR b c",
        "NOT (a OR b) -c",
        "env:(prod OR test) -version:beta",
        "\"hello world\" \"*test*\"",
        "service:web* *mongo @a:h?llo\\*x",
        "@a:* -@b:* _exists_:env _missing_:@c",
        "@d:>100 @d:>=-1 @d:<2.5 @d:<=1e3",
        "@d:[100 TO 200] @d:{a TO b} @d:[1 TO 2} @d:[* TO 5] @d:{x TO *]",
        "CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32) -CIDR(host, ::1)",
        "@url:https\\://x @a:hello\\ world @b:\"AND\" @c:\"-x\" @a\\.b:1",
        "tags:foo status:WARN trace_id:abc host:H message:*",
        "@a:\"\" x:\"\\\\\\\"\"",
        "-* OR a",
        "@a:-5 @b:(-5 OR 3)",
        "\"!!\" foo.bar",
    ];
    for q in queries {
        let ast = p(q);
        let shown = ast.to_string();
        assert_eq!(parse(&shown), Ok(ast), "{q:?} displayed as {shown:?}");
    }
}

#[test]
fn ast_serializes_for_debugging() {
    let json = serde_json::to_value(p("@d:>1 CIDR(@ip, 10.0.0.0/8) web*")).unwrap();
    let s = json.to_string();
    assert!(s.contains("\"Excluded\""), "{s}");
    assert!(s.contains("\"10.0.0.0/8\""), "{s}");
    assert!(s.contains("\"AnyString\""), "{s}");
}

/// Deterministic pseudo-random queries from syntax fragments: whatever parses must survive
/// a Display round trip, and no input may panic the parser.
#[test]
fn generated_round_trips() {
    const FRAGMENTS: &[&str] = &[
        "a",
        "B",
        "é",
        "-",
        "!",
        "+",
        "(",
        ")",
        "\"",
        "\\",
        ":",
        "@",
        ".",
        "*",
        "?",
        " ",
        " ",
        " OR ",
        " AND ",
        "NOT ",
        "[",
        "]",
        "{",
        "}",
        " TO ",
        ">",
        ">=",
        "<",
        "=",
        "1",
        "-2.5",
        "env",
        "@x.y",
        "CIDR(",
        ",",
        "10.0.0.0/8",
        "::1",
        "_exists_",
        "_missing_",
        "tags",
        "status",
        "message",
        "#",
        "~",
        "^",
        "&&",
        "||",
        "/",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for _ in 0..30_000 {
        let len = 1 + next() % 10;
        let q: String = (0..len).map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]).collect();
        if let Ok(ast) = parse(&q) {
            parsed += 1;
            let shown = ast.to_string();
            assert_eq!(parse(&shown).as_ref(), Ok(&ast), "{q:?} displayed as {shown:?}");
        }
    }
    assert!(parsed > 1000, "only {parsed} generated queries parsed");
}
