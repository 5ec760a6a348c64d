//! The filter's options, read from its `[FILTER]` section with Fluent Bit's names and
//! defaults (`plugins/filter_kubernetes`), plus Hydrant's own `Hydrant.*` keys.

use std::path::PathBuf;
use std::time::Duration;

use hydrant_flb::config::{ConfigError, Plugin, Rule};
use hydrant_flb::plugin::BuildResult;

/// Where the service-account files live in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Fluent Bit's default tag regex (applied to the tag minus `Kube_Tag_Prefix`).
pub const DEFAULT_TAG_REGEX: &str = r"(?<pod_name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*)_(?<namespace_name>[^_]+)_(?<container_name>.+)-(?<docker_id>[a-z0-9]{64})\.log$";

/// Every option of the filter, resolved to its value or default.
#[derive(Debug, Clone)]
pub struct Options {
    /// `Buffer_Size` (32k; 0 = unlimited). Fluent Bit drops a larger API response, and with it
    /// the metadata; Hydrant keeps the response and logs that Fluent Bit would have dropped it.
    pub buffer_size: u64,
    /// `Merge_Log` (off).
    pub merge_log: bool,
    /// `Merge_Parser`: a parser name for the `log` value instead of JSON.
    pub merge_parser: Option<String>,
    /// `Merge_Log_Key`: put the merged keys under this key instead of the top level.
    pub merge_log_key: Option<String>,
    /// `Merge_Log_Trim` (on): strip trailing newlines from merged string values.
    pub merge_log_trim: bool,
    /// `Keep_Log` (on): keep `log` after a successful merge.
    pub keep_log: bool,
    /// `Kube_URL` (`https://kubernetes.default.svc`, or `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
    /// when those are set and `Kube_URL` is not).
    pub kube_url: String,
    /// `Kube_CA_File`.
    pub kube_ca_file: PathBuf,
    /// `Kube_Token_File`.
    pub kube_token_file: PathBuf,
    /// `Kube_Token_TTL` (10m): how long a token read from the file is used before re-reading it.
    pub kube_token_ttl: Duration,
    /// `Kube_Tag_Prefix` (`kube.var.log.containers.`).
    pub kube_tag_prefix: String,
    /// `Kube_Meta_Cache_TTL` (0 = no expiry).
    pub kube_meta_cache_ttl: Option<Duration>,
    /// `Kube_Meta_Namespace_Cache_TTL` (15m; 0 = no expiry).
    pub kube_meta_namespace_cache_ttl: Option<Duration>,
    /// `Kube_Meta_IO_Timeout` (30s): bound on one request.
    pub kube_meta_io_timeout: Duration,
    /// `Labels` (on).
    pub labels: bool,
    /// `Annotations` (on).
    pub annotations: bool,
    /// `Owner_References` (off).
    pub owner_references: bool,
    /// `Namespace_Labels` (off).
    pub namespace_labels: bool,
    /// `Namespace_Annotations` (off).
    pub namespace_annotations: bool,
    /// `Namespace_Metadata_Only` (off): add only `kubernetes_namespace`.
    pub namespace_metadata_only: bool,
    /// `K8S-Logging.Parser` (off).
    pub k8s_logging_parser: bool,
    /// `K8S-Logging.Exclude` (off).
    pub k8s_logging_exclude: bool,
    /// `Use_Kubelet` (off).
    pub use_kubelet: bool,
    /// `Kubelet_Host` (127.0.0.1).
    pub kubelet_host: String,
    /// `Kubelet_Port` (10250).
    pub kubelet_port: u16,
    /// `tls.verify` (on).
    pub tls_verify: bool,
    /// `Regex_Parser`: a `[PARSER]` whose `Regex` replaces the tag regex.
    pub regex_parser: Option<String>,
    /// `Dummy_Meta` (off): `{"dummy": "<time>"}` instead of lookups (tests, demos).
    pub dummy_meta: bool,
    /// `Use_Tag_For_Meta` (off): only what the tag says, no API calls.
    pub use_tag_for_meta: bool,
    /// `Hydrant.Lookup_Wait` (30s): how long records wait, retrying with back-off, for a lookup
    /// that fails with a connection error, a timeout or a 5xx before they go on without
    /// metadata. 0 gives Fluent Bit's behaviour (one attempt).
    pub lookup_wait: Duration,
}

