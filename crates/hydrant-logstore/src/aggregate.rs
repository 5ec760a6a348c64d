//! The aggregation collector: groups matching logs by up to two facets and computes counts,
//! cardinalities and statistics, per group and optionally per time bucket.
//!
//! Facet values come from fast-field term ordinals: a facet is a string column and a
//! contiguous ordinal range in its dictionary (a reserved field's whole column, the `key:`
//! prefix of `tags`, the `path \0` prefix of `attr`). Each distinct ordinal is resolved once
//! per segment; groups are keyed by ordinal within a segment and by value across segments.

use crate::api::{AggregateRequest, Aggregation, Bucket, ComputeKind, ComputeValue, GroupBy, GroupSortBy, Order};
use crate::schema::{decode_f64, fold_str, ty, F_ATTR, F_TAGS, F_TIMESTAMP, PATH_END};
use crate::{stored_log, Error, Result};
use hydrant_query::{parse_number, Query};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::schema::Field;
use tantivy::store::StoreReader;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader, TantivyDocument};

/// Most time buckets of a timeseries compute.
const MAX_BUCKETS: i64 = 10_000;
/// Ordinal index standing for "the log lacks the facet".
const MISSING: u32 = u32::MAX;

/// Checks a request before running it.
pub(crate) fn validate(req: &AggregateRequest) -> Result<()> {
    if req.group_by.len() > 2 {
        return Err(Error::InvalidRequest("at most 2 group_by facets".into()));
    }
    for c in &req.computes {
        if c.aggregation != Aggregation::Count && c.metric.is_none() {
            return Err(Error::InvalidRequest(format!("{:?} needs a metric", c.aggregation)));
        }
        if let ComputeKind::Timeseries { interval_ms } = c.kind {
            if interval_ms <= 0 {
                return Err(Error::InvalidRequest("interval must be positive".into()));
            }
            let span = req.to_ms.saturating_sub(align(req.from_ms, interval_ms));
            if span / interval_ms > MAX_BUCKETS {
                return Err(Error::InvalidRequest(format!("more than {MAX_BUCKETS} time buckets")));
            }
        }
    }
    for (i, g) in req.group_by.iter().enumerate() {
        if let GroupSortBy::Compute(n) = g.sort.by {
            if n >= req.computes.len() {
                return Err(Error::InvalidRequest(format!("group_by[{i}] sorts by a missing compute")));
            }
        }
    }
    Ok(())
}

fn align(ts: i64, interval: i64) -> i64 {
    ts - ts.rem_euclid(interval)
}

/// Where a facet's values live.
#[derive(Clone, Debug, PartialEq)]
enum FacetSpec {
    /// A whole column (reserved attributes).
    Column(&'static str),
    /// A prefix of a column: `(column, prefix, is_attribute)`.
    Prefix(&'static str, String, bool),
}

impl FacetSpec {
    /// The column that holds the facet's values.
    fn column(&self) -> &'static str {
        match self {
            FacetSpec::Column(name) | FacetSpec::Prefix(name, ..) => name,
        }
    }
}

fn facet_spec(name: &str) -> FacetSpec {
    match name {
        "host" => FacetSpec::Column("host"),
        "service" => FacetSpec::Column("service"),
        "source" => FacetSpec::Column("source"),
        "status" => FacetSpec::Column("status"),
        "trace_id" => FacetSpec::Column("trace_id"),
        _ => match name.strip_prefix('@') {
            Some(path) => FacetSpec::Prefix(F_ATTR, format!("{path}{PATH_END}"), true),
            None => FacetSpec::Prefix(F_TAGS, format!("{}:", fold_str(name)), false),
        },
    }
}

/// The value of one ordinal: as a group value, and as a number.
#[derive(Clone, Debug)]
struct OrdVal {
    group: Option<Value>,
    num: Option<f64>,
}

fn number_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// A facet in one segment.
struct FacetColumn {
    column: StrColumn,
    lo: u64,
    vals: Vec<OrdVal>,
}

impl FacetColumn {
    fn open(reader: &SegmentReader, spec: &FacetSpec) -> tantivy::Result<Option<FacetColumn>> {
        let Some(column) = reader.fast_fields().str(spec.column())? else { return Ok(None) };
        FacetColumn::in_column(column, spec).map(Some)
    }

