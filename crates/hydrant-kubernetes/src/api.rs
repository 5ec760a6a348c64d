//! Talking to the Kubernetes API server (and the kubelet) through the `kube` client: raw GETs
//! whose JSON is kept as Hydrant [`Map`]s, so the key order of labels and annotations is the
//! API's, as in Fluent Bit's records.
//!
//! The bearer token is read from `Kube_Token_File` and re-read every `Kube_Token_TTL` (and at
//! once after a 401), as Fluent Bit's `refresh_token_if_needed` does, rather than by the
//! client's own token-file handling: that keeps `Kube_Token_TTL` meaningful and lets an
//! `http://` test server see the header too.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hydrant_flb::{Map, Value};
use kube::client::ClientBuilder;
use kube::Client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::options::Options;

/// Why a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// 404: the object does not exist (the pod is gone). Waiting will not help.
    NotFound,
    /// A refusal that waiting will not fix soon (403, 400, a bad CA file, a client that
    /// cannot be built).
    Rejected(String),
    /// Connection refused, timeout, 5xx, 429, 401 (token being rotated): worth retrying.
    Transient(String),
}

impl LookupError {
    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, LookupError::Transient(_))
    }
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound => f.write_str("not found (404)"),
            LookupError::Rejected(m) => write!(f, "rejected: {m}"),
            LookupError::Transient(m) => f.write_str(m),
        }
    }
}

struct Token {
    header: Option<String>,
    read_at: Option<Instant>,
}

/// The API server and kubelet endpoints, with the token.
pub struct ApiClient {
    api: Result<Client, String>,
    kubelet: Option<Result<Client, String>>,
    token_file: PathBuf,
    token_ttl: Duration,
    token: Mutex<Token>,
    buffer_size: u64,
    io_timeout: Duration,
}

impl ApiClient {
    /// A client for `opts`' endpoints. Must run inside a Tokio runtime (the kube client spawns
    /// its request buffer task). A client that cannot be built (unreadable CA file) is kept as
    /// an error that every lookup reports, as Fluent Bit keeps running without metadata.
    pub fn new(opts: &Options) -> ApiClient {
        let api = build_client(&opts.kube_url, opts);
        let kubelet = opts.use_kubelet.then(|| build_client(&opts.kubelet_url(), opts));
        ApiClient {
            api,
            kubelet,
            token_file: opts.kube_token_file.clone(),
            token_ttl: opts.kube_token_ttl,
            token: Mutex::new(Token { header: None, read_at: None }),
            buffer_size: opts.buffer_size,
            io_timeout: opts.kube_meta_io_timeout,
        }
    }

    /// `GET /api/v1/namespaces/{ns}/pods/{pod}`.
    pub async fn pod(&self, namespace: &str, pod: &str) -> Result<Map, LookupError> {
        self.get(&self.api, &format!("/api/v1/namespaces/{namespace}/pods/{pod}")).await
    }

    /// `GET /api/v1/namespaces/{ns}`.
    pub async fn namespace(&self, namespace: &str) -> Result<Map, LookupError> {
        self.get(&self.api, &format!("/api/v1/namespaces/{namespace}")).await
    }

