//! The API model: pipelines and processors exactly as Datadog's
//! `/api/v1/logs/config/pipelines` reads and writes them (field names, defaults, and the
//! defaults echoed back in answers, so that `datadog-api-client` and Terraform round-trip).
//!
//! Unknown fields are ignored. A processor's `type` picks its variant; an unknown `type`
//! is refused with a message naming it (see [`Processor`]'s `Deserialize`).

use crate::error::PipelineError;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A pipeline (`LogsPipeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Server-assigned id (read-only: the intake sets it; empty in a create request).
    #[serde(default)]
    pub id: String,
    /// Always `"pipeline"` (read-only: whatever a client sends is ignored).
    #[serde(rename = "type", default = "pipeline_type", deserialize_with = "ignore_type")]
    pub r#type: String,
    /// Name (required, non-empty).
    #[serde(default)]
    pub name: String,
    /// Whether the pipeline runs (default false, as Datadog).
    #[serde(default)]
    pub is_enabled: bool,
    /// Integration pipelines are read-only (default false).
    #[serde(default)]
    pub is_read_only: bool,
    /// Which logs the pipeline applies to; absent or empty matches every log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Ordered processors.
    #[serde(default)]
    pub processors: Vec<Processor>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags of the pipeline itself (not of logs).
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Pipeline {
    /// An empty, disabled pipeline named `name`.
    pub fn new(name: impl Into<String>) -> Pipeline {
        Pipeline {
            id: String::new(),
            r#type: pipeline_type(),
            name: name.into(),
            is_enabled: false,
            is_read_only: false,
            filter: None,
            processors: Vec::new(),
            description: None,
            tags: Vec::new(),
        }
    }

    /// Parses a pipeline from Datadog JSON, mapping serde's errors (unknown processor
    /// type, missing or mistyped field) to a [`PipelineError`].
    pub fn from_json(body: &[u8]) -> Result<Pipeline, PipelineError> {
        serde_json::from_slice(body).map_err(|e| PipelineError::new(format!("Invalid pipeline: {e}")))
    }

    /// [`Pipeline::from_json`] from an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Pipeline, PipelineError> {
        serde_json::from_value(value).map_err(|e| PipelineError::new(format!("Invalid pipeline: {e}")))
    }

    /// The filter's query, `None` when absent or empty.
    pub fn query(&self) -> Option<&str> {
        filter_query(&self.filter)
    }
}

pub(crate) fn filter_query(filter: &Option<Filter>) -> Option<&str> {
    filter.as_ref().and_then(|f| f.query.as_deref()).filter(|q| !q.trim().is_empty())
}

fn pipeline_type() -> String {
    "pipeline".to_string()
}

fn ignore_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(pipeline_type())
}

/// `{"query": "..."}`, Datadog's search syntax.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The query; absent or empty matches every log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl Filter {
    /// A filter with `query`.
    pub fn new(query: impl Into<String>) -> Filter {
        Filter { query: Some(query.into()) }
    }
}

/// One processor, tagged by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Processor {
    /// `attribute-remapper`.
    #[serde(rename = "attribute-remapper")]
    AttributeRemapper(AttributeRemapper),
    /// `date-remapper`: the first source that parses becomes the log's date.
    #[serde(rename = "date-remapper")]
    DateRemapper(SourcesRemapper),
    /// `status-remapper`: the first present source becomes the log's status.
    #[serde(rename = "status-remapper")]
    StatusRemapper(SourcesRemapper),
    /// `service-remapper`.
    #[serde(rename = "service-remapper")]
    ServiceRemapper(SourcesRemapper),
    /// `message-remapper` (sources default `["msg"]`).
    #[serde(rename = "message-remapper")]
    MessageRemapper(SourcesRemapper),
    /// `trace-id-remapper` (sources default `["dd.trace_id"]`).
    #[serde(rename = "trace-id-remapper")]
    TraceIdRemapper(SourcesRemapper),
    /// `span-id-remapper` (sources default `["dd.span_id"]`).
    #[serde(rename = "span-id-remapper")]
    SpanIdRemapper(SourcesRemapper),
    /// `grok-parser`.
    #[serde(rename = "grok-parser")]
    GrokParser(GrokParser),
    /// `url-parser`.
    #[serde(rename = "url-parser")]
    UrlParser(UrlParser),
    /// `user-agent-parser`.
    #[serde(rename = "user-agent-parser")]
    UserAgentParser(UserAgentParser),
    /// `category-processor`.
    #[serde(rename = "category-processor")]
    CategoryProcessor(CategoryProcessor),
    /// `arithmetic-processor`.
    #[serde(rename = "arithmetic-processor")]
    ArithmeticProcessor(ArithmeticProcessor),
    /// `string-builder-processor`.
    #[serde(rename = "string-builder-processor")]
    StringBuilderProcessor(StringBuilderProcessor),
    /// `lookup-processor`.
    #[serde(rename = "lookup-processor")]
    LookupProcessor(LookupProcessor),
    /// `pipeline`: a nested pipeline (which holds processors only, no deeper nesting).
    #[serde(rename = "pipeline")]
    Pipeline(NestedPipeline),
}

/// The `type`s Hydrant implements, in the order of [`Processor`]'s variants.
pub const PROCESSOR_TYPES: [&str; 15] = [
    "attribute-remapper",
    "date-remapper",
    "status-remapper",
    "service-remapper",
    "message-remapper",
    "trace-id-remapper",
    "span-id-remapper",
    "grok-parser",
    "url-parser",
    "user-agent-parser",
    "category-processor",
    "arithmetic-processor",
    "string-builder-processor",
    "lookup-processor",
    "pipeline",
];

/// Datadog processor types that Hydrant does not implement yet (refused with a message
/// saying so rather than "unknown").
pub const UNSUPPORTED_TYPES: [&str; 4] = ["geo-ip-parser", "array-processor", "decoder-processor", "schema-processor"];

impl Processor {
    /// The processor's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Processor::AttributeRemapper(_) => PROCESSOR_TYPES[0],
            Processor::DateRemapper(_) => PROCESSOR_TYPES[1],
            Processor::StatusRemapper(_) => PROCESSOR_TYPES[2],
            Processor::ServiceRemapper(_) => PROCESSOR_TYPES[3],
            Processor::MessageRemapper(_) => PROCESSOR_TYPES[4],
            Processor::TraceIdRemapper(_) => PROCESSOR_TYPES[5],
            Processor::SpanIdRemapper(_) => PROCESSOR_TYPES[6],
            Processor::GrokParser(_) => PROCESSOR_TYPES[7],
            Processor::UrlParser(_) => PROCESSOR_TYPES[8],
            Processor::UserAgentParser(_) => PROCESSOR_TYPES[9],
            Processor::CategoryProcessor(_) => PROCESSOR_TYPES[10],
            Processor::ArithmeticProcessor(_) => PROCESSOR_TYPES[11],
            Processor::StringBuilderProcessor(_) => PROCESSOR_TYPES[12],
            Processor::LookupProcessor(_) => PROCESSOR_TYPES[13],
            Processor::Pipeline(_) => PROCESSOR_TYPES[14],
        }
    }

    /// The processor's `name`.
    pub fn name(&self) -> Option<&str> {
        self.common().0.as_deref()
    }

    /// The processor's `is_enabled`.
    pub fn is_enabled(&self) -> bool {
        *self.common().1
    }

    fn common(&self) -> (&Option<String>, &bool) {
        match self {
            Processor::AttributeRemapper(p) => (&p.name, &p.is_enabled),
            Processor::DateRemapper(p)
            | Processor::StatusRemapper(p)
            | Processor::ServiceRemapper(p)
            | Processor::MessageRemapper(p)
            | Processor::TraceIdRemapper(p)
            | Processor::SpanIdRemapper(p) => (&p.name, &p.is_enabled),
            Processor::GrokParser(p) => (&p.name, &p.is_enabled),
            Processor::UrlParser(p) => (&p.name, &p.is_enabled),
            Processor::UserAgentParser(p) => (&p.name, &p.is_enabled),
            Processor::CategoryProcessor(p) => (&p.name, &p.is_enabled),
            Processor::ArithmeticProcessor(p) => (&p.name, &p.is_enabled),
            Processor::StringBuilderProcessor(p) => (&p.name, &p.is_enabled),
            Processor::LookupProcessor(p) => (&p.name, &p.is_enabled),
            Processor::Pipeline(p) => (&p.name, &p.is_enabled),
        }
    }
}

impl<'de> Deserialize<'de> for Processor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        let ty = match map.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(D::Error::custom(format!("processor `type` must be a string, got {other}"))),
            None => return Err(D::Error::custom("processor without a `type`")),
        };
        fn part<T: DeserializeOwned, E: serde::de::Error>(ty: &str, map: Map<String, Value>) -> Result<T, E> {
            serde_json::from_value(Value::Object(map)).map_err(|e| E::custom(format!("invalid `{ty}` processor: {e}")))
        }
        let sources = |map: &mut Map<String, Value>, default: &str| {
            if !map.contains_key("sources") {
                map.insert("sources".into(), Value::Array(vec![Value::String(default.into())]));
            }
        };
        Ok(match ty.as_str() {
            "attribute-remapper" => Processor::AttributeRemapper(part(&ty, map)?),
            "date-remapper" => Processor::DateRemapper(part(&ty, map)?),
            "status-remapper" => Processor::StatusRemapper(part(&ty, map)?),
            "service-remapper" => Processor::ServiceRemapper(part(&ty, map)?),
            "message-remapper" => {
                sources(&mut map, "msg");
                Processor::MessageRemapper(part(&ty, map)?)
            }
            "trace-id-remapper" => {
                sources(&mut map, "dd.trace_id");
                Processor::TraceIdRemapper(part(&ty, map)?)
            }
            "span-id-remapper" => {
                sources(&mut map, "dd.span_id");
                Processor::SpanIdRemapper(part(&ty, map)?)
            }
            "grok-parser" => Processor::GrokParser(part(&ty, map)?),
            "url-parser" => Processor::UrlParser(part(&ty, map)?),
            "user-agent-parser" => Processor::UserAgentParser(part(&ty, map)?),
            "category-processor" => Processor::CategoryProcessor(part(&ty, map)?),
            "arithmetic-processor" => Processor::ArithmeticProcessor(part(&ty, map)?),
            "string-builder-processor" => Processor::StringBuilderProcessor(part(&ty, map)?),
            "lookup-processor" => Processor::LookupProcessor(part(&ty, map)?),
            "pipeline" => Processor::Pipeline(part(&ty, map)?),
            t if UNSUPPORTED_TYPES.contains(&t) => {
                return Err(D::Error::custom(format!("processor type `{t}` is not supported by Hydrant yet")))
            }
            t => {
                return Err(D::Error::custom(format!(
                    "unknown processor type `{t}`, expected one of: {}",
                    PROCESSOR_TYPES.join(", ")
                )))
            }
        })
    }
}

/// `attribute` or `tag`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeOrTag {
    /// A log attribute (a path, `a.b.c`).
    #[default]
    Attribute,
    /// A tag, by key.
    Tag,
}

/// `target_format` of the attribute remapper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetFormat {
    /// Keep the type.
    #[default]
    Auto,
    /// Cast to a string.
    String,
    /// Cast to an integer.
    Integer,
    /// Cast to a double.
    Double,
}

/// `attribute-remapper` (`LogsAttributeRemapper`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeRemapper {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Source attributes or tag keys, the first present wins (required).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Whether `sources` are attributes or tag keys.
    #[serde(default)]
    pub source_type: AttributeOrTag,
    /// Target attribute or tag key (required; no `:` or `,`).
    #[serde(default)]
    pub target: String,
    /// Whether `target` is an attribute or a tag key.
    #[serde(default)]
    pub target_type: AttributeOrTag,
    /// Cast of the value (attribute targets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_format: Option<TargetFormat>,
    /// Keep the source (default false: remove it).
    #[serde(default)]
    pub preserve_source: bool,
    /// Replace an existing target (default false: keep it).
    #[serde(default)]
    pub override_on_conflict: bool,
}

/// The remappers that only have `sources`: date, status, service, message, trace id, span id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcesRemapper {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Source attributes, the first present wins.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// `grok-parser` (`LogsGrokParser`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrokParser {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// The attribute to parse (default `message`).
    #[serde(default = "default_grok_source")]
    pub source: String,
    /// The rules.
    pub grok: GrokRules,
    /// Sample logs (kept for the UI; at most 5 in Datadog).
    #[serde(default)]
    pub samples: Vec<String>,
}

fn default_grok_source() -> String {
    "message".to_string()
}

/// `{"match_rules", "support_rules"}`: one rule per line, `name pattern`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrokRules {
    /// Parsing rules, tried in order (required).
    #[serde(default)]
    pub match_rules: String,
    /// Helper rules that parsing rules reference as `%{name}`.
    #[serde(default)]
    pub support_rules: String,
}

/// `url-parser` (`LogsURLParser`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlParser {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Source attributes (default `["http.url"]`).
    #[serde(default = "default_url_sources")]
    pub sources: Vec<String>,
    /// Target attribute (default `http.url_details`).
    #[serde(default = "default_url_target")]
    pub target: String,
    /// Drop trailing slashes from the path (nullable; default false).
    #[serde(default = "some_false")]
    pub normalize_ending_slashes: Option<bool>,
}

fn default_url_sources() -> Vec<String> {
    vec!["http.url".to_string()]
}
fn default_url_target() -> String {
    "http.url_details".to_string()
}
fn some_false() -> Option<bool> {
    Some(false)
}

/// `user-agent-parser` (`LogsUserAgentParser`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAgentParser {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Source attributes (default `["http.useragent"]`).
    #[serde(default = "default_ua_sources")]
    pub sources: Vec<String>,
    /// Target attribute (default `http.useragent_details`).
    #[serde(default = "default_ua_target")]
    pub target: String,
    /// The source is URL-encoded (default false).
    #[serde(default)]
    pub is_encoded: bool,
}

fn default_ua_sources() -> Vec<String> {
    vec!["http.useragent".to_string()]
}
fn default_ua_target() -> String {
    "http.useragent_details".to_string()
}

/// `category-processor` (`LogsCategoryProcessor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryProcessor {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Target attribute (required).
    #[serde(default)]
    pub target: String,
    /// Categories, the first whose filter matches names the log.
    #[serde(default)]
    pub categories: Vec<Category>,
}

/// One category: `{"filter": {"query"}, "name"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Which logs are in the category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The value written to the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `arithmetic-processor` (`LogsArithmeticProcessor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArithmeticProcessor {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Target attribute (required).
    #[serde(default)]
    pub target: String,
    /// The formula (required).
    #[serde(default)]
    pub expression: String,
    /// Missing attributes count as 0 (default false: skip the computation).
    #[serde(default)]
    pub is_replace_missing: bool,
}

/// `string-builder-processor` (`LogsStringBuilderProcessor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StringBuilderProcessor {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Target attribute (required).
    #[serde(default)]
    pub target: String,
    /// Raw text and `%{attribute.path}` blocks (required).
    #[serde(default)]
    pub template: String,
    /// Missing attributes become empty strings (default false: skip).
    #[serde(default)]
    pub is_replace_missing: bool,
}

/// `lookup-processor` (`LogsLookupProcessor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupProcessor {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Source attribute (required).
    #[serde(default)]
    pub source: String,
    /// Target attribute (required).
    #[serde(default)]
    pub target: String,
    /// `"key,value"` entries.
    #[serde(default)]
    pub lookup_table: Vec<String>,
    /// Value when the source is present but not in the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_lookup: Option<String>,
}

/// `pipeline` processor: a nested pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedPipeline {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it runs (default false).
    #[serde(default)]
    pub is_enabled: bool,
    /// Which logs it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Its processors (no nested pipelines inside).
    #[serde(default)]
    pub processors: Vec<Processor>,
}
