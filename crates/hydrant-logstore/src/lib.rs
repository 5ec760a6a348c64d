//! Hydrant's embedded, durable log store: a [tantivy] index answering hydrant-query's
//! search AST, behind a backend-neutral API ([`LogBackend`], [`SearchRequest`],
//! [`AggregateRequest`]) that a ClickHouse backend can implement later.
//!
//! ```
//! use hydrant_log::Log;
//! use hydrant_logstore::{LogBackend, LogStore, LogStoreOptions, SearchRequest, Sort};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = LogStore::open(dir.path(), LogStoreOptions::default()).unwrap();
//! let mut log = Log::new(1_700_000_000_000);
//! log.message = "disk full on /dev/sda1".into();
//! log.add_tag("env:prod");
//! store.add(&[log]).unwrap();
//! store.commit_with_payload("wal:42".into()).unwrap();
//!
//! let page = store
//!     .search(&SearchRequest {
//!         query: hydrant_query::parse("env:prod \"disk full\"").unwrap(),
//!         from_ms: 0,
//!         to_ms: i64::MAX,
//!         sort: Sort::TimestampDesc,
//!         limit: 10,
//!         cursor: None,
//!     })
//!     .unwrap();
//! assert_eq!(page.logs.len(), 1);
//! assert_eq!(store.last_commit_payload().unwrap().as_deref(), Some("wal:42"));
//! ```
//!
//! # Why tantivy
//!
//! It is a pure-Rust, embeddable Lucene-like library (no service to run next to the
//! intake, no JVM), with an inverted index for words and exact terms, columnar "fast
//! fields" for sorting and aggregation, a compressed document store, and atomic, fsynced
//! commits that carry a caller payload (where the intake records its write-ahead-log
//! position). Quickwit and ParadeDB run it for logs at scale. The alternatives were an
//! SQLite FTS table (no columnar aggregation, word rules fixed by its tokenizers) or
//! scanning compressed files (no index).
//!
//! # Schema
//!
//! | field | tantivy type | content |
//! |---|---|---|
//! | `id` | fast only | [`Log::id`](hydrant_log::Log) (tie-break of the sort, cursor; indexes created before 2026-11 also index it as a term, unused) |
//! | `timestamp_ms` | i64, fast (indexed too in indexes created before 2026-11, unused) | the log's date: time range, sort, histograms |
//! | `host`, `service`, `source`, `trace_id` | STRING, fast | exact values (case-sensitive) |
//! | `status_lc` / `status` | STRING / fast | lowercased for search / as is for grouping |
//! | `message` | TEXT, positions | hydrant-query's words: maximal runs of alphanumerics and `_`, lowercased |
//! | `tags_lc` / `tags` | STRING / fast, multi-valued | each tag lowercased for search / as is for grouping |
//! | `attr` | STRING, fast, multi-valued | `path \0 type value` for every attribute leaf (below) |
//! | `exists` | STRING, multi-valued | markers: `r:host`.. (reserved present), `tags`, `k:<tag key>`, `@<path>` (attribute present, not null), `amb:*` |
//! | `log` | stored | the whole log as JSON, returned as is |
//!
//! Attributes are flattened into `attr` rather than a tantivy JSON field so that each value
//! is indexed with exactly the typing the evaluator uses: the path is the keys joined with
//! `.` (a key spelled with dots, `aws.firehose.arn`, gives the same path as nested keys, as
//! the evaluator resolves it), arrays are fanned out (a value inside an array matches), and
//! the type letter says how the value compares: `t` string, `b` boolean, `u` + `m` a string
//! that spells a number (as text and as an order-preserving hex encoding of the `f64`),
//! `n` + `N` a JSON number (encoded, and spelled as JSON spells it, for wildcards and
//! text bounds). So `@a:200` is the terms `n<200>`, `u200`; `@a:>5` is a term range on
//! `n`, `m` plus the text range on `t`, `b` (non-numeric strings compare as text);
//! `@a:*` existence is the marker `@a`.
//!
//! # Query compilation and post-filters
//!
//! [`hydrant_query::Query`] is compiled to tantivy queries (`TermQuery`, `PhraseQuery`,
//! `RegexQuery` for wildcards, `RegexPhraseQuery` for multi-word wildcards, term ranges,
//! `BooleanQuery` with an `AllQuery` clause under `NOT`). Results always equal the in-memory
//! evaluator's ([`hydrant_query::Query::matches`]): where the index cannot answer exactly,
//! the compiled query is a superset (a *candidate* set) and every candidate is checked with
//! the evaluator on the stored log. The property test `tests/equivalence.rs` checks this
//! for about 115 queries over two 300-log corpora (one with ambiguous attribute trees), and
//! that only queries with the predicates below are post-filtered. Post-filtered (rare in practice):
//!
//! - `CIDR(...)` on any field (candidates: logs where the field exists);
//! - ranges and comparisons on free text (they apply to the whole message) and on
//!   reserved fields or tags when a bound is a number (numeric or text comparison then
//!   depends on each value); attribute ranges with one numeric and one text bound;
//! - an empty value on a reserved field (`host:""`);
//! - attribute paths with a key containing a dot (`@aws\.firehose\.arn`) or empty keys;
//! - logs the index could not represent exactly, flagged at indexing time with an
//!   `amb:*` marker, for predicates of that kind only: attribute trees with a key that is a
//!   dotted prefix of a sibling (`{"a": .., "a.b": ..}`, where the evaluator's path
//!   resolution differs from joined paths), and values or message words over 16 KiB (not
//!   indexed). When no log of the index carries a marker, nothing is post-filtered.
//!
//! A compiled query that needs checking costs a stored-document read per candidate
//! (searches only check the candidates that would enter the current page).
//!
//! # Pages in time order
//!
//! A page is collected segment by segment, the segment with the newest (or, ascending, the
//! oldest) log first, from the bounds of its timestamp column, and the search stops at the
//! first segment whose every log comes after the page. Logs arrive about in time order, so
//! segments hold about disjoint time ranges and the newest page reads one or two segments:
//! the explorer's default view costs about the newest segment, not the whole time range
//! (BENCHMARKS.md, "Query latency").
//!
//! # Aggregations
//!
//! Computed by a collector over fast fields: group values and metric values are read as
//! per-segment term ordinals (reserved fields, `tags` restricted to the `key:` prefix,
//! `attr` restricted to the `path \0` prefix), resolved to values once per distinct ordinal.
//! Cost is linear in the matching logs (no pre-aggregation); percentiles are exact
//! (linear interpolation between closest ranks), keeping every value of the group in memory.
//! Numeric aggregations read JSON numbers and strings that spell numbers. A log with several
//! values for a facet (an array, repeated tag keys) counts in each of its groups.
//!
//! # Figures
//!
//! `examples/query_latency.rs` (release build, one run on the shared 2-core dev box under
//! other builds' load; sanity figures, not a benchmark): 200,000 Fluent-Bit-shaped logs
//! indexed in 5.8 s (~34k logs/s, one writer thread), 73 MiB on disk. p50 / p99 over 30
//! runs, newest 50 logs: tag filter `kube_namespace:ns-3` 0.7 / 8.8 ms; attribute range
//! `@http.status_code:>=500` 2.2 / 6.4 ms; free text `timeout` (1% of logs) 0.4 / 4.6 ms;
//! phrase 4.3 / 10.5 ms; `service:aws source:aws` (every log matches) 11.8 / 19.8 ms; a
//! post-filtered `CIDR(host, ..)` over every log 590 / 880 ms (a stored-log read per
//! candidate: the cost of post-filters). Aggregations over all 200k logs: count by
//! `kube_namespace` 11.8 / 20.3 ms, by `@http.status_code` 16.3 / 24.6 ms, a 100-bucket
//! histogram 13.2 / 17.4 ms.
//!
//! # Durability and concurrency
//!
//! [`LogStore::add`] may be called from several threads; [`LogStore::commit`] fsyncs a new
//! tantivy commit and reloads the reader, so searches see exactly the committed logs. The
//! intake keeps its own write-ahead log and records its position with
//! [`LogStore::commit_with_payload`]; after a crash, [`LogStore::last_commit_payload`] says
//! where to replay from. [`LogStore::delete_older_than`] takes effect at the next commit.

