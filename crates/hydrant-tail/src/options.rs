//! The `[INPUT] Name tail` options, read with Fluent Bit's names, defaults and units.

use std::path::PathBuf;
use std::time::Duration;

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{required, BuildResult};
use hydrant_flb::BuildContext;

use crate::multiline::Format;
use crate::positions::DbOptions;

/// Fluent Bit's `Buffer_Chunk_Size` and `Buffer_Max_Size` default (`32k`).
pub const DEFAULT_BUFFER_SIZE: usize = 32_000;

/// The memory bound used when `Mem_Buf_Limit` is not set (or set to 0/`false`).
///
/// Fluent Bit is unbounded then, which is how a slow output turns into an OOM-killed
/// router. Hydrant always bounds what it has read and not yet seen acknowledged: 32 MB of
/// source bytes is about a minute of a busy pod's logs, and, with records taking roughly
/// twice their source size in memory, stays within the 50-100 MB Fargate plans for the
/// router. Fargate's own input sets `Mem_Buf_Limit 45MB` explicitly.
pub const DEFAULT_MEM_BUF_LIMIT: usize = 32_000_000;

/// Options whose absence changes records or tags but that Hydrant does not implement; they
/// are named in a warning (never their values) instead of being silently ignored.
const UNSUPPORTED: &[&str] = &[
    "Tag_Regex",
    "Multiline",
    "Parser_Firstline",
    "Docker_Mode",
    "Ignore_Older",
    "Exit_On_Eof",
    "Unicode.Encoding",
    "Generic.Encoding",
];

/// Every option the tail input reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TailOptions {
    /// `Path`: globs, comma-separated, repeatable.
    pub paths: Vec<String>,
    /// `Exclude_Path`: globs matched against the whole path (`*` crosses `/`, as
    /// Fluent Bit's `fnmatch` without flags).
    pub exclude: Vec<glob::Pattern>,
    /// `Tag`, a `*` standing for the file's path (see [`expand_tag`]); the instance name
    /// (`tail.0`) when unset, as Fluent Bit does.
    pub tag: String,
    /// `Key`: the key of raw lines (`log`).
    pub key: String,
    /// `Path_Key`: add the file's path under this key.
    pub path_key: Option<String>,
    /// `Offset_Key`: add the line's offset under this key.
    pub offset_key: Option<String>,
    /// `DB` and its `DB.*` settings.
    pub db: Option<DbOptions>,
    /// `Read_From_Head` (off): read files found at the first scan from their start.
    pub read_from_head: bool,
    /// `Refresh_Interval` (60 s): how often the globs are scanned for new files.
    pub refresh_interval: Duration,
    /// `Rotate_Wait` (5 s): how long a rotated file is still read after its rotation.
    pub rotate_wait: Duration,
    /// `Buffer_Chunk_Size` (32k): the smallest read.
    pub buffer_chunk_size: usize,
    /// `Buffer_Max_Size` (32k): the longest line, newline included.
    pub buffer_max_size: usize,
    /// `Skip_Long_Lines` (off): skip longer lines quietly (else: skip them with an error).
    pub skip_long_lines: bool,
    /// `Skip_Empty_Lines` (off).
    pub skip_empty_lines: bool,
    /// `Mem_Buf_Limit`: bytes read and not yet acknowledged ([`DEFAULT_MEM_BUF_LIMIT`]).
    pub mem_buf_limit: usize,
    /// `multiline.parser` / `Parser`: the built-in parsers to try, in order.
    pub parsers: Vec<Format>,
}

