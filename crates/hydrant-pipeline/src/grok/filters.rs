//! Grok filters, the third part of `%{matcher:attribute:filter}`.
//!
//! `number`, `integer`, `integerExt`, `boolean`, `nullIf("value")`, `json`,
//! `keyvalue([separator[, allowed chars[, quotes[, delimiter]]]])`, `lowercase`, `uppercase`,
//! `url`, `useragent`, `querystring`, `decodeuricomponent`, `scale(factor)`,
//! `array([[open-close,] separator])`. Not implemented yet (refused at validation): `csv`,
//! `xml`, `array` with a sub-rule or filter, and `useragent`'s `decodeuricomponent` option
//! is accepted but the value is always decoded first.
//!
//! Choices: `number` gives a JSON integer when the text has no fraction or exponent (and
//! fits an i64), a float otherwise; `scale` likewise gives an integer when the result is
//! whole. `keyvalue` keeps values as strings, drops empty ones, and trims trailing `,` and
//! `;` from unquoted values (nginx's `key: value, key: value` lists).

use super::date::DateFormat;
use crate::{url_parse, useragent};
use percent_encoding::percent_decode_str;
use regex::Regex;
use serde_json::{Map, Number, Value};

/// One filter.
#[derive(Debug, Clone)]
pub(crate) enum GrokFilter {
    Integer,
    IntegerExt,
    Number,
    /// `Some(true_string)` from `boolean("t", "f")`; `None`: `true`/`false`.
    Boolean(Option<String>),
    NullIf(String),
    Json,
    KeyValue(Box<KeyValue>),
    Lowercase,
    Uppercase,
    Url,
    UserAgent,
    QueryString,
    DecodeUriComponent,
    Scale(f64),
    Array {
        open: Option<char>,
        close: Option<char>,
        separator: String,
    },
    Date(DateFormat),
}

#[derive(Debug, Clone)]
pub(crate) struct KeyValue {
    pairs: Regex,
    delimiter: Option<String>,
    separator: String,
}

impl GrokFilter {
    /// The filter `name(args)`.
    pub fn compile(name: &str, args: &[String]) -> Result<GrokFilter, String> {
        let no_args = |f: GrokFilter| {
            if args.is_empty() {
                Ok(f)
            } else {
                Err(format!("filter `{name}` takes no argument"))
            }
        };
        match name {
            "integer" => no_args(GrokFilter::Integer),
            "integerExt" => no_args(GrokFilter::IntegerExt),
            "number" | "numberExt" => no_args(GrokFilter::Number),
            "boolean" => match args {
                [] => Ok(GrokFilter::Boolean(None)),
                [t] | [t, _] => Ok(GrokFilter::Boolean(Some(t.clone()))),
                _ => Err("filter `boolean` takes at most two arguments".into()),
            },
            "nullIf" => match args {
                [v] => Ok(GrokFilter::NullIf(v.clone())),
                _ => Err("filter `nullIf` takes one argument".into()),
            },
            "json" => no_args(GrokFilter::Json),
            "keyvalue" => KeyValue::compile(args).map(|kv| GrokFilter::KeyValue(Box::new(kv))),
            "lowercase" => no_args(GrokFilter::Lowercase),
            "uppercase" => no_args(GrokFilter::Uppercase),
            "url" => no_args(GrokFilter::Url),
            "useragent" => Ok(GrokFilter::UserAgent),
            "querystring" => no_args(GrokFilter::QueryString),
            "decodeuricomponent" => no_args(GrokFilter::DecodeUriComponent),
            "scale" => match args {
                [f] => f
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(GrokFilter::Scale)
                    .ok_or_else(|| format!("filter `scale` needs a number, got `{f}`")),
                _ => Err("filter `scale` takes one argument".into()),
            },
            "array" => {
                let (oc, sep) = match args {
                    [] => (Some("[]"), ","),
                    [sep] => (None, sep.as_str()),
                    [oc, sep] => (Some(oc.as_str()), sep.as_str()),
                    _ => return Err("filter `array` with a sub-rule or filter is not supported yet".into()),
                };
                let (open, close) = match oc {
                    None => (None, None),
                    Some(oc) => {
                        let mut it = oc.chars();
                        match (it.next(), it.next(), it.next()) {
                            (Some(o), Some(c), None) => (Some(o), Some(c)),
                            _ => return Err(format!("filter `array`: `{oc}` must be two characters (open, close)")),
                        }
                    }
                };
                if sep.is_empty() {
                    return Err("filter `array` needs a non-empty separator".into());
                }
                Ok(GrokFilter::Array { open, close, separator: sep.to_string() })
            }
            "csv" | "xml" => Err(format!("filter `{name}` is not supported yet")),
            _ => Err(format!("unknown filter `{name}`")),
        }
    }

