//! Validation and execution: pipelines compiled once (filters parsed, grok rules and
//! formulas compiled, paths split) and applied to every log.

use crate::arith::{self, Expr};
use crate::error::PipelineError;
use crate::grok::{filters::float_value, Grok};
use crate::model::*;
use crate::path::{self, AttrPath};
use crate::{url_parse, useragent};
use hydrant_log::{status, Log};
use hydrant_query::Query;
use percent_encoding::percent_decode_str;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Checks a pipeline as the API must before storing it: name, processor types, filter
/// queries, remapper targets, grok rules, formulas, templates, lookup tables. Every
/// problem is listed in the error's `details`.
pub fn validate(pipeline: &Pipeline) -> Result<(), PipelineError> {
    let mut problems = Vec::new();
    compile_pipeline(pipeline, "", &mut problems);
    PipelineError::from_problems(problems).map_or(Ok(()), Err)
}

/// Pipelines ready to run, in order.
#[derive(Debug, Clone, Default)]
pub struct CompiledPipelines {
    pipelines: Vec<CompiledPipeline>,
}

#[derive(Debug, Clone)]
struct CompiledPipeline {
    filter: Option<Query>,
    processors: Vec<Compiled>,
}

#[derive(Debug, Clone)]
enum Compiled {
    AttributeRemapper(Box<Remap>),
    Date(Vec<AttrPath>),
    Status(Vec<AttrPath>),
    Service(Vec<AttrPath>),
    Message(Vec<AttrPath>),
    TraceId(Vec<AttrPath>),
    SpanId(Vec<AttrPath>),
    Grok(Box<Grok>),
    Url { sources: Vec<AttrPath>, target: AttrPath, normalize: bool },
    UserAgent { sources: Vec<AttrPath>, target: AttrPath, encoded: bool },
    Category { target: AttrPath, categories: Vec<(Option<Query>, Value)> },
    Arithmetic { target: AttrPath, expr: Expr, replace_missing: bool },
    StringBuilder { target: AttrPath, parts: Vec<Part>, replace_missing: bool },
    Lookup { source: AttrPath, target: AttrPath, table: HashMap<String, String>, default: Option<String> },
    Nested(CompiledPipeline),
}

#[derive(Debug, Clone)]
struct Remap {
    sources: Vec<AttrPath>,
    source_type: AttributeOrTag,
    target: AttrPath,
    target_type: AttributeOrTag,
    format: TargetFormat,
    preserve_source: bool,
    override_on_conflict: bool,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Attr(AttrPath),
}

/// What one log has already been through, across pipelines: Datadog applies only the
/// first applicable date, status, service and message remapper.
#[derive(Debug, Default)]
struct LogState {
    date: bool,
    status: bool,
    service: bool,
    message: bool,
}

impl CompiledPipelines {
    /// Compiles pipelines (in the pipeline order). Every pipeline is validated, enabled or
    /// not; only enabled pipelines and processors are kept to run.
    pub fn compile(pipelines: &[Pipeline]) -> Result<CompiledPipelines, PipelineError> {
        let mut problems = Vec::new();
        let mut out = Vec::with_capacity(pipelines.len());
        for p in pipelines {
            let prefix = format!("pipeline \"{}\": ", p.name);
            let compiled = compile_pipeline(p, &prefix, &mut problems);
            if p.is_enabled {
                out.push(compiled);
            }
        }
        match PipelineError::from_problems(problems) {
            Some(e) => Err(e),
            None => Ok(CompiledPipelines { pipelines: out }),
        }
    }

    /// Number of enabled pipelines.
    pub fn len(&self) -> usize {
        self.pipelines.len()
    }

    /// Whether no pipeline is enabled.
    pub fn is_empty(&self) -> bool {
        self.pipelines.is_empty()
    }

    /// Runs every enabled pipeline whose filter matches (evaluated before its processors
    /// run), in order, applying its enabled processors in sequence.
    pub fn apply(&self, log: &mut Log) {
        let mut state = LogState::default();
        for p in &self.pipelines {
            p.apply(log, &mut state);
        }
    }
}

fn compile_pipeline(p: &Pipeline, prefix: &str, problems: &mut Vec<String>) -> CompiledPipeline {
    if p.name.trim().is_empty() {
        problems.push(format!("{prefix}the pipeline `name` is required"));
    }
    let filter = compile_filter(&p.filter, &format!("{prefix}filter"), problems);
    let processors = compile_processors(&p.processors, prefix, false, problems);
    CompiledPipeline { filter, processors }
}

