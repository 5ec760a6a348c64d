//! A compact user-agent parser for the `user-agent-parser` processor and the grok
//! `useragent` filter: `{os: {family, major, minor, patch}, browser: {family, major, minor,
//! patch}, device: {family, category}}`, with ua-parser (uap-core) family names, which is
//! what Datadog uses.
//!
//! It knows the major browsers (Chrome, Chrome Mobile, Chrome Mobile iOS, Chrome Mobile
//! WebView, HeadlessChrome, Firefox, Firefox Mobile, Firefox iOS, Safari, Mobile Safari,
//! Edge, Opera, Samsung Internet, IE), common bots, command-line and library clients (curl,
//! Wget, Python Requests, Go-http-client, okhttp, Apache-HttpClient, PostmanRuntime,
//! kube-probe, ELB-HealthChecker), and the OSes Windows, Mac OS X, iOS, Android, Chrome
//! OS, Ubuntu, Linux. Anything else is `Other`. Device categories: `Desktop`, `Mobile`,
//! `Tablet`, `Bot`, `Other`. uap-core's thousands of device models are not known: an
//! Android device's family is the model its user agent names. Versions are only given when
//! present (`major`, `minor`, `patch` as strings).

use serde_json::{json, Map, Value};

const BOTS: [(&str, &str); 11] = [
    ("Googlebot", "Googlebot"),
    ("bingbot", "bingbot"),
    ("YandexBot", "YandexBot"),
    ("DuckDuckBot", "DuckDuckBot"),
    ("Baiduspider", "Baiduspider"),
    ("AhrefsBot", "AhrefsBot"),
    ("Slurp", "Yahoo! Slurp"),
    ("facebookexternalhit", "FacebookBot"),
    ("Twitterbot", "Twitterbot"),
    ("DatadogSynthetics", "Datadog Synthetics"),
    ("Applebot", "Applebot"),
];

const CLIENTS: [(&str, &str); 9] = [
    ("curl/", "curl"),
    ("Wget/", "Wget"),
    ("python-requests/", "Python Requests"),
    ("Go-http-client/", "Go-http-client"),
    ("okhttp/", "okhttp"),
    ("Apache-HttpClient/", "Apache-HttpClient"),
    ("PostmanRuntime/", "PostmanRuntime"),
    ("kube-probe/", "kube-probe"),
    ("ELB-HealthChecker/", "ELB-HealthChecker"),
];

/// Version parts right after `token` (`Chrome/` -> `["67", "0", "3396"]`).
fn version_after<'a>(ua: &'a str, token: &str) -> Option<Vec<&'a str>> {
    let at = ua.find(token)? + token.len();
    let rest = &ua[at..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')).unwrap_or(rest.len());
    let parts: Vec<&str> = rest[..end].split(['.', '_']).filter(|p| !p.is_empty()).take(3).collect();
    Some(parts)
}

fn with_version(family: &str, parts: Option<Vec<&str>>) -> Value {
    let mut m = Map::new();
    m.insert("family".into(), Value::String(family.to_string()));
    for (name, part) in ["major", "minor", "patch"].iter().zip(parts.unwrap_or_default()) {
        if part.chars().all(|c| c.is_ascii_digit()) {
            m.insert(name.to_string(), Value::String(part.to_string()));
        } else {
            break;
        }
    }
    Value::Object(m)
}