#![warn(missing_docs)]

mod aggregate;
pub mod api;
mod compile;
mod schema;
mod search;
mod stored;

pub use api::{
    AggregateRequest, Aggregation, Bucket, Compute, ComputeKind, ComputeValue, FacetsRequest, GroupBy, GroupSort,
    GroupSortBy, LogBackend, Order, SearchPage, SearchRequest, Sort, MAX_LIMIT,
};

use compile::{compile, Ctx, Pol, Q};
use hydrant_log::Log;
use schema::{amb, Fields, LogDoc, Scratch, Ticket, WordsTokenizer, WORDS_TOKENIZER};
use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::Count;
use tantivy::indexer::UserOperation;
use tantivy::query::RangeQuery;
use tantivy::schema::Value as _;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From tantivy (I/O, corruption, a locked directory).
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// A stored log could not be (de)serialized.
    #[error("stored log: {0}")]
    Json(#[from] serde_json::Error),
    /// I/O outside tantivy.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The cursor was not produced by this store.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The request cannot be answered (a missing metric, too many buckets...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The directory holds an index with another schema.
    #[error("the index in this directory has an incompatible schema")]
    IncompatibleSchema,
}

/// Result of the store's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds documents from logs on the caller's thread, for [`LogStore::add_prepared`].
///
/// The intake has each log in memory when it writes the log's JSON to its write-ahead log;
/// building the document there, from the `Log`, saves reading the JSON back on the
/// indexing side (that parse was about as costly as building the document).
pub struct Preparer {
    fields: Fields,
    scratch: Scratch,
    docs: Vec<UserOperation<LogDoc>>,
    unindexed: Arc<AtomicU64>,
}