    /// The facet's values in `column`, which must be [`FacetSpec::column`]'s.
    fn in_column(column: StrColumn, spec: &FacetSpec) -> tantivy::Result<FacetColumn> {
        let (prefix, attr) = match spec {
            FacetSpec::Column(_) => ("", false),
            FacetSpec::Prefix(_, prefix, attr) => (prefix.as_str(), *attr),
        };
        let mut lo = None;
        let mut vals = Vec::new();
        {
            let dict = column.dictionary();
            let mut stream = dict.prefix_range(prefix.as_bytes()).into_stream()?;
            while stream.advance() {
                lo.get_or_insert(stream.term_ord());
                let rest = String::from_utf8_lossy(&stream.key()[prefix.len()..]).into_owned();
                vals.push(if attr { attr_val(&rest) } else { text_val(rest) });
            }
        }
        Ok(FacetColumn { column, lo: lo.unwrap_or(0), vals })
    }

    /// The indices (into `vals`) of the doc's values, deduplicated.
    fn values(&self, doc: DocId, out: &mut Vec<u32>) {
        out.clear();
        let hi = self.lo + self.vals.len() as u64;
        out.extend(self.column.term_ords(doc).filter(|o| *o >= self.lo && *o < hi).map(|o| (o - self.lo) as u32));
        out.sort_unstable();
        out.dedup();
    }
}

fn text_val(s: String) -> OrdVal {
    let num = parse_number(&s);
    OrdVal { group: Some(Value::String(s)), num }
}

fn attr_val(typed: &str) -> OrdVal {
    let mut chars = typed.chars();
    let t = chars.next();
    let payload = chars.as_str();
    match t {
        Some(ty::BOOL) => OrdVal { group: Some(Value::Bool(payload == "true")), num: None },
        Some(ty::NUM) => {
            let x = decode_f64(payload);
            OrdVal { group: x.map(number_value), num: x }
        }
        Some(ty::NUMSTR) => OrdVal { group: None, num: decode_f64(payload) },
        Some(ty::STR | ty::NUMSTR_TEXT) => OrdVal { group: Some(Value::String(payload.to_string())), num: None },
        _ => OrdVal { group: None, num: None },
    }
}

/// Accumulated statistics; `D` identifies distinct values (ordinals in a segment, canonical
/// JSON across segments).
#[derive(Clone, Debug)]
struct Acc<D> {
    count: u64,
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    values: Vec<f64>,
    distinct: HashSet<D>,
}

impl<D> Default for Acc<D> {
    fn default() -> Self {
        Acc {
            count: 0,
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            values: Vec::new(),
            distinct: HashSet::new(),
        }
    }
}

impl<D: std::hash::Hash + Eq> Acc<D> {
    fn merge(&mut self, other: Acc<D>) {
        self.count += other.count;
        self.n += other.n;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.values.extend(other.values);
        self.distinct.extend(other.distinct);
    }

    fn value(&self, agg: Aggregation) -> Option<f64> {
        let defined = self.n > 0;
        match agg {
            Aggregation::Count => Some(self.count as f64),
            Aggregation::Cardinality => Some(self.distinct.len() as f64),
            Aggregation::Sum => defined.then_some(self.sum),
            Aggregation::Min => defined.then_some(self.min),
            Aggregation::Max => defined.then_some(self.max),
            Aggregation::Avg => defined.then(|| self.sum / self.n as f64),
            _ => {
                let p = agg.percentile()?;
                let mut v = self.values.clone();
                v.sort_by(f64::total_cmp);
                percentile(&v, p)
            }
        }
    }
}

/// Linear interpolation between closest ranks of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p / 100.0 * last as f64;
    let (i, frac) = (rank.floor() as usize, rank.fract());
    let a = sorted[i];
    let b = sorted[(i + 1).min(last)];
    Some(a + (b - a) * frac)
}

