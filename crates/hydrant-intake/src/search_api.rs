//! The Logs Search API (spec section 5): `POST /api/v2/logs/events/search`,
//! `GET /api/v2/logs/events`, `POST /api/v2/logs/analytics/aggregate`, and the live tail
//! stream `GET /api/v2/logs/tail` (Server-Sent Events; Datadog has no public one).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::Stream;
use hydrant_logstore::{
    AggregateRequest, Aggregation, Compute, ComputeKind, ComputeValue, FacetsRequest, GroupBy, GroupSort, GroupSortBy,
    Order, SearchRequest, Sort,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::receivers::dd_errors;
use crate::time_range;
use crate::Intake;

/// An API error, answered in Datadog's shape.
#[derive(Debug)]
pub enum ApiError {
    /// 403 `{"errors":["Forbidden"]}`: missing or wrong keys.
    Forbidden,
    /// 400 with a detail (bad query, bad body).
    BadRequest(String),
    /// 500.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Forbidden => {
                (StatusCode::FORBIDDEN, [("content-type", "application/json")], r#"{"errors":["Forbidden"]}"#)
                    .into_response()
            }
            ApiError::BadRequest(d) => dd_errors(StatusCode::BAD_REQUEST, &d),
            ApiError::Internal(d) => dd_errors(StatusCode::INTERNAL_SERVER_ERROR, &d),
        }
    }
}

/// Checks `DD-API-KEY` + `DD-APPLICATION-KEY` (headers, or the query parameters
/// `dd-api-key` / `dd-application-key` for clients that cannot set headers, like the
/// browser's EventSource). Datadog answers 403 for both missing and wrong keys here.
pub fn check_app_auth(intake: &Intake, headers: &HeaderMap, query: &HashMap<String, String>) -> Result<(), ApiError> {
    let get = |h: &str, q: &str| {
        headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| query.get(q).cloned())
    };
    let api = get("dd-api-key", "dd-api-key").unwrap_or_default();
    let app = get("dd-application-key", "dd-application-key").unwrap_or_default();
    if intake.keys.api_key_ok(&api) && intake.keys.app_key_ok(&app) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn bad_request(detail: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(detail.to_string())
}

fn store_error(e: hydrant_logstore::Error) -> ApiError {
    match e {
        hydrant_logstore::Error::InvalidCursor | hydrant_logstore::Error::InvalidRequest(_) => bad_request(e),
        other => {
            tracing::error!(error = %other, "search failed");
            ApiError::Internal("search failed".into())
        }
    }
}

/// `filter` of the search and aggregate bodies.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    /// The search query (default `*`).
    pub query: Option<String>,
    /// Start (default `now-15m`).
    pub from: Option<String>,
    /// End (default `now`).
    pub to: Option<String>,
}

/// A parsed filter: the query's AST and the time range.
struct Resolved {
    query: hydrant_query::Query,
    from_ms: i64,
    to_ms: i64,
}

fn resolve(filter: &Filter) -> Result<Resolved, ApiError> {
    let q = filter.query.as_deref().unwrap_or("*");
    let query = hydrant_query::parse(q).map_err(|e| bad_request(format!("invalid query: {e}")))?;
    let now = chrono::Utc::now().timestamp_millis();
    let from = filter.from.as_deref().unwrap_or("now-15m");
    let to = filter.to.as_deref().unwrap_or("now");
    let from_ms = time_range::resolve(from, now).ok_or_else(|| bad_request(format!("invalid filter.from: {from}")))?;
    let to_ms = time_range::resolve(to, now).ok_or_else(|| bad_request(format!("invalid filter.to: {to}")))?;
    // `to` is inclusive for people ("up to now"); the store's range is half-open.
    Ok(Resolved { query, from_ms, to_ms: to_ms + 1 })
}

#[derive(Debug, Default, Deserialize)]
struct Page {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// The body of `POST /api/v2/logs/events/search`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchBody {
    #[serde(default)]
    filter: Filter,
    sort: Option<String>,
    #[serde(default)]
    page: Page,
}

