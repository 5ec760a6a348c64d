//! Server-side validation of request members, reported the way AWS reports model
//! constraint violations: one `ValidationException` listing every violation as
//! `Value '<v>' at '<path>' failed to satisfy constraint: <rule>`.
//!
//! botocore validates almost nothing client-side, so these checks are the only thing
//! standing between a malformed request and the stored state.

use hydrant_aws::AwsError;

/// Collects constraint violations for one request.
#[derive(Default)]
pub struct Violations {
    messages: Vec<String>,
}

impl Violations {
    /// Records a violation at `path` (AWS's camelCase member path, `records.1.member.data`).
    pub fn push(&mut self, value: &str, path: &str, rule: &str) {
        self.messages.push(format!("Value '{}' at '{path}' failed to satisfy constraint: {rule}", shorten(value)));
    }

    /// Checks a string's length in characters.
    pub fn length(&mut self, value: &str, path: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.push(value, path, &format!("Member must have length greater than or equal to {min}"));
        } else if n > max {
            self.push(value, path, &format!("Member must have length less than or equal to {max}"));
        }
    }

    /// Checks an integer's range.
    pub fn range(&mut self, value: i64, path: &str, min: i64, max: i64) {
        if value < min {
            self.push(&value.to_string(), path, &format!("Member must have value greater than or equal to {min}"));
        } else if value > max {
            self.push(&value.to_string(), path, &format!("Member must have value less than or equal to {max}"));
        }
    }

    /// Checks that `value` is one of `allowed`.
    pub fn one_of(&mut self, value: &str, path: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(value, path, &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")));
        }
    }

    /// Checks a pattern given as a predicate, naming the model's regular expression.
    pub fn pattern(&mut self, value: &str, path: &str, ok: bool, regex: &str) {
        if !ok {
            self.push(value, path, &format!("Member must satisfy regular expression pattern: {regex}"));
        }
    }

    /// Records a missing required member.
    pub fn required(&mut self, path: &str) {
        self.messages.push(format!("Value null at '{path}' failed to satisfy constraint: Member must not be null"));
    }

    /// True when nothing was violated.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// `Ok` when nothing was violated, else the `ValidationException`.
    pub fn finish(self) -> Result<(), AwsError> {
        match self.messages.len() {
            0 => Ok(()),
            1 => Err(AwsError::validation(format!("1 validation error detected: {}", self.messages[0]))),
            n => Err(AwsError::validation(format!("{n} validation errors detected: {}", self.messages.join("; ")))),
        }
    }
}

/// Values can be megabytes long (a record's data); AWS echoes them shortened too.
fn shorten(value: &str) -> String {
    const MAX: usize = 256;
    if value.len() <= MAX {
        return value.to_string();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &value[..end])
}

/// `[a-zA-Z0-9_.-]+` with length 1-64: the delivery stream name rule.
pub fn stream_name(v: &mut Violations, name: &str, path: &str) {
    v.length(name, path, 1, 64);
    v.pattern(
        name,
        path,
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
        "[a-zA-Z0-9_.-]+",
    );
}

/// Tag key rule: 1-128, not starting with `aws:`, letters, digits, spaces and `_.:/=+-@%`.
pub fn tag_key(v: &mut Violations, key: &str, path: &str) {
    v.length(key, path, 1, 128);
    let chars_ok = key.chars().all(tag_char);
    v.pattern(key, path, chars_ok && !key.starts_with("aws:"), r"^(?!aws:)[\p{L}\p{Z}\p{N}_.:\/=+\-@%]*$");
}

/// Tag value rule: 0-256 of the same characters.
pub fn tag_value(v: &mut Violations, value: &str, path: &str) {
    v.length(value, path, 0, 256);
    v.pattern(value, path, value.chars().all(tag_char), r"^[\p{L}\p{Z}\p{N}_.:\/=+\-@%]*$");
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@%".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_violation_reads_like_aws() {
        let mut v = Violations::default();
        stream_name(&mut v, "bad name!", "deliveryStreamName");
        let err = v.finish().unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert_eq!(
            err.message,
            "1 validation error detected: Value 'bad name!' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        );
    }

    #[test]
    fn several_violations_are_counted() {
        let mut v = Violations::default();
        v.length(&"x".repeat(65), "deliveryStreamName", 1, 64);
        v.range(501, "records", 1, 500);
        let err = v.finish().unwrap_err();
        assert!(err.message.starts_with("2 validation errors detected: "), "{}", err.message);
    }

    #[test]
    fn tag_rules() {
        let mut v = Violations::default();
        tag_key(&mut v, "aws:reserved", "tags.1.member.key");
        tag_key(&mut v, "team", "tags.2.member.key");
        tag_value(&mut v, "a/b=c", "tags.2.member.value");
        assert_eq!(v.messages.len(), 1);
    }
}
