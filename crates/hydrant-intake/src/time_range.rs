//! `from`/`to` of the search APIs: date math (`now`, `now-15m`, `now-1h`, `now-7d`,
//! units s m h d w), Unix milliseconds, or ISO 8601.

use chrono::DateTime;

/// Resolves a time expression against `now_ms`; `None` when it is not one.
pub fn resolve(expr: &str, now_ms: i64) -> Option<i64> {
    let e = expr.trim();
    if let Some(rest) = e.strip_prefix("now") {
        if rest.is_empty() {
            return Some(now_ms);
        }
        let (sign, amount) = match rest.as_bytes()[0] {
            b'-' => (-1, &rest[1..]),
            b'+' => (1, &rest[1..]),
            _ => return None,
        };
        let unit = amount.chars().last()?;
        let n: i64 = amount[..amount.len() - unit.len_utf8()].parse().ok()?;
        let ms = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            'w' => 604_800_000,
            _ => return None,
        };
        return Some(now_ms + sign * n * ms);
    }
    if let Ok(n) = e.parse::<i64>() {
        return Some(n);
    }
    DateTime::parse_from_rfc3339(e).ok().map(|d| d.timestamp_millis())
}

/// A duration like Datadog's `interval`: `30s`, `5m`, `1h`, `1d`, `500ms`, or plain ms.
pub fn interval_ms(expr: &str) -> Option<i64> {
    let e = expr.trim();
    if let Ok(n) = e.parse::<i64>() {
        return (n > 0).then_some(n);
    }
    let (num, mult) = if let Some(n) = e.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = e.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = e.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = e.strip_suffix('h') {
        (n, 3_600_000)
    } else if let Some(n) = e.strip_suffix('d') {
        (n, 86_400_000)
    } else {
        return None;
    };
    let n: i64 = num.parse().ok()?;
    (n > 0).then_some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let now = 1_700_000_000_000;
        assert_eq!(resolve("now", now), Some(now));
        assert_eq!(resolve("now-15m", now), Some(now - 900_000));
        assert_eq!(resolve("now-1h", now), Some(now - 3_600_000));
        assert_eq!(resolve("now-7d", now), Some(now - 7 * 86_400_000));
        assert_eq!(resolve("now+30s", now), Some(now + 30_000));
        assert_eq!(resolve("1699999999000", now), Some(1_699_999_999_000));
        assert_eq!(resolve("2023-11-14T22:13:20Z", now), Some(1_700_000_000_000));
        assert_eq!(resolve("now-15x", now), None);
        assert_eq!(resolve("yesterday", now), None);
        assert_eq!(interval_ms("5m"), Some(300_000));
        assert_eq!(interval_ms("500ms"), Some(500));
        assert_eq!(interval_ms("60000"), Some(60_000));
        assert_eq!(interval_ms("0s"), None);
        assert_eq!(interval_ms("x"), None);
    }
}
