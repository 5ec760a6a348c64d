//! Waiting for the operator to stop a service.

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what `kill` and container runtimes send).
pub async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
