//! Destination configurations: the wire shapes of `HttpEndpointDestinationConfiguration`
//! and `ExtendedS3DestinationConfiguration`, their validation, the defaults the real
//! service fills in, the merge that `UpdateDestination` performs, and the description
//! `DescribeDeliveryStream` returns.
//!
//! A destination is stored as the normalized configuration JSON (so members Hydrant
//! does not act on, like `ProcessingConfiguration`, are described back as given) and
//! turned into typed [`Destination`] settings whenever it changes.

use std::time::Duration;

use hydrant_aws::arn::s3_bucket_from_arn;
use hydrant_aws::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::validate::Violations;

/// Which kind of destination a stream has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DestinationKind {
    /// `HttpEndpointDestinationConfiguration`.
    HttpEndpoint,
    /// `ExtendedS3DestinationConfiguration` (or the legacy `S3DestinationConfiguration`).
    ExtendedS3,
}

impl DestinationKind {
    /// The member name of this kind in `DestinationDescription`.
    pub fn description_member(self) -> &'static str {
        match self {
            DestinationKind::HttpEndpoint => "HttpEndpointDestinationDescription",
            DestinationKind::ExtendedS3 => "ExtendedS3DestinationDescription",
        }
    }

    /// The member name of this kind in `UpdateDestination`'s input.
    pub fn update_member(self) -> &'static str {
        match self {
            DestinationKind::HttpEndpoint => "HttpEndpointDestinationUpdate",
            DestinationKind::ExtendedS3 => "ExtendedS3DestinationUpdate",
        }
    }
}

/// When to flush a buffer: whichever is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    /// Flush once this many bytes are buffered.
    pub size_bytes: u64,
    /// Flush once the oldest buffered record is this old (zero: at once).
    pub interval: Duration,
}

/// Object compression (`CompressionFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `UNCOMPRESSED`.
    Uncompressed,
    /// `GZIP`.
    Gzip,
    /// `ZIP`: one entry per object.
    Zip,
    /// `Snappy`: the snappy framing format.
    Snappy,
    /// `HADOOP_SNAPPY`: Hadoop's block format.
    HadoopSnappy,
}

impl Compression {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "UNCOMPRESSED" => Compression::Uncompressed,
            "GZIP" => Compression::Gzip,
            "ZIP" => Compression::Zip,
            "Snappy" => Compression::Snappy,
            "HADOOP_SNAPPY" => Compression::HadoopSnappy,
            _ => return None,
        })
    }

    /// The file extension the real service appends for this format.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Uncompressed => "",
            Compression::Gzip => ".gz",
            Compression::Zip => ".zip",
            Compression::Snappy | Compression::HadoopSnappy => ".snappy",
        }
    }
}

/// Where and how objects are written to a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket's name (from `BucketARN`).
    pub bucket: String,
    /// `Prefix`, possibly with `!{...}` expressions.
    pub prefix: String,
    /// `ErrorOutputPrefix`; empty means "use Prefix".
    pub error_prefix: String,
    /// Buffering of the objects.
    pub buffering: Buffering,
    /// Compression of the objects.
    pub compression: Compression,
    /// `FileExtension` override (ExtendedS3 only).
    pub file_extension: Option<String>,
}

/// Typed settings of an HTTP endpoint destination, what delivery acts on.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpEndpointSettings {
    /// The URL records are POSTed to, exactly as configured.
    pub url: String,
    /// `X-Amz-Firehose-Access-Key`, verbatim.
    pub access_key: Option<String>,
    /// Buffering of delivery batches.
    pub buffering: Buffering,
    /// `ContentEncoding: GZIP`.
    pub gzip: bool,
    /// `CommonAttributes`, in order.
    pub common_attributes: Vec<(String, String)>,
    /// `RetryOptions.DurationInSeconds`.
    pub retry_duration: Duration,
    /// `S3BackupMode: AllData` (else FailedDataOnly).
    pub backup_all_data: bool,
    /// The backup bucket.
    pub s3: S3Settings,
}

