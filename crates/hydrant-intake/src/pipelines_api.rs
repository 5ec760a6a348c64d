//! The Pipelines API (spec section 3): `GET/POST /api/v1/logs/config/pipelines`,
//! `GET/PUT/DELETE /api/v1/logs/config/pipelines/{id}` (PUT replaces), and
//! `GET/PUT /api/v1/logs/config/pipeline-order`. Pipelines are persisted in
//! `<data-dir>/intake/pipelines.json` (replaced atomically) and compiled once per change
//! into the function the ingest path applies to every new log.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hydrant_pipeline::{CompiledPipelines, Pipeline, PipelineError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ingest::Ingest;
use crate::search_api::{check_app_auth, ApiError};
use crate::Intake;

/// What `pipelines.json` holds.
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    /// Pipelines in processing order.
    pipelines: Vec<Pipeline>,
}

/// The pipelines of an intake.
pub struct Pipelines {
    path: PathBuf,
    stored: Mutex<Stored>,
}

/// An error of the pipelines API, in its own Datadog shape (`LogsAPIErrorResponse`).
pub enum PipelinesError {
    /// 400 `{"error":{"code":"InvalidArgument","message","details"}}`.
    Invalid(PipelineError),
    /// 404.
    NotFound(String),
    /// 422 (a pipeline order that is not a permutation of the pipelines).
    Unprocessable(String),
    /// From the shared checks (keys, bodies).
    Api(ApiError),
    /// Persisting failed: 500.
    Storage(String),
}

impl From<ApiError> for PipelinesError {
    fn from(e: ApiError) -> Self {
        PipelinesError::Api(e)
    }
}

impl IntoResponse for PipelinesError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = match self {
            PipelinesError::Api(e) => return e.into_response(),
            PipelinesError::Invalid(e) => (StatusCode::BAD_REQUEST, "InvalidArgument", e.message, e.details),
            PipelinesError::NotFound(m) => (StatusCode::NOT_FOUND, "NotFound", m, vec![]),
            PipelinesError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, "InvalidArgument", m, vec![]),
            PipelinesError::Storage(m) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", m, vec![]),
        };
        let details: Vec<serde_json::Value> =
            details.into_iter().map(|d| json!({"code": code, "message": d, "target": "pipeline"})).collect();
        (status, axum::Json(json!({ "error": { "code": code, "message": message, "details": details } })))
            .into_response()
    }
}

/// A Datadog-like pipeline id: 22 URL-safe characters.
fn new_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    (0..22).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

impl Pipelines {
    /// Loads the pipelines of `dir` and installs them into `ingest`.
    pub fn load(dir: &Path, ingest: &Ingest) -> anyhow::Result<Pipelines> {
        let path = dir.join("pipelines.json");
        let stored: Stored = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let compiled = CompiledPipelines::compile(&stored.pipelines)
            .map_err(|e| anyhow::anyhow!("{}: stored pipelines do not compile: {e}", path.display()))?;
        install(ingest, compiled);
        Ok(Pipelines { path, stored: Mutex::new(stored) })
    }

    /// Applies `change` to the pipelines; on success compiles, persists and installs the
    /// result, all or nothing.
    fn change<T>(
        &self,
        ingest: &Ingest,
        change: impl FnOnce(&mut Vec<Pipeline>) -> Result<T, PipelinesError>,
    ) -> Result<T, PipelinesError> {
        let mut stored = self.stored.lock().expect("pipelines poisoned");
        let mut next = stored.pipelines.clone();
        let out = change(&mut next)?;
        let compiled = CompiledPipelines::compile(&next).map_err(PipelinesError::Invalid)?;
        let bytes = serde_json::to_vec_pretty(&Stored { pipelines: next.clone() })
            .map_err(|e| PipelinesError::Storage(e.to_string()))?;
        write_atomic(&self.path, &bytes).map_err(|e| PipelinesError::Storage(e.to_string()))?;
        stored.pipelines = next;
        install(ingest, compiled);
        Ok(out)
    }

    fn list(&self) -> Vec<Pipeline> {
        self.stored.lock().expect("pipelines poisoned").pipelines.clone()
    }
}

