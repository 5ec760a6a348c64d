//! The maps the filter adds to records, built from the API's Pod and Namespace objects in
//! Fluent Bit's shape and key order (`kube_meta.c`: `merge_pod_meta`,
//! `merge_namespace_meta`), and the `fluentbit.io/*` annotation properties
//! (`kube_property.c`).

use hydrant_flb::config::units::parse_bool;
use hydrant_flb::{Map, Value};

use crate::tag::TagInfo;

/// Which optional parts of the pod's metadata go into `kubernetes`.
#[derive(Debug, Clone, Copy)]
pub struct Include {
    /// `labels`.
    pub labels: bool,
    /// `annotations`.
    pub annotations: bool,
    /// `ownerReferences`.
    pub owner_references: bool,
    /// Honour `fluentbit.io/parser*` annotations (`K8S-Logging.Parser`).
    pub k8s_logging_parser: bool,
    /// Honour `fluentbit.io/exclude*` annotations (`K8S-Logging.Exclude`).
    pub k8s_logging_exclude: bool,
}

/// What a pod's `fluentbit.io/*` annotations ask for one of its containers, per stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Props {
    /// Parser for `stdout` records.
    pub stdout_parser: Option<String>,
    /// Parser for `stderr` records.
    pub stderr_parser: Option<String>,
    /// Exclude `stdout` records (`None`: not set).
    pub stdout_exclude: Option<bool>,
    /// Exclude `stderr` records.
    pub stderr_exclude: Option<bool>,
}

impl Props {
    /// Whether any property is set (so the per-record stream check can be skipped otherwise).
    pub fn is_empty(&self) -> bool {
        *self == Props::default()
    }

    /// Whether a record of `stream` (`None`: no `stream` key, or another value) is excluded,
    /// as `cb_kube_filter` decides: a record without a known stream only when both streams are.
    pub fn excludes(&self, stream: Option<&str>) -> bool {
        let out = self.stdout_exclude == Some(true);
        let err = self.stderr_exclude == Some(true);
        match stream {
            Some("stdout") => out,
            Some("stderr") => err,
            _ => out && err,
        }
    }

    /// The parser for a record of `stream`; without a known stream, only a parser set for both.
    pub fn parser(&self, stream: Option<&str>) -> Option<&str> {
        match stream {
            Some("stdout") => self.stdout_parser.as_deref(),
            Some("stderr") => self.stderr_parser.as_deref(),
            _ if self.stdout_parser == self.stderr_parser => self.stdout_parser.as_deref(),
            _ => None,
        }
    }
}

/// The `kubernetes` map for a container of `pod` (an API Pod object), and its annotation
/// properties. `parser_exists` says whether a parser name is defined (an annotation naming an
/// unknown parser is ignored, with a warning, as Fluent Bit does).
pub fn pod_metadata(include: Include, tag: &TagInfo, pod: &Map, parser_exists: &dyn Fn(&str) -> bool) -> (Map, Props) {
    let meta = pod.get("metadata").and_then(Value::as_map);
    let spec = pod.get("spec").and_then(Value::as_map);
    let status = pod.get("status").and_then(Value::as_map);
    let field = |m: Option<&Map>, key: &str| m.and_then(|m| m.get(key)).cloned();

    let mut out = Map::with_capacity(11);
    push_str(&mut out, "pod_name", &tag.pod_name);
    push_str(&mut out, "namespace_name", &tag.namespace_name);
    if let Some(uid) = field(meta, "uid") {
        out.push("pod_id", uid);
    }
    if include.labels {
        if let Some(v) = field(meta, "labels") {
            out.push("labels", v);
        }
    }
    let annotations = field(meta, "annotations");
    if include.annotations {
        if let Some(v) = &annotations {
            out.push("annotations", v.clone());
        }
    }
    if include.owner_references {
        if let Some(v) = field(meta, "ownerReferences") {
            out.push("ownerReferences", v);
        }
    }
    if let Some(v) = field(spec, "nodeName") {
        out.push("host", v);
    }
    if let Some(v) = field(status, "podIP") {
        out.push("pod_ip", v);
    }
    push_str(&mut out, "container_name", &tag.container_name);

    let found = tag.container_name.as_deref().and_then(|name| container_status(status, name));
    let docker_id =
        tag.docker_id.clone().or_else(|| found.and_then(|s| s.get("containerID")?.as_str()).and_then(strip_scheme));
    push_str(&mut out, "docker_id", &docker_id);
    let hash =
        tag.container_hash.clone().or_else(|| found.and_then(|s| s.get("imageID")?.as_str()).and_then(strip_scheme));
    push_str(&mut out, "container_hash", &hash);
    if let Some(image) = found.and_then(|s| s.get("image")?.as_str()).filter(|s| !s.is_empty()) {
        out.push("container_image", Value::Str(image.to_owned()));
    }

    let props = match annotations.as_ref().and_then(Value::as_map) {
        Some(ann) => annotation_props(include, tag, ann, parser_exists),
        None => Props::default(),
    };
    (out, props)
}