fn sort_of(s: Option<&str>) -> Result<Sort, ApiError> {
    match s.unwrap_or("-timestamp") {
        "-timestamp" => Ok(Sort::TimestampDesc),
        "timestamp" => Ok(Sort::TimestampAsc),
        other => Err(bad_request(format!("invalid sort: {other} (timestamp or -timestamp)"))),
    }
}

fn meta(started: Instant) -> Value {
    json!({
        "elapsed": started.elapsed().as_millis() as u64,
        "request_id": uuid::Uuid::new_v4().simple().to_string(),
        "status": "done",
    })
}

/// A log in the API's shape.
pub fn api_log(log: &hydrant_log::Log) -> Value {
    json!({ "id": log.id, "type": "log", "attributes": log.to_api_json() })
}

/// Runs `f` on the store on a blocking thread (a search or an aggregation reads the index
/// for milliseconds to seconds, which the async workers must not wait through).
async fn on_store<T: Send + 'static>(
    intake: &Intake,
    f: impl FnOnce(&hydrant_logstore::LogStore) -> hydrant_logstore::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = intake.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(store_error)
}

/// A request body as JSON, or the 400 that says why not.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

async fn run_search(intake: Arc<Intake>, body: SearchBody, link_base: &str) -> Result<Response, ApiError> {
    let started = Instant::now();
    let r = resolve(&body.filter)?;
    let sort = sort_of(body.sort.as_deref())?;
    let limit = body.page.limit.unwrap_or(10);
    if limit == 0 || limit > hydrant_logstore::MAX_LIMIT {
        return Err(bad_request(format!("page.limit must be between 1 and {}", hydrant_logstore::MAX_LIMIT)));
    }
    let req =
        SearchRequest { query: r.query, from_ms: r.from_ms, to_ms: r.to_ms, sort, limit, cursor: body.page.cursor };
    let page = on_store(&intake, move |store| store.search(&req)).await?;
    let data: Vec<Value> = page.logs.iter().map(api_log).collect();
    let mut out = json!({ "data": data, "meta": meta(started), "links": {} });
    if let Some(after) = page.next_cursor {
        out["meta"]["page"] = json!({ "after": after });
        out["links"]["next"] = json!(format!("{link_base}?page[cursor]={after}"));
    }
    Ok(axum::Json(out).into_response())
}

/// `POST /api/v2/logs/events/search`.
pub async fn search_post(
    State(intake): State<Arc<Intake>>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_app_auth(&intake, &headers, &q)?;
    let body: SearchBody =
        if body.iter().all(u8::is_ascii_whitespace) { SearchBody::default() } else { json_body(&body)? };
    run_search(intake, body, "/api/v2/logs/events/search").await
}

/// `GET /api/v2/logs/events` with `filter[query]`, `filter[from]`, `filter[to]`, `sort`,
/// `page[cursor]`, `page[limit]`.
pub async fn search_get(
    State(intake): State<Arc<Intake>>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_app_auth(&intake, &headers, &q)?;
    let limit = match q.get("page[limit]").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => return Err(bad_request("page[limit] must be a number")),
    };
    let body = SearchBody {
        filter: Filter {
            query: q.get("filter[query]").cloned(),
            from: q.get("filter[from]").cloned(),
            to: q.get("filter[to]").cloned(),
        },
        sort: q.get("sort").cloned(),
        page: Page { cursor: q.get("page[cursor]").cloned(), limit },
    };
    run_search(intake, body, "/api/v2/logs/events").await
}

