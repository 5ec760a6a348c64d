//! Evaluation of IAM identity-based policies.
//!
//! Only the part of the policy language that identity policies for a
//! Firehose-compatible service need is implemented: `Effect`, `Action` /
//! `NotAction`, `Resource` / `NotResource` and `Sid`. Anything a document says
//! that this evaluator cannot honor (`Condition`, `Principal`, unknown keys) is
//! refused at parse time: silently ignoring a `Condition` would turn a narrow
//! grant into a broad one.
//!
//! Evaluation follows AWS's rule for a single account's identity policies: an
//! explicit `Deny` in any matching statement wins, otherwise any matching
//! `Allow` allows, otherwise the request is implicitly denied.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::AwsError;

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// The outcome of evaluating policies for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows it and none denies it.
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// No statement matched.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A statement's `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants the matched actions.
    Allow,
    /// Forbids the matched actions, overriding any `Allow`.
    Deny,
}

/// A list of wildcard patterns and whether the statement applies to what
/// they match (`Action`, `Resource`) or to everything else (`NotAction`,
/// `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSet {
    /// The patterns as written in the document.
    pub patterns: Vec<String>,
    /// True for `NotAction` / `NotResource`.
    pub negated: bool,
}

impl PatternSet {
    fn applies_to(&self, value: &str, case_insensitive: bool) -> bool {
        let any = self.patterns.iter().any(|p| {
            if case_insensitive {
                wildcard_match(p.to_ascii_lowercase().as_bytes(), value.to_ascii_lowercase().as_bytes())
            } else {
                wildcard_match(p.as_bytes(), value.as_bytes())
            }
        });
        any != self.negated
    }
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The optional statement id.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// `Action` or `NotAction`; matched case-insensitively.
    pub actions: PatternSet,
    /// `Resource` or `NotResource`; matched case-sensitively.
    pub resources: PatternSet,
}

impl Statement {
    /// Whether this statement speaks about `action` on `resource`.
    pub fn matches(&self, action: &str, resource: &str) -> bool {
        self.actions.applies_to(action, true) && self.resources.applies_to(resource, false)
    }
}

/// A parsed IAM policy document (Version, Statement as one object or an array;
/// Effect Allow|Deny; Action|NotAction as string or array; Resource|NotResource
/// as string or array; optional Sid). A Condition block is refused at parse time
/// with a clear error (unsupported), Principal is refused too (identity policies only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

impl PolicyDocument {
    /// Parses and validates a policy document.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| PolicyError(format!("policy document is not valid JSON: {e}")))?;
        let Value::Object(mut doc) = value else {
            return Err(PolicyError("policy document must be a JSON object".to_owned()));
        };

        let version = take_string(&mut doc, "Version", "policy document")?;
        if let Some(v) = &version {
            if !VERSIONS.contains(&v.as_str()) {
                return Err(PolicyError(format!(
                    "unsupported policy Version '{v}': expected \"2012-10-17\" or \"2008-10-17\""
                )));
            }
        }
        let id = take_string(&mut doc, "Id", "policy document")?;
        let statements = match doc.remove("Statement") {
            None => return Err(PolicyError("policy document has no Statement".to_owned())),
            Some(Value::Array(items)) => items,
            Some(single @ Value::Object(_)) => vec![single],
            Some(_) => return Err(PolicyError("Statement must be an object or an array of objects".to_owned())),
        };
        if let Some(key) = doc.keys().next() {
            return Err(PolicyError(format!("policy document has unsupported top-level key '{key}'")));
        }

        let statements =
            statements.into_iter().enumerate().map(|(i, s)| parse_statement(i, s)).collect::<Result<Vec<_>, _>>()?;
        Ok(PolicyDocument { version, id, statements })
    }

    /// The document's `Version`, if it has one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The document's `Id`, if it has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Evaluates this document alone; see [`evaluate`].
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        evaluate(std::slice::from_ref(self), action, resource)
    }
}

impl FromStr for PolicyDocument {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyDocument::parse(s)
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

fn take_string(obj: &mut Map<String, Value>, key: &str, context: &str) -> Result<Option<String>, PolicyError> {
    match obj.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(PolicyError(format!("{context}: {key} must be a string"))),
    }
}