    /// Applies the filter; `None` drops the attribute.
    pub fn apply(&self, v: Value) -> Option<Value> {
        let text = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        };
        match self {
            GrokFilter::Integer => match &v {
                Value::Number(n) if n.is_i64() || n.is_u64() => Some(v),
                _ => text(&v)?.trim().trim_start_matches('+').parse::<i64>().ok().map(Value::from),
            },
            GrokFilter::IntegerExt => {
                let f: f64 = text(&v)?.trim().parse().ok()?;
                (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18).then(|| Value::from(f as i64))
            }
            GrokFilter::Number => match &v {
                Value::Number(_) => Some(v),
                _ => number(&text(&v)?),
            },
            GrokFilter::Boolean(t) => {
                let s = text(&v)?;
                match t {
                    Some(t) => Some(Value::Bool(s.eq_ignore_ascii_case(t))),
                    None if s.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
                    None if s.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
                    None => None,
                }
            }
            GrokFilter::NullIf(x) => match &v {
                Value::String(s) if s == x => Some(Value::Null),
                _ => Some(v),
            },
            GrokFilter::Json => serde_json::from_str(&text(&v)?).ok(),
            GrokFilter::KeyValue(kv) => Some(kv.apply(&text(&v)?)),
            GrokFilter::Lowercase => Some(Value::String(text(&v)?.to_lowercase())),
            GrokFilter::Uppercase => Some(Value::String(text(&v)?.to_uppercase())),
            GrokFilter::Url => url_parse::details(&text(&v)?, false),
            GrokFilter::UserAgent => Some(useragent::parse(&decode(&text(&v)?))),
            GrokFilter::QueryString => Some(url_parse::query_string(text(&v)?.trim_start_matches('?'))),
            GrokFilter::DecodeUriComponent => Some(Value::String(decode(&text(&v)?))),
            GrokFilter::Scale(f) => {
                let x = match &v {
                    Value::Number(n) => n.as_f64()?,
                    _ => text(&v)?.trim().parse::<f64>().ok()?,
                };
                Some(float_value(x * f))
            }
            GrokFilter::Array { open, close, separator } => {
                let s = text(&v)?;
                let mut inner = s.trim();
                if let (Some(o), Some(c)) = (open, close) {
                    inner = inner.strip_prefix(*o)?.strip_suffix(*c)?;
                }
                let items: Vec<Value> = if inner.trim().is_empty() {
                    Vec::new()
                } else {
                    inner.split(separator.as_str()).map(|p| Value::String(p.trim().to_string())).collect()
                };
                Some(Value::Array(items))
            }
            GrokFilter::Date(format) => format.parse(&text(&v)?).map(Value::from),
        }
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Text to a JSON number: an integer when it has no fraction or exponent, else a float.
pub(crate) fn number(s: &str) -> Option<Value> {
    let s = s.trim();
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(i) = s.trim_start_matches('+').parse::<i64>() {
            return Some(Value::from(i));
        }
    }
    let f: f64 = s.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

/// A float as JSON: an integer when whole (and exactly representable), else a float.
pub(crate) fn float_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
    }
}

