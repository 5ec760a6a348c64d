//! `Time_Format`: strptime(3) as Fluent Bit's `flb_strptime` reads it, plus `%L`.
//!
//! Formats are compiled once at build time into a list of [`Item`]s. Rules kept from
//! Fluent Bit:
//!
//! - whitespace in the format matches any run of whitespace (or none) in the text;
//! - numbers read at most as many digits as their largest value has (`%m` two, `%Y` four);
//! - `%L` reads fractional seconds (any number of digits, nanoseconds kept);
//! - `%z` reads `Z`, `±hh`, `±hhmm`, `±hh:mm`; `%Z` reads `UTC`, `GMT` or `Z`;
//! - text after the last conversion is ignored (strptime stops there);
//! - a format without a year (`%b %d %H:%M:%S`, syslog) takes the current year, month and
//!   day from the current UTC date, as `flb_parser_time_lookup` does.

use chrono::{Datelike, NaiveDate};

/// One step of a compiled format.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// A literal character that must match exactly.
    Literal(char),
    /// Whitespace: skips any whitespace in the text.
    Space,
    /// A number stored in a field: (field, lowest, highest).
    Num(Field, u32, u32),
    /// `%b %B %h`: month name.
    MonthName,
    /// `%a %A`: weekday name (checked, then ignored).
    WeekdayName,
    /// `%p`: AM/PM.
    AmPm,
    /// `%z`: numeric offset.
    Offset,
    /// `%Z`: zone name.
    ZoneName,
    /// `%s`: seconds since the epoch.
    Epoch,
    /// `%L`: fractional seconds.
    Fraction,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Year,
    Year2,
    Century,
    Month,
    Day,
    YearDay,
    Hour,
    Hour12,
    Minute,
    Second,
    /// Week numbers and weekday numbers: read, not used.
    Ignored,
}

/// A compiled `Time_Format`.
#[derive(Debug, Clone)]
pub struct TimeFormat {
    items: Vec<Item>,
    /// Whether the format names the year (`%Y`, `%y`, `%s`...).
    pub has_year: bool,
    /// Whether the format carries its own zone (`%z`, `%Z`, or a literal `Z` after the
    /// seconds, as Fluent Bit decides it): `Time_Offset` does not apply then.
    pub has_zone: bool,
}

/// What a text gave, before it becomes a timestamp.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    year: Option<i32>,
    year2: Option<u32>,
    century: Option<u32>,
    month: Option<u32>,
    day: Option<u32>,
    year_day: Option<u32>,
    hour: u32,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    /// Nanoseconds from `%L`.
    pub nanos: u32,
    /// Offset east of UTC in seconds from `%z`/`%Z`.
    pub offset: Option<i32>,
    epoch: Option<i64>,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

impl TimeFormat {
    /// Compile a format; unknown conversions are refused.
    pub fn new(format: &str) -> Result<TimeFormat, String> {
        let mut items = Vec::new();
        compile_into(format, &mut items, 0)?;
        let has_year =
            items.iter().any(|i| matches!(i, Item::Epoch | Item::Num(Field::Year, ..) | Item::Num(Field::Year2, ..)));
        let has_zone =
            format.contains("%z") || format.contains("%Z") || format.contains("%SZ") || format.contains("%S.%LZ");
        Ok(TimeFormat { items, has_year, has_zone })
    }

