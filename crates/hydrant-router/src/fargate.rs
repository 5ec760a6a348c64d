//! What EKS Fargate's service adds to a user's `aws-logging` ConfigMap before its Fluent Bit
//! starts, done the same way for `hydrant router` and `hydrant up`: the service-owned
//! kubernetes-filter keys (`Kube_URL`, `Kube_Token_File`, `Kube_CA_File`), the tag prefix
//! matching where the managed input reads, and Hydrant's CRI parsing of the managed input.

use std::path::{Path, PathBuf};

use hydrant_flb::config::{Config, Format};

/// The settings the Fargate service owns.
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    /// Where the managed input reads (None: `/var/log/containers/*.log`).
    pub input_path: Option<PathBuf>,
    /// `Kube_URL` (None: the filter's in-cluster default).
    pub kube_url: Option<String>,
    /// `Kube_Token_File`.
    pub kube_token_file: Option<PathBuf>,
    /// `Kube_CA_File`.
    pub kube_ca_file: Option<PathBuf>,
    /// Keep Fargate's raw CRI lines in `log` instead of parsing CRI.
    pub raw_cri_lines: bool,
}

/// Apply `settings` to a ConfigMap's configuration (other formats are left as written).
pub fn apply(config: &mut Config, settings: &ServiceSettings) {
    if config.format != Format::ConfigMap {
        return;
    }
    if !settings.raw_cri_lines {
        // Fargate's managed input has no parser: `log` holds the raw CRI line and lines
        // containerd split at 16 KB stay split. Hydrant parses CRI and reassembles them
        // unless asked for Fargate's exact behaviour.
        if let Some(input) = config.inputs.first_mut() {
            if !input.properties.contains("multiline.parser") && !input.properties.contains("parser") {
                input.properties.push("multiline.parser", "cri");
            }
        }
    }
    let prefix = managed_tag_prefix(settings.input_path.as_deref());
    for filter in config.filters.iter_mut().filter(|f| f.is("kubernetes")) {
        if let Some(url) = &settings.kube_url {
            filter.properties.set("Kube_URL", url.as_str());
        }
        if let Some(path) = &settings.kube_token_file {
            filter.properties.set("Kube_Token_File", path.display().to_string());
        }
        if let Some(path) = &settings.kube_ca_file {
            filter.properties.set("Kube_CA_File", path.display().to_string());
        }
        // The managed input tags files `kube.<path with dots>`; outside Fargate the path
        // differs, and so must the prefix the filter strips to find the pod's name.
        if let (Some(prefix), false) = (&prefix, filter.properties.contains("Kube_Tag_Prefix")) {
            filter.properties.set("Kube_Tag_Prefix", prefix.as_str());
        }
    }
}

/// The tag prefix of the managed input's files when they are read from `input_path`: the
/// tail input's own expansion of `kube.*` for a file in that directory, less the file name
/// (`/tmp/logs/*.log` gives `kube.tmp.logs.`).
pub fn managed_tag_prefix(input_path: Option<&Path>) -> Option<String> {
    let dir = input_path?.parent()?.to_str()?;
    let tag = hydrant_tail::options::expand_tag("kube.*", &format!("{dir}/x"));
    Some(tag.strip_suffix('x')?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_follows_the_input_directory() {
        assert_eq!(
            managed_tag_prefix(Some(Path::new("/var/log/containers/*.log"))).unwrap(),
            "kube.var.log.containers."
        );
        assert_eq!(managed_tag_prefix(Some(Path::new("/tmp/x/*.log"))).unwrap(), "kube.tmp.x.");
        // Repeated dots collapse, as in the tail input's tags.
        assert_eq!(managed_tag_prefix(Some(Path::new("/tmp/.tmpAb/c/*.log"))).unwrap(), "kube.tmp.tmpAb.c.");
        assert_eq!(managed_tag_prefix(Some(Path::new("logs/*.log"))).unwrap(), "kube.logs.");
        assert_eq!(managed_tag_prefix(None), None);
    }
}