#[derive(Debug, Deserialize)]
struct ComputeIn {
    aggregation: String,
    metric: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    interval: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct SortIn {
    aggregation: Option<String>,
    metric: Option<String>,
    order: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GroupByIn {
    facet: String,
    limit: Option<usize>,
    missing: Option<Value>,
    sort: Option<SortIn>,
}

/// The body of `POST /api/v2/logs/analytics/aggregate`.
#[derive(Debug, Deserialize)]
pub struct AggregateBody {
    #[serde(default)]
    compute: Vec<ComputeIn>,
    #[serde(default)]
    filter: Filter,
    #[serde(default)]
    group_by: Vec<GroupByIn>,
}

fn aggregation(name: &str) -> Option<Aggregation> {
    Some(match name {
        "count" => Aggregation::Count,
        "cardinality" => Aggregation::Cardinality,
        "sum" => Aggregation::Sum,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "avg" => Aggregation::Avg,
        "median" => Aggregation::Median,
        "pc75" => Aggregation::Pc75,
        "pc90" => Aggregation::Pc90,
        "pc95" => Aggregation::Pc95,
        "pc98" => Aggregation::Pc98,
        "pc99" => Aggregation::Pc99,
        _ => return None,
    })
}

fn to_request(body: AggregateBody) -> Result<AggregateRequest, ApiError> {
    let r = resolve(&body.filter)?;
    let span = (r.to_ms - r.from_ms).max(1);
    let mut computes = Vec::new();
    let inputs = if body.compute.is_empty() {
        vec![ComputeIn { aggregation: "count".into(), metric: None, kind: None, interval: None }]
    } else {
        body.compute
    };
    for (i, c) in inputs.iter().enumerate() {
        let agg = aggregation(&c.aggregation)
            .ok_or_else(|| bad_request(format!("compute[{i}].aggregation: unknown aggregation {}", c.aggregation)))?;
        if agg != Aggregation::Count && c.metric.is_none() {
            return Err(bad_request(format!("compute[{i}].metric is required for {}", c.aggregation)));
        }
        let kind = match c.kind.as_deref().unwrap_or("total") {
            "total" => ComputeKind::Total,
            "timeseries" => {
                let interval_ms = match &c.interval {
                    None => (span / 100).max(1000),
                    Some(Value::Number(n)) => {
                        n.as_i64().filter(|n| *n > 0).ok_or_else(|| bad_request("invalid interval"))?
                    }
                    Some(Value::String(s)) => {
                        time_range::interval_ms(s).ok_or_else(|| bad_request(format!("invalid interval {s}")))?
                    }
                    Some(_) => return Err(bad_request("invalid interval")),
                };
                if span / interval_ms > 10_000 {
                    return Err(bad_request("too many time buckets: widen the interval"));
                }
                ComputeKind::Timeseries { interval_ms }
            }
            other => return Err(bad_request(format!("compute[{i}].type: unknown type {other}"))),
        };
        computes.push(Compute { aggregation: agg, metric: c.metric.clone(), kind });
    }
    if body.group_by.len() > 2 {
        return Err(bad_request("at most two group_by facets"));
    }
    let mut group_by = Vec::new();
    for g in body.group_by {
        let sort = match g.sort {
            None => GroupSort::default(),
            Some(s) => {
                let order = match s.order.as_deref().unwrap_or("desc") {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    o => return Err(bad_request(format!("invalid sort order {o}"))),
                };
                let by = match (s.kind.as_deref(), s.aggregation.as_deref()) {
                    (Some("alphabetical"), _) => GroupSortBy::Value,
                    (_, None | Some("count")) => GroupSortBy::Count,
                    (_, Some(a)) => {
                        let agg = aggregation(a).ok_or_else(|| bad_request(format!("invalid sort aggregation {a}")))?;
                        let idx = computes
                            .iter()
                            .position(|c| c.aggregation == agg && c.metric == s.metric)
                            .ok_or_else(|| bad_request("group_by sort must name one of the computes"))?;
                        GroupSortBy::Compute(idx)
                    }
                };
                GroupSort { by, order }
            }
        };
        group_by.push(GroupBy {
            facet: g.facet,
            limit: g.limit.unwrap_or(10).clamp(1, 10_000),
            missing: g.missing,
            sort,
        });
    }
    Ok(AggregateRequest { query: r.query, from_ms: r.from_ms, to_ms: r.to_ms, computes, group_by })
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `POST /api/v2/logs/analytics/aggregate`.
pub async fn aggregate(
    State(intake): State<Arc<Intake>>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    check_app_auth(&intake, &headers, &q)?;
    let body: AggregateBody = json_body(&body)?;
    let req = to_request(body)?;
    let buckets = on_store(&intake, move |store| store.aggregate(&req)).await?;
    Ok(axum::Json(json!({ "data": { "buckets": buckets_json(buckets) }, "meta": meta(started) })).into_response())
}

/// Buckets in the aggregate API's shape.
fn buckets_json(buckets: Vec<hydrant_logstore::Bucket>) -> Vec<Value> {
    buckets
        .into_iter()
        .map(|b| {
            let computes: serde_json::Map<String, Value> = b
                .computes
                .into_iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let v = match c {
                        // Undefined (the average of no value): left out, as Datadog's
                        // schema has no null bucket value (its clients reject one).
                        ComputeValue::Number(None) => return None,
                        ComputeValue::Number(Some(n)) => json!(n),
                        ComputeValue::Series(points) => {
                            Value::Array(points.into_iter().map(|(t, v)| json!({"time": iso(t), "value": v})).collect())
                        }
                    };
                    Some((format!("c{i}"), v))
                })
                .collect();
            json!({ "by": b.by, "computes": computes })
        })
        .collect()
}

/// Most facets in one [`facets`] request.
const MAX_FACETS: usize = 64;

/// The body of `POST /api/hydrant/v1/logs/facets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetsBody {
    #[serde(default)]
    filter: Filter,
    facets: Vec<String>,
    limit: Option<usize>,
}