    /// The kubelet's `GET /pods`: every pod of the node.
    pub async fn kubelet_pods(&self) -> Result<Vec<Map>, LookupError> {
        let client = self.kubelet.as_ref().ok_or_else(|| LookupError::Rejected("Use_Kubelet is off".into()))?;
        let list = self.get(client, "/pods").await?;
        let items = match list.get("items").map(Value::resolve) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_map).cloned().collect(),
            _ => Vec::new(),
        };
        Ok(items)
    }

    async fn get(&self, client: &Result<Client, String>, path: &str) -> Result<Map, LookupError> {
        let client = client.as_ref().map_err(|e| LookupError::Rejected(e.clone()))?;
        let mut result = self.get_once(client, path).await;
        if matches!(&result, Err(LookupError::Transient(m)) if m.starts_with("401")) {
            // The token may have been rotated since it was read: read it again now.
            self.token.lock().expect("token lock").read_at = None;
            result = self.get_once(client, path).await;
        }
        result
    }

    async fn get_once(&self, client: &Client, path: &str) -> Result<Map, LookupError> {
        let mut request = http::Request::get(path).header(http::header::USER_AGENT, "Hydrant");
        if let Some(auth) = self.auth_header() {
            request = request.header(http::header::AUTHORIZATION, auth);
        }
        let request = request.body(Vec::new()).map_err(|e| LookupError::Rejected(e.to_string()))?;
        let text = match tokio::time::timeout(self.io_timeout, client.request_text(request)).await {
            Err(_) => return Err(LookupError::Transient(format!("GET {path}: no answer in {:?}", self.io_timeout))),
            Ok(Err(e)) => return Err(classify(path, e)),
            Ok(Ok(text)) => text,
        };
        if self.buffer_size > 0 && text.len() as u64 > self.buffer_size {
            // Fluent Bit would have dropped this response and sent the records without
            // metadata (a frequent complaint); Hydrant keeps it and says so.
            tracing::warn!(
                "GET {path}: the response ({} bytes) is larger than Buffer_Size ({} bytes); Fluent Bit would \
                 drop this metadata, Hydrant keeps it (set Buffer_Size 0 to silence this)",
                text.len(),
                self.buffer_size
            );
        }
        match Value::from_json(text.as_bytes()) {
            Ok(Value::Map(map)) => Ok(map),
            Ok(_) => Err(LookupError::Transient(format!("GET {path}: the answer is not a JSON object"))),
            Err(e) => Err(LookupError::Transient(format!("GET {path}: the answer is not JSON: {e}"))),
        }
    }

    /// `Bearer <token>`, re-read from the token file when older than `Kube_Token_TTL`. No
    /// header when the file cannot be read (Fluent Bit warns and goes on the same way).
    fn auth_header(&self) -> Option<String> {
        let mut token = self.token.lock().expect("token lock");
        let stale = token.read_at.is_none_or(|t| t.elapsed() >= self.token_ttl);
        if stale {
            token.read_at = Some(Instant::now());
            match std::fs::read_to_string(&self.token_file) {
                Ok(t) if !t.trim().is_empty() => {
                    tracing::debug!("token read from {}", self.token_file.display());
                    token.header = Some(format!("Bearer {}", t.trim()));
                }
                // Logged at most once per Kube_Token_TTL, as the file is read no more often.
                Ok(_) | Err(_) => {
                    tracing::warn!("cannot read the token file {}", self.token_file.display());
                    token.header = None;
                }
            }
        }
        token.header.clone()
    }
}

fn build_client(url: &str, opts: &Options) -> Result<Client, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let https = url.starts_with("https://");
    let mut config = kube::Config::new(uri);
    config.connect_timeout = Some(opts.kube_meta_io_timeout);
    config.read_timeout = Some(opts.kube_meta_io_timeout);
    config.reset_reader_on_write = true;
    // Hydrant retries with its own back-off and bound (Hydrant.Lookup_Wait).
    config.default_retry = false;
    if https {
        if opts.tls_verify {
            let pem = std::fs::read(&opts.kube_ca_file)
                .map_err(|e| format!("cannot read Kube_CA_File {}: {e}", opts.kube_ca_file.display()))?;
            let ders = CertificateDer::pem_slice_iter(&pem)
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("Kube_CA_File {}: {e}", opts.kube_ca_file.display()))?;
            if ders.is_empty() {
                return Err(format!("Kube_CA_File {} holds no certificate", opts.kube_ca_file.display()));
            }
            config.root_cert = Some(ders);
            // The client re-reads it about once a minute, to follow CA rotation.
            config.root_cert_file = Some(opts.kube_ca_file.clone());
        } else {
            config.accept_invalid_certs = true;
        }
    }
    let builder = ClientBuilder::try_from(config).map_err(|e| format!("Kubernetes client for {url}: {e}"))?;
    Ok(builder.build())
}

fn classify(path: &str, e: kube::Error) -> LookupError {
    match e {
        kube::Error::Api(status) => match status.code {
            404 => LookupError::NotFound,
            401 => LookupError::Transient(format!("401 GET {path}: {}", status.message)),
            408 | 429 | 500..=599 => LookupError::Transient(format!("{} GET {path}: {}", status.code, status.message)),
            code => LookupError::Rejected(format!("{code} GET {path}: {}", status.message)),
        },
        other => LookupError::Transient(format!("GET {path}: {other}")),
    }
}