/// The `kubernetes` map from the tag alone (`Use_Tag_For_Meta`, `merge_meta_from_tag`).
pub fn tag_metadata(tag: &TagInfo) -> Map {
    let mut out = Map::with_capacity(4);
    push_str(&mut out, "pod_name", &tag.pod_name);
    push_str(&mut out, "namespace_name", &tag.namespace_name);
    push_str(&mut out, "container_name", &tag.container_name);
    push_str(&mut out, "docker_id", &tag.docker_id);
    out
}

/// The `kubernetes_namespace` map: `name`, then the namespace's `labels` and `annotations`
/// when asked for and present.
pub fn namespace_metadata(name: &str, namespace: Option<&Map>, labels: bool, annotations: bool) -> Map {
    let meta = namespace.and_then(|n| n.get("metadata")).and_then(Value::as_map);
    let mut out = Map::with_capacity(3);
    out.push("name", Value::Str(name.to_owned()));
    if labels {
        if let Some(v) = meta.and_then(|m| m.get("labels")) {
            out.push("labels", v.clone());
        }
    }
    if annotations {
        if let Some(v) = meta.and_then(|m| m.get("annotations")) {
            out.push("annotations", v.clone());
        }
    }
    out
}

/// `Dummy_Meta`'s map: `{"dummy": "<asctime>"}` (Fluent Bit prints local time; Hydrant UTC).
pub fn dummy_metadata(now_secs: i64) -> Map {
    let mut out = Map::with_capacity(1);
    out.push("dummy", Value::Str(asctime_utc(now_secs)));
    out
}

fn push_str(out: &mut Map, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        out.push(key, Value::Str(v.clone()));
    }
}

/// The status of container `name` in `containerStatuses`, then `initContainerStatuses`.
fn container_status<'a>(status: Option<&'a Map>, name: &str) -> Option<&'a Map> {
    let status = status?;
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|key| status.get(key)?.as_array())
        .flatten()
        .filter_map(Value::as_map)
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
}

