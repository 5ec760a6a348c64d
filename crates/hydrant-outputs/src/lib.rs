//! The router's outputs: where records leave Hydrant.
//!
//! - [`firehose`]: `kinesis_firehose` (Fluent Bit's C plugin) and `firehose` (the older Go
//!   plugin), PutRecordBatch to Amazon Kinesis Data Firehose or a compatible service, with
//!   the record format of [`record_data`], the batching of [`batch`] and the retries of
//!   [`retry`];
//! - [`stdout`]: records printed as Fluent Bit prints them;
//! - [`null`]: records counted and discarded.
//!
//! [`build`] turns an `[OUTPUT]` section into the [`Output`] the router runs.

#![warn(missing_docs)]

pub mod batch;
pub mod firehose;
pub mod null;
pub mod record_data;
pub mod retry;
pub mod stdout;

use hydrant_flb::config::{ConfigError, Plugin, Rule};
use hydrant_flb::plugin::BuildResult;
use hydrant_flb::{BuildContext, Output};

pub use firehose::{FirehoseOptions, FirehoseOutput};
pub use null::NullOutput;
pub use record_data::Dialect;
pub use stdout::StdoutOutput;

/// The output names Hydrant supports.
pub const SUPPORTED: &[&str] = &["kinesis_firehose", "firehose", "stdout", "null"];

/// Build the output `plugin` describes; an unknown name or a bad option is a
/// [`ConfigError`] at the section.
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Box<dyn Output>> {
    Ok(match plugin.name.as_str() {
        "kinesis_firehose" => Box::new(FirehoseOutput::from_plugin(plugin, ctx, Dialect::C)?),
        "firehose" => Box::new(FirehoseOutput::from_plugin(plugin, ctx, Dialect::Go)?),
        "stdout" => Box::new(StdoutOutput::from_plugin(plugin, ctx)?),
        "null" => Box::new(NullOutput::new(ctx)),
        other => {
            return Err(ConfigError::new(
                plugin.origin.file.clone(),
                Some(plugin.origin.line),
                Rule::Unsupported,
                format!("`{other}` output is not supported by Hydrant; supported: {}", SUPPORTED.join(", ")),
            ))
        }
    })
}