/// One compute's state in a group.
#[derive(Clone, Debug)]
struct Slot<D> {
    total: Acc<D>,
    series: Series<D>,
}

impl<D> Default for Slot<D> {
    fn default() -> Self {
        Slot { total: Acc::default(), series: Series::default() }
    }
}

/// A timeseries' buckets, by start time, with the bucket in use held out of the map.
/// Logs come about in time order within a segment, so most logs fall in the bucket of the
/// one before and need no map lookup (a lookup per log was a fifth of a histogram's time).
#[derive(Clone, Debug)]
struct Series<D> {
    buckets: BTreeMap<i64, Acc<D>>,
    current: Option<(i64, Acc<D>)>,
}

impl<D> Default for Series<D> {
    fn default() -> Self {
        Series { buckets: BTreeMap::new(), current: None }
    }
}

impl<D> Series<D> {
    /// The bucket that starts at `t`, added if missing.
    fn bucket(&mut self, t: i64) -> &mut Acc<D> {
        if self.current.as_ref().is_none_or(|(start, _)| *start != t) {
            self.flush();
            let acc = self.buckets.remove(&t).unwrap_or_default();
            self.current = Some((t, acc));
        }
        &mut self.current.as_mut().expect("just set").1
    }

    /// Puts the bucket in use back in the map; `buckets` then holds them all.
    fn flush(&mut self) {
        if let Some((t, acc)) = self.current.take() {
            self.buckets.insert(t, acc);
        }
    }

    /// All the buckets, in time order.
    fn into_buckets(mut self) -> BTreeMap<i64, Acc<D>> {
        self.flush();
        self.buckets
    }
}

/// A group's state.
#[derive(Clone, Debug)]
pub(crate) struct Group<D> {
    docs: u64,
    slots: Vec<Slot<D>>,
}

impl<D: std::hash::Hash + Eq> Group<D> {
    fn new(n: usize) -> Self {
        Group { docs: 0, slots: (0..n).map(|_| Slot::default()).collect() }
    }

    fn merge(&mut self, other: Group<D>) {
        self.docs += other.docs;
        for (a, b) in self.slots.iter_mut().zip(other.slots) {
            a.total.merge(b.total);
            for (t, acc) in b.series.into_buckets() {
                a.series.bucket(t).merge(acc);
            }
            // Groups across segments (the fruit's) hold all their buckets in the map.
            a.series.flush();
        }
    }
}

/// What one compute needs per log.
#[derive(Clone, Debug)]
struct ComputePlan {
    aggregation: Aggregation,
    /// Index into the metric facets.
    metric: Option<usize>,
    interval: Option<i64>,
}

/// The collector.
pub(crate) struct AggCollector {
    groups: Vec<FacetSpec>,
    missing: Vec<Option<Value>>,
    metrics: Vec<FacetSpec>,
    plans: Vec<ComputePlan>,
    verify: Option<Query>,
    log_field: Field,
    request: AggregateRequest,
}

/// Groups across segments, keyed by canonical JSON of their values.
#[derive(Default)]
pub(crate) struct Fruit {
    level1: HashMap<String, Group<String>>,
    pairs: HashMap<(String, String), Group<String>>,
    values: HashMap<String, Value>,
}

impl Fruit {
    /// Adds `other`'s groups (of `plans` computes each) to these.
    fn merge(&mut self, other: Fruit, plans: usize) {
        for (k, g) in other.level1 {
            self.level1.entry(k).or_insert_with(|| Group::new(plans)).merge(g);
        }
        for (k, g) in other.pairs {
            self.pairs.entry(k).or_insert_with(|| Group::new(plans)).merge(g);
        }
        self.values.extend(other.values);
    }
}