    /// Read `text`; `None` when it does not match the format.
    pub fn parse(&self, text: &str) -> Option<Parsed> {
        let mut p = Parsed::default();
        let mut s = text.as_bytes();
        for item in &self.items {
            match item {
                Item::Literal(c) => {
                    let mut buf = [0u8; 4];
                    let lit = c.encode_utf8(&mut buf).as_bytes();
                    s = s.strip_prefix(lit)?;
                }
                Item::Space => s = skip_space(s),
                Item::Num(field, low, high) => {
                    if matches!(field, Field::Day | Field::Hour | Field::Hour12 | Field::Month) {
                        // %e and %k are space-padded; strptime accepts the padding everywhere.
                        s = skip_space(s);
                    }
                    let (n, rest) = conv_num(s, *low, *high)?;
                    s = rest;
                    match field {
                        Field::Year => p.year = Some(n as i32),
                        Field::Year2 => p.year2 = Some(n),
                        Field::Century => p.century = Some(n),
                        Field::Month => p.month = Some(n),
                        Field::Day => p.day = Some(n),
                        Field::YearDay => p.year_day = Some(n),
                        Field::Hour => p.hour = n,
                        Field::Hour12 => p.hour12 = Some(n),
                        Field::Minute => p.minute = n,
                        Field::Second => p.second = n,
                        Field::Ignored => {}
                    }
                }
                Item::MonthName => {
                    let (i, rest) = name_prefix(s, &MONTHS)?;
                    p.month = Some(i as u32 + 1);
                    s = rest;
                }
                Item::WeekdayName => s = name_prefix(s, &WEEKDAYS)?.1,
                Item::AmPm => {
                    let head = s.get(..2)?;
                    if head.eq_ignore_ascii_case(b"am") {
                        p.pm = Some(false);
                    } else if head.eq_ignore_ascii_case(b"pm") {
                        p.pm = Some(true);
                    } else {
                        return None;
                    }
                    s = &s[2..];
                }
                Item::Offset => {
                    let (off, rest) = parse_offset(s)?;
                    p.offset = Some(off);
                    s = rest;
                }
                Item::ZoneName => {
                    if let Some(rest) = s.strip_prefix(b"UTC").or_else(|| s.strip_prefix(b"GMT")) {
                        s = rest;
                    } else {
                        s = s.strip_prefix(b"Z")?;
                    }
                    p.offset = Some(0);
                }
                Item::Epoch => {
                    let neg = s.first() == Some(&b'-');
                    let digits = if neg { &s[1..] } else { s };
                    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
                    if n == 0 {
                        return None;
                    }
                    let v: i64 = std::str::from_utf8(&digits[..n]).ok()?.parse().ok()?;
                    p.epoch = Some(if neg { -v } else { v });
                    s = &digits[n..];
                }
                Item::Fraction => {
                    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
                    if n == 0 {
                        return None;
                    }
                    let mut nanos = 0u32;
                    for i in 0..9 {
                        nanos = nanos * 10 + s.get(i).filter(|_| i < n).map_or(0, |b| u32::from(b - b'0'));
                    }
                    p.nanos = nanos;
                    s = &s[n..];
                }
            }
        }
        Some(p)
    }
}

