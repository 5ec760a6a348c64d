//! Retry policy: how long to wait between attempts, and when (if ever) to give up.
//!
//! Fluent Bit's default `Retry_Limit 1` drops a chunk after one retry (fluent-bit 3894), and
//! its scheduler waits up to `scheduler.cap` (2000 s) between retries. Hydrant retries
//! forever by default, with exponential back-off and jitter capped at 30 s, so that data is
//! never dropped unless the user asked for it with `Retry_Limit N` (then the records are
//! counted in `output_dropped_records` and logged).

use std::time::Duration;

use hydrant_flb::config::{ConfigError, Plugin, Properties};

/// Hydrant's first back-off (doubling per attempt).
pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
/// Hydrant's longest back-off.
pub const DEFAULT_CAP: Duration = Duration::from_secs(30);

/// How many retries a record gets (Fluent Bit's `Retry_Limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryLimit {
    /// Retry until delivered (`no_limits`, `false`, or unset in Hydrant).
    Unlimited,
    /// At most this many retries after the first attempt (`N`; `no_retries` is 0).
    Retries(u32),
}

impl RetryLimit {
    /// Read `Retry_Limit` of `plugin`.
    pub fn from_plugin(plugin: &Plugin) -> Result<RetryLimit, ConfigError> {
        let Some(value) = plugin.get("Retry_Limit") else { return Ok(RetryLimit::Unlimited) };
        let v = value.trim();
        if v.eq_ignore_ascii_case("no_limits") || v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("off") {
            return Ok(RetryLimit::Unlimited);
        }
        if v.eq_ignore_ascii_case("no_retries") {
            return Ok(RetryLimit::Retries(0));
        }
        match v.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(RetryLimit::Retries(n)),
            _ => Err(plugin.invalid_value(
                "Retry_Limit",
                &format!("`{value}`: expected a number of retries (1 or more), no_limits, false or no_retries"),
            )),
        }
    }

    /// Whether a record that has failed `failures` times must be dropped now.
    pub fn exhausted(self, failures: u32) -> bool {
        match self {
            RetryLimit::Unlimited => false,
            RetryLimit::Retries(n) => failures > n,
        }
    }
}

/// Exponential back-off with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: DEFAULT_BASE, cap: DEFAULT_CAP }
    }
}

impl Backoff {
    /// From `[SERVICE]`'s `scheduler.base` and `scheduler.cap` (seconds; fractions allowed),
    /// which are Fluent Bit's retry scheduler settings; Hydrant's defaults otherwise.
    pub fn from_service(service: &Properties) -> Result<Backoff, String> {
        let seconds = |key: &str, default: Duration| -> Result<Duration, String> {
            match service.get(key) {
                None => Ok(default),
                Some(v) => parse_seconds(v).ok_or_else(|| format!("[SERVICE] {key} `{v}`: expected seconds")),
            }
        };
        let base = seconds("scheduler.base", DEFAULT_BASE)?;
        let cap = seconds("scheduler.cap", DEFAULT_CAP.max(base))?;
        Ok(Backoff { base, cap: cap.max(base) })
    }

    /// The wait before retry number `attempt` (1-based): `base * 2^(attempt-1)` capped, then
    /// a random point in its upper half, so that workers that failed together do not retry
    /// together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let full = exp.min(self.cap);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(rand::random::<f64>())
    }

    /// The longest wait, for errors that waiting a little will not fix.
    pub fn capped(&self) -> Duration {
        let half = self.cap / 2;
        half + self.cap.saturating_sub(half).mul_f64(rand::random::<f64>())
    }
}

/// Seconds as written in Fluent Bit's `[SERVICE]` (`1`, `0.5`, `5s`).
pub fn parse_seconds(value: &str) -> Option<Duration> {
    let v = value.trim();
    let v = v.strip_suffix('s').unwrap_or(v);
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hydrant_flb::config::Origin;

    fn plugin(limit: Option<&str>) -> Plugin {
        let mut p = Plugin::new("kinesis_firehose", Origin::new("output.conf", 1));
        if let Some(l) = limit {
            p.properties.push("Retry_Limit", l);
        }
        p
    }

    #[test]
    fn retry_limit_values() {
        assert_eq!(RetryLimit::from_plugin(&plugin(None)).unwrap(), RetryLimit::Unlimited);
        assert_eq!(RetryLimit::from_plugin(&plugin(Some("no_limits"))).unwrap(), RetryLimit::Unlimited);
        assert_eq!(RetryLimit::from_plugin(&plugin(Some("False"))).unwrap(), RetryLimit::Unlimited);
        assert_eq!(RetryLimit::from_plugin(&plugin(Some("no_retries"))).unwrap(), RetryLimit::Retries(0));
        assert_eq!(RetryLimit::from_plugin(&plugin(Some("3"))).unwrap(), RetryLimit::Retries(3));
        assert!(RetryLimit::from_plugin(&plugin(Some("0"))).is_err());
        assert!(RetryLimit::from_plugin(&plugin(Some("many"))).is_err());
        assert!(!RetryLimit::Retries(2).exhausted(2));
        assert!(RetryLimit::Retries(2).exhausted(3));
        assert!(!RetryLimit::Unlimited.exhausted(u32::MAX));
    }

    #[test]
    fn delays_double_with_jitter_and_stop_at_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            let d10 = b.delay(10);
            assert!(d10 >= Duration::from_millis(500) && d10 <= Duration::from_secs(1), "{d10:?}");
            assert!(b.delay(u32::MAX) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn service_scheduler_keys() {
        let mut s = Properties::new();
        assert_eq!(Backoff::from_service(&s).unwrap(), Backoff::default());
        s.push("scheduler.base", "0.01");
        s.push("scheduler.cap", "2");
        assert_eq!(
            Backoff::from_service(&s).unwrap(),
            Backoff { base: Duration::from_millis(10), cap: Duration::from_secs(2) }
        );
        s.push("scheduler.cap", "soon");
        assert!(Backoff::from_service(&s).is_err());
    }
}
