//! Turning what receivers get into logs' attribute maps.
//!
//! A Firehose record (base64 already decoded) is, in order of detection:
//! - gzip (magic `1f 8b`): gunzipped first, then read again (CloudWatch Logs
//!   subscription payloads, Fluent Bit's per-record `compression gzip`);
//! - a CloudWatch Logs payload (`messageType` + `logEvents`): one log per event with
//!   `aws.awslogs.{logGroup,logStream,owner}`; `CONTROL_MESSAGE` payloads are dropped;
//! - one or more newline-delimited JSON objects (Fluent Bit sends one per record,
//!   newline-terminated; `simple_aggregation` puts several in one record): one log each;
//! - anything else: plain text, the whole record is the message.

use std::io::Read;

use serde_json::{Map, Value};

/// What one record became.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Logs' attributes.
    Logs(Vec<Map<String, Value>>),
    /// A record that carries no log (a CloudWatch control message).
    Nothing,
}

/// The most a gzip'd record may inflate to: more is refused rather than exhausting memory.
pub const MAX_INFLATED: u64 = 8 << 20;

/// Why gunzipping failed.
#[derive(Debug, thiserror::Error)]
pub enum GunzipError {
    /// The output would pass the limit.
    #[error("inflates beyond {0} bytes")]
    TooLarge(u64),
    /// Not gzip, or damaged.
    #[error("not valid gzip: {0}")]
    Corrupt(#[from] std::io::Error),
}

/// Gunzips `data`, refusing output over `limit`. Every member of a multi-member stream
/// is read (RFC 1952 allows several; their outputs are concatenated).
///
/// A single-member stream whose trailer announces a size within the limit (what every
/// Firehose delivery and Datadog client sends) is inflated in one call by libdeflate into
/// a buffer of exactly that size: it takes under a third of miniz_oxide's instructions
/// and allocates no 40 KiB inflate state per body (BENCHMARKS.md, intake, "sixth step").
/// Anything else (several members, a size that does not match, damaged data) is read by
/// flate2's streaming decoder, whose answer is then the one given.
pub fn gunzip(data: &[u8], limit: u64) -> Result<Vec<u8>, GunzipError> {
    if let Some(out) = inflate::whole_single_member(data, limit) {
        return Ok(out);
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit as usize));
    let n = flate2::read::MultiGzDecoder::new(data).take(limit + 1).read_to_end(&mut out)?;
    if n as u64 > limit {
        return Err(GunzipError::TooLarge(limit));
    }
    Ok(out)
}

/// libdeflate's whole-buffer gzip decoding (the C library, through `libdeflate-sys`; the
/// safe `libdeflater` wrapper does not report how much input a member used, which is how
/// a second member is told from trailing garbage).
mod inflate {
    use std::cell::RefCell;

    /// A decompressor per thread: libdeflate's is ~10 KiB, reused rather than allocated
    /// (and zeroed) per body.
    struct Decompressor(*mut libdeflate_sys::libdeflate_decompressor);

    impl Drop for Decompressor {
        fn drop(&mut self) {
            // SAFETY: the pointer came from `libdeflate_alloc_decompressor`, is not null,
            // and is freed once, here.
            unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0) }
        }
    }

    thread_local! {
        static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    }

    /// The output of `data` when it is one gzip member that inflates to exactly the size its
    /// trailer gives, within `limit`; `None` otherwise (the caller decodes it the slow way).
    pub(super) fn whole_single_member(data: &[u8], limit: u64) -> Option<Vec<u8>> {
        // A gzip member is at least a 10-byte header, an empty deflate block and the trailer.
        if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b {
            return None;
        }
        let announced = u32::from_le_bytes(data[data.len() - 4..].try_into().ok()?) as usize;
        // Deflate expands at most ~1032:1, so a larger announcement is a lie (or a size
        // modulo 4 GiB): not worth allocating for.
        if announced as u64 > limit || announced > data.len().saturating_mul(1032) {
            return None;
        }
        DECOMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                // SAFETY: no preconditions; a null result (out of memory) is checked.
                let d = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
                if d.is_null() {
                    return None;
                }
                *slot = Some(Decompressor(d));
            }
            let d = slot.as_ref()?.0;
            let mut out: Vec<u8> = Vec::with_capacity(announced);
            let (mut used_in, mut used_out) = (0usize, 0usize);
            // SAFETY: `d` is a live decompressor owned by this thread; the input is a valid
            // slice; the output pointer has `announced` bytes of capacity, of which
            // libdeflate writes at most `announced` and reports how many in `used_out`.
            let result = unsafe {
                libdeflate_sys::libdeflate_gzip_decompress_ex(
                    d,
                    data.as_ptr().cast(),
                    data.len(),
                    out.as_mut_ptr().cast(),
                    announced,
                    &mut used_in,
                    &mut used_out,
                )
            };
            if result != libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
                || used_in != data.len()
                || used_out != announced
            {
                return None;
            }
            // SAFETY: libdeflate initialized the first `used_out` (= `announced`) bytes.
            unsafe { out.set_len(used_out) };
            Some(out)
        })
    }
}

