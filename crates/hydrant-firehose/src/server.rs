//! Listeners: plain HTTP and HTTPS (rustls) serving the same router.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use tokio_util::sync::CancellationToken;

use crate::service::Firehose;

/// Builds a rustls server configuration from PEM files.
pub async fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    // The process may not have chosen a crypto provider yet; ring is the one we build.
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| anyhow::anyhow!("TLS certificate {} / key {}: {e}", cert.display(), key.display()))
}

/// A running listener.
pub struct Listener {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Listener {
    /// Stops accepting and waits for open connections (up to `grace`).
    pub async fn stop(self, grace: std::time::Duration) {
        self.handle.graceful_shutdown(Some(grace));
        let _ = self.task.await;
    }
}

/// Serves the API on `addr`, over TLS when `tls` is given.
pub async fn listen(svc: Arc<Firehose>, addr: SocketAddr, tls: Option<RustlsConfig>) -> anyhow::Result<Listener> {
    let app = crate::api::router(svc).into_make_service();
    let handle = axum_server::Handle::new();
    let std_listener = std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    std_listener.set_nonblocking(true)?;
    let local_addr = std_listener.local_addr()?;
    let h = handle.clone();
    // TCP_NODELAY: an answer is one small write the client waits for; Nagle's algorithm
    // could hold it back behind a delayed ACK (40 ms on Linux).
    let no_delay = axum_server::accept::NoDelayAcceptor::new();
    let task =
        match tls {
            None => tokio::spawn(async move {
                axum_server::from_tcp(std_listener).acceptor(no_delay).handle(h).serve(app).await
            }),
            Some(cfg) => tokio::spawn(async move {
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(cfg).acceptor(no_delay);
                axum_server::from_tcp(std_listener).acceptor(acceptor).handle(h).serve(app).await
            }),
        };
    Ok(Listener { local_addr, handle, task })
}

/// Runs until `stop` is cancelled, then shuts the listeners and the service down.
pub async fn run_until(svc: Arc<Firehose>, listeners: Vec<Listener>, stop: CancellationToken) {
    stop.cancelled().await;
    for l in listeners {
        l.stop(std::time::Duration::from_secs(5)).await;
    }
    svc.shutdown().await;
}