fn parse_statement(index: usize, value: Value) -> Result<Statement, PolicyError> {
    let Value::Object(mut obj) = value else {
        return Err(PolicyError(format!("Statement {index} must be an object")));
    };
    let sid = take_string(&mut obj, "Sid", &format!("Statement {index}"))?;
    let context = match &sid {
        Some(sid) => format!("Statement {index} (Sid '{sid}')"),
        None => format!("Statement {index}"),
    };

    for refused in ["Condition", "Principal", "NotPrincipal"] {
        if obj.contains_key(refused) {
            let why = if refused == "Condition" {
                "Condition blocks are not supported"
            } else {
                "only identity-based policies are supported, which name no principal"
            };
            return Err(PolicyError(format!("{context}: {refused} is not supported: {why}")));
        }
    }

    let effect = match take_string(&mut obj, "Effect", &context)?.as_deref() {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => {
            return Err(PolicyError(format!("{context}: Effect must be \"Allow\" or \"Deny\", not \"{other}\"")))
        }
        None => return Err(PolicyError(format!("{context}: missing Effect"))),
    };
    let actions = take_patterns(&mut obj, "Action", "NotAction", &context, validate_action)?;
    let resources = take_patterns(&mut obj, "Resource", "NotResource", &context, validate_resource)?;
    if let Some(key) = obj.keys().next() {
        return Err(PolicyError(format!("{context}: unsupported key '{key}'")));
    }
    Ok(Statement { sid, effect, actions, resources })
}

/// Takes exactly one of `key` / `not_key` as a string or non-empty array of strings.
fn take_patterns(
    obj: &mut Map<String, Value>,
    key: &str,
    not_key: &str,
    context: &str,
    validate: fn(&str) -> Result<(), String>,
) -> Result<PatternSet, PolicyError> {
    let (value, negated, name) = match (obj.remove(key), obj.remove(not_key)) {
        (Some(v), None) => (v, false, key),
        (None, Some(v)) => (v, true, not_key),
        (Some(_), Some(_)) => {
            return Err(PolicyError(format!("{context}: {key} and {not_key} cannot both be present")))
        }
        (None, None) => return Err(PolicyError(format!("{context}: requires {key} or {not_key}"))),
    };
    let patterns = match value {
        Value::String(s) => vec![s],
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(PolicyError(format!("{context}: every {name} entry must be a string"))),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(PolicyError(format!("{context}: {name} must be a string or a non-empty array of strings"))),
    };
    for pattern in &patterns {
        validate(pattern).map_err(|why| PolicyError(format!("{context}: {name} {why}")))?;
    }
    Ok(PatternSet { patterns, negated })
}

fn validate_action(action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    match action.split_once(':') {
        Some((service, operation)) if !service.is_empty() && !operation.is_empty() => Ok(()),
        _ => Err(format!("'{action}' must be \"*\" or prefixed by a service, e.g. \"firehose:PutRecord\"")),
    }
}

fn validate_resource(resource: &str) -> Result<(), String> {
    if resource == "*" || resource.starts_with("arn:") {
        Ok(())
    } else {
        Err(format!("'{resource}' must be \"*\" or an ARN"))
    }
}