impl std::fmt::Debug for HttpEndpointSettings {
    // The access key is a credential of the destination: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEndpointSettings")
            .field("url", &self.url)
            .field("access_key", &self.access_key.as_ref().map(|_| "<redacted>"))
            .field("buffering", &self.buffering)
            .field("gzip", &self.gzip)
            .field("retry_duration", &self.retry_duration)
            .field("backup_all_data", &self.backup_all_data)
            .field("s3", &self.s3)
            .finish()
    }
}

/// A destination's typed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Deliver to an HTTP endpoint, backing up to S3.
    HttpEndpoint(HttpEndpointSettings),
    /// Write objects to a bucket.
    ExtendedS3(S3Settings),
}

/// A destination as stored: its kind and normalized configuration JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDestination {
    /// The kind.
    pub kind: DestinationKind,
    /// The configuration in the wire's `...DestinationConfiguration` shape, defaults filled.
    pub config: Value,
}

/// What may be sent to plain-HTTP endpoints.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy {
    /// Allow `http://` to any host (else only to loopback hosts).
    pub allow_http: bool,
}

impl StoredDestination {
    /// Validates a configuration from `CreateDeliveryStream` and fills in defaults.
    pub fn create(kind: DestinationKind, config: Value, urls: UrlPolicy) -> Result<Self, AwsError> {
        let mut config = config;
        fill_defaults(kind, &mut config);
        let stored = StoredDestination { kind, config };
        stored.settings(urls)?;
        Ok(stored)
    }

    /// Merges an `UpdateDestination` member into this configuration: given fields replace
    /// existing ones, nested structures merge, lists are replaced whole.
    pub fn update(&self, update: Value, urls: UrlPolicy) -> Result<Self, AwsError> {
        let Value::Object(mut update) = update else {
            return Err(AwsError::serialization("Destination update must be a JSON object"));
        };
        // Update shapes name the nested S3 member differently from the configuration.
        match self.kind {
            DestinationKind::HttpEndpoint => rename(&mut update, "S3Update", "S3Configuration"),
            DestinationKind::ExtendedS3 => rename(&mut update, "S3BackupUpdate", "S3BackupConfiguration"),
        }
        let mut config = self.config.clone();
        merge(&mut config, Value::Object(update));
        Self::create(self.kind, config, urls)
    }

    /// The typed settings. Fails with the AWS error for any invalid member.
    pub fn settings(&self, urls: UrlPolicy) -> Result<Destination, AwsError> {
        match self.kind {
            DestinationKind::HttpEndpoint => {
                let cfg: HttpEndpointConfig = from_value(&self.config)?;
                cfg.settings(urls).map(Destination::HttpEndpoint)
            }
            DestinationKind::ExtendedS3 => {
                let cfg: S3Config = from_value(&self.config)?;
                let mut v = Violations::default();
                let settings = cfg.settings(&mut v, "extendedS3DestinationConfiguration", 128);
                v.finish()?;
                Ok(Destination::ExtendedS3(settings.expect("validated")))
            }
        }
    }

    /// The `...DestinationDescription` for `DescribeDeliveryStream`: the configuration
    /// with description member names and without the endpoint's access key.
    pub fn description(&self) -> Value {
        let mut d = self.config.clone();
        if let Value::Object(map) = &mut d {
            match self.kind {
                DestinationKind::HttpEndpoint => {
                    rename(map, "S3Configuration", "S3DestinationDescription");
                    if let Some(Value::Object(ep)) = map.get_mut("EndpointConfiguration") {
                        ep.remove("AccessKey");
                    }
                }
                DestinationKind::ExtendedS3 => {
                    rename(map, "S3BackupConfiguration", "S3BackupDescription");
                }
            }
        }
        d
    }
}

fn from_value<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, AwsError> {
    serde_json::from_value(v.clone())
        .map_err(|e| AwsError::serialization(format!("Invalid destination configuration: {e}")))
}

fn rename(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = map.remove(from) {
        map.insert(to.to_string(), v);
    }
}