impl Preparer {
    /// Adds a log, given its JSON as `hydrant_log::json::write_log` writes it (stored as is).
    pub fn push(&mut self, log: &Log, json: &str) {
        self.docs.push(UserOperation::Add(self.fields.document(log, json, &mut self.scratch)));
    }

    /// How many logs were added.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no log was added.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The documents, for [`LogStore::add_prepared`]. From now until tantivy has indexed
    /// them, their memory counts in [`LogStore::unindexed_bytes`].
    pub fn finish(mut self) -> PreparedLogs {
        let bytes: usize = self
            .docs
            .iter()
            .map(|op| match op {
                UserOperation::Add(doc) => doc.bytes(),
                UserOperation::Delete(_) => 0,
            })
            .sum::<usize>()
            + self.docs.capacity() * std::mem::size_of::<UserOperation<LogDoc>>();
        // tantivy indexes an operation group in order on one thread and drops each document
        // once it is indexed: the last document going means the whole batch is in.
        if let Some(UserOperation::Add(last)) = self.docs.last_mut() {
            last.ticket = Some(Ticket::new(bytes as u64, self.unindexed.clone()));
        }
        PreparedLogs(self.docs)
    }
}

/// Documents built by a [`Preparer`].
pub struct PreparedLogs(Vec<UserOperation<LogDoc>>);

/// Tuning of a [`LogStore`].
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// Memory of the index writer, shared by its threads (tantivy flushes a segment when a
    /// thread's share is full). Default 128 MiB.
    pub writer_memory_bytes: usize,
    /// Indexing threads. Default 2: on the intake's 2-core machine one thread was the
    /// ingest's bottleneck (a core's worth of tantivy work while the other core's spare
    /// capacity went unused once receiving slowed); each thread gets half the memory.
    pub writer_threads: usize,
    /// Threads that share an aggregation's segments (one reads each segment). Default: the
    /// machine's cores. 1 collects every segment on the calling thread. Pages of logs read
    /// their segments in time order on the calling thread whatever this is.
    pub search_threads: usize,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            writer_memory_bytes: 128 << 20,
            writer_threads: 2,
            search_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The tantivy log store. See the crate docs.