impl AggCollector {
    pub fn new(req: &AggregateRequest, log_field: Field, verify: bool) -> AggCollector {
        let mut metrics: Vec<FacetSpec> = Vec::new();
        let plans = req
            .computes
            .iter()
            .map(|c| {
                let metric = match (&c.metric, c.aggregation) {
                    (Some(m), a) if a != Aggregation::Count => {
                        let spec = facet_spec(m);
                        Some(metrics.iter().position(|s| *s == spec).unwrap_or_else(|| {
                            metrics.push(spec);
                            metrics.len() - 1
                        }))
                    }
                    _ => None,
                };
                let interval = match c.kind {
                    ComputeKind::Total => None,
                    ComputeKind::Timeseries { interval_ms } => Some(interval_ms),
                };
                ComputePlan { aggregation: c.aggregation, metric, interval }
            })
            .collect();
        AggCollector {
            groups: req.group_by.iter().map(|g| facet_spec(&g.facet)).collect(),
            missing: req.group_by.iter().map(|g| g.missing.clone()).collect(),
            metrics,
            plans,
            verify: verify.then(|| req.query.clone()),
            log_field,
            request: req.clone(),
        }
    }

    /// Turns the merged groups into buckets.
    pub fn finish(&self, fruit: Fruit) -> Result<Vec<Bucket>> {
        let req = &self.request;
        let bucket = |by: Map<String, Value>, group: Option<&Group<String>>| Bucket {
            by,
            computes: (0..self.plans.len()).map(|i| self.compute_value(i, group)).collect(),
        };
        match req.group_by.as_slice() {
            [] => Ok(vec![bucket(Map::new(), fruit.level1.get(""))]),
            [g1] => Ok(self
                .ordered(g1, fruit.level1.iter().collect(), &fruit.values)
                .into_iter()
                .map(|(k, group)| bucket(by(&[(&g1.facet, &fruit.values[k.as_str()])]), Some(group)))
                .collect()),
            [g1, g2, ..] => {
                let mut out = Vec::new();
                for (k1, _) in self.ordered(g1, fruit.level1.iter().collect(), &fruit.values) {
                    let inner: Vec<(&String, &Group<String>)> =
                        fruit.pairs.iter().filter(|((a, _), _)| a == k1).map(|((_, b), g)| (b, g)).collect();
                    for (k2, group) in self.ordered(g2, inner, &fruit.values) {
                        let by =
                            by(&[(&g1.facet, &fruit.values[k1.as_str()]), (&g2.facet, &fruit.values[k2.as_str()])]);
                        out.push(bucket(by, Some(group)));
                    }
                }
                Ok(out)
            }
        }
    }

    fn compute_value(&self, i: usize, group: Option<&Group<String>>) -> ComputeValue {
        let plan = &self.plans[i];
        let empty = Slot::default();
        let slot = group.map_or(&empty, |g| &g.slots[i]);
        match plan.interval {
            None => ComputeValue::Number(slot.total.value(plan.aggregation)),
            Some(iv) => {
                let zero_fill = matches!(plan.aggregation, Aggregation::Count | Aggregation::Cardinality);
                let mut series = Vec::new();
                if zero_fill {
                    let mut t = align(self.request.from_ms, iv);
                    while t < self.request.to_ms {
                        let v = slot.series.buckets.get(&t).and_then(|a| a.value(plan.aggregation)).unwrap_or(0.0);
                        series.push((t, v));
                        t = t.saturating_add(iv);
                    }
                } else {
                    series
                        .extend(slot.series.buckets.iter().filter_map(|(t, a)| Some((*t, a.value(plan.aggregation)?))));
                }
                ComputeValue::Series(series)
            }
        }
    }