/// Deep merge: objects merge key by key, anything else replaces.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Fills in what the real service describes back when the caller left it out.
fn fill_defaults(kind: DestinationKind, config: &mut Value) {
    let Value::Object(map) = config else { return };
    match kind {
        DestinationKind::HttpEndpoint => {
            default_object(map, "BufferingHints", json!({"SizeInMBs": 5, "IntervalInSeconds": 300}));
            default_object(map, "RequestConfiguration", json!({"ContentEncoding": "NONE"}));
            default_object(map, "RetryOptions", json!({"DurationInSeconds": 300}));
            default_object(map, "CloudWatchLoggingOptions", json!({"Enabled": false}));
            map.entry("S3BackupMode").or_insert_with(|| json!("FailedDataOnly"));
            if let Some(Value::Object(s3)) = map.get_mut("S3Configuration") {
                fill_s3_defaults(s3);
            }
        }
        DestinationKind::ExtendedS3 => {
            fill_s3_defaults(map);
            map.entry("S3BackupMode").or_insert_with(|| json!("Disabled"));
            if let Some(Value::Object(s3)) = map.get_mut("S3BackupConfiguration") {
                fill_s3_defaults(s3);
            }
        }
    }
}

fn fill_s3_defaults(s3: &mut Map<String, Value>) {
    default_object(s3, "BufferingHints", json!({"SizeInMBs": 5, "IntervalInSeconds": 300}));
    s3.entry("CompressionFormat").or_insert_with(|| json!("UNCOMPRESSED"));
    s3.entry("EncryptionConfiguration").or_insert_with(|| json!({"NoEncryptionConfig": "NoEncryption"}));
    default_object(s3, "CloudWatchLoggingOptions", json!({"Enabled": false}));
}

