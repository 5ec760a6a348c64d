//! The timestamp formats SigV4 uses: ISO 8601 "basic format" (`20150830T123600Z`)
//! for `x-amz-date`, its `YYYYMMDD` prefix for credential scopes, and the HTTP
//! `Date` header that SigV4 accepts in place of `x-amz-date`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// Parses an `x-amz-date` value such as `20150830T123600Z`.
///
/// Exactly the 16-character `YYYYMMDDTHHMMSSZ` form is accepted; chrono's own
/// parser would also take signs, short fields and extra digits, which AWS rejects.
pub fn parse_amz_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..15].iter().all(u8::is_ascii_digit);
    if !shape_ok {
        return None;
    }
    let num =
        |range: std::ops::Range<usize>| -> u32 { b[range].iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')) };
    let year = i32::try_from(num(0..4)).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(4..6), num(6..8))?;
    let time = NaiveTime::from_hms_opt(num(9..11), num(11..13), num(13..15))?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// Formats a time as an `x-amz-date` value, e.g. `20150830T123600Z`.
pub fn format_amz_date(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Formats the date part of a credential scope, e.g. `20150830`.
pub fn format_amz_day(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d").to_string()
}

/// Parses an HTTP `Date` header (`Sun, 30 Aug 2015 12:36:00 GMT`).
///
/// Some SigV4 clients send `Date` instead of `x-amz-date`, and some of those put
/// the basic ISO format in it, so both are accepted.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    parse_amz_date(s).or_else(|| DateTime::parse_from_rfc2822(s).ok().map(|t| t.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_basic_format() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap());
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(format_amz_day(t), "20150830");
    }

    #[test]
    fn rejects_near_misses() {
        for s in [
            "",
            "20150830T123600",
            "20150830T123600z",
            "2015-08-30T12:36:00Z",
            "20150830 123600Z",
            "+0150830T123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "20150830T123600Z ",
            "201508300T123600Z",
        ] {
            assert!(parse_amz_date(s).is_none(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn parses_http_date_forms() {
        let want = Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap();
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap(), want);
        assert_eq!(parse_http_date("20150830T123600Z").unwrap(), want);
        assert!(parse_http_date("yesterday").is_none());
    }
}
