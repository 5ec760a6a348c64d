//! Waiting for a batch: a consumer's buffer flushes when its size hint is reached or its
//! oldest record has waited the interval hint, whichever comes first (interval 0: as
//! soon as anything is there). Hints are re-read whenever `UpdateDestination` changes
//! them, and the age is measured from each record's arrival, so records replayed after
//! a restart go out at once.

use std::time::Duration;

use tokio::time::Instant;

use crate::destination::{Buffering, Destination};
use crate::service::{now_ms, Stream};
use crate::stream::Record;

/// How much one batch may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The buffering hints.
    pub buffering: Buffering,
    /// At most this many records.
    pub max_records: usize,
}

/// Waits for the next batch from `cursor`; `None` once the stream is cancelled.
/// `limits` derives the limits from the current destination settings.
pub async fn next_batch(stream: &Stream, cursor: u64, limits: impl Fn(&Destination) -> Limits) -> Option<Vec<Record>> {
    let mut published = stream.backlog.subscribe();
    let mut settings = stream.settings.subscribe();
    loop {
        // Mark both as seen before looking, so a change after the look wakes us.
        published.borrow_and_update();
        let l = limits(&settings.borrow_and_update());
        let (bytes, count, oldest) = stream.backlog.available(cursor);
        let mut deadline = None;
        if let (true, Some(oldest)) = (count > 0, oldest) {
            let age = Duration::from_millis(now_ms().saturating_sub(oldest));
            if bytes >= l.buffering.size_bytes || count >= l.max_records as u64 || age >= l.buffering.interval {
                return Some(stream.backlog.read(cursor, l.buffering.size_bytes, l.max_records));
            }
            deadline = Some(Instant::now() + (l.buffering.interval - age));
        }
        tokio::select! {
            _ = published.changed() => {}
            _ = settings.changed() => {}
            _ = sleep_until(deadline) => {}
            _ = stream.cancel.cancelled() => return None,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
