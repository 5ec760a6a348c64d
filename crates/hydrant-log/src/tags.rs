//! Tag normalisation, per Datadog's rules: a tag starts with a letter; letters, digits
//! and `_ - : . /` are kept, other characters become `_`; at most 200 characters;
//! lowercased, except the values of `host` and `device` tags.

/// Longest tag kept.
pub const MAX_LEN: usize = 200;

/// Normalises one tag; `None` when nothing of it is left.
pub fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // Everything before the first letter goes: a tag must start with one.
    let start = raw.find(|c: char| c.is_alphabetic())?;
    let raw = &raw[start..];
    let keep_case = matches!(raw.split_once(':'), Some((k, _)) if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("device"));
    // One pass: replace, lowercase, collapse runs of `_`, and stop at the length limit
    // (counted as we go: this runs for every tag of every log).
    let mut out = String::with_capacity(raw.len().min(MAX_LEN));
    let mut len = 0;
    let mut key_done = false;
    for c in raw.chars() {
        // ASCII first (nearly every tag): the same rules without the Unicode tables.
        let c = if c.is_ascii() {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '/') {
                c
            } else {
                '_'
            }
        } else if c.is_alphanumeric() {
            c
        } else {
            '_'
        };
        if c == ':' {
            key_done = true;
        }
        if c == '_' && out.ends_with('_') {
            continue;
        }
        if (keep_case && key_done) || (c.is_ascii() && !c.is_ascii_uppercase()) {
            out.push(c);
            len += 1;
        } else if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            len += 1;
        } else {
            for l in c.to_lowercase() {
                out.push(l);
                len += 1;
            }
        }
        if len >= MAX_LEN {
            break;
        }
    }
    // Trimmed in place: no second allocation.
    let kept = out.trim_end_matches(['_', ':']).len();
    out.truncate(kept);
    (!out.is_empty()).then_some(out)
}

/// Splits a `ddtags`-style list (`"env:prod,team:a"`) and normalises each tag.
pub fn parse_list(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',').filter_map(normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(normalize("Env:Prod").as_deref(), Some("env:prod"));
        assert_eq!(normalize("kube_namespace:fargate-namespace").as_deref(), Some("kube_namespace:fargate-namespace"));
        assert_eq!(normalize("host:MyHost.Example").as_deref(), Some("host:MyHost.Example"));
        assert_eq!(normalize("team:a b!c").as_deref(), Some("team:a_b_c"));
        assert_eq!(normalize("  9lives:x").as_deref(), Some("lives:x"));
        assert_eq!(normalize("a:b:c/d.e-f").as_deref(), Some("a:b:c/d.e-f"));
        assert_eq!(normalize("env:").as_deref(), Some("env"));
        assert_eq!(normalize("123"), None);
        assert_eq!(normalize(""), None);
        assert_eq!(normalize(&"x".repeat(300)).map(|t| t.len()), Some(200));
        assert_eq!(parse_list("env:prod, team:A,,").collect::<Vec<_>>(), vec!["env:prod", "team:a"]);
    }
}
