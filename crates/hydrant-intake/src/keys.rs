//! API keys (`DD-API-KEY`, the Firehose access key) and application keys
//! (`DD-APPLICATION-KEY`), compared in constant time.
//!
//! With no key configured, one pair is generated on first start and kept in
//! `<data-dir>/intake/keys.json`, shaped like Datadog's (32 and 40 hex digits).

use std::path::Path;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The keys the intake accepts.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Keys {
    /// API keys: sending logs.
    pub api_keys: Vec<String>,
    /// Application keys: the pipelines and search APIs (with an API key).
    pub app_keys: Vec<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} api, {} app)", self.api_keys.len(), self.app_keys.len())
    }
}

/// Whether `given` equals one of `keys`, without timing leaks about where they differ.
fn contains(keys: &[String], given: &str) -> bool {
    // Every key is compared (no early exit), so the time says nothing about which matched.
    keys.iter().fold(false, |found, k| found | bool::from(k.as_bytes().ct_eq(given.as_bytes())))
}

impl Keys {
    /// Whether `key` is a valid API key.
    pub fn api_key_ok(&self, key: &str) -> bool {
        contains(&self.api_keys, key)
    }

    /// Whether `key` is a valid application key.
    pub fn app_key_ok(&self, key: &str) -> bool {
        contains(&self.app_keys, key)
    }

    /// The configured keys, or the generated pair (created on first use) when none is.
    /// Returns the keys and, when they were generated, the file holding them.
    pub fn load_or_generate(
        api: Vec<String>,
        app: Vec<String>,
        dir: &Path,
    ) -> anyhow::Result<(Keys, Option<std::path::PathBuf>)> {
        if !api.is_empty() || !app.is_empty() {
            return Ok((Keys { api_keys: api, app_keys: app }, None));
        }
        let path = dir.join("keys.json");
        if let Ok(bytes) = std::fs::read(&path) {
            let keys: Keys = serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            return Ok((keys, Some(path)));
        }
        let keys = Keys { api_keys: vec![hex_key(16)], app_keys: vec![hex_key(20)] };
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&keys)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok((keys, Some(path)))
    }
}

fn hex_key(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (k, path) = Keys::load_or_generate(vec![], vec![], dir.path()).unwrap();
        assert!(path.is_some());
        assert_eq!(k.api_keys[0].len(), 32);
        assert_eq!(k.app_keys[0].len(), 40);
        let (again, _) = Keys::load_or_generate(vec![], vec![], dir.path()).unwrap();
        assert_eq!(again.api_keys, k.api_keys);
        assert!(again.api_key_ok(&k.api_keys[0]));
        assert!(!again.api_key_ok(&k.app_keys[0]));
        assert!(!again.api_key_ok(""));
        assert!(again.app_key_ok(&k.app_keys[0]));
        assert!(!format!("{again:?}").contains(&k.api_keys[0]));
    }

    #[test]
    fn configured_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let (k, path) = Keys::load_or_generate(vec!["a".into(), "b".into()], vec![], dir.path()).unwrap();
        assert!(path.is_none());
        assert!(k.api_key_ok("b"));
        assert!(!k.api_key_ok("c"));
        assert!(!dir.path().join("keys.json").exists());
    }
}