impl Parsed {
    /// Seconds since the epoch, taking `offset` (seconds east of UTC) when the text had no
    /// zone, and `today` (UTC) for the fields a year-less format leaves out.
    pub fn to_epoch(&self, has_year: bool, default_offset: i32, today: NaiveDate) -> Option<i64> {
        if let Some(e) = self.epoch {
            return Some(e);
        }
        let year = match (self.year, self.year2, self.century) {
            (Some(y), _, _) => y,
            (None, Some(yy), Some(c)) => (c * 100 + yy) as i32,
            (None, Some(yy), None) => (if yy < 69 { 2000 + yy } else { 1900 + yy }) as i32,
            (None, None, Some(c)) => (c * 100) as i32,
            (None, None, None) => today.year(),
        };
        let date = match (self.month, self.day, self.year_day) {
            (None, None, Some(yd)) => NaiveDate::from_yo_opt(year, yd)?,
            (m, d, _) if has_year => NaiveDate::from_ymd_opt(year, m.unwrap_or(1), d.unwrap_or(1))?,
            (m, d, _) => NaiveDate::from_ymd_opt(year, m.unwrap_or(today.month()), d.unwrap_or(today.day()))?,
        };
        let hour = match (self.hour12, self.pm) {
            (Some(h), pm) => h % 12 + if pm == Some(true) { 12 } else { 0 },
            (None, Some(true)) if self.hour < 12 => self.hour + 12,
            _ => self.hour,
        };
        let secs = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp()
            + i64::from(hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        Some(secs - i64::from(self.offset.unwrap_or(default_offset)))
    }
}

fn compile_into(format: &str, items: &mut Vec<Item>, depth: u8) -> Result<(), String> {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            items.push(Item::Space);
            continue;
        }
        if c != '%' {
            items.push(Item::Literal(c));
            continue;
        }
        let mut conv = chars.next().ok_or_else(|| format!("time format `{format}` ends with `%`"))?;
        // %E and %O select alternative locale forms; the C locale has none.
        if conv == 'E' || conv == 'O' {
            conv = chars.next().ok_or_else(|| format!("time format `{format}` ends with `%{conv}`"))?;
        }
        let composite = match conv {
            'T' => Some("%H:%M:%S"),
            'D' | 'x' => Some("%m/%d/%y"),
            'F' => Some("%Y-%m-%d"),
            'R' => Some("%H:%M"),
            'r' => Some("%I:%M:%S %p"),
            'c' => Some("%a %b %e %H:%M:%S %Y"),
            'X' => Some("%H:%M:%S"),
            _ => None,
        };
        if let Some(sub) = composite {
            if depth > 2 {
                return Err(format!("time format `{format}` nests too deep"));
            }
            compile_into(sub, items, depth + 1)?;
            continue;
        }
        items.push(match conv {
            'Y' => Item::Num(Field::Year, 0, 9999),
            'y' => Item::Num(Field::Year2, 0, 99),
            'C' => Item::Num(Field::Century, 0, 99),
            'm' => Item::Num(Field::Month, 1, 12),
            'd' | 'e' => Item::Num(Field::Day, 1, 31),
            'j' => Item::Num(Field::YearDay, 1, 366),
            'H' | 'k' => Item::Num(Field::Hour, 0, 23),
            'I' | 'l' => Item::Num(Field::Hour12, 1, 12),
            'M' => Item::Num(Field::Minute, 0, 59),
            'S' => Item::Num(Field::Second, 0, 60),
            'U' | 'W' | 'V' => Item::Num(Field::Ignored, 0, 53),
            'u' | 'w' => Item::Num(Field::Ignored, 0, 7),
            'G' => Item::Num(Field::Ignored, 0, 9999),
            'g' => Item::Num(Field::Ignored, 0, 99),
            'b' | 'B' | 'h' => Item::MonthName,
            'a' | 'A' => Item::WeekdayName,
            'p' => Item::AmPm,
            'z' => Item::Offset,
            'Z' => Item::ZoneName,
            's' => Item::Epoch,
            'L' => Item::Fraction,
            'n' | 't' => Item::Space,
            '%' => Item::Literal('%'),
            other => return Err(format!("time format `{format}`: unknown conversion `%{other}`")),
        });
    }
    Ok(())
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

/// strptime's `_conv_num`: read digits while the value can still grow within `high`.
fn conv_num(s: &[u8], low: u32, high: u32) -> Option<(u32, &[u8])> {
    let mut i = 0;
    let mut result: u32 = 0;
    let mut limit = high;
    loop {
        let b = *s.get(i)?;
        if !b.is_ascii_digit() {
            if i == 0 {
                return None;
            }
            break;
        }
        result = result * 10 + u32::from(b - b'0');
        i += 1;
        limit /= 10;
        if result * 10 > high || limit == 0 || !s.get(i).is_some_and(u8::is_ascii_digit) {
            break;
        }
    }
    (low..=high).contains(&result).then_some((result, &s[i..]))
}