/// `extract_hash`: drop a `scheme://` prefix (`containerd://<id>`,
/// `docker-pullable://repo@sha256:...`); a value whose first `:` is not followed by `/` is
/// kept whole (`repo@sha256:...`).
fn strip_scheme(s: &str) -> Option<String> {
    if s.len() <= 1 {
        return None;
    }
    let colon = s.find(':')?;
    let rest = &s[colon + 1..];
    let trimmed = rest.trim_start_matches('/');
    if trimmed.len() == rest.len() {
        return Some(s.to_owned());
    }
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Read `fluentbit.io/<prop>[_<stream>][-<container>]` annotations for the tag's container.
/// A container-specific annotation overrides a pod-wide one whatever their order.
fn annotation_props(include: Include, tag: &TagInfo, ann: &Map, parser_exists: &dyn Fn(&str) -> bool) -> Props {
    let mut props = Props::default();
    let pod = tag.pod_name.as_deref().unwrap_or("");
    let ns = tag.namespace_name.as_deref().unwrap_or("");
    for (key, value) in ann.iter() {
        let Some(prop) = key.strip_prefix("fluentbit.io/").filter(|p| !p.is_empty()) else { continue };
        let value = value.as_str().unwrap_or("");
        let (is_parser, rest) = if let Some(rest) = prop.strip_prefix("parser") {
            (true, rest)
        } else if let Some(rest) = prop.strip_prefix("exclude") {
            (false, rest)
        } else {
            tracing::warn!("unknown annotation '{key}' (ns='{ns}' pod_name='{pod}')");
            continue;
        };
        let (stream, rest) = if let Some(r) = rest.strip_prefix('_') {
            if let Some(r) = r.strip_prefix("stdout") {
                (Some("stdout"), r)
            } else if let Some(r) = r.strip_prefix("stderr") {
                (Some("stderr"), r)
            } else {
                tracing::warn!("invalid stream in annotation '{key}' (ns='{ns}' pod_name='{pod}')");
                continue;
            }
        } else {
            (None, rest)
        };
        let container = match rest.strip_prefix('-') {
            Some("") => {
                tracing::warn!("invalid container in annotation '{key}' (ns='{ns}' pod_name='{pod}')");
                continue;
            }
            Some(c) => Some(c),
            None if rest.is_empty() => None,
            None => {
                tracing::warn!("invalid annotation '{key}' (ns='{ns}' pod_name='{pod}')");
                continue;
            }
        };
        // Fluent Bit compares only the annotation's length of the container name (a prefix
        // match); Hydrant compares the whole name, so `-web` does not also select `web-sidecar`.
        if container.is_some_and(|c| Some(c) != tag.container_name.as_deref()) {
            continue;
        }
        let specific = container.is_some();
        if is_parser {
            if !include.k8s_logging_parser {
                tracing::warn!("annotation 'fluentbit.io/parser' not allowed (ns='{ns}' pod_name='{pod}')");
                continue;
            }
            if !parser_exists(value) {
                tracing::warn!("annotation parser '{value}' not found (ns='{ns}' pod_name='{pod}')");
                continue;
            }
            let set = |slot: &mut Option<String>| {
                if specific || slot.is_none() {
                    *slot = Some(value.to_owned());
                }
            };
            if stream != Some("stderr") {
                set(&mut props.stdout_parser);
            }
            if stream != Some("stdout") {
                set(&mut props.stderr_parser);
            }
        } else {
            if !include.k8s_logging_exclude {
                tracing::warn!("annotation 'fluentbit.io/exclude' not allowed (ns='{ns}' pod_name='{pod}')");
                continue;
            }
            let exclude = parse_bool(value).unwrap_or(false);
            let set = |slot: &mut Option<bool>| {
                if specific || slot.is_none() {
                    *slot = Some(exclude);
                }
            };
            if stream != Some("stderr") {
                set(&mut props.stdout_exclude);
            }
            if stream != Some("stdout") {
                set(&mut props.stderr_exclude);
            }
        }
    }
    props
}

/// `Thu Jan  1 00:00:00 1970`, as C's `asctime` prints it.
fn asctime_utc(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_lose_their_scheme() {
        assert_eq!(strip_scheme("containerd://abc").as_deref(), Some("abc"));
        assert_eq!(strip_scheme("docker-pullable://nginx@sha256:12").as_deref(), Some("nginx@sha256:12"));
        assert_eq!(strip_scheme("nginx@sha256:12").as_deref(), Some("nginx@sha256:12"));
        assert_eq!(strip_scheme("nohash"), None);
    }

    #[test]
    fn asctime() {
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime_utc(1_700_000_000), "Tue Nov 14 22:13:20 2023");
    }

    fn props_for(container: &str, ann: &[(&str, &str)]) -> Props {
        let tag = TagInfo {
            pod_name: Some("p".into()),
            namespace_name: Some("n".into()),
            container_name: Some(container.into()),
            ..Default::default()
        };
        let ann: Map = ann.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        let include = Include {
            labels: true,
            annotations: true,
            owner_references: false,
            k8s_logging_parser: true,
            k8s_logging_exclude: true,
        };
        annotation_props(include, &tag, &ann, &|name| name != "missing")
    }

    #[test]
    fn annotation_forms() {
        let p = props_for("web", &[("fluentbit.io/exclude", "true")]);
        assert!(p.excludes(Some("stdout")) && p.excludes(Some("stderr")) && p.excludes(None));
        let p = props_for("web", &[("fluentbit.io/exclude_stderr", "true")]);
        assert!(!p.excludes(Some("stdout")) && p.excludes(Some("stderr")) && !p.excludes(None));
        // Container-specific wins over pod-wide, whatever the order.
        let p = props_for("web", &[("fluentbit.io/exclude-web", "false"), ("fluentbit.io/exclude", "true")]);
        assert!(!p.excludes(Some("stdout")));
        let p = props_for("web-sidecar", &[("fluentbit.io/exclude-web", "true")]);
        assert!(!p.excludes(Some("stdout")));
        let p = props_for("web", &[("fluentbit.io/parser_stdout-web", "json"), ("fluentbit.io/parser", "apache")]);
        assert_eq!(p.parser(Some("stdout")), Some("json"));
        assert_eq!(p.parser(Some("stderr")), Some("apache"));
        assert_eq!(p.parser(None), None);
        let p = props_for("web", &[("fluentbit.io/parser", "missing")]);
        assert!(p.is_empty());
    }
}
