//! The backend-neutral search and aggregation API: what the intake asks of any log store
//! (this crate's tantivy [`crate::LogStore`], a ClickHouse backend later).

use crate::Result;
use hydrant_log::Log;
use hydrant_query::Query;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest page a search returns.
pub const MAX_LIMIT: usize = 1000;

/// Order of search results. Ties on the timestamp are broken by id, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Sort {
    /// Oldest first (`sort: "timestamp"`).
    TimestampAsc,
    /// Newest first (`sort: "-timestamp"`), the explorer's default.
    #[default]
    TimestampDesc,
}

/// A page of logs matching a query (spec section 5, `logs/events/search`).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The filter.
    pub query: Query,
    /// Start of the time range, ms, inclusive.
    pub from_ms: i64,
    /// End of the time range, ms, exclusive.
    pub to_ms: i64,
    /// Order.
    pub sort: Sort,
    /// Page size, 1 to [`MAX_LIMIT`] (larger values are clamped).
    pub limit: usize,
    /// The previous page's [`SearchPage::next_cursor`], to continue after it.
    pub cursor: Option<String>,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage {
    /// The logs, in the requested order.
    pub logs: Vec<Log>,
    /// Where the next page starts; `None` on the last page. Opaque; it names the last
    /// returned `(timestamp, id)`, so pages stay stable while logs are being added.
    pub next_cursor: Option<String>,
}

/// An aggregation over the logs matching a query (spec section 5, `logs/analytics/aggregate`).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRequest {
    /// The filter.
    pub query: Query,
    /// Start of the time range, ms, inclusive.
    pub from_ms: i64,
    /// End of the time range, ms, exclusive.
    pub to_ms: i64,
    /// What to compute for each bucket (`c0`, `c1`, ... in Datadog's answer).
    pub computes: Vec<Compute>,
    /// Up to two facets to group by (nested); empty for one bucket over all matching logs.
    pub group_by: Vec<GroupBy>,
}

/// One computed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compute {
    /// The aggregation.
    pub aggregation: Aggregation,
    /// The facet measured: required by every aggregation but `Count`. A facet is named as in
    /// [`GroupBy::facet`]; numeric aggregations read numbers (JSON numbers and strings that
    /// spell numbers).
    pub metric: Option<String>,
    /// One value, or one per time bucket.
    pub kind: ComputeKind,
}

/// Datadog's aggregations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Aggregation {
    Count,
    /// Distinct values of the metric facet.
    Cardinality,
    Sum,
    Min,
    Max,
    Avg,
    Median,
    Pc75,
    Pc90,
    Pc95,
    Pc98,
    Pc99,
}

impl Aggregation {
    /// The percentile (0..=100) of a percentile aggregation (`Median` is 50).
    pub fn percentile(self) -> Option<f64> {
        Some(match self {
            Aggregation::Median => 50.0,
            Aggregation::Pc75 => 75.0,
            Aggregation::Pc90 => 90.0,
            Aggregation::Pc95 => 95.0,
            Aggregation::Pc98 => 98.0,
            Aggregation::Pc99 => 99.0,
            _ => return None,
        })
    }
}

/// The top values of several facets, counted over the same matching logs: what a log
/// explorer's facet panel shows. The answer for each facet is, by definition, the buckets
/// of [`FacetsRequest::aggregation`] (a count grouped by that facet alone); a store may
/// compute them all in one pass over the matching logs instead of one pass per facet.
#[derive(Debug, Clone)]
pub struct FacetsRequest {
    /// The filter.
    pub query: Query,
    /// Inclusive lower bound, ms.
    pub from_ms: i64,
    /// Exclusive upper bound, ms.
    pub to_ms: i64,
    /// The facets, as [`GroupBy::facet`] spells them.
    pub facets: Vec<String>,
    /// Most values per facet (the most frequent ones).
    pub limit: usize,
}

impl FacetsRequest {
    /// The aggregation whose buckets answer `facet`.
    pub fn aggregation(&self, facet: &str) -> AggregateRequest {
        AggregateRequest {
            query: self.query.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            computes: vec![Compute { aggregation: Aggregation::Count, metric: None, kind: ComputeKind::Total }],
            group_by: vec![GroupBy {
                facet: facet.to_string(),
                limit: self.limit,
                missing: None,
                sort: GroupSort::default(),
            }],
        }
    }
}

/// A total or a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComputeKind {
    /// One value for the bucket.
    Total,
    /// One value per `interval_ms` (buckets aligned on multiples of the interval since the
    /// epoch).
    Timeseries {
        /// Bucket width, ms (> 0).
        interval_ms: i64,
    },
}

/// A facet to group by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupBy {
    /// `host`, `service`, `source`, `status`, `trace_id`; `@attribute.path`; anything else
    /// is a tag key (`kube_namespace` groups by the values of `kube_namespace:` tags).
    pub facet: String,
    /// Most groups kept at this level.
    pub limit: usize,
    /// The group of logs without the facet; `None` leaves them out.
    pub missing: Option<Value>,
    /// Order of the groups (and which are kept under `limit`).
    pub sort: GroupSort,
}

/// How groups are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupSort {
    /// What is compared.
    pub by: GroupSortBy,
    /// Direction.
    pub order: Order,
}

/// What groups are ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GroupSortBy {
    /// The number of logs in the group (default).
    #[default]
    Count,
    /// The group's value (numbers before strings).
    Value,
    /// The total of compute number `n` (a `Timeseries` compute sorts by its sum).
    Compute(usize),
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

/// One group of an aggregation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// The group's value for each facet of `group_by` (empty without grouping).
    pub by: Map<String, Value>,
    /// One value per [`Compute`], in order.
    pub computes: Vec<ComputeValue>,
}

/// A computed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ComputeValue {
    /// A total; `None` when undefined (the average of no value).
    Number(Option<f64>),
    /// `(bucket start ms, value)` in time order. Count and cardinality list every bucket of
    /// the time range (zeros included); other aggregations only buckets with values.
    Series(Vec<(i64, f64)>),
}

/// A log store that answers hydrant-query's AST. Object-safe: the intake may hold a
/// `Box<dyn LogBackend>`.
pub trait LogBackend: Send + Sync {
    /// Indexes logs; they become durable and searchable at the next commit.
    fn add(&self, logs: &[Log]) -> Result<()>;
    /// Makes everything added (and deleted) so far durable and searchable.
    fn commit(&self) -> Result<()>;
    /// A page of matching logs.
    fn search(&self, req: &SearchRequest) -> Result<SearchPage>;
    /// Counts and statistics over matching logs.
    fn aggregate(&self, req: &AggregateRequest) -> Result<Vec<Bucket>>;
    /// For each facet of `req`, in order, the buckets of its aggregation. By default one
    /// aggregation per facet.
    fn facets(&self, req: &FacetsRequest) -> Result<Vec<Vec<Bucket>>> {
        req.facets.iter().map(|f| self.aggregate(&req.aggregation(f))).collect()
    }
    /// Deletes the logs older than `cutoff_ms` (timestamp < cutoff) at the next commit;
    /// returns how many searchable logs that is now.
    fn delete_older_than(&self, cutoff_ms: i64) -> Result<u64>;
    /// Number of searchable logs.
    fn count(&self) -> Result<u64>;
}

/// Encodes a search cursor: the last returned `(timestamp, id)`.
pub(crate) fn encode_cursor(timestamp_ms: i64, id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{timestamp_ms}:{id}"))
}

/// Decodes [`encode_cursor`].
pub(crate) fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ts, id) = text.split_once(':')?;
    Some((ts.parse().ok()?, id.to_string()))
}