/// Keys Fluent Bit's kubernetes filter knows that Hydrant accepts and ignores, with why.
const IGNORED: &[(&str, &str)] = &[
    ("Kube_CA_Path", "the CA comes from Kube_CA_File"),
    ("Kube_Namespace_File", "Hydrant does not look up its own pod"),
    ("Kube_Meta_Preload_Cache_Dir", "a Fluent Bit test aid"),
    ("Kube_Meta_Negative_Cache_TTL", "Hydrant waits and backs off instead (Hydrant.Lookup_Wait)"),
    ("Use_Journal", "journald records are not read by Hydrant"),
    ("DNS_Retries", "lookups are retried by Hydrant.Lookup_Wait"),
    ("DNS_Wait_Time", "lookups are retried by Hydrant.Lookup_Wait"),
    ("Cache_Use_Docker_Id", "the per-tag cache already includes the container id"),
    ("Namespace_Exclude", "namespace annotations do not exclude records in Hydrant"),
    ("tls.debug", "rustls has no debug levels"),
    ("tls.vhost", "not supported by the Kubernetes client"),
    ("tls.verify_hostname", "rustls always verifies the host name when tls.verify is on"),
    ("Kube_Token_Command", "Hydrant does not run commands; use Kube_Token_File"),
    ("Merge_JSON_Log", "removed from Fluent Bit; use Merge_Log"),
    ("AWS_Use_Pod_Association", "CloudWatch entity association is not supported"),
    ("Use_Pod_Association", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Host", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Endpoint", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Port", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Service_Map_TTL", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Service_Map_Refresh_Interval", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Service_Preload_Cache_Dir", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Host_Server_CA_File", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Host_Client_Cert_File", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Host_Client_Key_File", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Host_TLS_Debug", "CloudWatch entity association is not supported"),
    ("AWS_Pod_Association_Host_TLS_Verify", "CloudWatch entity association is not supported"),
    ("Set_Platform", "CloudWatch entity association is not supported"),
];

/// Keys every filter takes (read by the router, not here).
const GENERIC: &[&str] = &["Match", "Match_Regex", "Alias", "Log_Level"];

/// Keys this module reads.
const KNOWN: &[&str] = &[
    "Buffer_Size",
    "Merge_Log",
    "Merge_Parser",
    "Merge_Log_Key",
    "Merge_Log_Trim",
    "Keep_Log",
    "Kube_URL",
    "Kube_CA_File",
    "Kube_Token_File",
    "Kube_Token_TTL",
    "Kube_Tag_Prefix",
    "Kube_Meta_Cache_TTL",
    "Kube_Meta_Namespace_Cache_TTL",
    "Kube_Meta_IO_Timeout",
    "Labels",
    "Annotations",
    "Owner_References",
    "Namespace_Labels",
    "Namespace_Annotations",
    "Namespace_Metadata_Only",
    "K8S-Logging.Parser",
    "K8S-Logging.Exclude",
    "Use_Kubelet",
    "Kubelet_Host",
    "Kubelet_Port",
    "tls.verify",
    "Regex_Parser",
    "Dummy_Meta",
    "Use_Tag_For_Meta",
    "Hydrant.Lookup_Wait",
];

