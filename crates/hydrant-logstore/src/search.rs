//! The top-k collector of searches: the first `k` matching logs by `(timestamp, id)`.
//!
//! Within a segment, `id` term ordinals sort like the ids, so the per-segment heap compares
//! `(timestamp, ordinal)` pairs read from fast fields without resolving any id; the `k`
//! winners' ids are resolved at the end of the segment and merged across segments.
//!
//! [`top_in_time_order`] runs the segments best first (by their newest or oldest
//! timestamp, from the column's bounds) and stops at the first segment whose every log
//! would come after the `k` found so far. Logs arrive about in time order, so the newest
//! page (the explorer's default view) reads the newest segments only instead of every
//! match of the time range; a later segment also skips, from the timestamp alone, each
//! log that comes after the `k`-th found.

use crate::schema::{F_ID, F_TIMESTAMP};
use crate::stored_log;
use hydrant_log::Log;
use hydrant_query::Query;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn, TermOrdHit};
use tantivy::query::{EnableScoring, Query as TantivyQuery};
use tantivy::schema::Field;
use tantivy::store::StoreReader;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument};

/// One result.
pub(crate) struct Hit {
    pub timestamp_ms: i64,
    pub id: String,
    pub address: DocAddress,
    /// The log, when the collector already read it to check it.
    pub log: Option<Log>,
}

/// Collects the first `k` logs in `(timestamp, id)` order (ascending or descending),
/// after `cursor` when given, checking candidates with `verify` when given.
#[derive(Clone)]
pub(crate) struct TopCollector {
    pub asc: bool,
    pub k: usize,
    pub cursor: Option<(i64, String)>,
    pub verify: Option<Query>,
    pub log_field: Field,
    /// The `k`-th timestamp found in the segments already read: a log dated after it (in
    /// the requested order) cannot enter the top `k`.
    pub bound: Option<i64>,
}

pub(crate) struct TopSegment {
    asc: bool,
    k: usize,
    segment: SegmentOrdinal,
    timestamps: Column<i64>,
    ids: StrColumn,
    /// Cursor timestamp and the position of the cursor id among this segment's ids.
    cursor: Option<(i64, TermOrdHit)>,
    /// [`TopCollector::bound`].
    bound: Option<i64>,
    verify: Option<(Query, StoreReader, Field)>,
    /// Max-heap of the best `k` keys (smaller is better).
    heap: BinaryHeap<(u128, DocId)>,
    /// Logs read by `check`, for the docs in the heap.
    logs: HashMap<DocId, Log>,
    error: Option<tantivy::TantivyError>,
}

impl Collector for TopCollector {
    type Fruit = Vec<Hit>;
    type Child = TopSegment;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<TopSegment> {
        let fast = reader.fast_fields();
        let timestamps = fast.i64(F_TIMESTAMP)?;
        let ids = fast.str(F_ID)?.ok_or_else(|| tantivy::TantivyError::SchemaError("no id column".into()))?;
        let cursor = match &self.cursor {
            Some((ts, id)) => Some((*ts, ids.dictionary().term_ord_or_next(id.as_bytes())?)),
            None => None,
        };
        let verify = match &self.verify {
            Some(q) => Some((q.clone(), reader.get_store_reader(1)?, self.log_field)),
            None => None,
        };
        Ok(TopSegment {
            asc: self.asc,
            k: self.k,
            segment,
            timestamps,
            ids,
            cursor,
            bound: self.bound,
            verify,
            heap: BinaryHeap::with_capacity(self.k + 1),
            logs: HashMap::new(),
            error: None,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<tantivy::Result<Vec<Hit>>>) -> tantivy::Result<Vec<Hit>> {
        let mut all = Vec::new();
        for fruit in fruits {
            all.extend(fruit?);
        }
        all.sort_by(|a, b| {
            let o = (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id));
            if self.asc {
                o
            } else {
                o.reverse()
            }
        });
        all.truncate(self.k);
        Ok(all)
    }
}

impl TopSegment {
    fn key(&self, ts: i64, ord: u64) -> u128 {
        let k = (u128::from((ts as u64) ^ (1 << 63)) << 64) | u128::from(ord);
        if self.asc {
            k
        } else {
            !k
        }
    }

