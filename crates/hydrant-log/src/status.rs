//! Status (severity) mapping, as Datadog's status remapper does it.

use serde_json::Value;

/// The status of a log that says nothing about it.
pub const DEFAULT: &str = "info";

/// Datadog's levels, most severe first.
pub const LEVELS: [&str; 9] = ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug", "ok"];

/// Maps a severity value to a Datadog status: integers 0-7 are syslog severities;
/// strings map by case-insensitive prefix (`emerg`/`f` emergency, `a` alert,
/// `c` critical, `err` error, `w` warning, `n` notice, `i` info, `d`/`t`/`v` debug,
/// `o`/`s`/`OK`/`Success` ok); anything else is `info`.
pub fn normalize(value: &Value) -> &'static str {
    match value {
        Value::Number(n) => n.as_u64().map_or(DEFAULT, syslog),
        Value::String(s) => from_str(s),
        _ => DEFAULT,
    }
}

/// [`normalize`] for a string.
pub fn from_str(s: &str) -> &'static str {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return syslog(n);
    }
    let lower = t.to_ascii_lowercase();
    let starts = |p: &str| lower.starts_with(p);
    if starts("emerg") || starts("f") {
        "emergency"
    } else if starts("a") {
        "alert"
    } else if starts("c") {
        "critical"
    } else if starts("err") {
        "error"
    } else if starts("w") {
        "warning"
    } else if starts("n") {
        "notice"
    } else if starts("i") {
        "info"
    } else if starts("d") || starts("t") || starts("v") {
        "debug"
    } else if starts("o") || starts("s") {
        "ok"
    } else {
        DEFAULT
    }
}

fn syslog(n: u64) -> &'static str {
    match n {
        0..=7 => LEVELS[n as usize],
        _ => DEFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mapping() {
        for (input, want) in [
            (json!(0), "emergency"),
            (json!(3), "error"),
            (json!(7), "debug"),
            (json!(8), "info"),
            (json!("4"), "warning"),
            (json!("EMERG"), "emergency"),
            (json!("fatal"), "emergency"),
            (json!("Alert"), "alert"),
            (json!("crit"), "critical"),
            (json!("ERROR"), "error"),
            (json!("err"), "error"),
            (json!("WARN"), "warning"),
            (json!("notice"), "notice"),
            (json!("INFO"), "info"),
            (json!("debug"), "debug"),
            (json!("trace"), "debug"),
            (json!("verbose"), "debug"),
            (json!("OK"), "ok"),
            (json!("Success"), "ok"),
            (json!("e"), "info"),
            (json!("bogus"), "info"),
            (json!(null), "info"),
        ] {
            assert_eq!(normalize(&input), want, "{input}");
        }
    }
}
