//! `${VAR}` substitution, as `flb_env.c` does it.
//!
//! - Variables come from `@SET KEY=VALUE` (classic) or the `env:` map (YAML) first, then from
//!   the process environment; an environment variable set to the empty string counts as unset.
//!   `HOSTNAME` falls back to the machine's host name when the environment lacks it.
//! - `${NAME}` is replaced by its value; an unset variable becomes the empty string (Fluent Bit
//!   warns `variable ${NAME} is used but not set`; Hydrant records the same warning).
//! - `${NAME:-default}` gives `default` when NAME is unset or empty. Fluent Bit gained this
//!   bash-style operator in 4.2 (fluent/fluent-bit#11787, fixing #5517); older versions leave
//!   such a value empty. Other shell operators (`:=`, `:+`, `-`) are not supported, as in
//!   Fluent Bit: `${A:=b}` looks up a variable literally named `A:=b`.
//! - A variable ends at the first `}`, so a default cannot contain `}`. `${` with no closing
//!   `}`, and `${}`, are kept literally. Substituted text is not expanded again.
//! - Only values are expanded (plugin names included), never keys.

use std::collections::HashMap;

/// Where variables come from.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// `@SET` / `env:` variables (these win over the environment).
    set: HashMap<String, String>,
    /// `None`: the process environment; `Some`: this map instead (tests, embedding).
    environment: Option<HashMap<String, String>>,
}

impl Variables {
    /// Variables over the process environment (or over `environment` when given).
    pub fn new(environment: Option<HashMap<String, String>>) -> Self {
        Variables { set: HashMap::new(), environment }
    }

    /// Define a configuration variable (`@SET KEY=VALUE`); a later definition replaces an
    /// earlier one.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.set.insert(key.into(), value.into());
    }

    /// The value of a variable: configuration variables first, then the environment (empty
    /// counts as unset), then the host name for `HOSTNAME`.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.set.get(name) {
            return Some(v.clone());
        }
        let env = match &self.environment {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        match env {
            Some(v) if !v.is_empty() => Some(v),
            _ if name == "HOSTNAME" => hostname(),
            _ => None,
        }
    }

    /// Expand every `${...}` in `value`; returns the result and the names of the variables used
    /// but not set (without a default).
    pub fn expand(&self, value: &str) -> (String, Vec<String>) {
        let mut out = String::with_capacity(value.len());
        let mut unset = Vec::new();
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let inner = &after[..end];
            out.push_str(&rest[..start]);
            if inner.is_empty() {
                out.push_str("${}");
            } else {
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                match (self.get(name).filter(|v| !v.is_empty()), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => unset.push(name.to_string()),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        (out, unset)
    }
}

/// Whether `value` refers to a variable (`${...}` with a closing brace).
pub fn has_variable(value: &str) -> bool {
    value.find("${").is_some_and(|i| value[i + 2..].contains('}'))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
