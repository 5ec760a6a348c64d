//! Intake configuration: what `--config FILE` holds (TOML), merged with the flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration of an intake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// HTTP listener.
    pub listen: SocketAddr,
    /// Data directory; the intake keeps everything under `<data_dir>/intake/`.
    pub data_dir: PathBuf,
    /// API keys (`DD-API-KEY`, Firehose's access key). Empty (with no app key either):
    /// a pair is generated.
    pub api_keys: Vec<String>,
    /// Application keys (`DD-APPLICATION-KEY`).
    pub app_keys: Vec<String>,
    /// Logs older than this many days are deleted.
    pub retention_days: u32,
    /// How often the index commits, in milliseconds (how soon a log is searchable).
    pub commit_interval_ms: u64,
    /// Bytes acknowledged but not yet indexed before receivers answer 503.
    pub max_queued_bytes: u64,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            data_dir: PathBuf::from("./hydrant-data"),
            api_keys: Vec::new(),
            app_keys: Vec::new(),
            retention_days: 15,
            commit_interval_ms: 500,
            max_queued_bytes: 1 << 30,
        }
    }
}

impl IntakeConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Where the intake's own state lives.
    pub fn dir(&self) -> PathBuf {
        self.data_dir.join("intake")
    }
}
