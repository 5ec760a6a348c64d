//! A Kinesis Data Firehose-compatible delivery service.
//!
//! Clients (the aws CLI, boto3, the AWS SDKs, Fluent Bit's `kinesis_firehose` output)
//! talk to it unchanged: AWS JSON 1.1, SigV4, the real service's limits and errors.
//! Records are acknowledged only once they are in the fsync'd write-ahead log ([`wal`]),
//! then delivered per the destination's buffering hints to an HTTP endpoint
//! ([`delivery`]) with the real service's retries, or written to a bucket ([`sink`]);
//! what cannot be delivered is backed up, never dropped.
//!
//! Layout: [`api`] (HTTP, auth, Put) -> [`service`] (catalog, ingest, recovery) ->
//! [`stream`] (per-stream backlog and watermarks) -> consumers ([`delivery`], [`sink`]).

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod buffering;
pub mod config;
pub mod delivery;
pub mod destination;
pub mod metrics;
pub mod objects;
pub mod operations;
mod put_scan;
pub mod server;
pub mod service;
pub mod sink;
pub mod state_file;
pub mod stream;
pub mod validate;

/// The write-ahead log (its own crate, shared with the intake).
pub use hydrant_wal as wal;

pub use config::FirehoseConfig;
pub use service::Firehose;

/// The allocator options (mimalloc's, read from the environment as a process starts) the
/// service is meant to run with; `hydrant firehose` and the ingest benchmark set them.
/// Every Put frees large buffers the next one needs again, and delivery frees its batches:
/// with mimalloc's default purge delay (1 s) the process handed those pages back to the
/// kernel and faulted them in again once a second, and each such round (TLB shootdowns,
/// huge-page zeroing) stalled every Put in flight for 10-40 ms. Freed memory is kept 10 s
/// instead: steady load reuses it, what a burst leaves free still goes back (BENCHMARKS.md,
/// firehose).
pub const ALLOCATOR_OPTIONS: &[(&str, &str)] = &[("MIMALLOC_PURGE_DELAY", "10000")];
