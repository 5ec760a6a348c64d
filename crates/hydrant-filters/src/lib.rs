//! Hydrant's filters: those EKS Fargate allows besides `kubernetes` (`grep`, `parser`,
//! `record_modifier`, `rewrite_tag`, `throttle`, `nest`, `modify`), and Fluent Bit's
//! `[PARSER]`s ([`parser`]), which the parser and kubernetes filters use.
//!
//! [`build`] turns a `[FILTER]` section into a [`Filter`]. Options are checked and
//! compiled when the filter is built (regexes, record accessors, time formats) so that
//! records only pay for matching, and bad options are refused with a [`ConfigError`]
//! naming the file and line of the section.
//!
//! Fluent Bit's regexes are Onigmo (Ruby syntax); Hydrant translates them for the `regex`
//! crate and refuses, with a clear message, the few features it cannot run ([`onigmo`]).

#![warn(missing_docs)]

mod common;
pub mod grep;
pub mod modify;
pub mod nest;
pub mod onigmo;
pub mod parser;
pub mod parser_filter;
pub mod record_accessor;
pub mod record_modifier;
pub mod rewrite_tag;
pub mod throttle;
pub mod time_format;

use hydrant_flb::config::{ConfigError, Plugin, Rule};
use hydrant_flb::plugin::{BuildContext, BuildResult};
use hydrant_flb::Filter;

pub use parser::{Parser, Parsers};

/// The filters this crate builds (the engine builds `kubernetes` itself).
pub const FILTERS: &[&str] = &["grep", "parser", "record_modifier", "rewrite_tag", "throttle", "nest", "modify"];

/// Build the filter a `[FILTER]` section names, compiling the configuration's parsers
/// for the `parser` filter. Use [`build_with_parsers`] to share one [`Parsers`].
pub fn build(plugin: &Plugin, ctx: &BuildContext) -> BuildResult<Box<dyn Filter>> {
    if plugin.is("parser") {
        let parsers = Parsers::from_config(&ctx.config)?;
        return build_with_parsers(plugin, ctx, &parsers);
    }
    build_with_parsers(plugin, ctx, &Parsers::default())
}

/// Build the filter a `[FILTER]` section names, with already compiled parsers.
pub fn build_with_parsers(plugin: &Plugin, ctx: &BuildContext, parsers: &Parsers) -> BuildResult<Box<dyn Filter>> {
    Ok(match plugin.name.as_str() {
        "grep" => Box::new(grep::build(plugin, ctx)?),
        "parser" => Box::new(parser_filter::build(plugin, ctx, parsers)?),
        "record_modifier" => Box::new(record_modifier::build(plugin, ctx)?),
        "rewrite_tag" => Box::new(rewrite_tag::build(plugin, ctx)?),
        "throttle" => Box::new(throttle::build(plugin, ctx)?),
        "nest" => Box::new(nest::build(plugin, ctx)?),
        "modify" => Box::new(modify::build(plugin, ctx)?),
        other => {
            return Err(ConfigError::new(
                plugin.origin.file.clone(),
                Some(plugin.origin.line),
                Rule::UnsupportedPlugin,
                format!("unknown filter `{other}` (this build has {}, and kubernetes)", FILTERS.join(", ")),
            ))
        }
    })
}