pub struct LogStore {
    index: Index,
    fields: Fields,
    writer: RwLock<IndexWriter<LogDoc>>,
    reader: IndexReader,
    /// The payload of the last commit, kept by [`LogStore::commit`].
    payload: Mutex<Option<String>>,
    /// Memory of prepared documents not yet indexed ([`LogStore::unindexed_bytes`]).
    unindexed: Arc<AtomicU64>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("index", &self.index).finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens the store in `dir`, creating the directory and an empty index if needed. Only
    /// one `LogStore` may be open on a directory (tantivy's writer lock).
    pub fn open(dir: &Path, options: LogStoreOptions) -> Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = Fields::schema();
        let mut index = if dir.join("meta.json").exists() {
            let index = Index::open_in_dir(dir)?;
            let existing = index.schema();
            if existing != schema && existing != Fields::legacy_schema() {
                return Err(Error::IncompatibleSchema);
            }
            index
        } else {
            Index::builder().schema(schema).settings(index_settings()).create_in_dir(dir)?
        };
        // Also in indexes created before this was a setting of new ones ([`index_settings`]).
        index.settings_mut().docstore_compress_dedicated_thread = false;
        index.tokenizers().register(WORDS_TOKENIZER, TextAnalyzer::from(WordsTokenizer::default()));
        if options.search_threads > 1 {
            index.set_multithread_executor(options.search_threads)?;
        }
        let writer = index.writer_with_num_threads(options.writer_threads.max(1), options.writer_memory_bytes)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let payload = index.load_metas()?.payload;
        Ok(LogStore {
            index,
            fields,
            writer: RwLock::new(writer),
            reader,
            payload: Mutex::new(payload),
            unindexed: Arc::default(),
        })
    }

    /// Indexes logs (thread-safe); they become searchable and durable at the next commit.
    pub fn add(&self, logs: &[Log]) -> Result<()> {
        let mut prepared = self.preparer();
        let mut json = Vec::new();
        for log in logs {
            json.clear();
            hydrant_log::json::write_log(&mut json, log);
            // `write_log` writes UTF-8 (the log's strings and ASCII escapes).
            prepared.push(log, std::str::from_utf8(&json).map_err(|e| Error::Json(serde::ser::Error::custom(e)))?);
        }
        self.add_prepared(prepared.finish())
    }

    /// A [`Preparer`]: documents built from logs where the logs are (the intake's receiving
    /// threads), then handed over with [`LogStore::add_prepared`].
    pub fn preparer(&self) -> Preparer {
        Preparer {
            fields: self.fields.clone(),
            scratch: Scratch::default(),
            docs: Vec::new(),
            unindexed: self.unindexed.clone(),
        }
    }

    /// Memory held by documents a [`Preparer`] finished that tantivy has not indexed yet:
    /// how far the index is behind its producers. A producer that waits while this is
    /// high keeps the backlog, and so the process's memory, from growing (fresh memory is
    /// what a growing backlog costs most: BENCHMARKS.md, intake).
    pub fn unindexed_bytes(&self) -> u64 {
        self.unindexed.load(Ordering::Acquire)
    }

    /// Indexes what a [`Preparer`] built (searchable and durable at the next commit).
    pub fn add_prepared(&self, prepared: PreparedLogs) -> Result<()> {
        self.add_documents(prepared.0)
    }

    /// [`LogStore::add`] for logs given as their JSON (`serde_json::to_writer` of a
    /// [`Log`]: the intake's write-ahead log records), stored as is: the index reads the
    /// JSON without decoding it into `Log`s. Records that are not a log's JSON are skipped;
    /// returns how many.
    pub fn add_json<J: AsRef<str>>(&self, json: &[J]) -> Result<usize> {
        let mut scratch = Scratch::default();
        let docs: Vec<UserOperation<LogDoc>> = json
            .iter()
            .filter_map(|j| self.fields.document_from_stored(j.as_ref(), &mut scratch).ok())
            .map(UserOperation::Add)
            .collect();
        let skipped = json.len() - docs.len();
        self.add_documents(docs)?;
        Ok(skipped)
    }

    fn add_documents(&self, docs: Vec<UserOperation<LogDoc>>) -> Result<()> {
        let writer = self.writer.read().unwrap_or_else(|e| e.into_inner());
        // One operation group: a single hand-over to the indexing threads for the batch,
        // rather than one channel send per log.
        writer.run(docs)?;
        Ok(())
    }

    /// Commits (fsync) everything added and deleted so far, keeping the last payload, and
    /// makes it searchable.
    pub fn commit(&self) -> Result<()> {
        let payload = self.payload.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.commit_inner(payload)
    }

    /// [`LogStore::commit`], recording `payload` (the intake's WAL position) in the commit.
    pub fn commit_with_payload(&self, payload: String) -> Result<()> {
        self.commit_inner(Some(payload))
    }

    fn commit_inner(&self, payload: Option<String>) -> Result<()> {
        let mut writer = self.writer.write().unwrap_or_else(|e| e.into_inner());
        let mut prepared = writer.prepare_commit()?;
        if let Some(p) = &payload {
            prepared.set_payload(p);
        }
        prepared.commit()?;
        *self.payload.lock().unwrap_or_else(|e| e.into_inner()) = payload;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// The payload of the last durable commit (`None` before the first).
    pub fn last_commit_payload(&self) -> Result<Option<String>> {
        Ok(self.index.load_metas()?.payload)
    }

    /// A page of matching logs. See [`SearchRequest`].
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage> {
        Ok(self.search_segments(req)?.0)
    }

    /// [`LogStore::search`], and how many segments it read.
    fn search_segments(&self, req: &SearchRequest) -> Result<(SearchPage, usize)> {
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let asc = req.sort == Sort::TimestampAsc;
        let cursor = match &req.cursor {
            Some(c) => Some(api::decode_cursor(c).ok_or(Error::InvalidCursor)?),
            None => None,
        };
        let searcher = self.reader.searcher();
        let (lower, upper) = match &cursor {
            Some((ts, _)) if asc => (req.from_ms.max(*ts), req.to_ms),
            Some((ts, _)) => (req.from_ms, req.to_ms.min(ts.saturating_add(1))),
            None => (req.from_ms, req.to_ms),
        };
        let Some((query, exact)) = self.compile(&searcher, &req.query, lower, upper)? else {
            return Ok((SearchPage::default(), 0));
        };
        let collector = search::TopCollector {
            asc,
            k: limit + 1,
            cursor: cursor.clone(),
            verify: (!exact).then(|| req.query.clone()),
            log_field: self.fields.log,
            bound: None,
        };
        let (top, segments_read) = search::top_in_time_order(&searcher, &*query, &collector)?;
        let more = top.len() > limit;
        let mut logs = Vec::with_capacity(limit);
        for hit in top.into_iter().take(limit) {
            let log = match hit.log {
                Some(log) => log,
                None => stored_log(&searcher.doc::<TantivyDocument>(hit.address)?, self.fields.log)?,
            };
            logs.push(log);
        }
        let next_cursor = more.then(|| logs.last().map(|l| api::encode_cursor(l.timestamp_ms, &l.id))).flatten();
        Ok((SearchPage { logs, next_cursor }, segments_read))
    }

    /// Aggregates matching logs. See [`AggregateRequest`].
    pub fn aggregate(&self, req: &AggregateRequest) -> Result<Vec<Bucket>> {
        aggregate::validate(req)?;
        let searcher = self.reader.searcher();
        let compiled = self.compile(&searcher, &req.query, req.from_ms, req.to_ms)?;
        let collector = aggregate::AggCollector::new(req, self.fields.log, compiled.as_ref().is_some_and(|c| !c.1));
        let fruit = match &compiled {
            Some((query, _)) => searcher.search(&**query, &collector)?,
            None => aggregate::Fruit::default(),
        };
        collector.finish(fruit)
    }

    /// The top values of several facets in one pass over the matching logs. See
    /// [`FacetsRequest`]: each facet's buckets are those of its own aggregation.
    pub fn facets(&self, req: &FacetsRequest) -> Result<Vec<Vec<Bucket>>> {
        // Valid by construction (one count, one facet): nothing to `validate`.
        let aggregations: Vec<AggregateRequest> = req.facets.iter().map(|f| req.aggregation(f)).collect();
        let searcher = self.reader.searcher();
        let compiled = self.compile(&searcher, &req.query, req.from_ms, req.to_ms)?;
        let fruits = match &compiled {
            Some((query, exact)) => {
                let verify = (!exact).then(|| req.query.clone());
                let collector = aggregate::FacetsCollector::new(&req.facets, self.fields.log, verify);
                searcher.search(&**query, &collector)?
            }
            None => aggregations.iter().map(|_| aggregate::Fruit::default()).collect(),
        };
        aggregations
            .iter()
            .zip(fruits)
            // The verify flag only matters while collecting, done above.
            .map(|(a, fruit)| aggregate::AggCollector::new(a, self.fields.log, false).finish(fruit))
            .collect()
    }

    /// Deletes logs with `timestamp_ms < cutoff_ms` at the next commit; returns how many
    /// searchable logs that is now.
    pub fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64> {
        let range = || {
            RangeQuery::new(Bound::Unbounded, Bound::Excluded(Term::from_field_i64(self.fields.timestamp, cutoff_ms)))
        };
        let n = self.reader.searcher().search(&range(), &Count)?;
        self.writer.read().unwrap_or_else(|e| e.into_inner()).delete_query(Box::new(range()))?;
        Ok(n as u64)
    }

    /// Number of searchable logs.
    pub fn count(&self) -> Result<u64> {
        Ok(self.reader.searcher().num_docs())
    }

    /// Whether answering `query` on the current index checks candidates against stored logs
    /// (see "Query compilation and post-filters" in the crate docs).
    pub fn needs_post_filter(&self, query: &hydrant_query::Query) -> Result<bool> {
        Ok(self.compile(&self.reader.searcher(), query, i64::MIN, i64::MAX)?.is_some_and(|(_, exact)| !exact))
    }

    /// The tantivy query for `query` within `[from, to)`, and whether it is exact; `None`
    /// when nothing can match.
    fn compile(
        &self,
        searcher: &Searcher,
        query: &hydrant_query::Query,
        from: i64,
        to: i64,
    ) -> Result<Option<(Box<dyn tantivy::query::Query>, bool)>> {
        if from >= to {
            return Ok(None);
        }
        let mut ambiguous = HashSet::new();
        for marker in [amb::TEXT, amb::RESERVED, amb::TAGS, amb::ATTR] {
            if searcher.doc_freq(&Term::from_field_text(self.fields.exists, marker))? > 0 {
                ambiguous.insert(marker);
            }
        }
        let ctx = Ctx { fields: &self.fields, ambiguous };
        let (q, exact) = compile(&ctx, query, Pol::Sup);
        if q.is_empty() {
            return Ok(None);
        }
        let time = RangeQuery::new(
            Bound::Included(Term::from_field_i64(self.fields.timestamp, from)),
            Bound::Excluded(Term::from_field_i64(self.fields.timestamp, to)),
        );
        Ok(Some((Q::and_time(time, q).build(), exact)))
    }
}

