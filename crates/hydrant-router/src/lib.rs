//! Hydrant's log router: a Fargate-compatible replacement for the Fluent Bit that EKS Fargate
//! runs for every pod, configured the same way (the `aws-logging` ConfigMap, or any Fluent Bit
//! classic or YAML configuration).

#![warn(missing_docs)]

pub use hydrant_flb::config;
