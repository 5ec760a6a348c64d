//! Principals: who may call the API, with which secret, under which IAM policies.
//!
//! With no principal configured, a root principal is generated once and written to
//! `<data-dir>/credentials` in the AWS shared-credentials format (profile `hydrant`), so
//! that `AWS_SHARED_CREDENTIALS_FILE=<that> aws --profile hydrant ...` works as is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hydrant_aws::iam::{evaluate, PolicyDocument};
use hydrant_aws::sigv4::SecretLookup;
use rand::Rng;

use crate::config::FirehoseConfig;

/// The profile name written to the generated credentials file.
pub const PROFILE: &str = "hydrant";

/// An authenticated caller.
#[derive(Clone)]
pub struct Principal {
    /// Name from the configuration.
    pub name: String,
    /// The access key id.
    pub access_key_id: String,
    secret_access_key: String,
    /// The account whose streams the principal sees.
    pub account_id: String,
    /// `arn:aws:iam::<account>:user/<name>` (or `:root`), for AccessDenied messages.
    pub arn: String,
    /// Root may do anything in its account.
    pub root: bool,
    /// Attached IAM policies.
    pub policies: Vec<PolicyDocument>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal").field("arn", &self.arn).field("access_key_id", &self.access_key_id).finish()
    }
}

impl Principal {
    /// Whether the principal may perform `action` on `resource`.
    pub fn allowed(&self, action: &str, resource: &str) -> bool {
        self.root || evaluate(&self.policies, action, resource).is_allowed()
    }
}

/// Every principal, by access key id.
#[derive(Default)]
pub struct Principals {
    by_key: HashMap<String, Principal>,
}

impl SecretLookup for Principals {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.by_key.get(access_key_id).map(|p| p.secret_access_key.clone())
    }
}

/// The outcome of loading principals.
pub struct Loaded {
    /// The principals.
    pub principals: Principals,
    /// The credentials file of the generated root principal, when there is one.
    pub generated_credentials: Option<PathBuf>,
}

impl Principals {
    /// The principal owning `access_key_id`.
    pub fn get(&self, access_key_id: &str) -> Option<&Principal> {
        self.by_key.get(access_key_id)
    }

    /// Adds a principal (used by `hydrant up` and tests).
    pub fn insert(&mut self, p: Principal) {
        self.by_key.insert(p.access_key_id.clone(), p);
    }

    /// Builds the principals of `config`, generating (or reusing) a root principal when
    /// none is configured.
    pub fn load(config: &FirehoseConfig) -> anyhow::Result<Loaded> {
        let mut principals = Principals::default();
        for p in &config.principals {
            let account_id = p.account_id.clone().unwrap_or_else(|| config.account_id.clone());
            let mut policies = Vec::new();
            for file in &p.policy_files {
                let text =
                    std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("policy {}: {e}", file.display()))?;
                policies
                    .push(PolicyDocument::parse(&text).map_err(|e| anyhow::anyhow!("policy {}: {e}", file.display()))?);
            }
            for text in &p.inline_policies {
                policies.push(
                    PolicyDocument::parse(text).map_err(|e| anyhow::anyhow!("inline policy of {}: {e}", p.name))?,
                );
            }
            if !p.root && policies.is_empty() {
                tracing::warn!(principal = %p.name, "principal has no policy attached: every call will be denied");
            }
            let arn = if p.root {
                format!("arn:aws:iam::{account_id}:root")
            } else {
                format!("arn:aws:iam::{account_id}:user/{}", p.name)
            };
            if principals.by_key.contains_key(&p.access_key_id) {
                anyhow::bail!("access key id {} is configured twice", p.access_key_id);
            }
            principals.insert(Principal {
                name: p.name.clone(),
                access_key_id: p.access_key_id.clone(),
                secret_access_key: p.secret_access_key.clone(),
                account_id,
                arn,
                root: p.root,
                policies,
            });
        }
        let mut generated_credentials = None;
        if config.principals.is_empty() {
            let path = config.data_dir.join("credentials");
            let (key, secret) = load_or_create_credentials(&path)?;
            principals.insert(Principal {
                name: "root".into(),
                access_key_id: key,
                secret_access_key: secret,
                account_id: config.account_id.clone(),
                arn: format!("arn:aws:iam::{}:root", config.account_id),
                root: true,
                policies: Vec::new(),
            });
            generated_credentials = Some(path);
        }
        Ok(Loaded { principals, generated_credentials })
    }
}

const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The access key pair in the shared-credentials file `path` (profile [`PROFILE`]), created
/// with fresh random keys when the file does not exist.
pub fn load_or_create_credentials(path: &Path) -> anyhow::Result<(String, String)> {
    if let Some(pair) = read_credentials(path)? {
        return Ok(pair);
    }
    let pair = (generate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "AKIA", 16), generate(SECRET_CHARS, "", 40));
    write_credentials(path, &pair.0, &pair.1)?;
    Ok(pair)
}

fn generate(alphabet: &[u8], prefix: &str, n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    let mut s = prefix.to_string();
    s.extend((0..n).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char));
    s
}

fn write_credentials(path: &Path, key: &str, secret: &str) -> anyhow::Result<()> {
    let text = format!("[{PROFILE}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n");
    crate::state_file::write_atomic(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Reads the `hydrant` profile of a shared-credentials file.
pub fn read_credentials(path: &Path) -> anyhow::Result<Option<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    let mut in_profile = false;
    let (mut key, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_profile = line == format!("[{PROFILE}]");
        } else if in_profile {
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => key = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
    }
    match (key, secret) {
        (Some(k), Some(s)) => Ok(Some((k, s))),
        _ => anyhow::bail!("{} has no complete [{PROFILE}] profile", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_root_is_persisted_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = FirehoseConfig { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let first = Principals::load(&config).unwrap();
        let path = first.generated_credentials.unwrap();
        let (key, secret) = read_credentials(&path).unwrap().unwrap();
        assert!(key.starts_with("AKIA") && key.len() == 20);
        assert_eq!(secret.len(), 40);
        assert_eq!(first.principals.secret_for(&key).as_deref(), Some(secret.as_str()));
        let again = Principals::load(&config).unwrap();
        assert_eq!(again.principals.secret_for(&key).as_deref(), Some(secret.as_str()));
        let p = again.principals.get(&key).unwrap();
        assert!(p.allowed("firehose:DeleteDeliveryStream", "arn:aws:firehose:us-east-1:123456789012:deliverystream/x"));
        assert!(!format!("{p:?}").contains(&secret));
    }

    #[test]
    fn example_config_holds_the_seed_policy_verbatim() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/firehose/hydrant.toml");
        let config = FirehoseConfig::from_file(&path).unwrap();
        let loaded = Principals::load(&config).unwrap();
        assert!(loaded.generated_credentials.is_none());
        let router = loaded.principals.get("AKIAHYDRANTFLUENTBIT").unwrap();
        let arn = "arn:aws:firehose:us-east-1:123456789012:deliverystream/fargate-logs";
        assert!(router.allowed("firehose:PutRecord", arn));
        assert!(router.allowed("firehose:PutRecordBatch", arn));
        assert!(!router.allowed("firehose:PutRecord", "arn:aws:firehose:us-east-1:123456789012:deliverystream/other"));
        assert!(!router.allowed("firehose:CreateDeliveryStream", arn));
        assert!(!router.allowed("firehose:DescribeDeliveryStream", arn));
        let admin = loaded.principals.get("AKIAHYDRANTADMIN0001").unwrap();
        assert!(admin.allowed("firehose:CreateDeliveryStream", arn));
    }
}
