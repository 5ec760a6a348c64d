//! Fluent Bit's classic configuration format (`flb_cf_fluentbit.c`).
//!
//! Rules, as Fluent Bit applies them unless noted:
//!
//! - A section header `[NAME]` starts at column 0; names are case-insensitive: `SERVICE`,
//!   `INPUT`, `FILTER`, `OUTPUT`, `PARSER`, `MULTILINE_PARSER`. Any other name is an error here
//!   (Fluent Bit keeps unknown sections and ignores them; `--check` is better off flagging a
//!   typo such as `[OUTPTU]`). Text after `]` other than blanks is an error.
//! - Entries are `Key value` lines, indented. The first indented line of a file fixes the
//!   indentation for the whole file (not per section): every later entry must use exactly the
//!   same whitespace. Fluent Bit's three errors are kept: "inconsistent use of tab and space",
//!   "indentation level is too low", "extra indentation level found". An indentation that mixes
//!   tabs and spaces by itself, and an entry at column 0, are errors too.
//! - The key ends at the first blank; the value is the rest, trimmed (so values keep inner
//!   spaces: `Regex ^(?<a>\S+) (?<b>.*)$`). Fluent Bit splits at a space only; a tab
//!   separator is accepted here. A key without a value is an error. Keys keep their case and
//!   are compared case-insensitively. Repeated keys are all kept.
//! - Comments are whole lines whose first non-blank character is `#` (Fluent Bit requires the
//!   comment to sit at column 0 or at the file's indentation; any indentation is accepted
//!   here). There are no end-of-line comments: `Key value # x` has the value `value # x`.
//!   Blank lines are ignored. CRLF line ends are accepted.
//! - Directives start at column 0: `@INCLUDE path` and `@SET KEY=VALUE` (case-insensitive).
//!   `@INCLUDE` reads another classic file at that point; a relative path is resolved against
//!   the directory of the including file (Fluent Bit tries the working directory, then the
//!   main file's directory: the same for top-level includes); a path with `*` is a glob, whose
//!   matches are read in sorted order (Fluent Bit: unsorted); a glob that matches nothing, a
//!   missing file, or a file read twice (by any path) is an error, as in Fluent Bit.
//!   `@SET` defines a variable for `${...}` substitution in values (see [`super::vars`]); all
//!   `@SET`s apply to every value, wherever they appear (Fluent Bit applies them before it
//!   instantiates any plugin). Any other `@` directive is an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Rule};
use super::model::SectionKind;

/// A file may include at most this many files in all (Fluent Bit's `FLB_CF_FILE_NUM_LIMIT`).
const MAX_FILES: usize = 1000;

/// One `Key value` line.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One section as written.
#[derive(Debug, Clone)]
pub(crate) struct RawSection {
    pub kind: SectionKind,
    pub file: String,
    pub line: usize,
    pub entries: Vec<RawEntry>,
    /// Some line of the section was refused: missing keys are not reported again.
    pub broken: bool,
}

/// A `@SET` directive.
#[derive(Debug, Clone)]
pub(crate) struct RawSet {
    pub key: String,
    pub value: String,
}

/// The result of reading classic text (and its includes).
#[derive(Debug, Default)]
pub(crate) struct RawClassic {
    pub sections: Vec<RawSection>,
    pub sets: Vec<RawSet>,
    pub errors: Vec<ConfigError>,
    pub files: Vec<PathBuf>,
    included: HashSet<PathBuf>,
    /// ConfigMap mode: `@` directives are refused.
    no_directives: bool,
}

impl RawClassic {
    /// A reader for files on disk (directives allowed).
    pub fn new() -> Self {
        RawClassic::default()
    }

    /// A reader for ConfigMap data (no `@INCLUDE`, no `@SET`).
    pub fn for_configmap() -> Self {
        RawClassic { no_directives: true, ..RawClassic::default() }
    }

    fn error(&mut self, file: &str, line: usize, rule: Rule, message: impl Into<String>) {
        self.errors.push(ConfigError::new(file, Some(line), rule, message));
    }

