//! The grok `date("pattern"[, "timezone"])` matcher: Java-style date patterns
//! (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`, `dd/MMM/yyyy:HH:mm:ss Z`, `MMM d HH:mm:ss` ...) turned into
//! a regex fragment for the rule and an anchored regex with captures that parses the
//! matched text into milliseconds since the epoch.
//!
//! Letters: `y` (`yy` two-digit year, 2000-2099), `M`/`MM` (number), `MMM` (abbreviated
//! name), `MMMM` (full name), `d`, `H`/`k`, `h`/`K` with `a`, `m`, `s`, `S...` (fraction, 1 to
//! 9 digits whatever the count), `E...` (day name, ignored), `Z`/`ZZ`/`X...`/`x...` (an offset
//! `+hhmm`, `+hh:mm`, `+hh` or `Z`), `z`/`ZZZ`/`VV` (`UTC`, `GMT`, `Z` only). `'text'` is
//! literal. No year: the current year; no date at all: today (UTC). The timezone argument
//! applies to dates without an offset: `UTC`, `GMT`, `Z`, `+hh:mm`, `UTC+h`; IANA names
//! (`Europe/Paris`) are not supported yet (no tz database in this crate).

use chrono::{Datelike, NaiveDate, Utc};
use regex::Regex;

/// A compiled date pattern.
#[derive(Debug, Clone)]
pub(crate) struct DateFormat {
    /// Anchored, with named captures.
    parser: Regex,
    /// Offset applied to dates without one, in seconds east of UTC.
    default_offset: i32,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

impl DateFormat {
    /// Compiles `pattern`; returns the format and the regex fragment (no captures) to put
    /// in the grok rule.
    pub fn compile(pattern: &str, timezone: Option<&str>) -> Result<(DateFormat, String), String> {
        let default_offset = match timezone {
            None => 0,
            Some(tz) => parse_offset(tz).ok_or_else(|| format!("unsupported timezone \"{tz}\""))?,
        };
        let chars: Vec<char> = pattern.chars().collect();
        let mut plain = String::new();
        let mut captured = String::new();
        let mut used: Vec<&str> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a quote.
                if chars.get(i + 1) == Some(&'\'') {
                    plain.push('\'');
                    captured.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                let mut lit = String::new();
                while j < chars.len() && chars[j] != '\'' {
                    lit.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("unterminated quote in date pattern \"{pattern}\""));
                }
                let esc = regex::escape(&lit);
                plain.push_str(&esc);
                captured.push_str(&esc);
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                let esc = regex::escape(&c.to_string());
                plain.push_str(&esc);
                captured.push_str(&esc);
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < chars.len() && chars[i + n] == c {
                n += 1;
            }
            i += n;
            let (name, re): (&str, &str) = match (c, n) {
                ('y' | 'u', 2) => ("y2", r"\d{2}"),
                ('y' | 'u', _) => ("y", r"\d{4}"),
                ('M', 1) => ("M", r"\d{1,2}"),
                ('M', 2) => ("M", r"\d{2}"),
                ('M', 3) => ("Mn", r"[A-Za-z]{3}"),
                ('M', _) => ("Mn", r"[A-Za-z]{3,9}"),
                ('d', 1) => ("d", r"\d{1,2}"),
                ('d', _) => ("d", r"\d{2}"),
                ('H' | 'k', 1) => ("H", r"\d{1,2}"),
                ('H' | 'k', _) => ("H", r"\d{2}"),
                ('h' | 'K', 1) => ("h", r"\d{1,2}"),
                ('h' | 'K', _) => ("h", r"\d{2}"),
                ('m', 1) => ("m", r"\d{1,2}"),
                ('m', _) => ("m", r"\d{2}"),
                ('s', 1) => ("s", r"\d{1,2}"),
                ('s', _) => ("s", r"\d{2}"),
                ('S', _) => ("S", r"\d{1,9}"),
                ('a', _) => ("a", r"(?i:AM|PM)"),
                ('E', 1..=3) => ("E", r"[A-Za-z]{3}"),
                ('E', _) => ("E", r"[A-Za-z]{3,9}"),
                ('Z', 1 | 2) | ('X' | 'x', _) => ("Z", r"(?:Z|[+-]\d{2}(?::?\d{2})?)"),
                ('z', _) | ('Z', _) | ('V', _) => ("zn", r"[A-Za-z]{1,5}"),
                _ => return Err(format!("unsupported letter '{c}' in date pattern \"{pattern}\"")),
            };
            plain.push_str(&format!("(?:{re})"));
            if used.contains(&name) {
                captured.push_str(&format!("(?:{re})"));
            } else {
                used.push(name);
                captured.push_str(&format!("(?P<{name}>{re})"));
            }
        }
        let parser = Regex::new(&format!(r"\A{captured}\z")).map_err(|e| format!("invalid date pattern: {e}"))?;
        Ok((DateFormat { parser, default_offset }, plain))
    }

