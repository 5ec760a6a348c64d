//! CRI log lines (containerd, CRI-O): `<RFC3339Nano time> <stdout|stderr> <P|F> <content>`.
//!
//! Fluent Bit's built-in `cri` multiline parser (`flb_ml_parser_cri.c`) is the regex
//! `^(?<time>.+?) (?<stream>stdout|stderr) (?<_p>F|P) (?<log>.*)$` with time format
//! `%Y-%m-%dT%H:%M:%S.%L%z` and `Time_Keep On`. [`parse`] matches exactly what that regex
//! matches, without a regex engine: this runs once per line on the router's hottest path.
//! The record Fluent Bit builds from it has the keys `time`, `stream`, `_p`, `log` in that
//! order (the order of the named groups), `time` kept as the original string.

use hydrant_flb::EventTime;

/// The fields of one CRI line, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'a> {
    /// The timestamp as written (`2024-01-15T10:00:00.123456789Z`).
    pub time: &'a str,
    /// `stdout` or `stderr`.
    pub stream: &'a str,
    /// `P` (partial: the runtime split a long line, more follows) rather than `F` (final).
    pub partial: bool,
    /// The content after the tag, possibly empty.
    pub content: &'a str,
}

/// Split a CRI line (without its newline) into its fields, or `None` if it is not one.
///
/// Like the regex's lazy `.+?`, the time is the shortest non-empty prefix followed by
/// ` stdout ` or ` stderr `, a `P` or `F`, and a space.
pub fn parse(line: &str) -> Option<CriLine<'_>> {
    let bytes = line.as_bytes();
    let mut from = 1;
    while from < bytes.len() {
        let space = from + memchr::memchr(b' ', &bytes[from..])?;
        let rest = &bytes[space + 1..];
        if rest.len() >= 9
            && (rest.starts_with(b"stdout ") || rest.starts_with(b"stderr "))
            && (rest[7] == b'F' || rest[7] == b'P')
            && rest[8] == b' '
        {
            // Every split point is an ASCII byte, so these are char boundaries.
            return Some(CriLine {
                time: &line[..space],
                stream: &line[space + 1..space + 7],
                partial: rest[7] == b'P',
                content: &line[space + 10..],
            });
        }
        from = space + 1;
    }
    None
}

/// Parse an RFC 3339 timestamp as container runtimes and Docker write it:
/// `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no zone means UTC (Docker's
/// json-file always writes `Z`; Fluent Bit's docker time format has no `%z` and reads UTC).
/// Fractions beyond nanoseconds are truncated. `None` if it does not parse: Fluent Bit's
/// built-in parsers are not `Time_Strict`, so the caller then uses the read time.
pub fn parse_time(s: &str) -> Option<EventTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        let mut scale = 100_000_000u32;
        while i < b.len() && b[i].is_ascii_digit() {
            nanos += u32::from(b[i] - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let zone = &s[i + 1..];
            let (h, m) = match zone.len() {
                5 if zone.as_bytes()[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?),
                _ => return None,
            };
            let secs = h * 3600 + m * 60;
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(EventTime::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_final_and_partial_lines() {
        let l = parse("2024-01-15T10:00:00.123456789Z stdout F GET / 200").unwrap();
        assert_eq!(l.time, "2024-01-15T10:00:00.123456789Z");
        assert_eq!(l.stream, "stdout");
        assert!(!l.partial);
        assert_eq!(l.content, "GET / 200");
        let l = parse("2024-01-15T10:00:00Z stderr P ").unwrap();
        assert!(l.partial);
        assert_eq!(l.content, "");
        assert_eq!(l.stream, "stderr");
    }

    #[test]
    fn refuses_what_the_regex_refuses() {
        for bad in [
            "",
            "plain text",
            " stdout F x",
            "2024-01-15T10:00:00Z stdout F",
            "2024-01-15T10:00:00Z stdin F x",
            "2024-01-15T10:00:00Z stdout X x",
            "2024-01-15T10:00:00Z stdout Fx",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn time_is_the_shortest_prefix() {
        let l = parse("a b stdout F c stdout F d").unwrap();
        assert_eq!(l.time, "a b");
        assert_eq!(l.content, "c stdout F d");
    }

    #[test]
    fn parses_rfc3339_times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(EventTime::new(0, 0)));
        assert_eq!(parse_time("2024-01-15T10:00:00.123456789Z"), Some(EventTime::new(1_705_312_800, 123_456_789)));
        assert_eq!(parse_time("2024-01-15T10:00:00.5Z"), Some(EventTime::new(1_705_312_800, 500_000_000)));
        assert_eq!(parse_time("2024-01-15T12:00:00.000000001+02:00"), Some(EventTime::new(1_705_312_800, 1)));
        assert_eq!(parse_time("2024-01-15T08:30:00-0130"), Some(EventTime::new(1_705_312_800, 0)));
        assert_eq!(parse_time("2024-01-15T10:00:00.1234567891Z"), Some(EventTime::new(1_705_312_800, 123_456_789)));
        assert_eq!(parse_time("2024-02-29T00:00:00"), Some(EventTime::new(1_709_164_800, 0)));
        for bad in ["", "2024-01-15", "2024-01-15 10:00:00Z", "2024-13-15T10:00:00Z", "2024-01-15T10:00:00.Z", "x"] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }
}
