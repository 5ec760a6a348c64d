//! `hydrant router`: the Fargate-compatible log router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hydrant_router::config::{self, check_with, LoadOptions};
use hydrant_router::http::Health;
use hydrant_router::{Registry, Router, RouterOptions};
use tokio_util::sync::CancellationToken;

/// Arguments of `hydrant router`.
#[derive(clap::Args)]
pub struct Args {
    /// A Fluent Bit classic config, a Fluent Bit YAML config, or the `aws-logging`
    /// ConfigMap YAML itself (detected).
    #[arg(long)]
    config: PathBuf,
    /// Directory for positions and buffers [default: ./hydrant-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With a ConfigMap: the files the managed Fargate input tails, instead of
    /// /var/log/containers/*.log (to run outside Fargate).
    #[arg(long)]
    input_path: Option<PathBuf>,
    /// With a ConfigMap: keep Fargate's raw CRI lines in `log` (no CRI parsing, no
    /// reassembly of lines containerd split), for byte-for-byte fidelity with Fargate.
    #[arg(long)]
    raw_cri_lines: bool,
    /// With a ConfigMap: the Kubernetes API the kubernetes filter asks (`Kube_URL`, which
    /// Fargate's service owns) [default: in-cluster, https://kubernetes.default.svc].
    #[arg(long)]
    kube_url: Option<String>,
    /// With a ConfigMap: the bearer token file for the Kubernetes API (`Kube_Token_File`).
    #[arg(long)]
    kube_token_file: Option<PathBuf>,
    /// With a ConfigMap: the CA bundle of the Kubernetes API (`Kube_CA_File`).
    #[arg(long)]
    kube_ca_file: Option<PathBuf>,
    /// Where to serve `/metrics` and `/health` (`off` to disable).
    #[arg(long, default_value = "127.0.0.1:2020")]
    http_listen: String,
    /// Ship the router's own logs to every output, tagged `hydrant.router` (a ConfigMap's
    /// `flb_log_cw: 'true'` does the same).
    #[arg(long)]
    ship_own_logs: bool,
    /// Validate the configuration (with Fargate's rules for a ConfigMap), print what it
    /// sets up, and exit.
    #[arg(long)]
    check: bool,
}

/// Validate (`--check`) or run the router until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    // On Fargate the managed input keeps its positions in /var/log/flb_kube.db; anywhere
    // else (a data dir or input path given) they belong in the data dir.
    let data_dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from("./hydrant-data"));
    let input_db =
        (args.data_dir.is_some() || args.input_path.is_some()).then(|| data_dir.join("router").join("flb_kube.db"));
    let options = LoadOptions { input_path: args.input_path.clone(), input_db, ..LoadOptions::default() };
    if args.check {
        return match check_with(&args.config, &options) {
            Ok(summary) => {
                println!("{summary}");
                Ok(std::process::ExitCode::SUCCESS)
            }
            Err(errors) => Ok(report(&errors)),
        };
    }
    let mut cfg = match config::load(&args.config, &options) {
        Ok(cfg) => cfg,
        Err(errors) => return Ok(report(&errors)),
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    hydrant_router::fargate::apply(
        &mut cfg,
        &hydrant_router::fargate::ServiceSettings {
            input_path: args.input_path.clone(),
            kube_url: args.kube_url.clone(),
            kube_token_file: args.kube_token_file.clone(),
            kube_ca_file: args.kube_ca_file.clone(),
            raw_cri_lines: args.raw_cri_lines,
        },
    );
    std::fs::create_dir_all(data_dir.join("router"))
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", data_dir.join("router").display()))?;
    let http_listen: Option<SocketAddr> = match args.http_listen.as_str() {
        "off" => None,
        addr => Some(addr.parse().map_err(|e| anyhow::anyhow!("--http-listen {addr}: {e}"))?),
    };
    let hc_period = cfg.service.get("HC_Period").and_then(|v| config::units::parse_time(v).ok()).unwrap_or(60);
    let ship_own_logs = args.ship_own_logs || cfg.fargate.as_ref().is_some_and(|f| f.flb_log_cw);
    let options = RouterOptions { ship_own_logs, ..RouterOptions::new(data_dir.join("router"), Registry::builtin()) };
    let router = match Router::build(cfg, options) {
        Ok(r) => r,
        Err(errors) => return Ok(report(&errors)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        let metrics = router.metrics();
        if let Some(addr) = http_listen {
            let health = Arc::new(Health::new(metrics.clone(), router.output_names(), Duration::from_secs(hc_period)));
            let bound = hydrant_router::http::serve(addr, metrics, health, stop.child_token()).await?;
            println!("hydrant router metrics on http://{bound}/metrics, health on http://{bound}/health");
        }
        let signal_stop = stop.clone();
        tokio::spawn(async move {
            crate::signals::shutdown().await;
            signal_stop.cancel();
        });
        tracing::info!("router running");
        let result = router.run(stop.clone()).await;
        stop.cancel();
        result
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn report(errors: &config::ConfigErrors) -> std::process::ExitCode {
    for e in errors.errors() {
        eprintln!("{e}");
    }
    eprintln!("hydrant router: {} configuration error(s)", errors.len());
    std::process::ExitCode::FAILURE
}