    /// Read a file (the main file or an include).
    pub fn read_file(&mut self, path: &Path, display: &str, from: Option<(&str, usize)>) {
        let (err_file, err_line) = from.map_or((display, None), |(f, l)| (f, Some(l)));
        if self.files.len() >= MAX_FILES {
            let e = ConfigError::new(err_file, err_line, Rule::Include, format!("more than {MAX_FILES} files"));
            self.errors.push(e);
            return;
        }
        let canonical = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) => {
                let rule = if from.is_some() { Rule::Include } else { Rule::Io };
                self.errors.push(ConfigError::new(err_file, err_line, rule, format!("{display}: {e}")));
                return;
            }
        };
        if !self.included.insert(canonical.clone()) {
            self.errors.push(ConfigError::new(
                err_file,
                err_line,
                Rule::Include,
                format!("{display}: file already included"),
            ));
            return;
        }
        let text = match std::fs::read_to_string(&canonical) {
            Ok(t) => t,
            Err(e) => {
                let rule = if from.is_some() { Rule::Include } else { Rule::Io };
                self.errors.push(ConfigError::new(err_file, err_line, rule, format!("{display}: {e}")));
                return;
            }
        };
        self.files.push(path.to_path_buf());
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.read_text(&text, display, Some(&base));
    }

    /// Read classic text; `base` is the directory for relative `@INCLUDE`s.
    pub fn read_text(&mut self, text: &str, file: &str, base: Option<&Path>) {
        // Indentation fixed by the first indented entry of this file.
        let mut indent: Option<String> = None;
        // Index in `self.sections` of the section being filled; `None` before the first header
        // or after an unknown one.
        let mut current: Option<usize> = None;
        // After an unknown section header, its entries are skipped without further errors.
        let mut skipping = false;
        let mut errors_before = self.errors.len();

        for (i, raw_line) in text.split('\n').enumerate() {
            let lineno = i + 1;
            if let Some(idx) = current {
                if self.errors.len() > errors_before {
                    self.sections[idx].broken = true;
                }
            }
            errors_before = self.errors.len();
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            let body = line.trim_start_matches([' ', '\t']);
            if body.trim().is_empty() || body.starts_with('#') {
                continue;
            }
            let ws = &line[..line.len() - body.len()];

            if line.starts_with('@') {
                self.directive(line, file, lineno, base);
                continue;
            }
            if line.starts_with('[') {
                match parse_header(line) {
                    Err(msg) => {
                        self.error(file, lineno, Rule::BadHeader, msg);
                        current = None;
                        skipping = true;
                    }
                    Ok(name) => match SectionKind::from_name(name) {
                        Some(kind) => {
                            self.sections.push(RawSection {
                                kind,
                                file: file.to_string(),
                                line: lineno,
                                entries: Vec::new(),
                                broken: false,
                            });
                            current = Some(self.sections.len() - 1);
                            skipping = false;
                        }
                        None => {
                            self.error(
                                file,
                                lineno,
                                Rule::UnknownSection,
                                format!(
                                    "[{name}] is not a known section (SERVICE, INPUT, FILTER, OUTPUT, PARSER, \
                                     MULTILINE_PARSER)"
                                ),
                            );
                            current = None;
                            skipping = true;
                        }
                    },
                }
                continue;
            }

            // An entry (or an indented header / directive).
            if ws.is_empty() {
                let key = body.split([' ', '\t']).next().unwrap_or(body);
                self.error(
                    file,
                    lineno,
                    Rule::InvalidIndentation,
                    format!("`{key}` is not indented: keys must be indented under their section header"),
                );
                continue;
            }
            if body.starts_with('[') {
                self.error(
                    file,
                    lineno,
                    Rule::InvalidIndentation,
                    format!("section header `{}` must start at column 0", body.trim_end()),
                );
                continue;
            }
            if body.starts_with('@') {
                self.error(file, lineno, Rule::InvalidIndentation, "directives must start at column 0");
                continue;
            }
            match &indent {
                None => {
                    if ws.contains(' ') && ws.contains('\t') {
                        self.error(
                            file,
                            lineno,
                            Rule::InvalidIndentation,
                            format!("inconsistent use of tab and space ({})", describe_ws(ws)),
                        );
                        continue;
                    }
                    indent = Some(ws.to_string());
                }
                Some(expected) if ws != expected => {
                    let what = if ws.len() > expected.len() && ws.starts_with(expected.as_str()) {
                        "extra indentation level found"
                    } else if expected.starts_with(ws) {
                        "indentation level is too low"
                    } else {
                        "inconsistent use of tab and space"
                    };
                    let msg = format!(
                        "{what}: expected {} (fixed by the first indented line), found {}",
                        describe_ws(expected),
                        describe_ws(ws)
                    );
                    self.error(file, lineno, Rule::InvalidIndentation, msg);
                    continue;
                }
                Some(_) => {}
            }
            if skipping {
                continue;
            }
            let content = body.trim_end();
            let (key, value) = match content.split_once([' ', '\t']) {
                Some((k, v)) => (k, v.trim()),
                None => (content, ""),
            };
            if value.is_empty() {
                self.error(file, lineno, Rule::MissingValue, format!("key `{key}` has no value"));
                continue;
            }
            match current {
                Some(idx) => self.sections[idx].entries.push(RawEntry {
                    key: key.to_string(),
                    value: value.to_string(),
                    line: lineno,
                }),
                None => self.error(
                    file,
                    lineno,
                    Rule::KeyOutsideSection,
                    format!("`{key}` appears before any section header"),
                ),
            }
        }
        if let Some(idx) = current {
            if self.errors.len() > errors_before {
                self.sections[idx].broken = true;
            }
        }
    }

    fn directive(&mut self, line: &str, file: &str, lineno: usize, base: Option<&Path>) {
        let line = line.trim_end();
        let (word, arg) = match line.split_once([' ', '\t']) {
            Some((w, a)) => (w, a.trim()),
            None => (line, ""),
        };
        let known = word.eq_ignore_ascii_case("@INCLUDE") || word.eq_ignore_ascii_case("@SET");
        if !known {
            self.error(file, lineno, Rule::Directive, format!("unknown directive `{word}` (@INCLUDE, @SET)"));
            return;
        }
        if self.no_directives {
            self.error(file, lineno, Rule::Directive, format!("`{}` is not allowed here", word.to_ascii_uppercase()));
            return;
        }
        if word.eq_ignore_ascii_case("@SET") {
            match arg.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    self.sets.push(RawSet { key: k.trim().to_string(), value: v.trim().to_string() })
                }
                _ => self.error(file, lineno, Rule::Directive, "@SET expects KEY=VALUE"),
            }
            return;
        }
        if arg.is_empty() {
            self.error(file, lineno, Rule::Include, "@INCLUDE expects a path");
            return;
        }
        let base = base.filter(|_| Path::new(arg).is_relative());
        let target = base.map_or_else(|| PathBuf::from(arg), |b| b.join(arg));
        if arg.contains('*') {
            let pattern = match base {
                Some(b) => glob_pattern(b, arg),
                None => arg.to_string(),
            };
            let mut matches: Vec<PathBuf> = match glob::glob(&pattern) {
                Ok(paths) => paths.filter_map(Result::ok).filter(|p| p.is_file()).collect(),
                Err(e) => {
                    self.error(file, lineno, Rule::Include, format!("bad pattern `{arg}`: {e}"));
                    return;
                }
            };
            matches.sort();
            if matches.is_empty() {
                self.error(file, lineno, Rule::Include, format!("`{arg}` matches no file"));
                return;
            }
            for m in matches {
                let display = m.to_string_lossy().into_owned();
                self.read_file(&m, &display, Some((file, lineno)));
            }
        } else {
            let display = target.to_string_lossy().into_owned();
            self.read_file(&target, &display, Some((file, lineno)));
        }
    }
}

