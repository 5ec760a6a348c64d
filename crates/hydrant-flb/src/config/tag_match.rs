//! Tag routing rules: `Match` (Fluent Bit's wildcard) and `Match_Regex`.

use std::fmt;

/// Fluent Bit's `Match` semantics (`flb_router.c`): case-sensitive; `*` matches any run of
/// characters, dots included, possibly empty; every other character matches itself (there is
/// no `?` and no escaping).
///
/// ```
/// use hydrant_flb::config::tag_match::wildcard_match;
/// assert!(wildcard_match("kube.*", "kube.var.log.containers.a.log"));
/// assert!(wildcard_match("*", ""));
/// assert!(!wildcard_match("kube.*", "Kube.x"));
/// ```
pub fn wildcard_match(pattern: &str, tag: &str) -> bool {
    let p = pattern.as_bytes();
    let t = tag.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern and the tag position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last `*` swallow one more character and retry.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// How a filter or output selects records by tag.
#[derive(Clone)]
pub enum TagMatcher {
    /// `Match PATTERN`: [`wildcard_match`].
    Wildcard(String),
    /// `Match_Regex REGEX`: the regular expression must match at the start of the tag (as
    /// Onigmo's `onig_match` does in Fluent Bit); it need not reach the end.
    Regex(regex::Regex),
}

impl TagMatcher {
    /// A `Match` rule.
    pub fn wildcard(pattern: impl Into<String>) -> Self {
        TagMatcher::Wildcard(pattern.into())
    }

    /// A `Match_Regex` rule, anchored at the start of the tag.
    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})")).map(TagMatcher::Regex)
    }

    /// Whether a record with this tag is selected.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagMatcher::Wildcard(p) => wildcard_match(p, tag),
            TagMatcher::Regex(r) => r.is_match(tag),
        }
    }
}

impl fmt::Debug for TagMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagMatcher::Wildcard(p) => write!(f, "Match({p:?})"),
            TagMatcher::Regex(r) => write!(f, "Match_Regex({:?})", r.as_str()),
        }
    }
}