impl KeyValue {
    fn compile(args: &[String]) -> Result<KeyValue, String> {
        if args.len() > 4 {
            return Err("filter `keyvalue` takes at most four arguments".into());
        }
        let separator = args.first().cloned().unwrap_or_else(|| "=".to_string());
        if separator.is_empty() {
            return Err("filter `keyvalue` needs a non-empty separator".into());
        }
        let allowed = args.get(1).map(|s| regex::escape(s).replace(']', r"\]")).unwrap_or_default();
        let quotes = args.get(2).cloned().unwrap_or_else(|| "\"\"''<>".to_string());
        let delimiter = args.get(3).filter(|d| !d.is_empty()).cloned();
        let qchars: Vec<char> = quotes.chars().collect();
        if !qchars.chunks_exact(2).remainder().is_empty() {
            return Err("filter `keyvalue`: quotes come in pairs (open, close)".into());
        }
        let chars = format!(r"[\w.\-@{allowed}]");
        let mut alternatives: Vec<String> = qchars
            .chunks(2)
            .map(|p| {
                let (o, c) = (regex::escape(&p[0].to_string()), regex::escape(&p[1].to_string()));
                format!("{o}(?P<q{}>[^{}]*){c}", p[0] as u32, c.replace(']', r"\]"))
            })
            .collect();
        alternatives.push(format!("(?P<v>{chars}+)"));
        let pairs = Regex::new(&format!(r"(?P<k>{chars}+){}(?:{})", regex::escape(&separator), alternatives.join("|")))
            .map_err(|e| format!("filter `keyvalue`: {e}"))?;
        Ok(KeyValue { pairs, delimiter, separator })
    }

    fn apply(&self, text: &str) -> Value {
        let mut out = Map::new();
        if let Some(d) = &self.delimiter {
            for part in text.split(d.as_str()) {
                if let Some((k, v)) = part.split_once(self.separator.as_str()) {
                    let (k, v) = (k.trim(), v.trim().trim_matches(['"', '\'']));
                    if !k.is_empty() && !v.is_empty() {
                        out.insert(k.to_string(), Value::String(v.to_string()));
                    }
                }
            }
            return Value::Object(out);
        }
        for caps in self.pairs.captures_iter(text) {
            let key = &caps["k"];
            let value = caps.iter().skip(2).flatten().next().map(|m| m.as_str()).map(|v| {
                if caps.name("v").is_some() {
                    v.trim_end_matches([',', ';'])
                } else {
                    v
                }
            });
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.insert(key.to_string(), Value::String(v.to_string()));
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str, args: &[&str], v: Value) -> Option<Value> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        GrokFilter::compile(name, &args).unwrap().apply(v)
    }

    #[test]
    fn filters() {
        assert_eq!(f("integer", &[], json!("+42")), Some(json!(42)));
        assert_eq!(f("integer", &[], json!("4.2")), None);
        assert_eq!(f("number", &[], json!("4.5")), Some(json!(4.5)));
        assert_eq!(f("boolean", &[], json!("TRUE")), Some(json!(true)));
        assert_eq!(f("nullIf", &["-"], json!("-")), Some(Value::Null));
        assert_eq!(f("json", &[], json!(r#"{"a":[1]}"#)), Some(json!({"a": [1]})));
        assert_eq!(f("lowercase", &[], json!("AbC")), Some(json!("abc")));
        assert_eq!(f("uppercase", &[], json!("AbC")), Some(json!("ABC")));
        assert_eq!(f("scale", &["1000"], json!("1.5")), Some(json!(1500)));
        assert_eq!(f("scale", &["0.5"], json!(3)), Some(json!(1.5)));
        assert_eq!(f("decodeuricomponent", &[], json!("a%20b%2Fc")), Some(json!("a b/c")));
        assert_eq!(f("querystring", &[], json!("?a=1&b=x%20y&a=2")), Some(json!({"a": ["1", "2"], "b": "x y"})));
        assert_eq!(f("array", &[], json!("[a, b,c]")), Some(json!(["a", "b", "c"])));
        assert_eq!(f("array", &["|"], json!("a|b")), Some(json!(["a", "b"])));
        assert_eq!(f("array", &["{}", ";"], json!("{1;2}")), Some(json!(["1", "2"])));
        assert_eq!(
            f("keyvalue", &[], json!(r#"user=john id=12 msg="hello world" empty= x"#)),
            Some(json!({"user": "john", "id": "12", "msg": "hello world"}))
        );
        assert_eq!(
            f("keyvalue", &[": ", ","], json!(r#"client: 10.0.0.1, server: localhost, request: "GET / HTTP/1.1""#)),
            Some(json!({"client": "10.0.0.1", "server": "localhost", "request": "GET / HTTP/1.1"}))
        );
        assert_eq!(f("keyvalue", &["=", "", "", "&"], json!("a=1&b=2")), Some(json!({"a": "1", "b": "2"})));
        assert!(GrokFilter::compile("csv", &[]).unwrap_err().contains("not supported"));
        assert!(GrokFilter::compile("scale", &["x".into()]).is_err());
    }
}