fn compile_filter(filter: &Option<Filter>, at: &str, problems: &mut Vec<String>) -> Option<Query> {
    let q = filter_query(filter)?;
    match hydrant_query::parse(q) {
        Ok(Query::All) => None,
        Ok(q) => Some(q),
        Err(e) => {
            problems.push(format!("{at}: invalid query `{q}`: {e}"));
            None
        }
    }
}

fn compile_processors(list: &[Processor], prefix: &str, nested: bool, problems: &mut Vec<String>) -> Vec<Compiled> {
    let mut out = Vec::new();
    for (i, proc) in list.iter().enumerate() {
        let at = match proc.name() {
            Some(n) => format!("{prefix}processors[{i}] ({} \"{n}\")", proc.type_name()),
            None => format!("{prefix}processors[{i}] ({})", proc.type_name()),
        };
        let before = problems.len();
        let compiled = compile_processor(proc, &at, nested, problems);
        if problems.len() == before && proc.is_enabled() {
            out.extend(compiled);
        }
    }
    out
}

fn paths(sources: &[String]) -> Vec<AttrPath> {
    sources.iter().map(|s| AttrPath::new(s)).collect()
}

fn compile_processor(p: &Processor, at: &str, nested: bool, problems: &mut Vec<String>) -> Option<Compiled> {
    let mut problem = |msg: String| problems.push(format!("{at}: {msg}"));
    let need_sources = |sources: &[String], problem: &mut dyn FnMut(String)| {
        if sources.iter().all(|s| s.trim().is_empty()) {
            problem("`sources` must name at least one attribute".to_string());
        }
    };
    let need = |field: &str, value: &str, problem: &mut dyn FnMut(String)| {
        if value.trim().is_empty() {
            problem(format!("`{field}` is required"));
        }
    };
    match p {
        Processor::AttributeRemapper(r) => {
            need_sources(&r.sources, &mut problem);
            need("target", &r.target, &mut problem);
            if r.target.contains([':', ',']) {
                problem(format!("target `{}` must not contain `:` or `,`", r.target));
            }
            let is_host = |s: &str| s.trim().trim_start_matches('@').eq_ignore_ascii_case("host");
            if is_host(&r.target) || r.sources.iter().any(|s| is_host(s)) {
                problem("the `host` attribute cannot be remapped".to_string());
            }
            let lower_tags = |v: &[String]| -> Vec<AttrPath> {
                v.iter().map(|s| AttrPath::new(&s.trim().to_lowercase())).collect::<Vec<_>>()
            };
            let sources = if r.source_type == AttributeOrTag::Tag { lower_tags(&r.sources) } else { paths(&r.sources) };
            let target = if r.target_type == AttributeOrTag::Tag {
                AttrPath::new(&r.target.trim().to_lowercase())
            } else {
                AttrPath::new(&r.target)
            };
            Some(Compiled::AttributeRemapper(Box::new(Remap {
                sources,
                source_type: r.source_type,
                target,
                target_type: r.target_type,
                format: r.target_format.unwrap_or_default(),
                preserve_source: r.preserve_source,
                override_on_conflict: r.override_on_conflict,
            })))
        }
        Processor::DateRemapper(r)
        | Processor::StatusRemapper(r)
        | Processor::ServiceRemapper(r)
        | Processor::MessageRemapper(r)
        | Processor::TraceIdRemapper(r)
        | Processor::SpanIdRemapper(r) => {
            need_sources(&r.sources, &mut problem);
            let s = paths(&r.sources);
            Some(match p {
                Processor::DateRemapper(_) => Compiled::Date(s),
                Processor::StatusRemapper(_) => Compiled::Status(s),
                Processor::ServiceRemapper(_) => Compiled::Service(s),
                Processor::MessageRemapper(_) => Compiled::Message(s),
                Processor::TraceIdRemapper(_) => Compiled::TraceId(s),
                _ => Compiled::SpanId(s),
            })
        }
        Processor::GrokParser(g) => {
            need("source", &g.source, &mut problem);
            match Grok::compile(&g.source, &g.grok.match_rules, &g.grok.support_rules) {
                Ok(grok) => Some(Compiled::Grok(Box::new(grok))),
                Err(e) => {
                    problem(format!("invalid grok rules: {e}"));
                    None
                }
            }
        }
        Processor::UrlParser(u) => {
            need_sources(&u.sources, &mut problem);
            need("target", &u.target, &mut problem);
            Some(Compiled::Url {
                sources: paths(&u.sources),
                target: AttrPath::new(&u.target),
                normalize: u.normalize_ending_slashes.unwrap_or(false),
            })
        }
        Processor::UserAgentParser(u) => {
            need_sources(&u.sources, &mut problem);
            need("target", &u.target, &mut problem);
            Some(Compiled::UserAgent {
                sources: paths(&u.sources),
                target: AttrPath::new(&u.target),
                encoded: u.is_encoded,
            })
        }
        Processor::CategoryProcessor(c) => {
            need("target", &c.target, &mut problem);
            if c.categories.is_empty() {
                problem("`categories` must hold at least one category".to_string());
            }
            let mut categories = Vec::with_capacity(c.categories.len());
            for (i, cat) in c.categories.iter().enumerate() {
                let name = cat.name.clone().unwrap_or_default();
                if name.trim().is_empty() {
                    problem(format!("categories[{i}]: `name` is required"));
                }
                let mut sub = Vec::new();
                let query = compile_filter(&cat.filter, &format!("categories[{i}].filter"), &mut sub);
                for s in sub {
                    problem(s);
                }
                categories.push((query, Value::String(name)));
            }
            Some(Compiled::Category { target: AttrPath::new(&c.target), categories })
        }
        Processor::ArithmeticProcessor(a) => {
            need("target", &a.target, &mut problem);
            match arith::parse(&a.expression) {
                Ok(expr) => Some(Compiled::Arithmetic {
                    target: AttrPath::new(&a.target),
                    expr,
                    replace_missing: a.is_replace_missing,
                }),
                Err(e) => {
                    problem(format!("invalid expression `{}`: {e}", a.expression));
                    None
                }
            }
        }
        Processor::StringBuilderProcessor(s) => {
            need("target", &s.target, &mut problem);
            need("template", &s.template, &mut problem);
            match parse_template(&s.template) {
                Ok(parts) => Some(Compiled::StringBuilder {
                    target: AttrPath::new(&s.target),
                    parts,
                    replace_missing: s.is_replace_missing,
                }),
                Err(e) => {
                    problem(format!("invalid template: {e}"));
                    None
                }
            }
        }
        Processor::LookupProcessor(l) => {
            need("source", &l.source, &mut problem);
            need("target", &l.target, &mut problem);
            let mut table = HashMap::with_capacity(l.lookup_table.len());
            for (i, entry) in l.lookup_table.iter().enumerate() {
                match entry.split_once(',') {
                    Some((k, v)) => {
                        table.entry(k.trim().to_string()).or_insert_with(|| v.trim().to_string());
                    }
                    None => problem(format!("lookup_table[{i}] `{entry}` must be `key,value`")),
                }
            }
            Some(Compiled::Lookup {
                source: AttrPath::new(&l.source),
                target: AttrPath::new(&l.target),
                table,
                default: l.default_lookup.clone(),
            })
        }
        Processor::Pipeline(n) => {
            if nested {
                problem("a nested pipeline cannot hold another pipeline".to_string());
                return None;
            }
            let filter = compile_filter(&n.filter, &format!("{at}: filter"), problems);
            let processors = compile_processors(&n.processors, &format!("{at}: "), true, problems);
            Some(Compiled::Nested(CompiledPipeline { filter, processors }))
        }
    }
}

fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(at) = rest.find("%{") {
        if at > 0 {
            parts.push(Part::Text(rest[..at].to_string()));
        }
        let after = &rest[at + 2..];
        let end = after.find('}').ok_or_else(|| format!("unterminated `%{{` in `{t}`"))?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!("empty `%{{}}` in `{t}`"));
        }
        parts.push(Part::Attr(AttrPath::new(name)));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

impl CompiledPipeline {
    fn apply(&self, log: &mut Log, state: &mut LogState) {
        if let Some(f) = &self.filter {
            if !f.matches(&*log) {
                return;
            }
        }
        for p in &self.processors {
            p.apply(log, state);
        }
    }
}

/// The first source present (not null).
fn first<'a>(log: &'a Log, sources: &[AttrPath]) -> Option<Cow<'a, Value>> {
    sources.iter().find_map(|s| path::get(log, s))
}

fn first_string(log: &Log, sources: &[AttrPath]) -> Option<String> {
    sources.iter().find_map(|s| path::get(log, s).and_then(|v| path::scalar_string(&v).map(Cow::into_owned)))
}

impl Compiled {
    fn apply(&self, log: &mut Log, state: &mut LogState) {
        match self {
            Compiled::AttributeRemapper(r) => r.apply(log),
            Compiled::Date(sources) => {
                if state.date {
                    return;
                }
                if let Some(ms) = sources.iter().find_map(|s| path::get(log, s).and_then(|v| parse_date(&v))) {
                    log.timestamp_ms = ms;
                    state.date = true;
                }
            }
            Compiled::Status(sources) => {
                if state.status {
                    return;
                }
                if let Some(v) = first(log, sources) {
                    let s = status::normalize(&v);
                    log.status = s.to_string();
                    state.status = true;
                }
            }
            Compiled::Service(sources) => {
                if state.service {
                    return;
                }
                if let Some(s) = first_string(log, sources).filter(|s| !s.is_empty()) {
                    log.service = Some(s);
                    state.service = true;
                }
            }
            Compiled::Message(sources) => {
                if state.message {
                    return;
                }
                if let Some(s) = first_string(log, sources) {
                    log.message = s;
                    state.message = true;
                }
            }
            Compiled::TraceId(sources) => {
                if let Some(s) = first_string(log, sources).filter(|s| !s.is_empty()) {
                    log.trace_id = Some(s);
                }
            }
            Compiled::SpanId(sources) => {
                if let Some(s) = first_string(log, sources).filter(|s| !s.is_empty()) {
                    log.attributes.insert("span_id".to_string(), Value::String(s));
                }
            }
            Compiled::Grok(g) => g.apply(log),
            Compiled::Url { sources, target, normalize } => {
                let details =
                    sources.iter().find_map(|s| path::get_str(log, s)).and_then(|u| url_parse::details(u, *normalize));
                if let Some(d) = details {
                    path::set(&mut log.attributes, &target.segs, d);
                }
            }
            Compiled::UserAgent { sources, target, encoded } => {
                let Some(ua) = sources.iter().find_map(|s| path::get_str(log, s)) else { return };
                let details = if *encoded {
                    useragent::parse(&percent_decode_str(ua).decode_utf8_lossy())
                } else {
                    useragent::parse(ua)
                };
                path::set(&mut log.attributes, &target.segs, details);
            }
            Compiled::Category { target, categories } => {
                let hit = categories.iter().find(|(q, _)| q.as_ref().is_none_or(|q| q.matches(&*log)));
                if let Some((_, name)) = hit {
                    path::set(&mut log.attributes, &target.segs, name.clone());
                }
            }
            Compiled::Arithmetic { target, expr, replace_missing } => {
                if let Some(x) = expr.eval(log, *replace_missing) {
                    path::set(&mut log.attributes, &target.segs, float_value(arith::round9(x)));
                }
            }
            Compiled::StringBuilder { target, parts, replace_missing } => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Attr(p) => match path::get(log, p).and_then(|v| render(&v)) {
                            Some(s) => out.push_str(&s),
                            None if *replace_missing => {}
                            None => return,
                        },
                    }
                }
                if let Some((cut, _)) = out.char_indices().nth(256) {
                    out.truncate(cut);
                }
                path::set(&mut log.attributes, &target.segs, Value::String(out));
            }
            Compiled::Lookup { source, target, table, default } => {
                let Some(v) = path::get(log, source) else { return };
                let Some(key) = path::scalar_string(&v) else { return };
                let mapped = table.get(key.as_ref()).or(default.as_ref()).cloned();
                if let Some(m) = mapped {
                    path::set(&mut log.attributes, &target.segs, Value::String(m));
                }
            }
            Compiled::Nested(p) => p.apply(log, state),
        }
    }
}