    /// Sorts groups as `g` asks and keeps `g.limit`.
    fn ordered<'a>(
        &self,
        g: &GroupBy,
        mut groups: Vec<(&'a String, &'a Group<String>)>,
        values: &HashMap<String, Value>,
    ) -> Vec<(&'a String, &'a Group<String>)> {
        let metric = |group: &Group<String>| -> Option<f64> {
            match g.sort.by {
                GroupSortBy::Count => Some(group.docs as f64),
                GroupSortBy::Value => None,
                GroupSortBy::Compute(i) => match self.compute_value(i, Some(group)) {
                    ComputeValue::Number(x) => x,
                    ComputeValue::Series(s) => Some(s.iter().map(|(_, v)| v).sum()),
                },
            }
        };
        groups.sort_by(|(ka, a), (kb, b)| {
            let primary = match g.sort.by {
                GroupSortBy::Value => {
                    let o = cmp_values(&values[ka.as_str()], &values[kb.as_str()]);
                    if g.sort.order == Order::Desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
                _ => match (metric(a), metric(b)) {
                    (Some(x), Some(y)) if g.sort.order == Order::Desc => y.total_cmp(&x),
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                },
            };
            primary.then_with(|| cmp_values(&values[ka.as_str()], &values[kb.as_str()])).then_with(|| ka.cmp(kb))
        });
        groups.truncate(g.limit);
        groups
    }
}

fn by(pairs: &[(&String, &Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).clone(), (*v).clone())).collect()
}

/// Numbers (by value) before booleans before strings before anything else.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Number(_) => 0,
        Value::Bool(_) => 1,
        Value::String(_) => 2,
        _ => 3,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(f64::NAN).total_cmp(&y.as_f64().unwrap_or(f64::NAN))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Per-segment state.
pub(crate) struct AggSegment {
    plans: Vec<ComputePlan>,
    timestamps: Column<i64>,
    groups: Vec<Option<FacetColumn>>,
    missing: Vec<Option<Value>>,
    metrics: Vec<Option<FacetColumn>>,
    verify: Option<(Query, StoreReader, Field)>,
    /// Whether a compute is a timeseries (the only reader of the timestamps).
    needs_ts: bool,
    /// Groups by ordinal index: Fx, not SipHash, for the one or two lookups of every
    /// matching log (the keys are this process's own ordinals, not an attacker's).
    level1: FxHashMap<u32, Group<u32>>,
    pairs: FxHashMap<(u32, u32), Group<u32>>,
    /// The timestamps of a block of documents.
    scratch_ts: Vec<Option<i64>>,
    scratch_groups: [Vec<u32>; 2],
    scratch_metrics: Vec<Vec<u32>>,
    error: Option<Error>,
}

impl Collector for AggCollector {
    type Fruit = Fruit;
    type Child = AggSegment;

