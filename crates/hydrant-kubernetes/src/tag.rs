//! What a record's tag says about its pod: the tag minus `Kube_Tag_Prefix`, matched against
//! Fluent Bit's regex (or `Regex_Parser`'s).

use regex::Regex;

/// The pod and container a tag names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagInfo {
    /// `pod_name`.
    pub pod_name: Option<String>,
    /// `namespace_name`.
    pub namespace_name: Option<String>,
    /// `container_name`.
    pub container_name: Option<String>,
    /// `docker_id` (the 64-hex container id in the file name).
    pub docker_id: Option<String>,
    /// `container_hash`, when a custom regex captures it.
    pub container_hash: Option<String>,
}

/// Reads tags with one regex.
#[derive(Debug, Clone)]
pub struct TagParser {
    prefix: String,
    regex: Regex,
}

impl TagParser {
    /// A parser for tags starting with `prefix`, with the named groups of `regex` (Fluent
    /// Bit's Onigmo syntax, translated by `hydrant_filters::onigmo`).
    pub fn new(prefix: &str, regex: &str) -> Result<TagParser, String> {
        Ok(TagParser { prefix: prefix.to_owned(), regex: hydrant_filters::onigmo::compile(regex)? })
    }

    /// The pod a tag names; `None` when the tag is not longer than the prefix or does not match
    /// (Fluent Bit then leaves the records untouched).
    pub fn parse(&self, tag: &str) -> Option<TagInfo> {
        // Fluent Bit skips the prefix by length without comparing it, so do the same: a tag that
        // was rewritten under another prefix of the same length still resolves.
        if self.prefix.len() + 1 >= tag.len() || !tag.is_char_boundary(self.prefix.len()) {
            return None;
        }
        let caps = self.regex.captures(&tag[self.prefix.len()..])?;
        // Fluent Bit ignores empty captures (cb_results: `if (vlen == 0) return`).
        let group = |name: &str| caps.name(name).map(|m| m.as_str()).filter(|s| !s.is_empty()).map(str::to_owned);
        Some(TagInfo {
            pod_name: group("pod_name"),
            namespace_name: group("namespace_name"),
            container_name: group("container_name"),
            docker_id: group("docker_id"),
            container_hash: group("container_hash"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DEFAULT_TAG_REGEX;

    #[test]
    fn reads_a_tail_tag() {
        let p = TagParser::new("kube.var.log.containers.", DEFAULT_TAG_REGEX).unwrap();
        let id = "a".repeat(64);
        let tag = format!("kube.var.log.containers.sample-app-6d4f8c7b9-x2x7p_fargate-namespace_nginx-{id}.log");
        let info = p.parse(&tag).unwrap();
        assert_eq!(info.pod_name.as_deref(), Some("sample-app-6d4f8c7b9-x2x7p"));
        assert_eq!(info.namespace_name.as_deref(), Some("fargate-namespace"));
        assert_eq!(info.container_name.as_deref(), Some("nginx"));
        assert_eq!(info.docker_id.as_deref(), Some(id.as_str()));
        assert!(p.parse("kube.var.log.containers.").is_none());
        assert!(p.parse("kube.var.log.containers.not-a-container-file").is_none());
    }
}
