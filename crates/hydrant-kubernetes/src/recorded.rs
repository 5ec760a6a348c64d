//! A recorded Kubernetes API: an HTTP(S) server on `127.0.0.1` that answers the GETs the
//! kubernetes filter sends from a set of Pod and Namespace objects, for tests and for
//! `hydrant up` (where no API server runs).
//!
//! Paths served (anything else is a 404 `Status`, as the API server answers):
//!
//! - `/api/v1/namespaces/{ns}/pods/{pod}`: the Pod;
//! - `/api/v1/namespaces/{ns}`: the Namespace;
//! - `/api/v1/namespaces/{ns}/pods`, `/api/v1/pods` and the kubelet's `/pods`: a `PodList`.
//!
//! Knobs for tests: a bearer token to require ([`RecordedApi::set_token`]), failing on purpose
//! with 503 ([`RecordedApi::set_failing`]), request counters, and objects added or removed
//! while running.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value as Json};

#[derive(Default)]
struct Shared {
    objects: Mutex<Vec<Json>>,
    token: Mutex<Option<String>>,
    failing: AtomicBool,
    requests: AtomicU64,
    by_path: Mutex<HashMap<String, u64>>,
    authorizations: Mutex<Vec<Option<String>>>,
}

/// A running recorded API; stops when dropped.
pub struct RecordedApi {
    addr: SocketAddr,
    https: bool,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RecordedApi {
    /// Serve `objects` (Pods and Namespaces, in the API's JSON shape) over HTTP on
    /// `127.0.0.1` at a free port. Must be called inside a Tokio runtime.
    pub async fn start(objects: Vec<Json>) -> anyhow::Result<RecordedApi> {
        let shared = Arc::new(Shared { objects: Mutex::new(objects), ..Default::default() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("recorded Kubernetes API stopped: {e}");
            }
        });
        Ok(RecordedApi { addr, https: false, shared, server })
    }

    /// The same over HTTPS, with a PEM certificate chain and private key (for example made
    /// with `rcgen` for `127.0.0.1`).
    pub async fn start_tls(objects: Vec<Json>, cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<RecordedApi> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shared = Arc::new(Shared { objects: Mutex::new(objects), ..Default::default() });
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem.to_vec(), key_pem.to_vec()).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum_server::from_tcp_rustls(listener, config).serve(app.into_make_service()).await {
                tracing::warn!("recorded Kubernetes API stopped: {e}");
            }
        });
        Ok(RecordedApi { addr, https: true, shared, server })
    }

    /// The base URL (`http://127.0.0.1:PORT`), for `Kube_URL`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.addr)
    }

    /// The address it listens on (`Kubelet_Host`/`Kubelet_Port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Require `Authorization: Bearer <token>` (401 otherwise); `None` accepts anything.
    pub fn set_token(&self, token: Option<&str>) {
        *self.shared.token.lock().expect("lock") = token.map(str::to_owned);
    }

    /// Answer every request with 503 (as an API server that is restarting) while `true`.
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// Add (or replace: same kind, namespace and name) an object.
    pub fn insert(&self, object: Json) {
        let mut objects = self.shared.objects.lock().expect("lock");
        let id = identity(&object);
        objects.retain(|o| identity(o) != id);
        objects.push(object);
    }

    /// Remove the object of `kind` (`Pod`, `Namespace`) named `name` in `namespace` (`""` for
    /// namespaces); whether there was one.
    pub fn remove(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let mut objects = self.shared.objects.lock().expect("lock");
        let before = objects.len();
        objects.retain(|o| identity(o) != (kind.to_owned(), namespace.to_owned(), name.to_owned()));
        objects.len() != before
    }

    /// Requests answered so far (any path, any status).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests to `path` so far.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.shared.by_path.lock().expect("lock").get(path).copied().unwrap_or(0)
    }

    /// The `Authorization` header of every request so far, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared.authorizations.lock().expect("lock").clone()
    }
}

impl Drop for RecordedApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(answer).with_state(shared)
}

/// `(kind, namespace, name)` of an object.
fn identity(o: &Json) -> (String, String, String) {
    let s = |v: &Json| v.as_str().unwrap_or("").to_owned();
    (s(&o["kind"]), s(&o["metadata"]["namespace"]), s(&o["metadata"]["name"]))
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let auth = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    shared.requests.fetch_add(1, Ordering::SeqCst);
    *shared.by_path.lock().expect("lock").entry(path.clone()).or_default() += 1;
    shared.authorizations.lock().expect("lock").push(auth.clone());

    if let Some(token) = shared.token.lock().expect("lock").clone() {
        if auth.as_deref() != Some(&format!("Bearer {token}")) {
            return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
        }
    }
    if shared.failing.load(Ordering::SeqCst) {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        );
    }
    if request.method() != axum::http::Method::GET {
        return status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "only GET is recorded");
    }
    let objects = shared.objects.lock().expect("lock").clone();
    let find = |kind: &str, ns: &str, name: &str| {
        objects.iter().find(|o| identity(o) == (kind.to_owned(), ns.to_owned(), name.to_owned())).cloned()
    };
    let pods = |ns: Option<&str>| {
        let items: Vec<Json> = objects
            .iter()
            .filter(|o| o["kind"] == "Pod" && ns.is_none_or(|ns| o["metadata"]["namespace"] == ns))
            .cloned()
            .collect();
        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let found = match parts.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", pod] => {
            find("Pod", ns, pod).ok_or_else(|| format!("pods \"{pod}\" not found"))
        }
        ["api", "v1", "namespaces", ns, "pods"] => Ok(pods(Some(ns))),
        ["api", "v1", "namespaces", ns] => {
            find("Namespace", "", ns).ok_or_else(|| format!("namespaces \"{ns}\" not found"))
        }
        ["api", "v1", "pods"] | ["pods"] => Ok(pods(None)),
        _ => Err("the server could not find the requested resource".to_owned()),
    };
    match found {
        Ok(object) => ([(header::CONTENT_TYPE, "application/json")], object.to_string()).into_response(),
        Err(message) => status(StatusCode::NOT_FOUND, "NotFound", &message),
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
