//! Service configuration: what `--config FILE` holds (TOML), merged with the
//! command-line flags by the `hydrant` binary.
//!
//! Everything has a default so that `hydrant firehose` with no file at all runs a
//! useful single-node service.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration of a Firehose service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirehoseConfig {
    /// Plain HTTP listener.
    pub listen: SocketAddr,
    /// Optional HTTPS listener (Fluent Bit's `kinesis_firehose` output always speaks TLS).
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for the HTTPS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the HTTPS listener.
    pub tls_key: Option<PathBuf>,
    /// Where the write-ahead log, stream catalog, checkpoints and local buckets live.
    pub data_dir: PathBuf,
    /// The region this service answers for (ARNs, SigV4 credential scope).
    pub region: String,
    /// The account that owns streams created by principals without an account of their own.
    pub account_id: String,
    /// Principals allowed to call the API. Empty: a root principal is generated.
    pub principals: Vec<PrincipalConfig>,
    /// Service limits.
    pub limits: LimitsConfig,
    /// Delivery tuning.
    pub delivery: DeliveryConfig,
    /// Object storage for S3 destinations and backups.
    pub s3: S3Config,
    /// The write-ahead log.
    pub wal: WalConfig,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        FirehoseConfig {
            listen: "127.0.0.1:4573".parse().expect("static address"),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            data_dir: PathBuf::from("./hydrant-data"),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            principals: Vec::new(),
            limits: LimitsConfig::default(),
            delivery: DeliveryConfig::default(),
            s3: S3Config::default(),
            wal: WalConfig::default(),
        }
    }
}

impl FirehoseConfig {
    /// Reads a TOML configuration file. Relative policy paths inside it are resolved
    /// against the file's directory.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let mut config: FirehoseConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for principal in &mut config.principals {
            for policy in &mut principal.policy_files {
                if policy.is_relative() {
                    *policy = base.join(&*policy);
                }
            }
        }
        Ok(config)
    }
}

/// A principal: an access key pair with the IAM policies attached to it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    /// A name for messages and metrics, e.g. `fluent-bit`; becomes `user/<name>` in its ARN.
    pub name: String,
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// The secret; never logged, never described.
    pub secret_access_key: String,
    /// The account the principal belongs to (defaults to the service's account).
    #[serde(default)]
    pub account_id: Option<String>,
    /// Root principals may do anything in their account, like an account's root user.
    #[serde(default)]
    pub root: bool,
    /// IAM policy documents (JSON files) attached to the principal.
    #[serde(default, rename = "policies")]
    pub policy_files: Vec<PathBuf>,
    /// IAM policy documents given inline as JSON text.
    #[serde(default)]
    pub inline_policies: Vec<String>,
}

impl std::fmt::Debug for PrincipalConfig {
    // The secret must never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalConfig")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("root", &self.root)
            .field("policy_files", &self.policy_files)
            .finish()
    }
}

/// Limits of the service. The per-request limits are the real service's and are not
/// configurable; these are the ones AWS sets per account or that protect this machine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Streams per account and region (AWS default quota: 50).
    pub max_streams: usize,
    /// Acknowledged but not yet delivered bytes a stream may hold before Puts answer
    /// "Slow down." per record.
    pub max_backlog_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_streams: 50, max_backlog_bytes: 2 << 30 }
    }
}

/// Delivery tuning. The defaults are the real service's behaviour; tests shorten them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// First back-off wait after a failed attempt (real service: 1 s).
    #[serde(with = "millis")]
    pub backoff_base: Duration,
    /// Back-off cap (real service: 120 s).
    #[serde(with = "millis")]
    pub backoff_max: Duration,
    /// Time an attempt has to get a response (real service: 3 min).
    #[serde(with = "millis")]
    pub attempt_timeout: Duration,
    /// Allow `http://` endpoint URLs to any host. `http://` to loopback hosts is always
    /// allowed, so local set-ups need no TLS.
    pub allow_http_endpoints: bool,
    /// Accept TLS certificates signed by this CA (PEM) in addition to the system roots.
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(180),
            allow_http_endpoints: false,
            extra_ca_file: None,
        }
    }
}

/// Where buckets live. By default a bucket ARN maps to `<data-dir>/s3/<bucket>/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); unset: local directories.
    pub endpoint: Option<String>,
    /// Region to sign S3 requests for.
    pub region: Option<String>,
    /// Access key for the S3 endpoint.
    pub access_key_id: Option<String>,
    /// Secret for the S3 endpoint.
    pub secret_access_key: Option<String>,
    /// Use path-style addressing (most self-hosted S3 servers want this).
    pub path_style: Option<bool>,
}

/// Write-ahead log tuning.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// Roll to a new segment file past this size.
    pub segment_bytes: u64,
    /// Skip fsync (benchmarks of the rest of the path only; never in production).
    pub unsafe_no_fsync: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig { segment_bytes: 64 << 20, unsafe_no_fsync: false }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