/// Size of a doc store block (uncompressed) in indexes this version creates.
///
/// tantivy's compressor thread (before [`index_settings`] moved compression onto the
/// indexing threads) was woken once per block: at tantivy's default of 16 KiB (about 14
/// seed logs) it spent more of its time in the kernel than in lz4 under load. 128 KiB blocks also compress better (469 against 666 bytes per
/// seed log on disk), and reading a page of logs, which decompresses their blocks, took no
/// longer in the query benchmark (BENCHMARKS.md, intake).
pub(crate) const DOCSTORE_BLOCK_BYTES: usize = 128 << 10;

/// The settings of a new index (an existing index keeps those in its `meta.json`).
///
/// The doc store's blocks are compressed on the indexing thread that filled them, not
/// handed to a compressor thread of their own (tantivy's default): on the intake's 2-core
/// machine both cores are busy under load, so the extra thread bought no parallelism and
/// cost a wake-up and a hand-off per block. Alternated runs: 3.9% less CPU per log, better
/// in 4 of 4 pairs (BENCHMARKS.md, intake).
fn index_settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings {
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        docstore_compress_dedicated_thread: false,
        ..Default::default()
    }
}

/// The log stored in a document.
pub(crate) fn stored_log(doc: &TantivyDocument, field: tantivy::schema::Field) -> Result<Log> {
    let text = doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("{}");
    Ok(serde_json::from_str(text)?)
}

