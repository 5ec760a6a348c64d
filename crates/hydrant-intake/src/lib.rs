//! A Datadog-compatible logs intake.

#![warn(missing_docs)]

pub mod decode;
pub mod ingest;
pub mod keys;
pub mod receive;
