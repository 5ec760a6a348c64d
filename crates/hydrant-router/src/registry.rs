//! Which plugin names the router knows and the function that builds each.
//!
//! The plugins live in their own crates (`hydrant-tail`, `hydrant-kubernetes`,
//! `hydrant-filters`, `hydrant-outputs`); the registry is the one place that maps Fluent
//! Bit's plugin names to them, so tests can add their own plugins next to the built-in ones.

use hydrant_flb::config::Plugin;
use hydrant_flb::plugin::BuildResult;
use hydrant_flb::{BuildContext, Filter, Input, Output};

/// Builds an input from its section.
pub type InputBuilder = fn(&Plugin, &BuildContext) -> BuildResult<Box<dyn Input>>;
/// Builds a filter from its section.
pub type FilterBuilder = fn(&Plugin, &BuildContext) -> BuildResult<Box<dyn Filter>>;
/// Builds an output from its section.
pub type OutputBuilder = fn(&Plugin, &BuildContext) -> BuildResult<Box<dyn Output>>;

/// Plugin names and their builders.
#[derive(Clone, Default)]
pub struct Registry {
    inputs: Vec<(String, InputBuilder)>,
    filters: Vec<(String, FilterBuilder)>,
    outputs: Vec<(String, OutputBuilder)>,
}

impl Registry {
    /// No plugins at all (tests add their own).
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Every plugin Hydrant ships: the `tail` input; the `kubernetes`, `grep`, `parser`,
    /// `record_modifier`, `rewrite_tag`, `throttle`, `nest` and `modify` filters; the
    /// `kinesis_firehose`, `firehose`, `stdout` and `null` outputs.
    pub fn builtin() -> Self {
        let mut r = Registry::empty()
            .with_input("tail", hydrant_tail::build)
            .with_filter("kubernetes", hydrant_kubernetes::build);
        for name in ["grep", "parser", "record_modifier", "rewrite_tag", "throttle", "nest", "modify"] {
            r = r.with_filter(name, hydrant_filters::build);
        }
        for name in ["kinesis_firehose", "firehose", "stdout", "null"] {
            r = r.with_output(name, hydrant_outputs::build);
        }
        r
    }

    /// Add (or replace) an input.
    pub fn with_input(mut self, name: &str, build: InputBuilder) -> Self {
        self.inputs.retain(|(n, _)| n != name);
        self.inputs.push((name.to_owned(), build));
        self
    }

    /// Add (or replace) a filter.
    pub fn with_filter(mut self, name: &str, build: FilterBuilder) -> Self {
        self.filters.retain(|(n, _)| n != name);
        self.filters.push((name.to_owned(), build));
        self
    }

    /// Add (or replace) an output.
    pub fn with_output(mut self, name: &str, build: OutputBuilder) -> Self {
        self.outputs.retain(|(n, _)| n != name);
        self.outputs.push((name.to_owned(), build));
        self
    }

    pub(crate) fn input(&self, name: &str) -> Option<InputBuilder> {
        find(&self.inputs, name)
    }

    pub(crate) fn filter(&self, name: &str) -> Option<FilterBuilder> {
        find(&self.filters, name)
    }

    pub(crate) fn output(&self, name: &str) -> Option<OutputBuilder> {
        find(&self.outputs, name)
    }

    pub(crate) fn input_names(&self) -> String {
        names(&self.inputs)
    }

    pub(crate) fn filter_names(&self) -> String {
        names(&self.filters)
    }

    pub(crate) fn output_names(&self) -> String {
        names(&self.outputs)
    }
}

fn find<T: Copy>(list: &[(String, T)], name: &str) -> Option<T> {
    list.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, b)| *b)
}

fn names<T>(list: &[(String, T)]) -> String {
    list.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
}
