//! Value units as Fluent Bit reads them: sizes (`flb_utils_size_to_bytes`), times
//! (`flb_utils_time_to_seconds`) and booleans (`flb_utils_bool`).
//!
//! Hydrant is stricter than Fluent Bit where Fluent Bit silently reads garbage as 0 (its
//! `atof`/`atoi`): a value with no leading number, or with an unknown suffix, is an error here.

use std::time::Duration;

/// A value that does not parse as the unit asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}: {reason}")]
pub struct UnitError {
    /// The value as written.
    pub value: String,
    /// `size`, `time` or `boolean`.
    pub kind: &'static str,
    /// Why it does not parse.
    pub reason: &'static str,
}

fn unit_error(value: &str, kind: &'static str, reason: &'static str) -> UnitError {
    UnitError { value: value.to_string(), kind, reason }
}

/// Split `s` into its leading number (digits with at most one `.`) and the rest.
fn split_number(s: &str) -> (&str, &str) {
    let mut seen_dot = false;
    let end = s
        .char_indices()
        .find(|&(_, c)| {
            if c == '.' && !seen_dot {
                seen_dot = true;
                false
            } else {
                !c.is_ascii_digit()
            }
        })
        .map_or(s.len(), |(i, _)| i);
    (&s[..end], &s[end..])
}

/// A size in bytes, with Fluent Bit's decimal units: a plain number is bytes; `k`/`KB` is 10^3,
/// `m`/`MB` 10^6, `g`/`GB` 10^9 (case-insensitive); a fraction is allowed (`2.5M` is 2,500,000,
/// rounded down as Fluent Bit does); `false` is 0 (Fluent Bit's way to disable a limit).
///
/// ```
/// use hydrant_flb::config::units::parse_size;
/// assert_eq!(parse_size("32k").unwrap(), 32_000);
/// assert_eq!(parse_size("66KB").unwrap(), 66_000);
/// assert_eq!(parse_size("5M").unwrap(), 5_000_000);
/// assert_eq!(parse_size("1G").unwrap(), 1_000_000_000);
/// assert_eq!(parse_size("0").unwrap(), 0);
/// ```
pub fn parse_size(value: &str) -> Result<u64, UnitError> {
    let s = value.trim();
    if s.eq_ignore_ascii_case("false") {
        return Ok(0);
    }
    let (number, suffix) = split_number(s);
    if number.is_empty() || number == "." {
        return Err(unit_error(value, "size", "expected a number of bytes, optionally followed by K, M or G"));
    }
    let multiplier: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        _ => return Err(unit_error(value, "size", "the unit must be K, KB, M, MB, G or GB")),
    };
    if let Some((whole, frac)) = number.split_once('.') {
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large(value))? };
        let mut result = whole.checked_mul(multiplier).ok_or_else(|| too_large(value))?;
        // Add the fractional part digit by digit, rounding down like Fluent Bit's cast.
        let mut scale = multiplier;
        for d in frac.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            result += u64::from(d - b'0') * scale;
        }
        Ok(result)
    } else {
        let n: u64 = number.parse().map_err(|_| too_large(value))?;
        n.checked_mul(multiplier).ok_or_else(|| too_large(value))
    }
}

fn too_large(value: &str) -> UnitError {
    unit_error(value, "size", "too large")
}

/// A time in whole seconds: a plain number is seconds; suffixes `s`, `m` (minutes), `h`, `d`
/// (case-insensitive) as in `flb_utils_time_to_seconds`.
///
/// ```
/// use hydrant_flb::config::units::parse_time;
/// assert_eq!(parse_time("300s").unwrap(), 300);
/// assert_eq!(parse_time("5m").unwrap(), 300);
/// assert_eq!(parse_time("1h").unwrap(), 3600);
/// assert_eq!(parse_time("10").unwrap(), 10);
/// ```
pub fn parse_time(value: &str) -> Result<u64, UnitError> {
    let s = value.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    if number.is_empty() {
        return Err(unit_error(value, "time", "expected whole seconds, optionally followed by s, m, h or d"));
    }
    let multiplier: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(unit_error(value, "time", "the unit must be s, m, h or d")),
    };
    let n: u64 = number.parse().map_err(|_| unit_error(value, "time", "too large"))?;
    n.checked_mul(multiplier).ok_or_else(|| unit_error(value, "time", "too large"))
}

/// [`parse_time`] as a [`Duration`].
pub fn parse_duration(value: &str) -> Result<Duration, UnitError> {
    parse_time(value).map(Duration::from_secs)
}

/// A boolean: `on`/`true`/`yes` or `off`/`false`/`no`, case-insensitive.
///
/// ```
/// use hydrant_flb::config::units::parse_bool;
/// assert!(parse_bool("On").unwrap());
/// assert!(!parse_bool("no").unwrap());
/// assert!(parse_bool("1").is_err());
/// ```
pub fn parse_bool(value: &str) -> Result<bool, UnitError> {
    let s = value.trim();
    if ["on", "true", "yes"].iter().any(|t| s.eq_ignore_ascii_case(t)) {
        Ok(true)
    } else if ["off", "false", "no"].iter().any(|t| s.eq_ignore_ascii_case(t)) {
        Ok(false)
    } else {
        Err(unit_error(value, "boolean", "expected on, off, true, false, yes or no"))
    }
}
