//! Test helpers: configurations from text, records from JSON, filters run to completion.

#![allow(dead_code)]

use std::sync::Arc;

use hydrant_flb::config::{load_str, Config, LoadOptions};
use hydrant_flb::metrics::Metrics;
use hydrant_flb::plugin::BuildContext;
use hydrant_flb::{Emitted, EventTime, Filter, Map, Record, Value};

/// Load a classic configuration (named `test.conf` in errors).
pub fn config(text: &str) -> Config {
    load_str(text, "test.conf", &LoadOptions { environment: Some(Default::default()), ..Default::default() })
        .unwrap_or_else(|e| panic!("config: {e}"))
}

/// A build context over `config`.
pub fn ctx(config: Config) -> BuildContext {
    BuildContext {
        config: Arc::new(config),
        metrics: Arc::new(Metrics::new()),
        name: "test.0".to_string(),
        data_dir: std::env::temp_dir(),
    }
}

/// Build the first filter of a configuration.
pub fn filter(text: &str) -> (Box<dyn Filter>, BuildContext) {
    let ctx = ctx(config(text));
    let plugin = ctx.config.filters[0].clone();
    let f = hydrant_filters::build(&plugin, &ctx).unwrap_or_else(|e| panic!("build: {e}"));
    (f, ctx)
}

/// The error building the first filter.
pub fn build_error(text: &str) -> String {
    let ctx = ctx(config(text));
    let plugin = ctx.config.filters[0].clone();
    match hydrant_filters::build(&plugin, &ctx) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// A map from JSON text.
pub fn map(json: &str) -> Map {
    match Value::from_json(json.as_bytes()).unwrap() {
        Value::Map(m) => m,
        other => panic!("not a map: {other:?}"),
    }
}

/// A record at time 1 from JSON text.
pub fn rec(json: &str) -> Record {
    Record::new(EventTime::new(1, 0), map(json))
}

/// Run a filter over records.
pub fn run(f: &mut Box<dyn Filter>, tag: &str, records: Vec<Record>) -> (Vec<Record>, Vec<Emitted>) {
    let mut records = records;
    let mut emitted = Vec::new();
    futures::executor::block_on(f.filter(tag, &mut records, &mut emitted));
    (records, emitted)
}

/// The bodies as compact JSON.
pub fn bodies(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.body.to_json_string()).collect()
}