impl LogBackend for LogStore {
    fn add(&self, logs: &[Log]) -> Result<()> {
        LogStore::add(self, logs)
    }
    fn commit(&self) -> Result<()> {
        LogStore::commit(self)
    }
    fn search(&self, req: &SearchRequest) -> Result<SearchPage> {
        LogStore::search(self, req)
    }
    fn aggregate(&self, req: &AggregateRequest) -> Result<Vec<Bucket>> {
        LogStore::aggregate(self, req)
    }
    fn facets(&self, req: &FacetsRequest) -> Result<Vec<Vec<Bucket>>> {
        LogStore::facets(self, req)
    }
    fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64> {
        LogStore::delete_older_than(self, cutoff_ms)
    }
    fn count(&self) -> Result<u64> {
        LogStore::count(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(ts: i64, id: &str) -> Log {
        let mut log = Log::new(ts);
        log.id = id.to_string();
        log.message = "hello".into();
        log
    }

    fn page(store: &LogStore, sort: Sort, limit: usize) -> (Vec<String>, usize) {
        let req = SearchRequest {
            query: hydrant_query::parse("hello").unwrap(),
            from_ms: 0,
            to_ms: i64::MAX,
            sort,
            limit,
            cursor: None,
        };
        let (page, read) = store.search_segments(&req).unwrap();
        (page.logs.into_iter().map(|l| l.id).collect(), read)
    }

    #[test]
    fn the_newest_page_reads_only_the_newest_segments() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogStoreOptions { writer_threads: 1, ..Default::default() }).unwrap();
        // Four segments of ten logs, a minute apart; the merge policy leaves them alone.
        for s in 0..4i64 {
            let logs: Vec<Log> = (0..10).map(|i| log(s * 60_000 + i, &format!("{s}-{i:02}"))).collect();
            store.add(&logs).unwrap();
            store.commit().unwrap();
        }
        assert_eq!(store.reader.searcher().segment_readers().len(), 4);
        // The page of 5 plus the one that says there is more: all in the newest segment.
        let (ids, read) = page(&store, Sort::TimestampDesc, 5);
        assert_eq!(ids, ["3-09", "3-08", "3-07", "3-06", "3-05"]);
        assert_eq!(read, 1);
        let (ids, read) = page(&store, Sort::TimestampAsc, 3);
        assert_eq!(ids, ["0-00", "0-01", "0-02"]);
        assert_eq!(read, 1);
        // 12 (and the 13th) span the two newest segments.
        let (ids, read) = page(&store, Sort::TimestampDesc, 12);
        assert_eq!(ids.last().map(String::as_str), Some("2-08"));
        assert_eq!(read, 2);
        // A log dated like the newest segment's oldest, in an older segment, is found: a
        // segment is skipped only when all its logs come strictly after the page.
        store.add(&[log(3 * 60_000, "3-00-late")]).unwrap();
        store.commit().unwrap();
        let (ids, read) = page(&store, Sort::TimestampDesc, 10);
        assert_eq!(ids[9], "3-00-late");
        assert_eq!(read, 2);
    }
}