/// A string builder block: scalars as text, arrays of scalars joined with `,`; objects,
/// arrays holding objects and null cannot be used.
fn render(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let parts: Option<Vec<_>> = items.iter().map(|i| path::scalar_string(i).map(Cow::into_owned)).collect();
            parts.map(|p| p.join(","))
        }
        _ => path::scalar_string(v).map(Cow::into_owned),
    }
}

/// Dates for the date remapper: `hydrant_log`'s (ISO 8601, epoch seconds or
/// milliseconds, RFC 3164) plus the common web-server and mail forms.
fn parse_date(v: &Value) -> Option<i64> {
    if let Some(ms) = hydrant_log::preprocess::parse_date(v) {
        return Some(ms);
    }
    let s = v.as_str()?.trim();
    for f in ["%d/%b/%Y:%H:%M:%S %z", "%a, %d %b %Y %H:%M:%S %z", "%Y-%m-%d %H:%M:%S,%3f%z", "%Y-%m-%dT%H:%M:%S%.f%#z"]
    {
        if let Ok(d) = chrono::DateTime::parse_from_str(s, f) {
            return Some(d.timestamp_millis());
        }
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc2822(s) {
        return Some(d.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S,%3f", "%Y/%m/%d %H:%M:%S%.f", "%d/%b/%Y:%H:%M:%S", "%Y-%m-%d"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

impl Remap {
    fn apply(&self, log: &mut Log) {
        // The value: first present source.
        let found = match self.source_type {
            AttributeOrTag::Attribute => {
                self.sources.iter().enumerate().find_map(|(i, s)| path::get(log, s).map(|v| (i, v.into_owned())))
            }
            AttributeOrTag::Tag => self.sources.iter().enumerate().find_map(|(i, s)| {
                let values: Vec<Value> = log.tag_values(&s.raw).map(|v| Value::String(v.to_string())).collect();
                match values.len() {
                    0 => None,
                    1 => Some((i, values.into_iter().next().unwrap_or(Value::Null))),
                    _ => Some((i, Value::Array(values))),
                }
            }),
        };
        let Some((i, value)) = found else { return };
        let source = &self.sources[i];
        match self.target_type {
            AttributeOrTag::Attribute => {
                if !self.override_on_conflict && path::exists(log, &self.target) {
                    return;
                }
                let same = self.source_type == AttributeOrTag::Attribute && source.segs == self.target.segs;
                if !self.preserve_source && !same {
                    self.remove_source(log, source);
                }
                path::set(&mut log.attributes, &self.target.segs, cast(value, self.format));
            }
            AttributeOrTag::Tag => {
                let key = self.target.raw.as_str();
                // Each tag is built once, as `key:value`, and kept as built when it is
                // already normal (this runs for every remapped tag of every log).
                let tag = |v: Cow<'_, str>| {
                    let mut t = String::with_capacity(key.len() + 1 + v.len());
                    t.push_str(key);
                    t.push(':');
                    t.push_str(&v);
                    t
                };
                let mut values = Vec::new();
                match &value {
                    Value::Array(items) => values.extend(items.iter().filter_map(|v| path::scalar_string(v).map(tag))),
                    v => values.extend(path::scalar_string(v).map(tag)),
                }
                if values.is_empty() {
                    return;
                }
                if log.tag_values(key).next().is_some() {
                    if !self.override_on_conflict {
                        return;
                    }
                    log.tags.retain(|t| t.split_once(':').is_none_or(|(k, _)| k != key));
                }
                let same = self.source_type == AttributeOrTag::Tag && source.raw == key;
                if !self.preserve_source && !same {
                    self.remove_source(log, source);
                }
                for t in values {
                    log.add_tag_owned(t);
                }
            }
        }
    }

    fn remove_source(&self, log: &mut Log, source: &AttrPath) {
        match self.source_type {
            AttributeOrTag::Attribute => {
                path::remove(&mut log.attributes, &source.segs);
            }
            AttributeOrTag::Tag => {
                let key = source.raw.as_str();
                log.tags.retain(|t| t.split_once(':').is_none_or(|(k, _)| k != key));
            }
        }
    }
}

/// `target_format` casts; the original value when the cast fails.
fn cast(v: Value, format: TargetFormat) -> Value {
    match format {
        TargetFormat::Auto => v,
        TargetFormat::String => match &v {
            Value::Number(_) | Value::Bool(_) => {
                Value::String(path::scalar_string(&v).unwrap_or_default().into_owned())
            }
            _ => v,
        },
        TargetFormat::Integer => {
            let i = match &v {
                Value::Number(n) => {
                    n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64))
                }
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            i.map(Value::from).unwrap_or(v)
        }
        TargetFormat::Double => {
            let f = match &v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            f.and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(v)
        }
    }
}
