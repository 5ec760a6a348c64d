//! Hydrant's log router: a Fargate-compatible replacement for the Fluent Bit that EKS Fargate
//! runs for every pod, configured the same way (the `aws-logging` ConfigMap, or any Fluent Bit
//! classic or YAML configuration).
//!
//! - [`config`] (from `hydrant-flb`): the configuration formats and Fargate's rules.
//! - [`registry`]: plugin names and the crates that build them.
//! - [`engine`]: the runtime that moves chunks from inputs through filters to outputs with
//!   at-least-once acknowledgements.
//! - [`http`]: `/metrics` and `/health`.
//! - [`fargate`]: what Fargate's service adds to a ConfigMap.
//! - [`own_logs`]: the router's own logs shipped as records (`flb_log_cw`).

#![warn(missing_docs)]

pub mod engine;
pub mod fargate;
pub mod http;
pub mod own_logs;
pub mod registry;

pub use engine::{Router, RouterOptions};
pub use hydrant_flb::config;
pub use registry::Registry;
