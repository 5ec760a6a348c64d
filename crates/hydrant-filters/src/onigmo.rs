//! Fluent Bit's regular expressions (Onigmo, Ruby syntax) compiled with the `regex` crate.
//!
//! Most patterns people write for Fluent Bit are in the common subset of both engines, but
//! a few Ruby rules differ and are translated here so that patterns behave as they do in
//! Fluent Bit:
//!
//! - `^` and `$` always match at line boundaries in Ruby: the pattern gets `(?m)`.
//! - Ruby's inline `m` flag means "dot matches newline" (`s` here).
//! - `\d \w \s \h` (and their negations) are ASCII-only in Ruby; they become ASCII classes,
//!   which is also faster than Unicode classes.
//! - `(?'name'...)` is another spelling of `(?<name>...)`; `(?#...)` is a comment.
//! - `\Z` (end, or before a final newline) becomes `\n?\z`, which differs only in
//!   consuming that newline (outside every group).
//!
//! What the `regex` crate cannot do (look-around, back-references, atomic groups,
//! possessive quantifiers, `\G`, conditionals, absent operator) is refused with a message
//! saying so, rather than silently matching something else.

/// Translate and compile a Fluent Bit (Onigmo) pattern.
pub fn compile(pattern: &str) -> Result<regex::Regex, String> {
    let translated = translate(pattern)?;
    regex::RegexBuilder::new(&translated)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| format!("cannot compile regex `{pattern}`: {}", first_line(&e.to_string())))
}