/// A glob pattern for `rel` under `base`, with `base`'s own glob characters escaped.
pub(crate) fn glob_pattern(base: &Path, rel: &str) -> String {
    let b = base.to_string_lossy();
    if b.is_empty() {
        rel.to_string()
    } else {
        format!("{}/{rel}", glob::Pattern::escape(b.trim_end_matches('/')))
    }
}

/// The name inside `[NAME]`, or what is wrong with the header.
fn parse_header(line: &str) -> Result<&str, String> {
    let Some(end) = line.find(']') else {
        return Err(format!("`{}` has no closing `]`", line.trim_end()));
    };
    let name = line[1..end].trim();
    if name.is_empty() {
        return Err("empty section name `[]`".to_string());
    }
    let rest = line[end + 1..].trim();
    if !rest.is_empty() {
        return Err(format!("unexpected `{rest}` after `[{name}]`"));
    }
    Ok(name)
}

/// "4 spaces", "1 tab", "2 spaces and 1 tab".
fn describe_ws(ws: &str) -> String {
    let spaces = ws.chars().filter(|&c| c == ' ').count();
    let tabs = ws.chars().filter(|&c| c == '\t').count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (spaces, tabs) {
        (s, 0) => plural(s, "space"),
        (0, t) => plural(t, "tab"),
        (s, t) => format!("{} and {}", plural(s, "space"), plural(t, "tab")),
    }
}
