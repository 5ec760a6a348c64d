//! Chunks (records of one tag travelling together) and acknowledgements.
//!
//! At-least-once delivery hangs on [`Ack`]: an input creates one per unit of work it must
//! not lose (a span of a file), attaches it to the [`Chunk`] it emits, and learns how that
//! unit ended through the callback given to [`Ack::new`]. Every holder (a filter that
//! re-emits records under a new tag, each output a chunk is routed to) holds a clone, and
//! releases it with [`Ack::complete`] once its share is delivered or deliberately dropped
//! (a grep filter's exclusion, a record an output refuses and counts). The callback runs
//! when the last share is released:
//!
//! - [`AckOutcome::Delivered`] if every share was completed: the input may move its
//!   position past the span;
//! - [`AckOutcome::Abandoned`] if any share was dropped without completing (shutdown
//!   before delivery, a failed task): the input keeps its position, and the span is read
//!   again after a restart.
//!
//! Resources tied to the span (memory-limit permits) go in the callback's closure and are
//! released either way.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::record::Record;

/// How the unit of work behind an [`Ack`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Every holder completed its share.
    Delivered,
    /// At least one holder dropped its share without completing it.
    Abandoned,
}

type Callback = Box<dyn FnOnce(AckOutcome) + Send>;

struct Inner {
    abandoned: AtomicBool,
    on_done: Mutex<Option<Callback>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let outcome =
            if self.abandoned.load(Ordering::Acquire) { AckOutcome::Abandoned } else { AckOutcome::Delivered };
        if let Some(f) = self.on_done.get_mut().ok().and_then(Option::take) {
            f(outcome);
        }
    }
}

/// One share of an acknowledgement (see the module docs). Clone it to hand a share to
/// another holder; release it with [`Ack::complete`]. Dropping it without completing marks
/// the whole unit abandoned.
pub struct Ack {
    inner: Option<Arc<Inner>>,
}

impl Ack {
    /// A new acknowledgement whose `on_done` runs once, when the last share is released.
    pub fn new(on_done: impl FnOnce(AckOutcome) + Send + 'static) -> Self {
        Ack {
            inner: Some(Arc::new(Inner {
                abandoned: AtomicBool::new(false),
                on_done: Mutex::new(Some(Box::new(on_done))),
            })),
        }
    }

    /// An acknowledgement nobody waits for (tests, generated records).
    pub fn none() -> Self {
        Ack { inner: None }
    }

    /// Release this share as done: delivered, or deliberately dropped and accounted for.
    pub fn complete(mut self) {
        self.inner.take();
    }

    /// Mark the whole unit abandoned now (it will not count as delivered whatever the
    /// other holders do) and release this share.
    pub fn abandon(mut self) {
        if let Some(inner) = self.inner.take() {
            inner.abandoned.store(true, Ordering::Release);
        }
    }
}

impl Clone for Ack {
    fn clone(&self) -> Self {
        Ack { inner: self.inner.clone() }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.abandoned.store(true, Ordering::Release);
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.inner.is_some() { "Ack(pending)" } else { "Ack(none)" })
    }
}

/// Records of one tag, with the acknowledgement of the work they came from.
#[derive(Debug)]
pub struct Chunk {
    /// The tag (`kube.var.log.containers.web-1_default_nginx-<id>.log`).
    pub tag: Arc<str>,
    /// The records, in order.
    pub records: Vec<Record>,
    /// Released by whoever finishes with these records.
    pub ack: Ack,
    /// Bytes read from the source for these records (before parsing); for memory limits
    /// and metrics.
    pub source_bytes: usize,
}

impl Chunk {
    /// A chunk from its parts.
    pub fn new(tag: Arc<str>, records: Vec<Record>, ack: Ack) -> Self {
        Chunk { tag, records, ack, source_bytes: 0 }
    }

    /// A copy for a second holder: records cloned, a new share of the acknowledgement.
    pub fn share(&self) -> Chunk {
        Chunk {
            tag: self.tag.clone(),
            records: self.records.clone(),
            ack: self.ack.clone(),
            source_bytes: self.source_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn tracked() -> (Ack, mpsc::Receiver<AckOutcome>) {
        let (tx, rx) = mpsc::channel();
        (Ack::new(move |o| tx.send(o).unwrap()), rx)
    }

    #[test]
    fn delivered_once_every_share_completes() {
        let (ack, rx) = tracked();
        let second = ack.clone();
        ack.complete();
        assert!(rx.try_recv().is_err(), "one share still out");
        second.complete();
        assert_eq!(rx.try_recv().unwrap(), AckOutcome::Delivered);
    }

    #[test]
    fn dropping_a_share_abandons_the_unit() {
        let (ack, rx) = tracked();
        let second = ack.clone();
        drop(second);
        ack.complete();
        assert_eq!(rx.try_recv().unwrap(), AckOutcome::Abandoned);
        let (ack, rx) = tracked();
        ack.clone().abandon();
        ack.complete();
        assert_eq!(rx.try_recv().unwrap(), AckOutcome::Abandoned);
    }
}