/// Evaluate: explicit Deny in any statement of any policy wins; else any Allow allows; else implicit deny.
pub fn evaluate(policies: &[PolicyDocument], action: &str, resource: &str) -> Decision {
    let mut allowed = false;
    for statement in policies.iter().flat_map(|p| &p.statements) {
        if statement.matches(action, resource) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The error AWS returns when a signed-in principal lacks permission:
/// `User: <principal> is not authorized to perform: <action> on resource: <resource>`.
pub fn access_denied(access_key_or_principal_arn: &str, action: &str, resource: &str) -> AwsError {
    AwsError::access_denied(format!(
        "User: {access_key_or_principal_arn} is not authorized to perform: {action} on resource: {resource}"
    ))
}

/// Glob matching where `*` matches any run of bytes (including `:` and `/`)
/// and `?` matches exactly one. Backtracks only to the most recent `*`, so it
/// runs in O(pattern * text) at worst rather than exponentially.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            last_star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = last_star {
            p = star_p + 1;
            t = star_t + 1;
            last_star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_POLICY: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "VisualEditor0",
            "Effect": "Allow",
            "Action": [
                "firehose:PutRecord",
                "firehose:PutRecordBatch"
            ],
            "Resource":
       "arn:aws:firehose:us-east-1:123456789012:deliverystream/my-stream"
       }
]
}"#;
    const MY_STREAM: &str = "arn:aws:firehose:us-east-1:123456789012:deliverystream/my-stream";
    const OTHER_STREAM: &str = "arn:aws:firehose:us-east-1:123456789012:deliverystream/other";

    fn doc(json: &str) -> PolicyDocument {
        PolicyDocument::parse(json).unwrap()
    }

    fn err(json: &str) -> String {
        PolicyDocument::parse(json).unwrap_err().0
    }

    #[test]
    fn seed_policy_parses_verbatim() {
        let policy = doc(SEED_POLICY);
        assert_eq!(policy.version(), Some("2012-10-17"));
        assert_eq!(policy.statements().len(), 1);
        let statement = &policy.statements()[0];
        assert_eq!(statement.sid.as_deref(), Some("VisualEditor0"));
        assert_eq!(statement.effect, Effect::Allow);
        assert_eq!(statement.actions.patterns, ["firehose:PutRecord", "firehose:PutRecordBatch"]);
        assert!(!statement.actions.negated);
        assert_eq!(statement.resources.patterns, [MY_STREAM]);
    }

    #[test]
    fn seed_policy_decisions() {
        let policies = [doc(SEED_POLICY)];
        assert_eq!(evaluate(&policies, "firehose:PutRecord", MY_STREAM), Decision::Allow);
        assert_eq!(evaluate(&policies, "firehose:PutRecordBatch", MY_STREAM), Decision::Allow);
        assert_eq!(evaluate(&policies, "firehose:PutRecord", OTHER_STREAM), Decision::ImplicitDeny);
        assert_eq!(evaluate(&policies, "firehose:CreateDeliveryStream", MY_STREAM), Decision::ImplicitDeny);
        // Prefix of an allowed action is not the action.
        assert_eq!(evaluate(&policies, "firehose:Put", MY_STREAM), Decision::ImplicitDeny);
        // A longer resource is a different resource.
        assert_eq!(evaluate(&policies, "firehose:PutRecord", &format!("{MY_STREAM}2")), Decision::ImplicitDeny);
    }

    #[test]
    fn no_policies_is_implicit_deny() {
        assert_eq!(evaluate(&[], "firehose:PutRecord", MY_STREAM), Decision::ImplicitDeny);
        assert!(!Decision::ImplicitDeny.is_allowed());
        assert!(!Decision::ExplicitDeny.is_allowed());
        assert!(Decision::Allow.is_allowed());
    }

    #[test]
    fn explicit_deny_beats_allow_across_documents() {
        let allow_all = doc(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
        let deny_delete = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"firehose:Delete*","Resource":"*"}]}"#,
        );
        let policies = [allow_all.clone(), deny_delete.clone()];
        assert_eq!(evaluate(&policies, "firehose:DeleteDeliveryStream", MY_STREAM), Decision::ExplicitDeny);
        assert_eq!(
            evaluate(&[deny_delete, allow_all], "firehose:DeleteDeliveryStream", MY_STREAM),
            Decision::ExplicitDeny
        );
        assert_eq!(evaluate(&policies, "firehose:PutRecord", MY_STREAM), Decision::Allow);
    }

    #[test]
    fn deny_alone_is_explicit() {
        let policy = doc(r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#);
        assert_eq!(policy.evaluate("s3:GetObject", "arn:aws:s3:::b/k"), Decision::ExplicitDeny);
    }

    #[test]
    fn not_action_applies_to_everything_else() {
        let policy = doc(r#"{"Statement":[
                {"Effect":"Allow","NotAction":"firehose:Delete*","Resource":"*"}
            ]}"#);
        assert!(policy.statements()[0].actions.negated);
        assert_eq!(policy.evaluate("firehose:PutRecord", MY_STREAM), Decision::Allow);
        assert_eq!(policy.evaluate("firehose:DeleteDeliveryStream", MY_STREAM), Decision::ImplicitDeny);
    }

    #[test]
    fn not_resource_applies_to_everything_else() {
        let policy = doc(&format!(
            r#"{{"Statement":[
                {{"Effect":"Allow","Action":"firehose:*","Resource":"*"}},
                {{"Effect":"Deny","Action":"firehose:*","NotResource":["{MY_STREAM}"]}}
            ]}}"#
        ));
        assert_eq!(policy.evaluate("firehose:PutRecord", MY_STREAM), Decision::Allow);
        assert_eq!(policy.evaluate("firehose:PutRecord", OTHER_STREAM), Decision::ExplicitDeny);
    }

    #[test]
    fn action_wildcards_and_case() {
        let policy = doc(
            r#"{"Statement":{"Effect":"Allow","Action":["firehose:Put*","firehose:Describe?eliveryStream"],"Resource":"*"}}"#,
        );
        for action in [
            "firehose:PutRecord",
            "firehose:PutRecordBatch",
            "FIREHOSE:putrecord",
            "Firehose:PUTRECORDBATCH",
            "firehose:DescribeDeliveryStream",
        ] {
            assert_eq!(policy.evaluate(action, MY_STREAM), Decision::Allow, "{action}");
        }
        for action in [
            "firehose:ListDeliveryStreams",
            "kinesis:PutRecord",
            "firehose:DescribeeDeliveryStream",
            "firehose:DescribeDeliveryStreams",
        ] {
            assert_eq!(policy.evaluate(action, MY_STREAM), Decision::ImplicitDeny, "{action}");
        }
    }

    #[test]
    fn resource_wildcards_span_separators_and_are_case_sensitive() {
        let policy = doc(
            r#"{"Statement":{"Effect":"Allow","Action":"firehose:PutRecord","Resource":"arn:aws:firehose:*:123456789012:deliverystream/app-?-*"}}"#,
        );
        let allowed = [
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/app-a-logs",
            "arn:aws:firehose:eu-west-1:123456789012:deliverystream/app-b-",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/app-c-x/y:z",
        ];
        for resource in allowed {
            assert_eq!(policy.evaluate("firehose:PutRecord", resource), Decision::Allow, "{resource}");
        }
        let denied = [
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/APP-a-logs",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/app-ab-logs",
            "arn:aws:firehose:us-east-1:999999999999:deliverystream/app-a-logs",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/app-a",
        ];
        for resource in denied {
            assert_eq!(policy.evaluate("firehose:PutRecord", resource), Decision::ImplicitDeny, "{resource}");
        }
        // A star spans ':' and '/'.
        let broad = doc(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:*"}}"#);
        assert_eq!(broad.evaluate("firehose:PutRecord", MY_STREAM), Decision::Allow);
    }

    #[test]
    fn wildcard_matcher_edge_cases() {
        let m = |p: &str, t: &str| wildcard_match(p.as_bytes(), t.as_bytes());
        assert!(m("*", ""));
        assert!(m("*", "anything/at:all"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("?", ""));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("**a", "xxa"));
        assert!(m("*a*", "banana"));
        assert!(!m("*x*", "banana"));
        assert!(m("ab?d", "abcd"));
        assert!(!m("ab?d", "abd"));
        // Pathological backtracking stays fast.
        let text = "a".repeat(5_000);
        assert!(!m(&format!("{}b", "*a".repeat(50)), &text));
    }

    #[test]
    fn condition_and_principal_are_refused() {
        let e = err(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
        );
        assert!(e.contains("Condition"), "{e}");
        assert!(e.contains("not supported"), "{e}");
        let e = err(r#"{"Statement":{"Sid":"x","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#);
        assert!(e.contains("Principal") && e.contains("Sid 'x'"), "{e}");
        assert!(err(r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"*","Resource":"*"}}"#)
            .contains("NotPrincipal"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[]", "must be a JSON object"),
            (r#"{"Version":"2012-10-17"}"#, "no Statement"),
            (r#"{"Version":"2020-01-01","Statement":[]}"#, "Version"),
            (r#"{"Version":2012,"Statement":[]}"#, "Version must be a string"),
            (r#"{"Statement":"Allow"}"#, "Statement must be"),
            (r#"{"Statement":[1]}"#, "must be an object"),
            (r#"{"Statement":[],"Extra":1}"#, "'Extra'"),
            (r#"{"Statement":{"Action":"*","Resource":"*"}}"#, "missing Effect"),
            (r#"{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#, "Effect must be"),
            (r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, "requires Action or NotAction"),
            (r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#, "requires Resource or NotResource"),
            (r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}}"#, "cannot both"),
            (r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#, "non-empty array"),
            (r#"{"Statement":{"Effect":"Allow","Action":["x:y",3],"Resource":"*"}}"#, "must be a string"),
            (r#"{"Statement":{"Effect":"Allow","Action":"PutRecord","Resource":"*"}}"#, "prefixed by a service"),
            (r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"my-stream"}}"#, "must be \"*\" or an ARN"),
            (r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Extra":true}}"#, "unsupported key 'Extra'"),
        ];
        for (json, want) in cases {
            let e = err(json);
            assert!(e.contains(want), "{json}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn accepts_old_version_id_and_missing_version() {
        let policy = doc(
            r#"{"Version":"2008-10-17","Id":"p1","Statement":[{"Effect":"Allow","Action":"firehose:*","Resource":"*"}]}"#,
        );
        assert_eq!(policy.version(), Some("2008-10-17"));
        assert_eq!(policy.id(), Some("p1"));
        let policy: PolicyDocument =
            r#"{"Statement":[{"Effect":"Allow","Action":"firehose:*","Resource":"*"}]}"#.parse().unwrap();
        assert_eq!(policy.version(), None);
        assert_eq!(policy.evaluate("firehose:PutRecord", MY_STREAM), Decision::Allow);
    }

    #[test]
    fn access_denied_message_matches_aws() {
        let e = access_denied("arn:aws:iam::123456789012:user/x", "firehose:PutRecord", MY_STREAM);
        assert_eq!(e.code, "AccessDeniedException");
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "User: arn:aws:iam::123456789012:user/x is not authorized to perform: firehose:PutRecord on resource: arn:aws:firehose:us-east-1:123456789012:deliverystream/my-stream"
        );
    }
}