/// Parses a user agent.
pub(crate) fn parse(ua: &str) -> Value {
    let ua = ua.trim();
    let lower = ua.to_ascii_lowercase();
    let has = |s: &str| ua.contains(s);
    let android = has("Android");
    let ios = has("iPhone") || has("iPad") || has("iPod");
    let mobile = has("Mobile");

    let bot = BOTS.iter().find(|(token, _)| has(token)).map(|(t, name)| (*t, *name)).or_else(|| {
        (lower.contains("bot") || lower.contains("spider") || lower.contains("crawler")).then_some(("", "Other"))
    });

    let browser = if let Some((token, name)) = bot {
        let parts = if token.is_empty() { None } else { version_after(ua, &format!("{token}/")) };
        with_version(name, parts)
    } else if let Some((token, name)) = CLIENTS.iter().find(|(t, _)| ua.starts_with(t) || has(t)) {
        with_version(name, version_after(ua, token))
    } else if let Some(token) = ["EdgA/", "EdgiOS/", "Edg/", "Edge/"].iter().find(|t| has(t)) {
        with_version(if android || ios { "Edge Mobile" } else { "Edge" }, version_after(ua, token))
    } else if has("OPR/") {
        with_version(if mobile { "Opera Mobile" } else { "Opera" }, version_after(ua, "OPR/"))
    } else if has("SamsungBrowser/") {
        with_version("Samsung Internet", version_after(ua, "SamsungBrowser/"))
    } else if has("CriOS/") {
        with_version("Chrome Mobile iOS", version_after(ua, "CriOS/"))
    } else if has("FxiOS/") {
        with_version("Firefox iOS", version_after(ua, "FxiOS/"))
    } else if has("Firefox/") {
        with_version(if android && mobile { "Firefox Mobile" } else { "Firefox" }, version_after(ua, "Firefox/"))
    } else if has("HeadlessChrome/") {
        with_version("HeadlessChrome", version_after(ua, "HeadlessChrome/"))
    } else if has("Chrome/") {
        let family = if android && has("; wv)") {
            "Chrome Mobile WebView"
        } else if android && mobile {
            "Chrome Mobile"
        } else {
            "Chrome"
        };
        with_version(family, version_after(ua, "Chrome/"))
    } else if has("MSIE ") {
        with_version("IE", version_after(ua, "MSIE "))
    } else if has("Trident/") && has("rv:") {
        with_version("IE", version_after(ua, "rv:"))
    } else if has("Safari/") && has("Version/") {
        with_version(if ios { "Mobile Safari" } else { "Safari" }, version_after(ua, "Version/"))
    } else if ios && has("AppleWebKit/") {
        json!({"family": "Mobile Safari UI/WKWebView"})
    } else {
        json!({"family": "Other"})
    };

    let os = if let Some(v) = version_after(ua, "Windows NT ") {
        let version = v.join(".");
        let major = match version.as_str() {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            "6.0" => "Vista",
            "5.1" | "5.2" => "XP",
            _ => "",
        };
        if major.is_empty() {
            json!({"family": "Windows"})
        } else {
            json!({"family": "Windows", "major": major})
        }
    } else if ios {
        let v = version_after(ua, "iPhone OS ").or_else(|| version_after(ua, "CPU OS "));
        with_version("iOS", v)
    } else if android {
        with_version("Android", version_after(ua, "Android "))
    } else if has("Mac OS X") {
        with_version("Mac OS X", version_after(ua, "Mac OS X "))
    } else if has("CrOS") {
        json!({"family": "Chrome OS"})
    } else if has("Ubuntu") {
        with_version("Ubuntu", version_after(ua, "Ubuntu/"))
    } else if has("Linux") {
        json!({"family": "Linux"})
    } else {
        json!({"family": "Other"})
    };

    let (device, category) = if bot.is_some() {
        ("Spider".to_string(), "Bot")
    } else if has("iPad") {
        ("iPad".to_string(), "Tablet")
    } else if has("iPhone") {
        ("iPhone".to_string(), "Mobile")
    } else if has("iPod") {
        ("iPod".to_string(), "Mobile")
    } else if android {
        let model = android_model(ua).unwrap_or(if mobile { "Generic Smartphone" } else { "Generic Tablet" });
        (model.to_string(), if mobile { "Mobile" } else { "Tablet" })
    } else if has("Macintosh") {
        ("Mac".to_string(), "Desktop")
    } else if has("Windows NT") || has("X11") || has("CrOS") {
        ("Other".to_string(), "Desktop")
    } else {
        ("Other".to_string(), "Other")
    };

    json!({"os": os, "browser": browser, "device": {"family": device, "category": category}})
}

/// `(Linux; Android 13; SM-S908B Build/...)` or `(Linux; Android 10; K)` -> the model.
fn android_model(ua: &str) -> Option<&str> {
    let open = ua.find('(')?;
    let close = ua[open..].find(')')? + open;
    let is_locale = |p: &str| p.len() <= 5 && p.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c == '_');
    ua[open + 1..close]
        .split(';')
        .map(str::trim)
        .find(|p| {
            !p.is_empty()
                && !p.starts_with("Android")
                && !p.starts_with("Linux")
                && *p != "U"
                && *p != "wv"
                && !is_locale(p)
        })
        .map(|p| p.split(" Build/").next().unwrap_or(p).trim())
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers() {
        let mac = parse("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/67.0.3396.99 Safari/537.36");
        assert_eq!(
            mac,
            json!({"os": {"family": "Mac OS X", "major": "10", "minor": "13", "patch": "5"},
                   "browser": {"family": "Chrome", "major": "67", "minor": "0", "patch": "3396"},
                   "device": {"family": "Mac", "category": "Desktop"}})
        );
        let iphone = parse("Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1");
        assert_eq!(iphone["browser"], json!({"family": "Mobile Safari", "major": "16", "minor": "5"}));
        assert_eq!(iphone["os"], json!({"family": "iOS", "major": "16", "minor": "5"}));
        assert_eq!(iphone["device"], json!({"family": "iPhone", "category": "Mobile"}));
        let android = parse("Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36");
        assert_eq!(android["browser"]["family"], "Chrome Mobile");
        assert_eq!(android["os"], json!({"family": "Android", "major": "13"}));
        assert_eq!(android["device"], json!({"family": "SM-S908B", "category": "Mobile"}));
        let win = parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0");
        assert_eq!(win["browser"], json!({"family": "Firefox", "major": "115", "minor": "0"}));
        assert_eq!(win["os"], json!({"family": "Windows", "major": "10"}));
        assert_eq!(win["device"]["category"], "Desktop");
        let edge = parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91");
        assert_eq!(edge["browser"]["family"], "Edge");
        let bot = parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(bot["browser"], json!({"family": "Googlebot", "major": "2", "minor": "1"}));
        assert_eq!(bot["device"], json!({"family": "Spider", "category": "Bot"}));
        let curl = parse("curl/8.1.2");
        assert_eq!(curl["browser"], json!({"family": "curl", "major": "8", "minor": "1", "patch": "2"}));
        assert_eq!(curl["device"]["category"], "Other");
        assert_eq!(parse("")["browser"]["family"], "Other");
    }
}