    /// Whether `(ts, ord)` comes after the cursor in the requested order.
    fn after_cursor(&self, ts: i64, ord: u64) -> bool {
        let Some((cts, hit)) = &self.cursor else { return true };
        // The query already restricts timestamps to the cursor's side (inclusive).
        if ts != *cts {
            return true;
        }
        // How this id compares to the cursor id.
        let cmp = match hit {
            TermOrdHit::Exact(o) => ord.cmp(o),
            TermOrdHit::Next(o) if ord < *o => Ordering::Less,
            TermOrdHit::Next(_) => Ordering::Greater,
        };
        if self.asc {
            cmp == Ordering::Greater
        } else {
            cmp == Ordering::Less
        }
    }

    fn check(&mut self, doc: DocId) -> bool {
        let Some((query, store, field)) = &self.verify else { return true };
        let log = store.get::<TantivyDocument>(doc).map_err(crate::Error::from).and_then(|d| stored_log(&d, *field));
        match log {
            Ok(log) => {
                let ok = query.matches(&log);
                if ok {
                    self.logs.insert(doc, log);
                }
                ok
            }
            Err(e) => {
                self.error.get_or_insert(tantivy::TantivyError::InternalError(e.to_string()));
                false
            }
        }
    }
}

impl SegmentCollector for TopSegment {
    type Fruit = tantivy::Result<Vec<Hit>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(ts) = self.timestamps.first(doc) else { return };
        // Equal timestamps stay: the id breaks the tie.
        if self.bound.is_some_and(|b| if self.asc { ts > b } else { ts < b }) {
            return;
        }
        let Some(ord) = self.ids.ords().first(doc) else { return };
        if !self.after_cursor(ts, ord) {
            return;
        }
        let key = self.key(ts, ord);
        if self.heap.len() >= self.k && self.heap.peek().is_some_and(|(top, _)| key >= *top) {
            return;
        }
        if !self.check(doc) {
            return;
        }
        self.heap.push((key, doc));
        if self.heap.len() > self.k {
            if let Some((_, evicted)) = self.heap.pop() {
                self.logs.remove(&evicted);
            }
        }
    }

    fn harvest(self) -> tantivy::Result<Vec<Hit>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut logs = self.logs;
        let mut out = Vec::with_capacity(self.heap.len());
        for (_, doc) in self.heap.into_vec() {
            let ts = self.timestamps.first(doc).unwrap_or_default();
            let mut id = String::new();
            if let Some(ord) = self.ids.ords().first(doc) {
                self.ids.ord_to_str(ord, &mut id)?;
            }
            let log = logs.remove(&doc);
            out.push(Hit { timestamp_ms: ts, id, address: DocAddress::new(self.segment, doc), log });
        }
        Ok(out)
    }
}

/// Runs `collector` over the segments best first and stops once no log of the remaining
/// segments can enter the top `k` (module docs). The hits are what `searcher.search` gives
/// with the same collector; the count is of the segments read.
pub(crate) fn top_in_time_order(
    searcher: &Searcher,
    query: &dyn TantivyQuery,
    collector: &TopCollector,
) -> tantivy::Result<(Vec<Hit>, usize)> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    // (oldest, newest) timestamp of each segment with live logs. The bounds are the
    // column's over all its logs, deleted ones too: wider, never narrower.
    let mut segments = Vec::new();
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        if reader.num_docs() == 0 {
            continue;
        }
        let ts = reader.fast_fields().i64(F_TIMESTAMP)?;
        segments.push((ts.min_value(), ts.max_value(), ord as SegmentOrdinal, reader));
    }
    if collector.asc {
        segments.sort_by_key(|&(min, _, ord, _)| (min, ord));
    } else {
        segments.sort_by_key(|&(_, max, ord, _)| (std::cmp::Reverse(max), ord));
    }
    let mut best: Vec<Hit> = Vec::new();
    let mut bound = None;
    let mut read = 0;
    for (min, max, ord, reader) in segments {
        if let Some(b) = bound {
            // Sorted best first: if this segment's best log comes after the k-th, so do
            // all the remaining segments' logs.
            if (collector.asc && min > b) || (!collector.asc && max < b) {
                break;
            }
        }
        let segment = TopCollector { bound, ..collector.clone() };
        let fruit = segment.collect_segment(weight.as_ref(), ord, reader)?;
        read += 1;
        best = collector.merge_fruits(vec![Ok(best), fruit])?;
        if best.len() >= collector.k {
            bound = best.last().map(|h| h.timestamp_ms);
        }
    }
    Ok((best, read))
}