    fn for_segment(&self, _segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<AggSegment> {
        let open = |specs: &[FacetSpec]| -> tantivy::Result<Vec<Option<FacetColumn>>> {
            specs.iter().map(|s| FacetColumn::open(reader, s)).collect()
        };
        let verify = match &self.verify {
            Some(q) => Some((q.clone(), reader.get_store_reader(10)?, self.log_field)),
            None => None,
        };
        Ok(AggSegment {
            plans: self.plans.clone(),
            timestamps: reader.fast_fields().i64(F_TIMESTAMP)?,
            groups: open(&self.groups)?,
            missing: self.missing.clone(),
            metrics: open(&self.metrics)?,
            verify,
            needs_ts: self.plans.iter().any(|p| p.interval.is_some()),
            level1: FxHashMap::default(),
            pairs: FxHashMap::default(),
            scratch_ts: Vec::new(),
            scratch_groups: [Vec::new(), Vec::new()],
            scratch_metrics: vec![Vec::new(); self.metrics.len()],
            error: None,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<tantivy::Result<Fruit>>) -> tantivy::Result<Fruit> {
        let mut out = Fruit::default();
        for fruit in fruits {
            out.merge(fruit?, self.plans.len());
        }
        Ok(out)
    }
}

impl AggSegment {
    /// The doc's group indices for facet `i`; false when the doc is left out.
    fn group_values(&mut self, i: usize, doc: DocId) -> bool {
        let mut out = std::mem::take(&mut self.scratch_groups[i]);
        out.clear();
        if let Some(col) = &self.groups[i] {
            col.values(doc, &mut out);
            out.retain(|&v| col.vals[v as usize].group.is_some());
        }
        if out.is_empty() && self.missing[i].is_some() {
            out.push(MISSING);
        }
        let keep = !out.is_empty();
        self.scratch_groups[i] = out;
        keep
    }

    /// Adds a log to `group`: an associated function, not a method, so that the caller
    /// holds the group mutably in `self`'s maps while this reads the log's metric values.
    fn accumulate(
        plans: &[ComputePlan],
        metrics: &[Option<FacetColumn>],
        log_metrics: &[Vec<u32>],
        group: &mut Group<u32>,
        ts: i64,
    ) {
        group.docs += 1;
        for (plan, slot) in plans.iter().zip(group.slots.iter_mut()) {
            let add = |acc: &mut Acc<u32>| {
                acc.count += 1;
                let Some(m) = plan.metric else { return };
                let Some(col) = &metrics[m] else { return };
                for &v in &log_metrics[m] {
                    let val = &col.vals[v as usize];
                    if plan.aggregation == Aggregation::Cardinality {
                        if val.group.is_some() {
                            acc.distinct.insert(v);
                        }
                    } else if let Some(x) = val.num {
                        acc.n += 1;
                        acc.sum += x;
                        acc.min = acc.min.min(x);
                        acc.max = acc.max.max(x);
                        if plan.aggregation.percentile().is_some() {
                            acc.values.push(x);
                        }
                    }
                }
            };
            match plan.interval {
                None => add(&mut slot.total),
                Some(iv) => add(slot.series.bucket(align(ts, iv))),
            }
        }
    }

    fn check(&mut self, doc: DocId) -> bool {
        let Some((query, store, field)) = &self.verify else { return true };
        match store.get::<TantivyDocument>(doc).map_err(Error::from).and_then(|d| stored_log(&d, *field)) {
            Ok(log) => query.matches(&log),
            Err(e) => {
                self.error.get_or_insert(e);
                false
            }
        }
    }

    /// Adds a matching log (dated `ts` when a compute needs it) to its groups.
    fn collect_at(&mut self, doc: DocId, ts: i64) {
        if !self.check(doc) {
            return;
        }
        let n_groups = self.groups.len();
        for i in 0..n_groups {
            if !self.group_values(i, doc) {
                return;
            }
        }
        for m in 0..self.metrics.len() {
            let mut out = std::mem::take(&mut self.scratch_metrics[m]);
            out.clear();
            if let Some(col) = &self.metrics[m] {
                col.values(doc, &mut out);
            }
            self.scratch_metrics[m] = out;
        }
        let n = self.plans.len();
        let (plans, metrics, log_metrics) = (&self.plans, &self.metrics, &self.scratch_metrics);
        let [firsts, seconds] = &self.scratch_groups;
        for &a in if n_groups == 0 { &[0][..] } else { &firsts[..] } {
            let group = self.level1.entry(a).or_insert_with(|| Group::new(n));
            Self::accumulate(plans, metrics, log_metrics, group, ts);
            if n_groups == 2 {
                for &b in seconds {
                    let group = self.pairs.entry((a, b)).or_insert_with(|| Group::new(n));
                    Self::accumulate(plans, metrics, log_metrics, group, ts);
                }
            }
        }
    }

    /// The canonical key and value of a group index of facet `i`.
    fn resolve(&self, i: usize, v: u32, values: &mut HashMap<String, Value>) -> String {
        let value = if v == MISSING {
            self.missing[i].clone().unwrap_or(Value::Null)
        } else {
            self.groups[i].as_ref().and_then(|c| c.vals[v as usize].group.clone()).unwrap_or(Value::Null)
        };
        let key = value.to_string();
        values.entry(key.clone()).or_insert(value);
        key
    }

    fn convert(&self, group: Group<u32>) -> Group<String> {
        let distinct = |acc: Acc<u32>, plan: &ComputePlan| -> Acc<String> {
            let keys = plan
                .metric
                .and_then(|m| self.metrics[m].as_ref())
                .map(|col| {
                    acc.distinct
                        .iter()
                        .filter_map(|v| col.vals[*v as usize].group.as_ref().map(Value::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Acc {
                count: acc.count,
                n: acc.n,
                sum: acc.sum,
                min: acc.min,
                max: acc.max,
                values: acc.values,
                distinct: keys,
            }
        };
        Group {
            docs: group.docs,
            slots: group
                .slots
                .into_iter()
                .zip(&self.plans)
                .map(|(slot, plan)| Slot {
                    total: distinct(slot.total, plan),
                    series: Series {
                        buckets: slot.series.into_buckets().into_iter().map(|(t, a)| (t, distinct(a, plan))).collect(),
                        current: None,
                    },
                })
                .collect(),
        }
    }
}

impl SegmentCollector for AggSegment {
    type Fruit = tantivy::Result<Fruit>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let ts = if self.needs_ts { self.timestamps.first(doc).unwrap_or_default() } else { 0 };
        self.collect_at(doc, ts);
    }

    /// The timestamps of the block are read in one call (one dynamic dispatch into the
    /// column's codec instead of two per log).
    fn collect_block(&mut self, docs: &[DocId]) {
        if !self.needs_ts {
            for &doc in docs {
                self.collect_at(doc, 0);
            }
            return;
        }
        let mut ts = std::mem::take(&mut self.scratch_ts);
        ts.clear();
        ts.resize(docs.len(), None);
        self.timestamps.first_vals(docs, &mut ts);
        for (&doc, t) in docs.iter().zip(&ts) {
            self.collect_at(doc, t.unwrap_or_default());
        }
        self.scratch_ts = ts;
    }

    fn harvest(mut self) -> tantivy::Result<Fruit> {
        if let Some(e) = self.error.take() {
            return Err(tantivy::TantivyError::InternalError(e.to_string()));
        }
        let mut fruit = Fruit::default();
        let level1 = std::mem::take(&mut self.level1);
        let pairs = std::mem::take(&mut self.pairs);
        for (a, g) in level1 {
            let key = if self.groups.is_empty() { String::new() } else { self.resolve(0, a, &mut fruit.values) };
            let g = self.convert(g);
            fruit.level1.entry(key).or_insert_with(|| Group::new(self.plans.len())).merge(g);
        }
        for ((a, b), g) in pairs {
            let ka = self.resolve(0, a, &mut fruit.values);
            let kb = self.resolve(1, b, &mut fruit.values);
            let g = self.convert(g);
            fruit.pairs.entry((ka, kb)).or_insert_with(|| Group::new(self.plans.len())).merge(g);
        }
        Ok(fruit)
    }
}

/// Counts by several facets in one pass over the matching logs: the fruits of the
/// single-facet count aggregations ([`crate::FacetsRequest::aggregation`]), which their
/// own [`AggCollector::finish`] then orders and cuts. The facets that live in the same
/// column (every tag key lives in `tags`, every attribute in `attr`) read each log's
/// values of that column once, where one aggregation per facet read them once per facet.
pub(crate) struct FacetsCollector {
    specs: Vec<FacetSpec>,
    verify: Option<Query>,
    log_field: Field,
}

/// Where a facet's values are in a column: the facet's index, its first ordinal, and how
/// many values it has.
type FacetRange = (usize, u64, u64);

/// [`FacetsCollector`] in one segment.
pub(crate) struct FacetsSegment {
    /// Each column read, with the facets it holds.
    columns: Vec<(StrColumn, Vec<FacetRange>)>,
    /// Per facet: its values in this segment (by ordinal from its first) and their counts.
    facets: Vec<(Vec<OrdVal>, Vec<u64>)>,
    verify: Option<(Query, StoreReader, Field)>,
    ords: Vec<u64>,
    error: Option<Error>,
}

impl FacetsCollector {
    /// Counts by `facets`, checking each candidate against `verify` when given (the
    /// compiled query is a superset).
    pub fn new(facets: &[String], log_field: Field, verify: Option<Query>) -> FacetsCollector {
        FacetsCollector { specs: facets.iter().map(|f| facet_spec(f)).collect(), verify, log_field }
    }
}

impl Collector for FacetsCollector {
    type Fruit = Vec<Fruit>;
    type Child = FacetsSegment;

    fn for_segment(&self, _segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<FacetsSegment> {
        // Each column is opened once, for all the facets it holds.
        let mut columns: Vec<(&'static str, StrColumn, Vec<FacetRange>)> = Vec::new();
        let mut facets = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            let name = spec.column();
            let at = match columns.iter().position(|(n, ..)| *n == name) {
                Some(at) => at,
                None => match reader.fast_fields().str(name)? {
                    Some(column) => {
                        columns.push((name, column, Vec::new()));
                        columns.len() - 1
                    }
                    None => {
                        facets.push((Vec::new(), Vec::new()));
                        continue;
                    }
                },
            };
            let FacetColumn { lo, vals, .. } = FacetColumn::in_column(columns[at].1.clone(), spec)?;
            columns[at].2.push((i, lo, vals.len() as u64));
            let n = vals.len();
            facets.push((vals, vec![0; n]));
        }
        let verify = match &self.verify {
            Some(q) => Some((q.clone(), reader.get_store_reader(10)?, self.log_field)),
            None => None,
        };
        Ok(FacetsSegment {
            columns: columns.into_iter().map(|(_, column, ranges)| (column, ranges)).collect(),
            facets,
            verify,
            ords: Vec::new(),
            error: None,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<tantivy::Result<Vec<Fruit>>>) -> tantivy::Result<Vec<Fruit>> {
        let mut out: Vec<Fruit> = (0..self.specs.len()).map(|_| Fruit::default()).collect();
        for fruit in fruits {
            for (o, f) in out.iter_mut().zip(fruit?) {
                o.merge(f, 1);
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for FacetsSegment {
    type Fruit = tantivy::Result<Vec<Fruit>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some((query, store, field)) = &self.verify {
            match store.get::<TantivyDocument>(doc).map_err(Error::from).and_then(|d| stored_log(&d, *field)) {
                Ok(log) if query.matches(&log) => {}
                Ok(_) => return,
                Err(e) => {
                    self.error.get_or_insert(e);
                    return;
                }
            }
        }
        for (column, ranges) in &self.columns {
            self.ords.clear();
            self.ords.extend(column.term_ords(doc));
            if self.ords.len() > 1 {
                // A log counts once per value, as in its single-facet aggregation.
                self.ords.sort_unstable();
                self.ords.dedup();
            }
            // Values that are no group value (the second spelling of a number, say) are
            // counted too and left out at harvest.
            for &ord in &self.ords {
                for &(f, lo, n) in ranges {
                    if ord >= lo && ord - lo < n {
                        self.facets[f].1[(ord - lo) as usize] += 1;
                    }
                }
            }
        }
    }

    fn harvest(mut self) -> tantivy::Result<Vec<Fruit>> {
        if let Some(e) = self.error.take() {
            return Err(tantivy::TantivyError::InternalError(e.to_string()));
        }
        // The fruit an `AggSegment` of the facet's count aggregation harvests: groups by
        // canonical value, their count both as the group's logs and as the compute.
        let fruits = self
            .facets
            .into_iter()
            .map(|(vals, counts)| {
                let mut fruit = Fruit::default();
                for (val, count) in vals.into_iter().zip(counts) {
                    let Some(value) = val.group.filter(|_| count > 0) else { continue };
                    let key = value.to_string();
                    let mut group = Group::new(1);
                    group.docs = count;
                    group.slots[0].total.count = count;
                    fruit.level1.entry(key.clone()).or_insert_with(|| Group::new(1)).merge(group);
                    fruit.values.entry(key).or_insert(value);
                }
                fruit
            })
            .collect();
        Ok(fruits)
    }
}
