//! Tag normalisation, per Datadog's rules: a tag starts with a letter; letters, digits
//! and `_ - : . /` are kept, other characters become `_`; at most 200 characters;
//! lowercased, except the values of `host` and `device` tags.

/// Longest tag kept.
pub const MAX_LEN: usize = 200;

/// Normalises one tag; `None` when nothing of it is left.
pub fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if already_normal(raw) {
        // Most tags (pipelines' remapped values, `key:value` lists) come out unchanged:
        // one scan of the bytes and a copy instead of the per-character rewrite below.
        return Some(raw.to_string());
    }
    rewrite(raw)
}

/// [`normalize`] of an owned tag: a tag that is already normal is kept as it is, without
/// a copy (pipelines build every remapped tag as a new string).
pub fn normalize_owned(raw: String) -> Option<String> {
    // A tag that passes `already_normal` has nothing to trim: it starts with a letter and
    // holds no whitespace.
    if already_normal(&raw) {
        return Some(raw);
    }
    normalize(&raw)
}

/// True when [`rewrite`] would give `raw` back unchanged: at most [`MAX_LEN`] ASCII
/// characters, starting with a lowercase letter, only lowercase letters, digits and
/// `_ - : . /`, no `__`, not ending with `_` or `:`.
fn already_normal(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.len() > MAX_LEN || !b.first().is_some_and(u8::is_ascii_lowercase) || matches!(b.last(), Some(b'_' | b':')) {
        return false;
    }
    // One table lookup per byte, and `__` found in the same pass (this runs for every tag
    // of every log; a chain of comparisons and a second scan cost ~800 instructions for a
    // pipeline's tag).
    let mut underscore = false;
    for &c in b {
        if !NORMAL_BYTE[usize::from(c)] || (underscore && c == b'_') {
            return false;
        }
        underscore = c == b'_';
    }
    true
}

/// The bytes a normal tag is made of: lowercase letters, digits and `_ - : . /`.
static NORMAL_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b':' | b'.' | b'/');
        c += 1;
    }
    t
};

/// [`normalize`] of a trimmed tag, character by character.
fn rewrite(raw: &str) -> Option<String> {
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

    #[test]
    fn fast_path_agrees_with_the_rewrite() {
        let samples = [
            "kube_container_name:nginx",
            "container_id:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "pod_name:web-5d8f7c9b4-x2k7q",
            "a:b:c/d.e-f",
            "env",
            "env:",
            "env_",
            "a__b",
            "a_b",
            "9lives",
            "_x",
            "Env:prod",
            "host:web",
            "x:y z",
            "été:x",
            "",
        ];
        let long = "x".repeat(MAX_LEN + 1);
        let exact = "y".repeat(MAX_LEN);
        for raw in samples.iter().copied().chain([long.as_str(), exact.as_str()]) {
            if already_normal(raw) {
                assert_eq!(rewrite(raw).as_deref(), Some(raw), "{raw}");
            }
            assert_eq!(normalize(raw), rewrite(raw.trim()), "{raw}");
            assert_eq!(normalize_owned(raw.to_string()), normalize(raw), "{raw}");
            assert_eq!(normalize_owned(format!("  {raw} ")), normalize(raw), "{raw} with spaces");
        }
        assert!(already_normal("kube_namespace:fargate-namespace"));
        assert!(!already_normal("a__b") && !already_normal("env:") && !already_normal("Env") && !already_normal(&long));
        // Every byte, alone and after an underscore, against the rule spelled out.
        for c in 0..=255u8 {
            let normal = c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-:./".contains(&c);
            let s = String::from_utf8_lossy(&[b'a', c, b'a']).into_owned();
            assert_eq!(already_normal(&s), normal && s.len() == 3, "{c:#x}");
            let s = String::from_utf8_lossy(&[b'a', b'_', c, b'a']).into_owned();
            assert_eq!(already_normal(&s), normal && c != b'_' && s.len() == 4, "_ then {c:#x}");
        }
    }
}