impl TailOptions {
    /// Read the options of a `tail` section; `ctx.name` is the default tag.
    pub fn from_plugin(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Self> {
        let mut paths = Vec::new();
        for value in plugin.get_all("Path") {
            paths.extend(split_list(value));
        }
        if paths.is_empty() {
            required(plugin, "Path")?;
            return Err(plugin.invalid_value("Path", "no file pattern given"));
        }
        for p in &paths {
            glob::Pattern::new(p).map_err(|e| plugin.invalid_value("Path", &format!("`{p}`: {e}")))?;
        }
        let mut exclude = Vec::new();
        for value in plugin.get_all("Exclude_Path") {
            for p in split_list(value) {
                exclude.push(
                    glob::Pattern::new(&p).map_err(|e| plugin.invalid_value("Exclude_Path", &format!("`{p}`: {e}")))?,
                );
            }
        }

        let mut parsers = Vec::new();
        for key in ["multiline.parser", "Parser"] {
            for value in plugin.get_all(key) {
                for name in split_list(value) {
                    let format = Format::from_name(&name).ok_or_else(|| {
                        plugin.invalid_value(
                            key,
                            &format!(
                                "parser `{name}` is not supported on tail: only the built-in `cri` and `docker` \
                                 parsers are, for now (apply other [PARSER]s with the parser filter)"
                            ),
                        )
                    })?;
                    if !parsers.contains(&format) {
                        parsers.push(format);
                    }
                }
            }
        }

        let db = match plugin.get("DB").map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(path) => Some(DbOptions {
                path: PathBuf::from(path),
                sync: match plugin.get("DB.sync").map(|v| v.trim().to_ascii_lowercase()) {
                    None => 1,
                    Some(v) => match v.as_str() {
                        "off" | "0" => 0,
                        "normal" | "1" => 1,
                        "full" | "2" => 2,
                        "extra" | "3" => 3,
                        _ => return Err(plugin.invalid_value("DB.sync", "expected extra, full, normal or off")),
                    },
                },
                locking: plugin.get_bool("DB.locking")?.unwrap_or(false),
                journal_mode: {
                    let mode = plugin.get("DB.journal_mode").unwrap_or("WAL").trim().to_owned();
                    let known = ["DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF"];
                    if !known.iter().any(|k| k.eq_ignore_ascii_case(&mode)) {
                        return Err(plugin.invalid_value(
                            "DB.journal_mode",
                            "expected WAL, DELETE, TRUNCATE, PERSIST, MEMORY or OFF",
                        ));
                    }
                    mode
                },
            }),
        };

        let buffer_chunk_size = size(plugin, "Buffer_Chunk_Size")?.unwrap_or(DEFAULT_BUFFER_SIZE);
        let mut buffer_max_size = size(plugin, "Buffer_Max_Size")?.unwrap_or(DEFAULT_BUFFER_SIZE);
        if buffer_max_size < buffer_chunk_size {
            // Fluent Bit never shrinks its buffer below the chunk size, so the chunk size is
            // the effective limit.
            buffer_max_size = buffer_chunk_size;
        }

        for key in UNSUPPORTED {
            if plugin.properties.contains(key) {
                tracing::warn!(input = %ctx.name, option = key, "tail: option not supported by Hydrant; ignored");
            }
        }

        Ok(TailOptions {
            paths,
            exclude,
            tag: plugin.get("Tag").map(str::trim).filter(|t| !t.is_empty()).unwrap_or(&ctx.name).to_owned(),
            key: plugin.get("Key").map(str::trim).filter(|k| !k.is_empty()).unwrap_or("log").to_owned(),
            path_key: plugin.get("Path_Key").map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()),
            offset_key: plugin.get("Offset_Key").map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()),
            db,
            read_from_head: plugin.get_bool("Read_From_Head")?.unwrap_or(false),
            refresh_interval: seconds(plugin, "Refresh_Interval")?.unwrap_or(Duration::from_secs(60)),
            rotate_wait: seconds(plugin, "Rotate_Wait")?.unwrap_or(Duration::from_secs(5)),
            buffer_chunk_size,
            buffer_max_size,
            skip_long_lines: plugin.get_bool("Skip_Long_Lines")?.unwrap_or(false),
            skip_empty_lines: plugin.get_bool("Skip_Empty_Lines")?.unwrap_or(false),
            mem_buf_limit: match size(plugin, "Mem_Buf_Limit")? {
                None | Some(0) => DEFAULT_MEM_BUF_LIMIT,
                Some(n) => n,
            },
            parsers,
        })
    }
}

fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn size(plugin: &Plugin, key: &str) -> BuildResult<Option<usize>> {
    Ok(plugin.get_size(key)?.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
}

/// A time option: Fluent Bit's units (`10`, `5m`), or fractional seconds (`0.5`), which
/// Fluent Bit accepts for `Refresh_Interval`.
fn seconds(plugin: &Plugin, key: &str) -> BuildResult<Option<Duration>> {
    if let Some(v) = plugin.get(key) {
        if let Ok(f) = v.trim().parse::<f64>() {
            if f.is_finite() && f > 0.0 {
                return Ok(Some(Duration::from_secs_f64(f)));
            }
            return Err(plugin.invalid_value(key, "must be a positive duration"));
        }
    }
    Ok(plugin.get_time(key)?.map(Duration::from_secs))
}

/// The tag of a file, as Fluent Bit composes it: a `*` in `tag` is replaced by the path;
/// then `/`, `\` and `:` become `.` (dropped at the very start), repeated dots collapse,
/// other `*` are dropped and a trailing dot goes. `kube.*` and
/// `/var/log/containers/web_ns_nginx-0123.log` give
/// `kube.var.log.containers.web_ns_nginx-0123.log`. A tag without `*` is used as is.
pub fn expand_tag(tag: &str, path: &str) -> String {
    let Some(star) = tag.find('*') else {
        return tag.to_owned();
    };
    let raw = format!("{}{}{}", &tag[..star], path, &tag[star + 1..]);
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = match c {
            '/' | '\\' | ':' => '.',
            '*' => continue,
            c => c,
        };
        if c == '.' && (out.is_empty() || out.ends_with('.')) {
            continue;
        }
        out.push(c);
    }
    if out.ends_with('.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_expand_like_fluent_bit() {
        let p = "/var/log/containers/web-1_default_nginx-0123abcd.log";
        assert_eq!(expand_tag("kube.*", p), "kube.var.log.containers.web-1_default_nginx-0123abcd.log");
        assert_eq!(expand_tag("*", p), "var.log.containers.web-1_default_nginx-0123abcd.log");
        assert_eq!(expand_tag("app.*.x", "/a/b"), "app.a.b.x");
        assert_eq!(expand_tag("static", p), "static");
        assert_eq!(expand_tag("k.*", "C:\\logs\\a.log"), "k.C.logs.a.log");
    }
}