/// Decodes one Firehose record.
pub fn record(data: &[u8]) -> Result<Decoded, String> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let inflated = gunzip(data, MAX_INFLATED).map_err(|e| format!("gzip'd record: {e}"))?;
        return Ok(uncompressed(&inflated));
    }
    Ok(uncompressed(data))
}

fn uncompressed(data: &[u8]) -> Decoded {
    // `from_utf8` first: it validates several times faster than `from_utf8_lossy`, which
    // is only needed for the rare record that is not UTF-8.
    let text = match std::str::from_utf8(data) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(data),
    };
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        if let Some(objects) = json_lines(trimmed) {
            if let [one] = objects.as_slice() {
                if let Some(cw) = cloudwatch(one) {
                    return cw;
                }
            }
            return Decoded::Logs(objects);
        }
    }
    let mut m = Map::new();
    m.insert("message".into(), Value::String(text.trim_end_matches(['\n', '\r']).to_string()));
    Decoded::Logs(vec![m])
}

/// Parses a stream of JSON objects (newline-delimited or simply concatenated); `None`
/// when any part is not a JSON object.
fn json_lines(text: &str) -> Option<Vec<Map<String, Value>>> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match v.ok()? {
            Value::Object(m) => out.push(m),
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A CloudWatch Logs subscription payload, if `m` is one.
fn cloudwatch(m: &Map<String, Value>) -> Option<Decoded> {
    let kind = m.get("messageType")?.as_str()?;
    if kind == "CONTROL_MESSAGE" {
        return Some(Decoded::Nothing);
    }
    let events = m.get("logEvents")?.as_array()?;
    let group = m.get("logGroup").and_then(Value::as_str).unwrap_or_default();
    let mut awslogs = Map::new();
    for k in ["logGroup", "logStream", "owner"] {
        if let Some(v) = m.get(k) {
            awslogs.insert(k.to_string(), v.clone());
        }
    }
    let source = source_of_log_group(group);
    let mut logs = Vec::with_capacity(events.len());
    for e in events {
        let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
        // A JSON message becomes attributes, as with any other JSON log.
        let mut log = match serde_json::from_str::<Value>(message.trim()) {
            Ok(Value::Object(obj)) => obj,
            _ => {
                let mut l = Map::new();
                l.insert("message".into(), Value::String(message.to_string()));
                l
            }
        };
        if let Some(ts) = e.get("timestamp") {
            log.entry("timestamp").or_insert_with(|| ts.clone());
        }
        if let Some(id) = e.get("id") {
            log.entry("id").or_insert_with(|| id.clone());
        }
        let aws = log.entry("aws").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(aws) = aws {
            aws.insert("awslogs".into(), Value::Object(awslogs.clone()));
        }
        log.entry("ddsource").or_insert_with(|| Value::String(source.clone()));
        logs.push(log);
    }
    Some(Decoded::Logs(logs))
}

/// Datadog's source for a CloudWatch log group: `/aws/lambda/..` -> lambda,
/// `/aws/rds/..` -> rds, other `/aws/<service>/..` -> that service, else the group.
pub fn source_of_log_group(group: &str) -> String {
    match group.strip_prefix("/aws/").and_then(|rest| rest.split('/').next()) {
        Some(service) if !service.is_empty() => service.to_string(),
        _ => group.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let Ok(Decoded::Logs(logs)) = record(b"caf\xe9 au lait\n") else { panic!("not logs") };
        assert_eq!(logs[0]["message"], json!("caf\u{fffd} au lait"));
        let Ok(Decoded::Logs(logs)) = record(b"{\"a\":\"\xff\"}") else { panic!("not logs") };
        assert_eq!(logs[0]["a"], json!("\u{fffd}"));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn logs(d: Decoded) -> Vec<Map<String, Value>> {
        match d {
            Decoded::Logs(l) => l,
            Decoded::Nothing => panic!("no logs"),
        }
    }

    #[test]
    fn gunzip_single_members_in_one_call_and_everything_else_streamed() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let one = gzip(&text);
        assert_eq!(inflate::whole_single_member(&one, 8 << 20).as_deref(), Some(&text[..]));
        assert_eq!(gunzip(&one, 8 << 20).unwrap(), text);
        // Exactly at the limit, and one byte under it.
        assert_eq!(gunzip(&one, text.len() as u64).unwrap(), text);
        assert!(matches!(gunzip(&one, text.len() as u64 - 1), Err(GunzipError::TooLarge(_))));
        // Two members, the same bytes twice: the one-call path must not stop after the
        // first (its size and CRC match the last trailer's).
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(inflate::whole_single_member(&two, 8 << 20), None);
        assert_eq!(gunzip(&two, 8 << 20).unwrap(), [text.clone(), text.clone()].concat());
        // Damage: a flipped CRC byte, a trailer that lies about the size, garbage after the
        // member, a truncated body. None may come out as data.
        let mut bad_crc = one.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        let mut bad_size = one.clone();
        bad_size[n - 4] ^= 1;
        let garbage = [one.clone(), b"not gzip at all".to_vec()].concat();
        for bad in [&bad_crc[..], &bad_size[..], &garbage[..], &one[..n - 9]] {
            assert_eq!(inflate::whole_single_member(bad, 8 << 20), None);
            assert!(matches!(gunzip(bad, 8 << 20), Err(GunzipError::Corrupt(_))), "{:?}", gunzip(bad, 8 << 20));
        }
        assert_eq!(gunzip(&gzip(b""), 10).unwrap(), b"");
    }

    #[test]
    fn fluent_bit_record() {
        let rec = br#"{"log":"hello","stream":"stdout","kubernetes":{"namespace_name":"fargate-namespace"}}
"#;
        let l = logs(record(rec).unwrap());
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["kubernetes"]["namespace_name"], "fargate-namespace");
    }

    #[test]
    fn aggregated_records() {
        let rec = b"{\"a\":1}\n{\"a\":2}\n";
        let l = logs(record(rec).unwrap());
        assert_eq!(l.iter().map(|m| m["a"].as_i64().unwrap()).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn plain_text_and_almost_json() {
        let l = logs(record(b"2023/01/27 16:53:42 [notice] 1#1: start worker processes\n").unwrap());
        assert_eq!(l[0]["message"], "2023/01/27 16:53:42 [notice] 1#1: start worker processes");
        let l = logs(record(b"{not json").unwrap());
        assert_eq!(l[0]["message"], "{not json");
        let l = logs(record(b"[1,2]").unwrap());
        assert_eq!(l[0]["message"], "[1,2]");
    }

    #[test]
    fn cloudwatch_payloads() {
        let payload = json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/my-fn",
            "logStream": "2023/01/27/[$LATEST]abc", "subscriptionFilters": ["f"],
            "logEvents": [
                {"id": "1", "timestamp": 1674838422000i64, "message": "START RequestId: x"},
                {"id": "2", "timestamp": 1674838422001i64, "message": "{\"level\":\"error\",\"msg\":\"boom\"}"}
            ]
        });
        let l = logs(record(&gzip(payload.to_string().as_bytes())).unwrap());
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["message"], "START RequestId: x");
        assert_eq!(l[0]["aws"]["awslogs"]["logGroup"], "/aws/lambda/my-fn");
        assert_eq!(l[0]["aws"]["awslogs"]["owner"], "123456789012");
        assert_eq!(l[0]["ddsource"], "lambda");
        assert_eq!(l[1]["level"], "error");
        assert_eq!(l[1]["timestamp"], 1674838422001i64);
        let control = json!({"messageType": "CONTROL_MESSAGE", "logEvents": [{"message": "CWL CONTROL MESSAGE"}]});
        assert_eq!(record(&gzip(control.to_string().as_bytes())).unwrap(), Decoded::Nothing);
        assert_eq!(source_of_log_group("/aws/rds/instance/db/error"), "rds");
        assert_eq!(source_of_log_group("my-app-logs"), "my-app-logs");
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let big = vec![b'a'; (MAX_INFLATED + 10) as usize];
        assert!(record(&gzip(&big)).is_err());
        assert!(record(&[0x1f, 0x8b, 0, 1, 2]).is_err());
    }
}