fn first_line(s: &str) -> String {
    // regex errors are multi-line drawings; keep them readable in a config error.
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

fn unsupported(pattern: &str, what: &str) -> String {
    format!(
        "regex `{pattern}` uses {what}, an Onigmo feature Hydrant's regex engine does not support \
         (no look-around, back-references, atomic groups or possessive quantifiers); rewrite the pattern without it"
    )
}

/// Translate Onigmo (Ruby) syntax to the `regex` crate's syntax.
pub fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    out.push_str("(?m)");
    let mut i = 0;
    // Depth inside a bracket class (nested classes are allowed by both engines).
    let mut class_depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(format!("regex `{pattern}` ends with a lone backslash"));
                };
                i += 2;
                let in_class = class_depth > 0;
                let class = match n {
                    'd' => Some(("[:digit:]", "[[:digit:]]")),
                    'D' => Some(("[:^digit:]", "[[:^digit:]]")),
                    'w' => Some(("[:word:]", "[[:word:]]")),
                    'W' => Some(("[:^word:]", "[[:^word:]]")),
                    's' => Some(("[:space:]", "[[:space:]]")),
                    'S' => Some(("[:^space:]", "[[:^space:]]")),
                    'h' => Some(("[:xdigit:]", "[[:xdigit:]]")),
                    'H' => Some(("[:^xdigit:]", "[[:^xdigit:]]")),
                    _ => None,
                };
                if let Some((inside, outside)) = class {
                    out.push_str(if in_class { inside } else { outside });
                    continue;
                }
                match n {
                    '1'..='9' if !in_class => return Err(unsupported(pattern, &format!("a back-reference (\\{n})"))),
                    'k' if !in_class => return Err(unsupported(pattern, "a named back-reference (\\k)")),
                    'g' if !in_class => return Err(unsupported(pattern, "a subexpression call (\\g)")),
                    'G' => return Err(unsupported(pattern, "\\G")),
                    'K' => return Err(unsupported(pattern, "\\K")),
                    'R' | 'X' => return Err(unsupported(pattern, &format!("\\{n}"))),
                    'Z' if !in_class => out.push_str(r"\n?\z"),
                    // Inside a class Ruby's \b is a backspace.
                    'b' if in_class => out.push_str(r"\x08"),
                    'A' | 'z' | 'b' | 'B' if !in_class => {
                        out.push('\\');
                        out.push(n);
                    }
                    'a' => out.push_str(r"\x07"),
                    'e' => out.push_str(r"\x1B"),
                    'x' | 'n' | 't' | 'r' | 'f' | 'v' | 'p' | 'P' | 'u' => {
                        out.push('\\');
                        out.push(n);
                    }
                    '0' => out.push_str(r"\x00"),
                    c if c.is_ascii_alphanumeric() => {
                        return Err(unsupported(pattern, &format!("the escape \\{c}")));
                    }
                    c if c.is_ascii() => {
                        // Escaped punctuation is a literal in both engines; escape it only where
                        // the regex crate requires or accepts it.
                        if regex_syntax_meta(c) {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                i += 1;
                // A `]` or `^]` right after the opening bracket is a literal in both engines.
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
                i += 1;
            }
            '(' if class_depth == 0 && chars.get(i + 1) == Some(&'?') => {
                i += 2;
                match chars.get(i) {
                    Some('<') if matches!(chars.get(i + 1), Some('=') | Some('!')) => {
                        return Err(unsupported(pattern, "a look-behind ((?<= or (?<!)"));
                    }
                    Some('<') => {
                        out.push_str("(?<");
                        i += 1;
                    }
                    Some('\'') => {
                        let end = chars[i + 1..]
                            .iter()
                            .position(|&c| c == '\'')
                            .ok_or_else(|| format!("regex `{pattern}`: unterminated group name"))?;
                        out.push_str("(?<");
                        out.extend(&chars[i + 1..i + 1 + end]);
                        out.push('>');
                        i += end + 2;
                    }
                    Some('=') | Some('!') => return Err(unsupported(pattern, "a look-ahead ((?= or (?!)")),
                    Some('>') => return Err(unsupported(pattern, "an atomic group ((?>)")),
                    Some('~') => return Err(unsupported(pattern, "the absent operator ((?~)")),
                    Some('(') => return Err(unsupported(pattern, "a conditional ((?(cond)...)")),
                    Some('#') => {
                        let end = chars[i..]
                            .iter()
                            .position(|&c| c == ')')
                            .ok_or_else(|| format!("regex `{pattern}`: unterminated comment"))?;
                        i += end + 1;
                    }
                    Some(':') => {
                        out.push_str("(?:");
                        i += 1;
                    }
                    _ => {
                        // Inline flags `(?imx-imx)` or `(?imx-imx:...)`: Ruby's `m` is our `s`.
                        out.push_str("(?");
                        while let Some(&f) = chars.get(i) {
                            match f {
                                'm' => out.push('s'),
                                'i' | 'x' | '-' => out.push(f),
                                ':' | ')' => {
                                    out.push(f);
                                    i += 1;
                                    break;
                                }
                                _ => return Err(unsupported(pattern, &format!("the inline option `{f}`"))),
                            }
                            i += 1;
                        }
                    }
                }
            }
            '*' | '+' | '?' | '}' if class_depth == 0 && chars.get(i + 1) == Some(&'+') => {
                // `a++` is possessive in Ruby; `a{2}+` too.
                return Err(unsupported(pattern, "a possessive quantifier (*+, ++, ?+)"));
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Whether the `regex` crate needs `c` escaped to read it as a literal (meta characters,
/// and `-`, `&`, `~`, `#` which are class-set or verbose-mode syntax).
fn regex_syntax_meta(c: char) -> bool {
    let mut buf = [0u8; 4];
    regex::escape(c.encode_utf8(&mut buf)).len() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_patterns_translate() {
        let re = compile(r"^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<log>.*)$").unwrap();
        let caps = re.captures("2024-01-01T00:00:00Z stdout F hello world").unwrap();
        assert_eq!(&caps["log"], "hello world");
        let re = compile(r"^\[(?<ts>[^\]]*)\] \/api\/(?'id'\d+)\-x").unwrap();
        let caps = re.captures("[now] /api/42-x").unwrap();
        assert_eq!(&caps["id"], "42");
        // Ruby's \d is ASCII only.
        assert!(!compile(r"^\d$").unwrap().is_match("٣"));
        // Ruby's $ is a line anchor.
        assert!(compile(r"a$").unwrap().is_match("a\nb"));
        assert!(compile(r"(?m)a.b").unwrap().is_match("a\nb"));
        assert!(compile(r"^\h+$").unwrap().is_match("00ff"));
        assert!(compile(r"[\w\-.]+@").unwrap().is_match("a-b.c@"));
        assert!(compile(r"[]a]").unwrap().is_match("]"));
    }

    #[test]
    fn onigmo_only_features_are_refused() {
        for p in [r"(?<=a)b", r"a(?=b)", r"(?!a)", r"(a)\1", r"(?>a)", r"a++", r"(?<n>a)\k<n>"] {
            let err = compile(p).unwrap_err();
            assert!(err.contains("Onigmo feature"), "{p}: {err}");
        }
    }
}
