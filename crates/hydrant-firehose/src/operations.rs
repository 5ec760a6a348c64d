//! The control-plane operations: their inputs, validation and outputs, in the shapes of
//! the botocore model (`firehose/2015-08-04`).

use std::collections::BTreeMap;
use std::sync::Arc;

use hydrant_aws::arn::firehose_stream_arn;
use hydrant_aws::AwsError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::Principal;
use crate::destination::{DestinationKind, StoredDestination, UrlPolicy};
use crate::service::{now_ms, Encryption, Firehose, StreamDef};
use crate::validate::{stream_name, tag_key, tag_value, Violations};

/// The only destination id of a stream (the real service has one destination too).
pub const DESTINATION_ID: &str = "destinationId-000000000001";

/// Parses an operation's JSON input; an empty body is `{}`.
pub fn input<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| AwsError::serialization(format!("Could not parse the request: {e}")))
}

/// The stream name an operation acts on, for authorization before it runs.
pub fn target_stream(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "DeliveryStreamName")]
        name: Option<String>,
    }
    input::<Named>(body).ok().and_then(|n| n.name)
}

fn require_name(v: &mut Violations, name: &Option<String>) -> String {
    match name {
        Some(n) => {
            stream_name(v, n, "deliveryStreamName");
            n.clone()
        }
        None => {
            v.required("deliveryStreamName");
            String::new()
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

fn tags(v: &mut Violations, tags: &[Tag], path: &str) -> BTreeMap<String, String> {
    if tags.is_empty() || tags.len() > 50 {
        v.push(&format!("{} tags", tags.len()), path, "Member must have length between 1 and 50");
    }
    let mut out = BTreeMap::new();
    for (i, t) in tags.iter().enumerate() {
        let p = format!("{path}.{}.member", i + 1);
        match &t.key {
            Some(k) => tag_key(v, k, &format!("{p}.key")),
            None => v.required(&format!("{p}.key")),
        }
        let value = t.value.clone().unwrap_or_default();
        tag_value(v, &value, &format!("{p}.value"));
        if let Some(k) = &t.key {
            out.insert(k.clone(), value);
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptionInput {
    #[serde(rename = "KeyARN")]
    key_arn: Option<String>,
    key_type: Option<String>,
}

fn encryption(v: &mut Violations, e: &EncryptionInput, path: &str) -> Encryption {
    match &e.key_type {
        None => v.required(&format!("{path}.keyType")),
        Some(t) => v.one_of(t, &format!("{path}.keyType"), &["AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK"]),
    }
    if e.key_type.as_deref() == Some("CUSTOMER_MANAGED_CMK") && e.key_arn.is_none() {
        v.push("null", &format!("{path}.keyARN"), "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK");
    }
    Encryption { enabled: true, key_type: e.key_type.clone(), key_arn: e.key_arn.clone() }
}

/// Destination members of CreateDeliveryStream this service cannot deliver to.
const UNSUPPORTED_DESTINATIONS: &[&str] = &[
    "RedshiftDestinationConfiguration",
    "ElasticsearchDestinationConfiguration",
    "AmazonopensearchserviceDestinationConfiguration",
    "SplunkDestinationConfiguration",
    "AmazonOpenSearchServerlessDestinationConfiguration",
    "SnowflakeDestinationConfiguration",
    "IcebergDestinationConfiguration",
];

/// CreateDeliveryStream.
pub async fn create(svc: &Arc<Firehose>, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    let raw: Map<String, Value> = input(body)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        delivery_stream_type: Option<String>,
        direct_put_source_configuration: Option<Value>,
        delivery_stream_encryption_configuration_input: Option<EncryptionInput>,
        tags: Option<Vec<Tag>>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    let stream_type = i.delivery_stream_type.clone().unwrap_or_else(|| "DirectPut".into());
    v.one_of(
        &stream_type,
        "deliveryStreamType",
        &["DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource"],
    );
    let tag_map = i.tags.as_deref().map(|t| tags(&mut v, t, "tags")).unwrap_or_default();
    let enc = i
        .delivery_stream_encryption_configuration_input
        .as_ref()
        .map(|e| encryption(&mut v, e, "deliveryStreamEncryptionConfigurationInput"))
        .unwrap_or_default();
    v.finish()?;
    if stream_type != "DirectPut" {
        return Err(AwsError::invalid_argument(format!(
            "DeliveryStreamType {stream_type} is not supported by Hydrant; use DirectPut."
        )));
    }
    for member in UNSUPPORTED_DESTINATIONS {
        if raw.contains_key(*member) {
            return Err(AwsError::invalid_argument(format!(
                "{member} is not supported by Hydrant: use HttpEndpointDestinationConfiguration or ExtendedS3DestinationConfiguration."
            )));
        }
    }
    let given: Vec<(&str, DestinationKind)> = [
        ("HttpEndpointDestinationConfiguration", DestinationKind::HttpEndpoint),
        ("ExtendedS3DestinationConfiguration", DestinationKind::ExtendedS3),
        ("S3DestinationConfiguration", DestinationKind::ExtendedS3),
    ]
    .into_iter()
    .filter(|(m, _)| raw.contains_key(*m))
    .collect();
    let (member, kind) = match given.as_slice() {
        [one] => *one,
        [] => return Err(AwsError::invalid_argument("Exactly one destination configuration must be specified.")),
        _ => return Err(AwsError::invalid_argument("Only one destination configuration may be specified.")),
    };
    let urls = UrlPolicy { allow_http: svc.config.delivery.allow_http_endpoints };
    let destination = StoredDestination::create(kind, raw[member].clone(), urls)?;
    let now = now_ms() as i64;
    let arn = firehose_stream_arn(&svc.config.region, &who.account_id, &name);
    svc.create_stream(StreamDef {
        account_id: who.account_id.clone(),
        name: name.clone(),
        arn: arn.clone(),
        generation: Uuid::new_v4(),
        stream_type,
        version_id: 1,
        created_ms: now,
        updated_ms: now,
        destination,
        tags: tag_map,
        encryption: enc,
        direct_put: i.direct_put_source_configuration,
    })
    .await?;
    tracing::info!(stream = %name, principal = %who.arn, "delivery stream created");
    Ok(json!({ "DeliveryStreamARN": arn }))
}

/// DeleteDeliveryStream.
pub async fn delete(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        #[allow(dead_code)]
        allow_force_delete: Option<bool>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    v.finish()?;
    svc.delete_stream(&who.account_id, &name).await?;
    tracing::info!(stream = %name, principal = %who.arn, "delivery stream deleted");
    Ok(json!({}))
}

fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// DescribeDeliveryStream.
pub fn describe(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        limit: Option<i64>,
        exclusive_start_destination_id: Option<String>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    if let Some(l) = i.limit {
        v.range(l, "limit", 1, 10000);
    }
    if let Some(d) = &i.exclusive_start_destination_id {
        v.length(d, "exclusiveStartDestinationId", 1, 100);
    }
    v.finish()?;
    let def = svc.stream(&who.account_id, &name)?.def();
    let destinations = if i.exclusive_start_destination_id.as_deref() == Some(DESTINATION_ID) {
        vec![]
    } else {
        let mut d = Map::new();
        d.insert("DestinationId".into(), json!(DESTINATION_ID));
        d.insert(def.destination.kind.description_member().into(), def.destination.description());
        vec![Value::Object(d)]
    };
    let encryption = if def.encryption.enabled {
        let mut e = json!({ "Status": "ENABLED", "KeyType": def.encryption.key_type });
        if let Some(arn) = &def.encryption.key_arn {
            e["KeyARN"] = json!(arn);
        }
        e
    } else {
        json!({ "Status": "DISABLED" })
    };
    let source = def.direct_put.clone().unwrap_or_else(|| json!({}));
    Ok(json!({
        "DeliveryStreamDescription": {
            "DeliveryStreamName": def.name,
            "DeliveryStreamARN": def.arn,
            "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamEncryptionConfiguration": encryption,
            "DeliveryStreamType": def.stream_type,
            "VersionId": def.version_id.to_string(),
            "CreateTimestamp": seconds(def.created_ms),
            "LastUpdateTimestamp": seconds(def.updated_ms),
            "Source": { "DirectPutSourceDescription": source },
            "Destinations": destinations,
            "HasMoreDestinations": false,
        }
    }))
}

/// ListDeliveryStreams.
pub fn list(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        limit: Option<i64>,
        delivery_stream_type: Option<String>,
        exclusive_start_delivery_stream_name: Option<String>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let limit = i.limit.unwrap_or(10);
    v.range(limit, "limit", 1, 10000);
    if let Some(t) = &i.delivery_stream_type {
        v.one_of(t, "deliveryStreamType", &["DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource"]);
    }
    if let Some(s) = &i.exclusive_start_delivery_stream_name {
        stream_name(&mut v, s, "exclusiveStartDeliveryStreamName");
    }
    v.finish()?;
    // Every stream here is DirectPut, so a filter on another type lists nothing.
    let mut names: Vec<String> = match i.delivery_stream_type.as_deref() {
        None | Some("DirectPut") => svc.stream_names(&who.account_id),
        Some(_) => Vec::new(),
    };
    if let Some(start) = &i.exclusive_start_delivery_stream_name {
        names.retain(|n| n > start);
    }
    let more = names.len() > limit as usize;
    names.truncate(limit as usize);
    Ok(json!({ "DeliveryStreamNames": names, "HasMoreDeliveryStreams": more }))
}

/// UpdateDestination.
pub async fn update_destination(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    let raw: Map<String, Value> = input(body)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        current_delivery_stream_version_id: Option<String>,
        destination_id: Option<String>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    match &i.current_delivery_stream_version_id {
        None => v.required("currentDeliveryStreamVersionId"),
        Some(ver) => {
            v.length(ver, "currentDeliveryStreamVersionId", 1, 50);
            v.pattern(
                ver,
                "currentDeliveryStreamVersionId",
                !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_digit()),
                "[0-9]+",
            );
        }
    }
    match &i.destination_id {
        None => v.required("destinationId"),
        Some(d) => v.length(d, "destinationId", 1, 100),
    }
    v.finish()?;
    let updates: Vec<(&String, &Value)> = raw.iter().filter(|(k, _)| k.ends_with("DestinationUpdate")).collect();
    let (member, update) = match updates.as_slice() {
        [one] => *one,
        [] => return Err(AwsError::invalid_argument("A destination update must be specified.")),
        _ => return Err(AwsError::invalid_argument("Only one destination update may be specified.")),
    };
    let urls = UrlPolicy { allow_http: svc.config.delivery.allow_http_endpoints };
    let expected = i.current_delivery_stream_version_id.clone().unwrap_or_default();
    let destination_id = i.destination_id.clone().unwrap_or_default();
    svc.modify_stream(&who.account_id, &name, |def| {
        if def.version_id.to_string() != expected {
            return Err(AwsError::concurrent_modification(format!(
                "Cannot update firehose: {} since the current version id: {} and specified version id: {} do not match",
                def.name, def.version_id, expected
            )));
        }
        if destination_id != DESTINATION_ID {
            return Err(AwsError::invalid_argument(format!("Destination Id {destination_id} not found.")));
        }
        let kind = def.destination.kind;
        if member != kind.update_member() {
            return Err(AwsError::invalid_argument(format!(
                "{member} does not match the stream's destination; changing the destination type is not supported by Hydrant."
            )));
        }
        def.destination = def.destination.update(update.clone(), urls)?;
        def.version_id += 1;
        def.updated_ms = now_ms() as i64;
        Ok(())
    })
    .await?;
    tracing::info!(stream = %name, principal = %who.arn, "destination updated");
    Ok(json!({}))
}

/// TagDeliveryStream.
pub async fn tag(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        tags: Option<Vec<Tag>>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    let new = match &i.tags {
        Some(t) => tags(&mut v, t, "tags"),
        None => {
            v.required("tags");
            BTreeMap::new()
        }
    };
    v.finish()?;
    svc.modify_stream(&who.account_id, &name, |def| {
        let mut merged = def.tags.clone();
        merged.extend(new);
        if merged.len() > 50 {
            return Err(AwsError::limit_exceeded(format!(
                "Adding these tags would exceed the limit of 50 tags for delivery stream {}.",
                def.name
            )));
        }
        def.tags = merged;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

/// UntagDeliveryStream.
pub async fn untag(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        tag_keys: Option<Vec<String>>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    let keys = i.tag_keys.unwrap_or_default();
    if keys.is_empty() || keys.len() > 50 {
        v.push(&format!("{} keys", keys.len()), "tagKeys", "Member must have length between 1 and 50");
    }
    for (n, k) in keys.iter().enumerate() {
        tag_key(&mut v, k, &format!("tagKeys.{}.member", n + 1));
    }
    v.finish()?;
    svc.modify_stream(&who.account_id, &name, |def| {
        for k in &keys {
            def.tags.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

/// ListTagsForDeliveryStream.
pub fn list_tags(svc: &Firehose, who: &Principal, body: &[u8]) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        exclusive_start_tag_key: Option<String>,
        limit: Option<i64>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    let limit = i.limit.unwrap_or(50);
    v.range(limit, "limit", 1, 50);
    if let Some(k) = &i.exclusive_start_tag_key {
        tag_key(&mut v, k, "exclusiveStartTagKey");
    }
    v.finish()?;
    let def = svc.stream(&who.account_id, &name)?.def();
    let mut tags: Vec<Value> = def
        .tags
        .iter()
        .filter(|(k, _)| i.exclusive_start_tag_key.as_ref().is_none_or(|s| *k > s))
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    let more = tags.len() > limit as usize;
    tags.truncate(limit as usize);
    Ok(json!({ "Tags": tags, "HasMoreTags": more }))
}

/// StartDeliveryStreamEncryption and StopDeliveryStreamEncryption: KMS is out of scope,
/// so these only record the setting and flip the described status.
pub async fn set_encryption(svc: &Firehose, who: &Principal, body: &[u8], start: bool) -> Result<Value, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct In {
        delivery_stream_name: Option<String>,
        delivery_stream_encryption_configuration_input: Option<EncryptionInput>,
    }
    let i: In = input(body)?;
    let mut v = Violations::default();
    let name = require_name(&mut v, &i.delivery_stream_name);
    let enc = match (&i.delivery_stream_encryption_configuration_input, start) {
        (Some(e), true) => encryption(&mut v, e, "deliveryStreamEncryptionConfigurationInput"),
        (None, true) => Encryption { enabled: true, key_type: Some("AWS_OWNED_CMK".into()), key_arn: None },
        (_, false) => Encryption::default(),
    };
    v.finish()?;
    svc.modify_stream(&who.account_id, &name, |def| {
        def.encryption = enc;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
