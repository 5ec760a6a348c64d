//! Fluent Bit's configuration and record model, shared by the router's plugins.
//!
//! - [`config`]: Fluent Bit's classic and YAML formats and the EKS Fargate `aws-logging`
//!   ConfigMap, read into one neutral model ([`config::Config`]) with Fluent Bit's syntax
//!   rules and Fargate's validation.
//! - [`record`]: records as Fluent Bit carries them (timestamp and ordered map), with the
//!   compact JSON Fluent Bit's outputs write.
//! - [`chunk`]: chunks of records and the acknowledgements that give at-least-once delivery.
//! - [`plugin`]: the [`Input`](plugin::Input), [`Filter`](plugin::Filter) and
//!   [`Output`](plugin::Output) interfaces the plugin crates implement.
//! - [`metrics`]: the router's Prometheus metrics.
//!
//! The runtime that wires plugins together is `hydrant-router`; the plugins live in
//! `hydrant-tail`, `hydrant-kubernetes`, `hydrant-filters` and `hydrant-outputs`, one crate
//! each so that each builds and tests on its own.

#![warn(missing_docs)]

pub mod chunk;
pub mod config;
pub mod metrics;
pub mod plugin;
pub mod record;

pub use chunk::{Ack, AckOutcome, Chunk};
pub use plugin::{BoxFuture, BuildContext, Emitted, Filter, Input, InputContext, Output};
pub use record::{EventTime, Map, Record, Value};