/// Full name or three-letter abbreviation, case-insensitive; full names first.
fn name_prefix<'a>(s: &'a [u8], names: &[&str]) -> Option<(usize, &'a [u8])> {
    for (i, name) in names.iter().enumerate() {
        if s.len() >= name.len() && s[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return Some((i, &s[name.len()..]));
        }
    }
    for (i, name) in names.iter().enumerate() {
        if s.len() >= 3 && s[..3].eq_ignore_ascii_case(&name.as_bytes()[..3]) {
            return Some((i, &s[3..]));
        }
    }
    None
}

/// `Z`, `±hh`, `±hhmm`, `±hh:mm` → seconds east of UTC.
fn parse_offset(s: &[u8]) -> Option<(i32, &[u8])> {
    if let Some(rest) = s.strip_prefix(b"Z").or_else(|| s.strip_prefix(b"z")) {
        return Some((0, rest));
    }
    if let Some(rest) = s.strip_prefix(b"UTC").or_else(|| s.strip_prefix(b"GMT")) {
        return Some((0, rest));
    }
    let neg = match s.first()? {
        b'+' => false,
        b'-' => true,
        _ => return None,
    };
    let two = |s: &[u8]| -> Option<i32> {
        let d = s.get(..2)?;
        d.iter().all(u8::is_ascii_digit).then(|| i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'))
    };
    let hours = two(&s[1..])?;
    let mut rest = &s[3..];
    let mut minutes = 0;
    if let Some(m) = rest.strip_prefix(b":").and_then(two) {
        minutes = m;
        rest = &rest[3..];
    } else if let Some(m) = two(rest) {
        minutes = m;
        rest = &rest[2..];
    }
    if hours > 23 || minutes > 59 {
        return None;
    }
    let off = hours * 3600 + minutes * 60;
    Some((if neg { -off } else { off }, rest))
}

/// `Time_Offset`: `+0200`, `-08:00`, `Z` → seconds east of UTC.
pub fn parse_time_offset(text: &str) -> Option<i32> {
    match parse_offset(text.trim().as_bytes()) {
        Some((off, [])) => Some(off),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(fmt: &str, text: &str) -> Option<(i64, u32)> {
        let f = TimeFormat::new(fmt).unwrap();
        let p = f.parse(text)?;
        let today = NaiveDate::from_ymd_opt(2024, 6, 15).unwrap();
        Some((p.to_epoch(f.has_year, 0, today)?, p.nanos))
    }

    #[test]
    fn common_formats() {
        assert_eq!(
            epoch("%Y-%m-%dT%H:%M:%S.%L%z", "2019-05-07T18:57:50.904275087+00:00"),
            Some((1557255470, 904275087))
        );
        assert_eq!(epoch("%Y-%m-%dT%H:%M:%S.%L%z", "2019-05-07T20:57:50.9+02:00"), Some((1557255470, 900000000)));
        assert_eq!(epoch("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700"), Some((971211336, 0)));
        assert_eq!(epoch("%Y-%m-%dT%H:%M:%SZ", "2019-05-07T18:57:50Z"), Some((1557255470, 0)));
        assert_eq!(epoch("%s", "1557255470"), Some((1557255470, 0)));
        assert_eq!(epoch("%Y-%m-%d %H:%M:%S,%L", "2019-05-07 18:57:50,123"), Some((1557255470, 123000000)));
        // Syslog without a year takes the current one.
        assert_eq!(epoch("%b %d %H:%M:%S", "May  7 18:57:50"), Some((1715108270, 0)));
        assert_eq!(epoch("%Y-%m-%dT%H:%M:%S", "garbage"), None);
        assert_eq!(epoch("%Y-%m-%d %I:%M:%S %p", "2019-05-07 06:57:50 PM"), Some((1557255470, 0)));
        assert!(TimeFormat::new("%Q").is_err());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_time_offset("+0200"), Some(7200));
        assert_eq!(parse_time_offset("-08:00"), Some(-28800));
        assert_eq!(parse_time_offset("Z"), Some(0));
        assert_eq!(parse_time_offset("nope"), None);
    }
}
