//! Hydrant's log router: a Fargate-compatible replacement for the Fluent Bit that EKS Fargate
//! runs for every pod, configured the same way (the `aws-logging` ConfigMap, or any Fluent Bit
//! classic or YAML configuration).
//!
//! # Layers
//!
//! - [`config`] (this crate today): reads Fluent Bit's classic and YAML formats and the
//!   Fargate ConfigMap into one neutral model ([`config::Config`]: service keys, parsers,
//!   inputs, filters, outputs, each with its origin), applies Fluent Bit's syntax rules and
//!   Fargate's validation, and offers the value helpers the runtime needs (sizes, times,
//!   booleans, `Match`/`Match_Regex`). It does no I/O beyond reading configuration files.
//! - Runtime (later): the `tail` input (CRI and docker lines, positions, rotation), the
//!   `kubernetes` filter and the other filters Fargate allows, the `kinesis_firehose` output
//!   and friends, built from a [`config::Config`] and driven by `hydrant router --config`.
//!
//! ```no_run
//! use hydrant_router::config::{self, LoadOptions};
//! let options = LoadOptions { input_path: Some("/tmp/pods/*.log".into()), ..Default::default() };
//! match config::load("aws-logging.yaml".as_ref(), &options) {
//!     Ok(cfg) => println!("{} outputs", cfg.outputs.len()),
//!     Err(errors) => eprintln!("{errors}"), // one `file:line: rule: message` per line
//! }
//! ```

#![warn(missing_docs)]

pub mod config;
