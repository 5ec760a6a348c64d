//! Amazon Resource Names: `arn:partition:service:region:account-id:resource`.

use std::fmt;
use std::str::FromStr;

/// Why a string is not the ARN that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArnError(pub String);

/// A parsed ARN: `arn:partition:service:region:account-id:resource`.
///
/// `region` and `account_id` may be empty (S3 bucket ARNs leave both out);
/// `resource` keeps any further `:` or `/` it contains, so formatting a parsed
/// ARN gives back the original string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The service namespace, e.g. `firehose`.
    pub service: String,
    /// The region, possibly empty.
    pub region: String,
    /// The 12-digit account id, possibly empty.
    pub account_id: String,
    /// Everything after the fifth colon, e.g. `deliverystream/my-stream`.
    pub resource: String,
}

impl Arn {
    /// Parses an ARN, requiring the `arn` prefix and non-empty partition, service and resource.
    pub fn parse(s: &str) -> Result<Arn, ArnError> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [prefix, partition, service, region, account_id, resource] = parts[..] else {
            return Err(ArnError(format!(
                "'{s}' is not a valid ARN: expected arn:partition:service:region:account-id:resource"
            )));
        };
        if prefix != "arn" {
            return Err(ArnError(format!("'{s}' is not a valid ARN: it must start with 'arn:'")));
        }
        for (what, value) in [("partition", partition), ("service", service), ("resource", resource)] {
            if value.is_empty() {
                return Err(ArnError(format!("'{s}' is not a valid ARN: empty {what}")));
            }
        }
        Ok(Arn {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

impl FromStr for Arn {
    type Err = ArnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Arn::parse(s)
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}:{}:{}:{}", self.partition, self.service, self.region, self.account_id, self.resource)
    }
}

/// The ARN of a Firehose delivery stream:
/// `arn:aws:firehose:<region>:<account>:deliverystream/<name>`.
pub fn firehose_stream_arn(region: &str, account_id: &str, stream_name: &str) -> String {
    format!("arn:aws:firehose:{region}:{account_id}:deliverystream/{stream_name}")
}

/// The bucket name of `arn:aws:s3:::<bucket>`.
///
/// The bucket name is checked loosely against S3's naming rules (3-63
/// characters of lowercase letters, digits, dots and hyphens): enough to catch
/// an object ARN or a typo before it reaches the object store, without
/// re-implementing every legacy exception S3 has.
pub fn s3_bucket_from_arn(arn: &str) -> Result<String, ArnError> {
    let parsed = Arn::parse(arn)?;
    if parsed.service != "s3" {
        return Err(ArnError(format!(
            "'{arn}' is not an S3 bucket ARN: service is '{}', expected 's3'",
            parsed.service
        )));
    }
    if !parsed.region.is_empty() || !parsed.account_id.is_empty() {
        return Err(ArnError(format!(
            "'{arn}' is not an S3 bucket ARN: bucket ARNs have empty region and account (arn:aws:s3:::bucket)"
        )));
    }
    let bucket = parsed.resource;
    if bucket.contains('/') {
        return Err(ArnError(format!(
            "'{arn}' names an object or prefix, not a bucket (expected arn:aws:s3:::bucket)"
        )));
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err(ArnError(format!("invalid S3 bucket name '{bucket}': must be 3 to 63 characters long")));
    }
    if let Some(bad) =
        bucket.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(ArnError(format!(
            "invalid S3 bucket name '{bucket}': '{bad}' is not allowed (use lowercase letters, digits, dots and hyphens)"
        )));
    }
    Ok(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_firehose_arn() {
        let arn = Arn::parse("arn:aws:firehose:us-east-1:123456789012:deliverystream/my-stream").unwrap();
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.service, "firehose");
        assert_eq!(arn.region, "us-east-1");
        assert_eq!(arn.account_id, "123456789012");
        assert_eq!(arn.resource, "deliverystream/my-stream");
    }

    #[test]
    fn resource_keeps_colons_and_round_trips() {
        for s in [
            "arn:aws:lambda:us-west-2:892717189312:function:my-fun:PROD",
            "arn:aws:s3:::my-bucket",
            "arn:aws-cn:iam::123456789012:user/division/x",
            "arn:aws:logs:us-east-1:1:log-group:/aws/x:*",
        ] {
            let arn: Arn = s.parse().unwrap();
            assert_eq!(arn.to_string(), s);
        }
        let arn = Arn::parse("arn:aws:lambda:us-west-2:1:function:f:PROD").unwrap();
        assert_eq!(arn.resource, "function:f:PROD");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "arn",
            "arn:aws:s3:::",
            "arn:aws:s3::",
            "arn::s3:::bucket",
            "arn:aws::::bucket",
            "urn:aws:s3:::bucket",
            "ARN:aws:s3:::bucket",
        ] {
            assert!(Arn::parse(s).is_err(), "{s:?} should not parse");
        }
    }

    #[test]
    fn builds_firehose_stream_arn() {
        let s = firehose_stream_arn("eu-west-1", "000000000000", "logs");
        assert_eq!(s, "arn:aws:firehose:eu-west-1:000000000000:deliverystream/logs");
        let arn = Arn::parse(&s).unwrap();
        assert_eq!(arn.resource, "deliverystream/logs");
    }

    #[test]
    fn extracts_bucket() {
        assert_eq!(s3_bucket_from_arn("arn:aws:s3:::my-bucket.logs-1").unwrap(), "my-bucket.logs-1");
        assert_eq!(s3_bucket_from_arn("arn:aws-us-gov:s3:::abc").unwrap(), "abc");
    }

    #[test]
    fn rejects_non_bucket_arns() {
        for s in [
            "arn:aws:s3:::my-bucket/key",
            "arn:aws:s3:us-east-1::my-bucket",
            "arn:aws:s3::123456789012:my-bucket",
            "arn:aws:firehose:::my-bucket",
            "arn:aws:s3:::ab",
            "arn:aws:s3:::My-Bucket",
            "arn:aws:s3:::my_bucket",
            "my-bucket",
        ] {
            assert!(s3_bucket_from_arn(s).is_err(), "{s:?} should be rejected");
        }
        let long = format!("arn:aws:s3:::{}", "a".repeat(64));
        assert!(s3_bucket_from_arn(&long).is_err());
        let max = format!("arn:aws:s3:::{}", "a".repeat(63));
        assert!(s3_bucket_from_arn(&max).is_ok());
    }

    #[test]
    fn error_message_names_the_input() {
        let err = s3_bucket_from_arn("arn:aws:s3:::Bad").unwrap_err();
        assert!(err.to_string().contains("'Bad'"), "{err}");
    }
}
