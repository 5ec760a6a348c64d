//! The `throttle` filter: drop records above an average rate (`plugins/filter_throttle`).
//!
//! Fluent Bit keeps a sliding window of `Window` panes (default 5), one per `Interval`
//! (default 1s): each kept record counts in the current pane, a new pane starts every
//! interval (the oldest one leaves the window), and a record is dropped while
//! `total / Window` (integer division, as in Fluent Bit) is at least `Rate` (default 1).
//! Dropped records are counted in `filter_dropped_records`. `Print_Status` logs the
//! window's state at each interval.

use std::time::Instant;

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::{BuildContext, BuildResult};
use hydrant_flb::{BoxFuture, Emitted, Filter, Record};

use crate::common::{bool_option, Counters};

/// The throttle filter.
#[derive(Debug)]
pub struct Throttle {
    rate: f64,
    interval_ms: u64,
    panes: Vec<u64>,
    total: u64,
    tick: u64,
    start: Instant,
    print_status: bool,
    name: String,
    counters: Counters,
}

/// Build a throttle filter.
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Throttle> {
    let rate = match plugin.get("Rate") {
        None => 1.0,
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0)
            .ok_or_else(|| plugin.invalid_value("Rate", &format!("`{v}`: expected a positive number")))?,
    };
    let window = match plugin.get("Window") {
        None => 5,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|w| *w > 0)
            .ok_or_else(|| plugin.invalid_value("Window", &format!("`{v}`: expected a positive integer")))?,
    };
    let interval_ms = interval_ms(plugin)?;
    Ok(Throttle {
        rate,
        interval_ms,
        panes: vec![0; window],
        total: 0,
        tick: 0,
        start: Instant::now(),
        print_status: bool_option(plugin, "Print_Status", false)?,
        name: ctx.name.clone(),
        counters: Counters::new(ctx),
    })
}

/// `Interval`: a time with Fluent Bit's units, fractions allowed (`0.5s`, `100ms` is not a
/// Fluent Bit unit); default 1 second.
fn interval_ms(plugin: &Plugin) -> BuildResult<u64> {
    let Some(v) = plugin.get("Interval") else { return Ok(1000) };
    let v = v.trim();
    let (num, mult) = match v.char_indices().last() {
        Some((i, 's' | 'S')) => (&v[..i], 1000.0),
        Some((i, 'm' | 'M')) => (&v[..i], 60_000.0),
        Some((i, 'h' | 'H')) => (&v[..i], 3_600_000.0),
        Some((i, 'd' | 'D')) => (&v[..i], 86_400_000.0),
        _ => (v, 1000.0),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * mult)
        .filter(|ms| ms.is_finite() && *ms >= 1.0)
        .map(|ms| ms as u64)
        .ok_or_else(|| plugin.invalid_value("Interval", &format!("`{v}`: expected a time such as `1s` or `0.5s`")))
}

impl Throttle {
    /// Whether a record arriving `elapsed_ms` after the filter started is kept.
    pub fn keep_at(&mut self, elapsed_ms: u64) -> bool {
        let tick = elapsed_ms / self.interval_ms;
        if tick > self.tick {
            // Each interval that passed opened a new (empty) pane, pushing the oldest out.
            let steps = (tick - self.tick).min(self.panes.len() as u64);
            for i in 1..=steps {
                let slot = ((self.tick + i) % self.panes.len() as u64) as usize;
                self.total -= self.panes[slot];
                self.panes[slot] = 0;
            }
            self.tick = tick;
            if self.print_status {
                tracing::info!(
                    filter = %self.name,
                    "throttle: window total {} over {} panes, rate {} (max {})",
                    self.total,
                    self.panes.len(),
                    self.total / self.panes.len() as u64,
                    self.rate
                );
            }
        }
        if (self.total / self.panes.len() as u64) as f64 >= self.rate {
            return false;
        }
        let slot = (self.tick % self.panes.len() as u64) as usize;
        self.panes[slot] += 1;
        self.total += 1;
        true
    }
}

impl Filter for Throttle {
    fn filter<'a>(
        &'a mut self,
        _tag: &'a str,
        records: &'a mut Vec<Record>,
        _emitted: &'a mut Vec<Emitted>,
    ) -> BoxFuture<'a, ()> {
        let before = records.len();
        let elapsed = self.start.elapsed().as_millis() as u64;
        records.retain(|_| self.keep_at(elapsed));
        self.counters.dropped.inc_by((before - records.len()) as u64);
        Box::pin(std::future::ready(()))
    }
}