fn install(ingest: &Ingest, compiled: CompiledPipelines) {
    let compiled = Arc::new(compiled);
    ingest.set_transform(Arc::new(move |log| compiled.apply(log)));
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

fn parse(body: &[u8]) -> Result<Pipeline, PipelinesError> {
    let p = Pipeline::from_json(body).map_err(PipelinesError::Invalid)?;
    hydrant_pipeline::validate(&p).map_err(PipelinesError::Invalid)?;
    Ok(p)
}

fn not_found(id: &str) -> PipelinesError {
    PipelinesError::NotFound(format!("Pipeline {id} not found"))
}

/// Where pipeline `id` is, if it exists and may be changed.
fn writable(all: &[Pipeline], id: &str) -> Result<usize, PipelinesError> {
    let at = all.iter().position(|x| x.id == id).ok_or_else(|| not_found(id))?;
    if all[at].is_read_only {
        return Err(PipelinesError::Invalid(PipelineError::new(format!("Pipeline {id} is read-only"))));
    }
    Ok(at)
}

type Q = QueryParams<HashMap<String, String>>;

/// `GET /api/v1/logs/config/pipelines`.
pub async fn list(State(i): State<Arc<Intake>>, QueryParams(q): Q, h: HeaderMap) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    Ok(axum::Json(i.pipelines.list()).into_response())
}

/// `POST /api/v1/logs/config/pipelines`.
pub async fn create(
    State(i): State<Arc<Intake>>,
    QueryParams(q): Q,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    let mut p = parse(&body)?;
    p.id = new_id();
    let created = i.pipelines.change(&i.ingest, |all| {
        all.push(p.clone());
        Ok(p)
    })?;
    tracing::info!(id = %created.id, name = %created.name, "pipeline created");
    Ok(axum::Json(created).into_response())
}

/// `GET /api/v1/logs/config/pipelines/{id}`.
pub async fn get_one(
    State(i): State<Arc<Intake>>,
    UrlPath(id): UrlPath<String>,
    QueryParams(q): Q,
    h: HeaderMap,
) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    let p = i.pipelines.list().into_iter().find(|p| p.id == id).ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(p).into_response())
}

/// `PUT /api/v1/logs/config/pipelines/{id}`: replaces the pipeline, keeping its id and place.
pub async fn update(
    State(i): State<Arc<Intake>>,
    UrlPath(id): UrlPath<String>,
    QueryParams(q): Q,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    let mut p = parse(&body)?;
    p.id = id.clone();
    let updated = i.pipelines.change(&i.ingest, |all| {
        let at = writable(all, &id)?;
        all[at] = p.clone();
        Ok(p)
    })?;
    Ok(axum::Json(updated).into_response())
}

/// `DELETE /api/v1/logs/config/pipelines/{id}`.
pub async fn delete(
    State(i): State<Arc<Intake>>,
    UrlPath(id): UrlPath<String>,
    QueryParams(q): Q,
    h: HeaderMap,
) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    i.pipelines.change(&i.ingest, |all| {
        let at = writable(all, &id)?;
        all.remove(at);
        Ok(())
    })?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Serialize, Deserialize)]
struct Order {
    pipeline_ids: Vec<String>,
}

/// `GET /api/v1/logs/config/pipeline-order`.
pub async fn get_order(
    State(i): State<Arc<Intake>>,
    QueryParams(q): Q,
    h: HeaderMap,
) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    let ids = i.pipelines.list().into_iter().map(|p| p.id).collect();
    Ok(axum::Json(Order { pipeline_ids: ids }).into_response())
}

/// `PUT /api/v1/logs/config/pipeline-order`: the new order must name every pipeline once.
pub async fn put_order(
    State(i): State<Arc<Intake>>,
    QueryParams(q): Q,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PipelinesError> {
    check_app_auth(&i, &h, &q)?;
    let order: Order = serde_json::from_slice(&body)
        .map_err(|e| PipelinesError::Invalid(PipelineError::new(format!("Invalid pipeline order: {e}"))))?;
    let ids = order.pipeline_ids.clone();
    i.pipelines.change(&i.ingest, |all| {
        let current: HashSet<&String> = all.iter().map(|p| &p.id).collect();
        let given: HashSet<&String> = ids.iter().collect();
        if given.len() != ids.len() || given != current {
            return Err(PipelinesError::Unprocessable(
                "pipeline_ids must list every pipeline exactly once".to_string(),
            ));
        }
        let mut by_id: HashMap<String, Pipeline> = all.drain(..).map(|p| (p.id.clone(), p)).collect();
        all.extend(ids.iter().filter_map(|id| by_id.remove(id)));
        Ok(())
    })?;
    Ok(axum::Json(order).into_response())
}
