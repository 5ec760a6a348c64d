//! `hydrant firehose`: the Firehose-compatible delivery service.

use std::net::SocketAddr;
use std::path::PathBuf;

use hydrant_firehose::auth::{Principals, PROFILE};
use hydrant_firehose::server::{listen, run_until, tls_config};
use hydrant_firehose::{Firehose, FirehoseConfig};
use tokio_util::sync::CancellationToken;

/// Arguments of `hydrant firehose`. Flags override the configuration file.
#[derive(clap::Args)]
pub struct Args {
    /// Plain HTTP listen address [default: 127.0.0.1:4573].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HTTPS listen address (needs --tls-cert and --tls-key).
    #[arg(long)]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for --tls-listen.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-listen.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Directory for the write-ahead log, streams, checkpoints and local buckets [default: ./hydrant-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Region this service answers for [default: us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Account id of the streams [default: 123456789012].
    #[arg(long)]
    account_id: Option<String>,
    /// TOML configuration file (principals, limits, delivery, s3, wal).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl Args {
    fn into_config(self) -> anyhow::Result<FirehoseConfig> {
        let mut c = match &self.config {
            Some(path) => FirehoseConfig::from_file(path)?,
            None => FirehoseConfig::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = self.tls_listen {
            c.tls_listen = Some(v);
        }
        if let Some(v) = self.tls_cert {
            c.tls_cert = Some(v);
        }
        if let Some(v) = self.tls_key {
            c.tls_key = Some(v);
        }
        if let Some(v) = self.data_dir {
            c.data_dir = v;
        }
        if let Some(v) = self.region {
            c.region = v;
        }
        if let Some(v) = self.account_id {
            if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                anyhow::bail!("--account-id must be 12 digits");
            }
            c.account_id = v;
        }
        Ok(c)
    }
}

/// Runs the service until SIGINT or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let tls = match (&config.tls_listen, &config.tls_cert, &config.tls_key) {
        (None, _, _) => None,
        (Some(addr), Some(cert), Some(key)) => Some((*addr, tls_config(cert, key).await?)),
        (Some(_), _, _) => {
            anyhow::bail!("--tls-listen needs --tls-cert and --tls-key (`hydrant dev-certs` makes a development pair)")
        }
    };
    let loaded = Principals::load(&config)?;
    let svc = Firehose::start(config.clone(), loaded.principals).await?;
    let mut listeners = vec![listen(svc.clone(), config.listen, None).await?];
    println!("hydrant firehose listening on http://{}", listeners[0].local_addr);
    if let Some((addr, tls)) = tls {
        let l = listen(svc.clone(), addr, Some(tls)).await?;
        println!("hydrant firehose listening on https://{}", l.local_addr);
        listeners.push(l);
    }
    if let Some(path) = &loaded.generated_credentials {
        println!("root credentials: {} (profile {PROFILE})", path.display());
        println!(
            "  AWS_SHARED_CREDENTIALS_FILE={} aws --profile {PROFILE} --region {} --endpoint-url http://{} firehose list-delivery-streams",
            path.display(),
            config.region,
            listeners[0].local_addr
        );
    }
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        crate::signals::shutdown().await;
        s.cancel();
    });
    run_until(svc, listeners, stop).await;
    Ok(())
}