    /// Milliseconds since the epoch of `text`, or `None` when it does not parse.
    pub fn parse(&self, text: &str) -> Option<i64> {
        let caps = self.parser.captures(text)?;
        let num = |n: &str| caps.name(n).and_then(|m| m.as_str().parse::<u32>().ok());
        let today = Utc::now().date_naive();
        let has_date = ["y", "y2", "M", "Mn", "d"].iter().any(|n| caps.name(n).is_some());
        let year = match (caps.name("y"), num("y2")) {
            (Some(y), _) => y.as_str().parse::<i32>().ok()?,
            (None, Some(y2)) => 2000 + y2 as i32,
            _ => today.year(),
        };
        let month = match (num("M"), caps.name("Mn")) {
            (Some(m), _) => m,
            (None, Some(name)) => {
                let lower = name.as_str().to_ascii_lowercase();
                MONTHS.iter().position(|m| lower.starts_with(m))? as u32 + 1
            }
            _ if has_date => 1,
            _ => today.month(),
        };
        let day = num("d").unwrap_or(if has_date { 1 } else { today.day() });
        let mut hour = num("H").or(num("h")).unwrap_or(0);
        if let Some(a) = caps.name("a") {
            let pm = a.as_str().eq_ignore_ascii_case("pm");
            if hour == 12 {
                hour = 0;
            }
            if pm {
                hour += 12;
            }
        }
        let minute = num("m").unwrap_or(0);
        let second = num("s").unwrap_or(0);
        let nanos = match caps.name("S") {
            Some(f) => {
                let digits = f.as_str();
                let v: u32 = digits.parse().ok()?;
                v * 10u32.pow(9 - digits.len() as u32)
            }
            None => 0,
        };
        let offset = match (caps.name("Z"), caps.name("zn")) {
            (Some(z), _) => parse_offset(z.as_str())?,
            (None, Some(z)) => parse_offset(z.as_str())?,
            _ => self.default_offset,
        };
        let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)?;
        Some(naive.and_utc().timestamp_millis() - i64::from(offset) * 1000)
    }
}

/// `Z`, `UTC`, `GMT`, `+hh`, `+hhmm`, `+hh:mm`, `UTC+h`, `GMT-hh:mm` -> seconds east of UTC.
pub(crate) fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let rest = ["UTC", "GMT", "Z"].iter().find_map(|p| s.strip_prefix(p)).unwrap_or(s);
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => (&digits[..2], &digits[2..]),
        None => (digits, "0"),
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(pattern: &str, tz: Option<&str>, text: &str) -> Option<i64> {
        let (f, plain) = DateFormat::compile(pattern, tz).unwrap();
        assert!(Regex::new(&format!(r"\A{plain}\z")).unwrap().is_match(text), "{pattern} vs {text}");
        f.parse(text)
    }

    #[test]
    fn patterns() {
        // 2023-01-27T16:53:42Z
        let t = 1_674_838_422_000;
        assert_eq!(ms("yyyy/MM/dd HH:mm:ss", None, "2023/01/27 16:53:42"), Some(t));
        assert_eq!(ms("dd/MMM/yyyy:HH:mm:ss Z", None, "27/Jan/2023:18:53:42 +0200"), Some(t));
        assert_eq!(ms("yyyy-MM-dd'T'HH:mm:ss.SSSZZ", None, "2023-01-27T16:53:42.250Z"), Some(t + 250));
        assert_eq!(ms("MM/dd/yyyy hh:mm:ss a", Some("+01:00"), "01/27/2023 05:53:42 PM"), Some(t));
        assert_eq!(ms("EEE MMM dd HH:mm:ss yyyy", None, "Fri Jan 27 16:53:42 2023"), Some(t));
        assert!(DateFormat::compile("yyyy-MM-dd", Some("Europe/Paris")).is_err());
        assert!(DateFormat::compile("yyyy-QQ", None).is_err());
    }
}
