//! URL details, for the `url-parser` processor and the grok `url` filter:
//! `{scheme, host, port, path, queryString}` as Datadog writes them.
//!
//! Choices: `port` (a number) only when the URL spells it out; `queryString` (an object,
//! repeated keys become arrays, values percent-decoded) only when there is a query; a
//! relative URL (`/index.html?x=1`, as nginx logs it) gives `path` and `queryString` only;
//! `normalize_ending_slashes` drops trailing `/` from the path (a lone `/` stays). Text that
//! is not a URL gives nothing.

use serde_json::{Map, Value};
use url::Url;

/// The details of `text`, or `None` when it is not a URL.
pub(crate) fn details(text: &str, normalize_ending_slashes: bool) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut out = Map::new();
    let (path, query) = match Url::parse(text) {
        Ok(u) if u.has_host() => {
            out.insert("scheme".into(), Value::String(u.scheme().to_string()));
            if let Some(h) = u.host_str() {
                out.insert("host".into(), Value::String(h.trim_start_matches('[').trim_end_matches(']').to_string()));
            }
            if let Some(p) = u.port() {
                out.insert("port".into(), Value::from(p));
            }
            (u.path().to_string(), u.query().map(str::to_string))
        }
        Ok(_) => return None,
        Err(_) if text.starts_with('/') => {
            let base = Url::parse("http://relative.invalid/").ok()?;
            let u = base.join(text).ok()?;
            (u.path().to_string(), u.query().map(str::to_string))
        }
        Err(_) => return None,
    };
    let path = if normalize_ending_slashes && path.len() > 1 {
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        }
    } else {
        path
    };
    out.insert("path".into(), Value::String(path));
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        out.insert("queryString".into(), query_string(&q));
    }
    Some(Value::Object(out))
}

/// `a=1&b=2&a=3` -> `{"a": ["1", "3"], "b": "2"}` (decoded).
pub(crate) fn query_string(q: &str) -> Value {
    let mut out = Map::new();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        if k.is_empty() {
            continue;
        }
        let v = Value::String(v.into_owned());
        match out.get_mut(k.as_ref()) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                out.insert(k.into_owned(), v);
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls() {
        assert_eq!(
            details("https://app.datadoghq.com:8443/users/?q=a%20b#frag", false),
            Some(
                json!({"scheme": "https", "host": "app.datadoghq.com", "port": 8443, "path": "/users/", "queryString": {"q": "a b"}})
            )
        );
        assert_eq!(details("http://x.org/a//", true), Some(json!({"scheme": "http", "host": "x.org", "path": "/a"})));
        assert_eq!(details("/index.html?x=1", false), Some(json!({"path": "/index.html", "queryString": {"x": "1"}})));
        assert_eq!(details("not a url", false), None);
        assert_eq!(details("mailto:a@b.c", false), None);
    }
}
