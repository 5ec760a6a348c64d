//! `hydrant intake`: the Datadog-compatible logs intake.

use std::net::SocketAddr;
use std::path::PathBuf;

use hydrant_intake::{Intake, IntakeConfig};

/// Arguments of `hydrant intake`. Flags override the configuration file.
#[derive(clap::Args)]
pub struct Args {
    /// Listen address [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory; the intake keeps its state under `<data-dir>/intake/` [default: ./hydrant-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// An API key (`DD-API-KEY`, Firehose's access key); repeatable.
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// An application key (`DD-APPLICATION-KEY`); repeatable.
    #[arg(long = "app-key")]
    app_keys: Vec<String>,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl Args {
    fn into_config(self) -> anyhow::Result<IntakeConfig> {
        let mut c = match &self.config {
            Some(p) => IntakeConfig::from_file(p)?,
            None => IntakeConfig::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = self.data_dir {
            c.data_dir = v;
        }
        if !self.api_keys.is_empty() {
            c.api_keys = self.api_keys;
        }
        if !self.app_keys.is_empty() {
            c.app_keys = self.app_keys;
        }
        Ok(c)
    }
}

/// Runs the intake until SIGINT or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let started = Intake::start(config.clone())?;
    let intake = started.intake;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    println!("hydrant intake listening on http://{addr}");
    println!("  Firehose HTTP endpoint URL: http://{addr}/v1/input (access key = an API key)");
    if let Some(path) = &started.generated_keys {
        let (api, app) = (&intake.keys.api_keys[0], &intake.keys.app_keys[0]);
        println!("keys: {} (API key {api}, application key {app})", path.display());
        println!("  explorer: http://{addr}/#api_key={api}&app_key={app}");
    } else {
        println!("  explorer: http://{addr}/");
    }
    let app = hydrant_intake::router(intake);
    axum::serve(hydrant_intake::no_delay(listener), app).with_graceful_shutdown(crate::signals::shutdown()).await?;
    Ok(())
}