impl Options {
    /// Read the options of `plugin`; `env` looks up environment variables (for
    /// `KUBERNETES_SERVICE_HOST`/`_PORT`). Unknown keys are refused, as Fluent Bit refuses
    /// them; keys Fluent Bit knows but Hydrant does not implement are logged and ignored.
    pub fn from_plugin(plugin: &Plugin, env: impl Fn(&str) -> Option<String>) -> BuildResult<Options> {
        for (key, _) in plugin.properties.iter() {
            let known = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(key));
            if known(KNOWN) || known(GENERIC) {
                continue;
            }
            if let Some((_, why)) = IGNORED.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                tracing::warn!(filter = %plugin.name, "kubernetes `{key}` is ignored: {why}");
                continue;
            }
            return Err(ConfigError::new(
                plugin.origin.file.clone(),
                Some(plugin.origin.line),
                Rule::InvalidValue,
                format!("kubernetes: unknown configuration property `{key}`"),
            ));
        }
        let bool_or = |key: &str, default: bool| plugin.get_bool(key).map(|v| v.unwrap_or(default));
        let secs_or = |key: &str, default: u64| plugin.get_time(key).map(|v| v.unwrap_or(default));
        let ttl = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        let string = |key: &str| plugin.get(key).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);

        let kube_url = match string("Kube_URL") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => match (env("KUBERNETES_SERVICE_HOST"), env("KUBERNETES_SERVICE_PORT")) {
                // What client-go does in a pod: the service's address, which needs no DNS.
                (Some(host), port) if !host.is_empty() => {
                    let host = if host.contains(':') { format!("[{host}]") } else { host };
                    format!("https://{host}:{}", port.filter(|p| !p.is_empty()).unwrap_or_else(|| "443".into()))
                }
                _ => "https://kubernetes.default.svc".to_owned(),
            },
        };
        if !(kube_url.starts_with("http://") || kube_url.starts_with("https://")) {
            return Err(plugin.invalid_value("Kube_URL", "must start with http:// or https://"));
        }
        let kubelet_port = match plugin.get("Kubelet_Port") {
            None => 10250,
            Some(p) => p.trim().parse().map_err(|_| plugin.invalid_value("Kubelet_Port", "not a TCP port"))?,
        };
        let opts = Options {
            buffer_size: plugin.get_size("Buffer_Size")?.unwrap_or(32_000),
            merge_log: bool_or("Merge_Log", false)?,
            merge_parser: string("Merge_Parser"),
            merge_log_key: string("Merge_Log_Key"),
            merge_log_trim: bool_or("Merge_Log_Trim", true)?,
            keep_log: bool_or("Keep_Log", true)?,
            kube_url,
            kube_ca_file: string("Kube_CA_File")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("{SERVICE_ACCOUNT_DIR}/ca.crt"))),
            kube_token_file: string("Kube_Token_File")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("{SERVICE_ACCOUNT_DIR}/token"))),
            kube_token_ttl: Duration::from_secs(secs_or("Kube_Token_TTL", 600)?),
            kube_tag_prefix: plugin.get("Kube_Tag_Prefix").unwrap_or("kube.var.log.containers.").trim().to_owned(),
            kube_meta_cache_ttl: ttl(secs_or("Kube_Meta_Cache_TTL", 0)?),
            kube_meta_namespace_cache_ttl: ttl(secs_or("Kube_Meta_Namespace_Cache_TTL", 900)?),
            kube_meta_io_timeout: Duration::from_secs(secs_or("Kube_Meta_IO_Timeout", 30)?.max(1)),
            labels: bool_or("Labels", true)?,
            annotations: bool_or("Annotations", true)?,
            owner_references: bool_or("Owner_References", false)?,
            namespace_labels: bool_or("Namespace_Labels", false)?,
            namespace_annotations: bool_or("Namespace_Annotations", false)?,
            namespace_metadata_only: bool_or("Namespace_Metadata_Only", false)?,
            k8s_logging_parser: bool_or("K8S-Logging.Parser", false)?,
            k8s_logging_exclude: bool_or("K8S-Logging.Exclude", false)?,
            use_kubelet: bool_or("Use_Kubelet", false)?,
            kubelet_host: string("Kubelet_Host").unwrap_or_else(|| "127.0.0.1".into()),
            kubelet_port,
            tls_verify: bool_or("tls.verify", true)?,
            regex_parser: string("Regex_Parser"),
            dummy_meta: bool_or("Dummy_Meta", false)?,
            use_tag_for_meta: bool_or("Use_Tag_For_Meta", false)?,
            lookup_wait: Duration::from_secs(secs_or("Hydrant.Lookup_Wait", 30)?),
        };
        Ok(opts)
    }

    /// Whether `kubernetes_namespace` is wanted (and so namespace lookups).
    pub fn wants_namespace(&self) -> bool {
        self.namespace_labels || self.namespace_annotations
    }

    /// The kubelet's base URL (`https://host:port`).
    pub fn kubelet_url(&self) -> String {
        // A scheme is allowed so tests (and plain-HTTP kubelet proxies) can use http://.
        let (scheme, host) = match self.kubelet_host.split_once("://") {
            Some((scheme, host)) => (scheme, host),
            None => ("https", self.kubelet_host.as_str()),
        };
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
        format!("{scheme}://{host}:{}", self.kubelet_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hydrant_flb::config::Origin;

    fn plugin(pairs: &[(&str, &str)]) -> Plugin {
        let mut p = Plugin::new("kubernetes", Origin::new("test.conf", 1));
        for (k, v) in pairs {
            p.properties.push(*k, *v);
        }
        p
    }

    #[test]
    fn defaults_are_fluent_bits() {
        let o = Options::from_plugin(&plugin(&[("Match", "kube.*")]), |_| None).unwrap();
        assert_eq!(o.buffer_size, 32_000);
        assert!(!o.merge_log && o.merge_log_trim && o.keep_log && o.labels && o.annotations);
        assert_eq!(o.kube_url, "https://kubernetes.default.svc");
        assert_eq!(o.kube_token_ttl, Duration::from_secs(600));
        assert_eq!(o.kube_meta_cache_ttl, None);
        assert_eq!(o.kube_tag_prefix, "kube.var.log.containers.");
        assert_eq!(o.kubelet_url(), "https://127.0.0.1:10250");
        assert_eq!(o.lookup_wait, Duration::from_secs(30));
    }

    #[test]
    fn service_env_and_units() {
        let env = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.100.0.1".to_owned()),
            "KUBERNETES_SERVICE_PORT" => Some("443".to_owned()),
            _ => None,
        };
        let o = Options::from_plugin(&plugin(&[("kube_meta_cache_ttl", "30m"), ("merge_log", "On")]), env).unwrap();
        assert_eq!(o.kube_url, "https://10.100.0.1:443");
        assert_eq!(o.kube_meta_cache_ttl, Some(Duration::from_secs(1800)));
        assert!(o.merge_log);
    }

    #[test]
    fn unknown_keys_are_refused_known_ones_ignored() {
        assert!(Options::from_plugin(&plugin(&[("Bogus", "1")]), |_| None).is_err());
        assert!(Options::from_plugin(&plugin(&[("Kube_CA_Path", "/x")]), |_| None).is_ok());
        assert!(Options::from_plugin(&plugin(&[("Kube_URL", "ftp://x")]), |_| None).is_err());
    }
}
