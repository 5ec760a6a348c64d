//! Datadog-compatible log pipelines for Hydrant.
//!
//! ```
//! use hydrant_pipeline::{CompiledPipelines, Pipeline};
//! use hydrant_log::Log;
//!
//! let pipeline = Pipeline::from_json(br#"{
//!   "name": "EKS Fargate Log Pipeline", "is_enabled": true,
//!   "filter": {"query": "service:aws source:aws"},
//!   "processors": [{"type": "attribute-remapper", "is_enabled": true,
//!     "sources": ["kubernetes.pod_name"], "target": "pod_name", "target_type": "tag"}]
//! }"#).unwrap();
//! hydrant_pipeline::validate(&pipeline).unwrap();
//! let compiled = CompiledPipelines::compile(&[pipeline]).unwrap();
//!
//! let mut log = Log::new(0);
//! log.service = Some("aws".into());
//! log.source = Some("aws".into());
//! log.attributes = serde_json::from_str(r#"{"kubernetes": {"pod_name": "web-1"}}"#).unwrap();
//! compiled.apply(&mut log);
//! assert_eq!(log.tags, ["pod_name:web-1"]);
//! assert!(log.attributes.is_empty()); // preserve_source defaults to false
//! ```
//!
//! - [`model`]: [`Pipeline`] and [`Processor`] as Datadog's
//!   `/api/v1/logs/config/pipelines` reads and writes them (serde, Datadog's field names and
//!   defaults, unknown fields ignored, unknown processor types refused by name).
//! - [`validate`] checks a pipeline for the API (every problem in
//!   [`PipelineError::details`]).
//! - [`CompiledPipelines`] compiles pipelines once (filters parsed, grok rules and formulas
//!   compiled, attribute paths split) and [`CompiledPipelines::apply`] runs them on a log.
//!
//! # Semantics
//!
//! Every enabled pipeline, in order, whose filter matches (evaluated before its processors
//! run; an absent, empty or `*` filter matches every log) applies its enabled processors in
//! sequence; a nested pipeline (a processor of type `pipeline`, enabled, filter matching)
//! does the same with its processors. Disabled pipelines and processors are validated but
//! never run.
//!
//! - `attribute-remapper`: the first present source (attribute path, or tag key with
//!   `source_type: tag`) wins; none present: nothing happens. Attribute target: kept when
//!   it exists unless `override_on_conflict`; `target_format` casts (`string`, `integer`,
//!   `double`; the original value when the cast fails). Tag target: adds `target:value`
//!   normalised as every tag (`Log::add_tag`), one tag per element of an array of
//!   scalars; an existing `target:` tag is kept unless `override_on_conflict`, which
//!   replaces all of them. Unless `preserve_source`, the source attribute (and the objects it
//!   leaves empty) or all tags with the source key are removed, only when the remap
//!   happened. Reserved names: `host` is refused as a source or target at validation;
//!   `message`, `service`, `status`, `date`, `trace_id` as targets just write attributes of
//!   that name (the dedicated remappers change the log's fields).
//! - `date-remapper`, `status-remapper`, `service-remapper`, `message-remapper`: the first
//!   present source sets the log's date (`hydrant_log::preprocess::parse_date` plus
//!   `dd/MMM/yyyy:HH:mm:ss Z`, RFC 2822 and a few more), status
//!   (`hydrant_log::status::normalize`), service, message. Only the first remapper of each
//!   kind that applies to a log counts, across all pipelines (Datadog documents it for
//!   date, status and service; message is treated alike). "Applies" means a source was
//!   present (and for dates, parsed): a remapper that finds nothing leaves the next one
//!   its chance. The source attributes are kept.
//! - `trace-id-remapper` sets `trace_id` (every one applies). `span-id-remapper` writes the
//!   attribute `span_id` (the log model has no span field).
//! - `grok-parser`: see the [`grok`](crate#grok) section below.
//! - `url-parser`: the first source that is a string parses into `target`
//!   (`{scheme, host, port, path, queryString}`, via the `url` crate).
//! - `user-agent-parser`: the first source that is a string parses into `target`
//!   (`{os, browser, device}`, a compact built-in parser: no uap-core database).
//! - `category-processor`: the first category whose filter matches writes its name into
//!   `target` (overwriting).
//! - `arithmetic-processor`: `+ - * / %`, parentheses, `abs ceil floor round(x[, n])`;
//!   missing or non-numeric attributes skip the computation unless `is_replace_missing`
//!   (0); division by zero skips it; results rounded to 9 decimals, integers when whole.
//! - `string-builder-processor`: `%{attr}` blocks; scalars as text, arrays of scalars
//!   joined with `,`; a missing or unusable attribute skips the processor unless
//!   `is_replace_missing` (empty string); at most 256 characters.
//! - `lookup-processor`: `"key,value"` entries (split at the first comma, both trimmed; the
//!   first of duplicate keys wins); a scalar source value not in the table gives
//!   `default_lookup` when set; an absent source gives nothing.
//! - Targets are attribute paths: `a.b.c` builds nested objects, replacing any non-object
//!   met on the way.
//!
//! # Grok
//!
//! Datadog's grok, implemented on the `regex` crate (no Oniguruma): rules `name pattern`
//! per line, support rules and earlier rules referenced as `%{name}`, implicit `\A...\z`,
//! `.` matching newlines, first matching rule wins, `%{matcher:attribute:filter}` with the
//! matchers and filters listed in the `grok` module docs. Not like Datadog: atomic groups
//! `(?>...)` are read as `(?:...)` and possessive quantifiers as greedy ones (they only
//! prune backtracking); lookaround and backreferences are refused; `data` is lazy (`.*?`,
//! as Logstash's `DATA`: with `%{data:a}(, %{data::keyvalue})?` the optional tail gets the
//! key-values); the `csv` and `xml` filters and `array` with a sub-rule are not implemented
//! yet; `date` knows fixed offsets and UTC but not IANA zone names.
//!
//! # Not implemented yet
//!
//! Processor types `geo-ip-parser`, `array-processor`, `decoder-processor`,
//! `schema-processor` are refused with a message saying so. Datadog's limits (20
//! processors per pipeline, 10 grok rules, 5 samples of 5,000 characters) are not enforced.
//!
//! # Performance
//!
//! Everything that can be is done at compile time: queries parsed once, one anchored regex
//! per grok rule, formulas parsed to a tree, templates split, paths split into segments,
//! lookup tables hashed. Per log, a pipeline whose filter does not match costs one
//! [`hydrant_query::Query::matches`] (allocation-free); remappers that find no source
//! allocate nothing.

#![warn(missing_docs)]

mod arith;
mod compiled;
mod error;
mod grok;
pub mod model;
mod path;
mod url_parse;
mod useragent;

pub use compiled::{validate, CompiledPipelines};
pub use error::PipelineError;
pub use model::{
    ArithmeticProcessor, AttributeOrTag, AttributeRemapper, Category, CategoryProcessor, Filter, GrokParser, GrokRules,
    LookupProcessor, NestedPipeline, Pipeline, Processor, SourcesRemapper, StringBuilderProcessor, TargetFormat,
    UrlParser, UserAgentParser,
};
