//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use hydrant_flb::config::{self, Config, ConfigErrors, LoadOptions};

/// A file under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Options with a fixed environment (tests never read or change the process environment).
pub fn options(env: &[(&str, &str)]) -> LoadOptions {
    let environment: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LoadOptions { environment: Some(environment), ..LoadOptions::default() }
}

/// Load text with an empty environment.
pub fn load_text(text: &str, name: &str) -> Result<Config, ConfigErrors> {
    config::load_str(text, name, &options(&[]))
}

/// Load text that must fail, and return its errors.
pub fn errors_of(text: &str, name: &str) -> ConfigErrors {
    match load_text(text, name) {
        Ok(c) => panic!("expected errors, loaded {c:#?}"),
        Err(e) => e,
    }
}

/// The seed ConfigMap with its data keys replaced (`key: |` block bodies, unindented).
pub fn configmap(data: &[(&str, &str)]) -> String {
    configmap_with_meta("aws-logging", Some("aws-observability"), data)
}

/// A ConfigMap with the given name, namespace and data.
pub fn configmap_with_meta(name: &str, namespace: Option<&str>, data: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    if let Some(ns) = namespace {
        s.push_str(&format!("  namespace: {ns}\n"));
    }
    s.push_str("data:\n");
    for (key, value) in data {
        if key.ends_with(".conf") {
            s.push_str(&format!("  {key}: |\n"));
            for line in value.lines() {
                if line.is_empty() {
                    s.push('\n');
                } else {
                    s.push_str(&format!("    {line}\n"));
                }
            }
        } else {
            s.push_str(&format!("  {key}: {value}\n"));
        }
    }
    s
}

/// A valid output.conf.
pub const OUTPUT: &str =
    "[OUTPUT]\n    Name kinesis_firehose\n    Match kube.*\n    region us-east-1\n    delivery_stream s\n";