/// `POST /api/hydrant/v1/logs/facets`: the explorer's facet panel, Hydrant's own call.
///
/// Each facet's answer is exactly what `POST /api/v2/logs/analytics/aggregate` gives for a
/// count grouped by that facet (`{"buckets": [{"by": {facet: value}, "computes": {"c0":
/// n}}]}`), but the store counts every facet in one pass over the matching logs instead of
/// one pass per request: the panel asks for up to 17 facets per search.
pub async fn facets(
    State(intake): State<Arc<Intake>>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    check_app_auth(&intake, &headers, &q)?;
    let body: FacetsBody = json_body(&body)?;
    if body.facets.len() > MAX_FACETS {
        return Err(bad_request(format!("at most {MAX_FACETS} facets")));
    }
    let r = resolve(&body.filter)?;
    let req = FacetsRequest {
        query: r.query,
        from_ms: r.from_ms,
        to_ms: r.to_ms,
        facets: body.facets,
        limit: body.limit.unwrap_or(10).clamp(1, 10_000),
    };
    let (names, answers) = on_store(&intake, move |store| store.facets(&req).map(|a| (req.facets, a))).await?;
    let facets: Vec<Value> = names
        .into_iter()
        .zip(answers)
        .map(|(facet, buckets)| json!({ "facet": facet, "buckets": buckets_json(buckets) }))
        .collect();
    Ok(axum::Json(json!({ "data": { "facets": facets }, "meta": meta(started) })).into_response())
}

/// `GET /api/v2/logs/tail?query=...`: logs matching the query as they are accepted,
/// one Server-Sent Event each (the log in the search API's shape).
pub async fn tail(
    State(intake): State<Arc<Intake>>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_app_auth(&intake, &headers, &q)?;
    let query = hydrant_query::parse(q.get("query").map_or("*", String::as_str))
        .map_err(|e| bad_request(format!("invalid query: {e}")))?;
    let rx = intake.ingest.subscribe();
    Ok(Sse::new(tail_stream(rx, query)).keep_alive(KeepAlive::default()).into_response())
}

fn tail_stream(
    rx: tokio::sync::broadcast::Receiver<Arc<hydrant_log::Log>>,
    query: hydrant_query::Query,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((rx, query), |(mut rx, query)| async move {
        loop {
            match rx.recv().await {
                Ok(log) if query.matches(&*log) => {
                    let event = Event::default().data(api_log(&log).to_string());
                    return Some((Ok(event), (rx, query)));
                }
                Ok(_) => continue,
                // A slow reader misses logs rather than holding the intake back.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let event = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(event), (rx, query)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