/// Sets `key` to `defaults`, or fills the fields of an existing object that are missing.
fn default_object(map: &mut Map<String, Value>, key: &str, defaults: Value) {
    match map.get_mut(key) {
        Some(Value::Object(existing)) => {
            if let Value::Object(d) = defaults {
                for (k, v) in d {
                    existing.entry(k).or_insert(v);
                }
            }
        }
        Some(_) => {}
        None => {
            map.insert(key.to_string(), defaults);
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HttpEndpointConfig {
    endpoint_configuration: Option<EndpointConfig>,
    buffering_hints: Option<HintsConfig>,
    request_configuration: Option<RequestConfig>,
    retry_options: Option<RetryConfig>,
    #[serde(rename = "S3BackupMode")]
    s3_backup_mode: Option<String>,
    #[serde(rename = "S3Configuration")]
    s3_configuration: Option<S3Config>,
    #[serde(rename = "RoleARN")]
    role_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointConfig {
    url: Option<String>,
    name: Option<String>,
    access_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HintsConfig {
    #[serde(rename = "SizeInMBs")]
    size_in_mbs: Option<i64>,
    interval_in_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RequestConfig {
    content_encoding: Option<String>,
    common_attributes: Option<Vec<AttributeConfig>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeConfig {
    attribute_name: Option<String>,
    attribute_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetryConfig {
    duration_in_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3Config {
    #[serde(rename = "RoleARN")]
    role_arn: Option<String>,
    #[serde(rename = "BucketARN")]
    bucket_arn: Option<String>,
    prefix: Option<String>,
    error_output_prefix: Option<String>,
    buffering_hints: Option<HintsConfig>,
    compression_format: Option<String>,
    file_extension: Option<String>,
    custom_time_zone: Option<String>,
}

fn role_arn(v: &mut Violations, role: &Option<String>, path: &str, required: bool) {
    match role {
        None if required => v.required(path),
        None => {}
        Some(r) => {
            v.length(r, path, 1, 512);
            let ok = hydrant_aws::arn::Arn::parse(r)
                .map(|a| a.service == "iam" && a.resource.starts_with("role/"))
                .unwrap_or(false);
            v.pattern(r, path, ok, r"arn:.*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+");
        }
    }
}

fn buffering(v: &mut Violations, hints: &Option<HintsConfig>, path: &str, max_mb: i64, max_interval: i64) -> Buffering {
    let (size, interval) = match hints {
        Some(h) => (h.size_in_mbs.unwrap_or(5), h.interval_in_seconds.unwrap_or(300)),
        None => (5, 300),
    };
    v.range(size, &format!("{path}.sizeInMBs"), 1, max_mb);
    v.range(interval, &format!("{path}.intervalInSeconds"), 0, max_interval);
    Buffering {
        size_bytes: (size.clamp(1, max_mb) as u64) << 20,
        interval: Duration::from_secs(interval.clamp(0, max_interval) as u64),
    }
}

impl S3Config {
    fn settings(&self, v: &mut Violations, path: &str, max_mb: i64) -> Option<S3Settings> {
        role_arn(v, &self.role_arn, &format!("{path}.roleARN"), true);
        let bucket = match &self.bucket_arn {
            None => {
                v.required(&format!("{path}.bucketARN"));
                None
            }
            Some(arn) => {
                v.length(arn, &format!("{path}.bucketARN"), 1, 2048);
                match s3_bucket_from_arn(arn) {
                    Ok(b) => Some(b),
                    Err(_) => {
                        v.pattern(arn, &format!("{path}.bucketARN"), false, r"arn:.*:s3:::[\w\.\-]{1,255}");
                        None
                    }
                }
            }
        };
        let prefix = self.prefix.clone().unwrap_or_default();
        v.length(&prefix, &format!("{path}.prefix"), 0, 1024);
        let error_prefix = self.error_output_prefix.clone().unwrap_or_default();
        v.length(&error_prefix, &format!("{path}.errorOutputPrefix"), 0, 1024);
        let buffering = buffering(v, &self.buffering_hints, &format!("{path}.bufferingHints"), max_mb, 900);
        let format = self.compression_format.as_deref().unwrap_or("UNCOMPRESSED");
        v.one_of(
            format,
            &format!("{path}.compressionFormat"),
            &["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"],
        );
        if let Some(ext) = &self.file_extension {
            v.length(ext, &format!("{path}.fileExtension"), 0, 128);
            let ok = ext.is_empty()
                || (ext.starts_with('.')
                    && ext.len() > 1
                    && ext[1..]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || "!-_.*'()".contains(c)));
            v.pattern(ext, &format!("{path}.fileExtension"), ok, r"^$|\.[0-9a-z!\-_.*'()]+");
        }
        if let Some(tz) = &self.custom_time_zone {
            v.length(tz, &format!("{path}.customTimeZone"), 0, 50);
            // Only UTC is implemented; other zones would silently shift object keys.
            if !(tz.is_empty() || tz == "UTC") {
                v.push(tz, &format!("{path}.customTimeZone"), "Hydrant supports only UTC");
            }
        }
        prefix_expressions(v, &prefix, &format!("{path}.prefix"));
        prefix_expressions(v, &error_prefix, &format!("{path}.errorOutputPrefix"));
        Some(S3Settings {
            bucket: bucket?,
            prefix,
            error_prefix,
            buffering,
            compression: Compression::parse(format)?,
            file_extension: self.file_extension.clone().filter(|e| !e.is_empty()),
        })
    }
}

/// Checks that every `!{...}` in a prefix is one the key builder understands.
fn prefix_expressions(v: &mut Violations, prefix: &str, path: &str) {
    if let Err(e) = crate::objects::check_prefix(prefix) {
        v.push(prefix, path, &e);
    }
}

impl HttpEndpointConfig {
    fn settings(&self, urls: UrlPolicy) -> Result<HttpEndpointSettings, AwsError> {
        let p = "httpEndpointDestinationConfiguration";
        let mut v = Violations::default();
        let (url, access_key) = match &self.endpoint_configuration {
            None => {
                v.required(&format!("{p}.endpointConfiguration"));
                (String::new(), None)
            }
            Some(ep) => {
                let url = ep.url.clone().unwrap_or_default();
                if ep.url.is_none() {
                    v.required(&format!("{p}.endpointConfiguration.url"));
                } else {
                    // The URL is `sensitive` in the model: AWS does not echo it back.
                    if url.is_empty() || url.chars().count() > 1000 {
                        v.push(
                            "***",
                            &format!("{p}.endpointConfiguration.url"),
                            "Member must have length between 1 and 1000",
                        );
                    }
                }
                if let Some(name) = &ep.name {
                    v.length(name, &format!("{p}.endpointConfiguration.name"), 1, 256);
                    v.pattern(
                        name,
                        &format!("{p}.endpointConfiguration.name"),
                        !name.trim().is_empty(),
                        r"^(?!\s*$).+",
                    );
                }
                if let Some(key) = &ep.access_key {
                    if key.chars().count() > 4096 {
                        v.push(
                            "***",
                            &format!("{p}.endpointConfiguration.accessKey"),
                            "Member must have length less than or equal to 4096",
                        );
                    }
                }
                (url, ep.access_key.clone())
            }
        };
        let buffering = buffering(&mut v, &self.buffering_hints, &format!("{p}.bufferingHints"), 64, 900);
        let mut gzip = false;
        let mut common_attributes = Vec::new();
        if let Some(rc) = &self.request_configuration {
            let enc = rc.content_encoding.as_deref().unwrap_or("NONE");
            v.one_of(enc, &format!("{p}.requestConfiguration.contentEncoding"), &["NONE", "GZIP"]);
            gzip = enc == "GZIP";
            if let Some(attrs) = &rc.common_attributes {
                if attrs.len() > 50 {
                    v.push(
                        &format!("{} attributes", attrs.len()),
                        &format!("{p}.requestConfiguration.commonAttributes"),
                        "Member must have length less than or equal to 50",
                    );
                }
                for (i, a) in attrs.iter().enumerate() {
                    let ap = format!("{p}.requestConfiguration.commonAttributes.{}.member", i + 1);
                    match (&a.attribute_name, &a.attribute_value) {
                        (Some(n), Some(val)) => {
                            if n.trim().is_empty() || n.chars().count() > 256 {
                                v.push(
                                    "***",
                                    &format!("{ap}.attributeName"),
                                    "Member must have length between 1 and 256 and not be blank",
                                );
                            }
                            if val.chars().count() > 1024 {
                                v.push(
                                    "***",
                                    &format!("{ap}.attributeValue"),
                                    "Member must have length less than or equal to 1024",
                                );
                            }
                            common_attributes.push((n.clone(), val.clone()));
                        }
                        (None, _) => v.required(&format!("{ap}.attributeName")),
                        (_, None) => v.required(&format!("{ap}.attributeValue")),
                    }
                }
            }
        }
        let retry = self.retry_options.as_ref().and_then(|r| r.duration_in_seconds).unwrap_or(300);
        v.range(retry, &format!("{p}.retryOptions.durationInSeconds"), 0, 7200);
        let mode = self.s3_backup_mode.as_deref().unwrap_or("FailedDataOnly");
        v.one_of(mode, &format!("{p}.s3BackupMode"), &["FailedDataOnly", "AllData"]);
        role_arn(&mut v, &self.role_arn, &format!("{p}.roleARN"), false);
        let s3 = match &self.s3_configuration {
            None => {
                v.required(&format!("{p}.s3Configuration"));
                None
            }
            Some(s3) => s3.settings(&mut v, &format!("{p}.s3Configuration"), 128),
        };
        v.finish()?;
        check_url(&url, urls)?;
        Ok(HttpEndpointSettings {
            url,
            access_key,
            buffering,
            gzip,
            common_attributes,
            retry_duration: Duration::from_secs(retry.clamp(0, 7200) as u64),
            backup_all_data: mode == "AllData",
            s3: s3.ok_or_else(|| AwsError::invalid_argument("Invalid S3 configuration"))?,
        })
    }
}

/// The real service accepts only `https://`; Hydrant also takes `http://` to loopback
/// hosts (or anywhere when configured) so local set-ups need no certificates.
fn check_url(url: &str, urls: UrlPolicy) -> Result<(), AwsError> {
    let parsed = url::Url::parse(url).map_err(|_| AwsError::invalid_argument("Endpoint URL is not a valid URL."))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback || urls.allow_http {
                Ok(())
            } else {
                Err(AwsError::invalid_argument(
                    "Endpoint URL must use https (plain http is allowed only to loopback hosts unless delivery.allow_http_endpoints is set).",
                ))
            }
        }
        _ => Err(AwsError::invalid_argument("Endpoint URL must use https.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URLS: UrlPolicy = UrlPolicy { allow_http: false };

    fn http_config() -> Value {
        json!({
            "EndpointConfiguration": {"Url": "https://aws-kinesis-http-intake.logs.datadoghq.com/v1/input", "Name": "Datadog", "AccessKey": "secret-api-key"},
            "RequestConfiguration": {"ContentEncoding": "GZIP", "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "prod"}]},
            "BufferingHints": {"SizeInMBs": 4, "IntervalInSeconds": 60},
            "RetryOptions": {"DurationInSeconds": 60},
            "S3Configuration": {"RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": "arn:aws:s3:::backup-bucket"},
            "ProcessingConfiguration": {"Enabled": false}
        })
    }

    #[test]
    fn http_endpoint_settings_and_defaults() {
        let d = StoredDestination::create(DestinationKind::HttpEndpoint, http_config(), URLS).unwrap();
        let Destination::HttpEndpoint(s) = d.settings(URLS).unwrap() else { panic!() };
        assert_eq!(s.buffering, Buffering { size_bytes: 4 << 20, interval: Duration::from_secs(60) });
        assert!(s.gzip);
        assert_eq!(s.common_attributes, vec![("env".to_string(), "prod".to_string())]);
        assert_eq!(s.retry_duration, Duration::from_secs(60));
        assert!(!s.backup_all_data);
        assert_eq!(s.s3.bucket, "backup-bucket");
        assert_eq!(s.s3.compression, Compression::Uncompressed);
        assert_eq!(
            d.config["S3Configuration"]["EncryptionConfiguration"],
            json!({"NoEncryptionConfig": "NoEncryption"})
        );
        assert!(!format!("{s:?}").contains("secret-api-key"));
    }

    #[test]
    fn description_never_has_the_access_key() {
        let d = StoredDestination::create(DestinationKind::HttpEndpoint, http_config(), URLS).unwrap();
        let desc = d.description();
        assert!(!desc.to_string().contains("secret-api-key"));
        assert_eq!(desc["EndpointConfiguration"]["Name"], "Datadog");
        assert_eq!(desc["S3DestinationDescription"]["BucketARN"], "arn:aws:s3:::backup-bucket");
        assert_eq!(desc["ProcessingConfiguration"], json!({"Enabled": false}));
        assert!(desc.get("S3Configuration").is_none());
    }

    #[test]
    fn update_merges_fields() {
        let d = StoredDestination::create(DestinationKind::HttpEndpoint, http_config(), URLS).unwrap();
        let u = d
            .update(json!({"EndpointConfiguration": {"Url": "https://example.com/new"}, "S3Update": {"Prefix": "p/"}, "BufferingHints": {"IntervalInSeconds": 0}}), URLS)
            .unwrap();
        let Destination::HttpEndpoint(s) = u.settings(URLS).unwrap() else { panic!() };
        assert_eq!(s.url, "https://example.com/new");
        assert_eq!(s.access_key.as_deref(), Some("secret-api-key"));
        assert_eq!(s.buffering.interval, Duration::ZERO);
        assert_eq!(s.buffering.size_bytes, 4 << 20);
        assert_eq!(s.s3.prefix, "p/");
        assert_eq!(s.s3.bucket, "backup-bucket");
    }

    #[test]
    fn constraints_are_enforced() {
        let mut c = http_config();
        c["BufferingHints"]["SizeInMBs"] = json!(65);
        c["RetryOptions"]["DurationInSeconds"] = json!(7201);
        c["RequestConfiguration"]["ContentEncoding"] = json!("BROTLI");
        let e = StoredDestination::create(DestinationKind::HttpEndpoint, c, URLS).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.starts_with("3 validation errors detected"), "{}", e.message);

        let mut c = http_config();
        c.as_object_mut().unwrap().remove("S3Configuration");
        let e = StoredDestination::create(DestinationKind::HttpEndpoint, c, URLS).unwrap_err();
        assert!(e.message.contains("s3Configuration"), "{}", e.message);
    }

    #[test]
    fn http_urls_only_to_loopback() {
        let mut c = http_config();
        c["EndpointConfiguration"]["Url"] = json!("http://127.0.0.1:8080/v1/input");
        assert!(StoredDestination::create(DestinationKind::HttpEndpoint, c.clone(), URLS).is_ok());
        c["EndpointConfiguration"]["Url"] = json!("http://intake.example.com/v1/input");
        let e = StoredDestination::create(DestinationKind::HttpEndpoint, c.clone(), URLS).unwrap_err();
        assert_eq!(e.code, "InvalidArgumentException");
        assert!(StoredDestination::create(DestinationKind::HttpEndpoint, c, UrlPolicy { allow_http: true }).is_ok());
    }
}
