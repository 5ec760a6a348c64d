//! Objects written to buckets: key layout and prefix expressions (per the real
//! service's "Amazon S3 object name format"), compression, and the mapping from a
//! bucket name to an [`ObjectStore`] (a directory under the data dir by default, or any
//! S3-compatible endpoint).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Timelike, Utc};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use rand::Rng;

use crate::config::S3Config;
use crate::destination::{Compression, S3Settings};

/// The error output type of failed HTTP endpoint deliveries.
pub const HTTP_ENDPOINT_FAILED: &str = "http-endpoint-failed";

/// Checks the `!{namespace:value}` expressions of a prefix.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    for expr in expressions(prefix)? {
        match expr {
            ("timestamp", pattern) => {
                java_date(pattern, Utc::now())?;
            }
            ("firehose", "random-string" | "error-output-type") => {}
            (ns, v) => return Err(format!("Unsupported expression !{{{ns}:{v}}} in prefix")),
        }
    }
    Ok(())
}

fn expressions(prefix: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("Unterminated !{ expression in prefix")?;
        let body = &after[..end];
        let (ns, v) = body.split_once(':').ok_or_else(|| format!("Malformed expression !{{{body}}} in prefix"))?;
        out.push((ns, v));
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Evaluates a prefix's expressions for an object whose oldest record arrived at `at`.
fn evaluate(prefix: &str, at: DateTime<Utc>, error_type: Option<&str>) -> String {
    let mut out = String::with_capacity(prefix.len() + 16);
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].split_once(':') {
            Some(("timestamp", p)) => out.push_str(&java_date(p, at).unwrap_or_default()),
            Some(("firehose", "random-string")) => out.push_str(&random_string(11)),
            Some(("firehose", "error-output-type")) => out.push_str(error_type.unwrap_or("")),
            _ => {}
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn random_string(n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..n).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Formats `at` with a Java `DateTimeFormatter` pattern, the syntax Firehose prefixes use.
/// Supports the letters that make sense in keys: y, M, d, H, m, s, S, and 'quoted' text.
fn java_date(pattern: &str, at: DateTime<Utc>) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let close =
                chars[i + 1..].iter().position(|&c| c == '\'').ok_or("Unterminated quote in timestamp pattern")?;
            out.extend(&chars[i + 1..i + 1 + close]);
            i += close + 2;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let field = |v: u32| format!("{v:0run$}");
        match c {
            'y' | 'u' if run == 2 => out.push_str(&format!("{:02}", at.year() % 100)),
            'y' | 'u' => out.push_str(&format!("{:0run$}", at.year())),
            'M' => out.push_str(&field(at.month())),
            'd' => out.push_str(&field(at.day())),
            'H' => out.push_str(&field(at.hour())),
            'm' => out.push_str(&field(at.minute())),
            's' => out.push_str(&field(at.second())),
            'S' => out.push_str(&format!("{:03}", at.timestamp_subsec_millis())[..run.min(3)]),
            c if c.is_ascii_alphabetic() => return Err(format!("Unsupported timestamp pattern letter '{c}'")),
            c => out.extend(std::iter::repeat_n(c, run)),
        }
        i += run;
    }
    Ok(out)
}

/// The key of an object.
///
/// `<prefix><YYYY/MM/DD/HH>/<stream>-<version>-<YYYY-MM-DD-HH-MM-SS>-<uuid><ext>`, where
/// the date part of the directory is added only when the prefix has no timestamp
/// expression, and failed data goes under the error prefix with the error output type.
pub fn object_key(
    s3: &S3Settings,
    stream: &str,
    version: u64,
    oldest_arrival: DateTime<Utc>,
    error_type: Option<&str>,
) -> String {
    let hour_dir = oldest_arrival.format("%Y/%m/%d/%H/").to_string();
    let dir = match error_type {
        None => {
            if s3.prefix.contains("!{timestamp:") {
                evaluate(&s3.prefix, oldest_arrival, None)
            } else {
                format!("{}{hour_dir}", evaluate(&s3.prefix, oldest_arrival, None))
            }
        }
        Some(kind) => {
            let base = if s3.error_prefix.is_empty() { &s3.prefix } else { &s3.error_prefix };
            if !s3.error_prefix.is_empty() && s3.error_prefix.contains("!{") {
                evaluate(base, oldest_arrival, Some(kind))
            } else {
                format!("{}{kind}/{hour_dir}", evaluate(base, oldest_arrival, Some(kind)))
            }
        }
    };
    let ext = s3.file_extension.as_deref().unwrap_or(s3.compression.extension());
    format!("{dir}{stream}-{version}-{}-{}{ext}", oldest_arrival.format("%Y-%m-%d-%H-%M-%S"), uuid::Uuid::new_v4())
}

/// Compresses an object body per `CompressionFormat`.
pub fn compress(format: Compression, body: &[u8], entry_name: &str) -> std::io::Result<Vec<u8>> {
    match format {
        Compression::Uncompressed => Ok(body.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(body)?;
            enc.finish()
        }
        Compression::Zip => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            zip.start_file(entry_name, options).map_err(std::io::Error::other)?;
            zip.write_all(body)?;
            Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
        }
        Compression::Snappy => {
            let mut enc = snap::write::FrameEncoder::new(Vec::new());
            enc.write_all(body)?;
            enc.into_inner().map_err(|e| std::io::Error::other(e.to_string()))
        }
        Compression::HadoopSnappy => {
            // Hadoop's BlockCompressorStream: per block, the uncompressed length, then
            // one chunk of (compressed length, raw snappy bytes), both lengths big-endian.
            const BLOCK: usize = 256 * 1024;
            let mut out = Vec::with_capacity(body.len() / 2 + 16);
            let mut enc = snap::raw::Encoder::new();
            for block in body.chunks(BLOCK) {
                let c = enc.compress_vec(block).map_err(std::io::Error::other)?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            Ok(out)
        }
    }
}

/// Maps bucket names to object stores, built once per bucket.
pub struct Buckets {
    local_root: PathBuf,
    s3: S3Config,
    cache: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl Buckets {
    /// Buckets under `local_root/<bucket>/`, or on the configured S3 endpoint.
    pub fn new(local_root: PathBuf, s3: S3Config) -> Self {
        Buckets { local_root, s3, cache: Mutex::new(HashMap::new()) }
    }

    /// The store for `bucket`.
    pub fn get(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
        let mut cache = self.cache.lock().expect("bucket cache poisoned");
        if let Some(store) = cache.get(bucket) {
            return Ok(store.clone());
        }
        let store: Arc<dyn ObjectStore> = match &self.s3.endpoint {
            None => {
                let dir = self.local_root.join(bucket);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?)
            }
            Some(endpoint) => {
                let mut b = AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_bucket_name(bucket)
                    .with_region(self.s3.region.clone().unwrap_or_else(|| "us-east-1".into()))
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(!self.s3.path_style.unwrap_or(true));
                if let (Some(k), Some(s)) = (&self.s3.access_key_id, &self.s3.secret_access_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                }
                Arc::new(b.build()?)
            }
        };
        cache.insert(bucket.to_string(), store.clone());
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Buffering;
    use chrono::TimeZone;
    use std::time::Duration;

    fn s3(prefix: &str, error_prefix: &str) -> S3Settings {
        S3Settings {
            bucket: "b".into(),
            prefix: prefix.into(),
            error_prefix: error_prefix.into(),
            buffering: Buffering { size_bytes: 5 << 20, interval: Duration::from_secs(300) },
            compression: Compression::Uncompressed,
            file_extension: None,
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2020, 7, 9, 3, 39, 3).unwrap()
    }

    fn strip_uuid(key: &str) -> &str {
        &key[..key.len() - 36]
    }

    #[test]
    fn default_layout() {
        let k = object_key(&s3("", ""), "my-stream", 1, at(), None);
        assert_eq!(strip_uuid(&k), "2020/07/09/03/my-stream-1-2020-07-09-03-39-03-");
        let k = object_key(&s3("logs/", ""), "my-stream", 2, at(), None);
        assert_eq!(strip_uuid(&k), "logs/2020/07/09/03/my-stream-2-2020-07-09-03-39-03-");
    }

    #[test]
    fn failed_data_layout() {
        let k = object_key(&s3("logs/", ""), "s", 1, at(), Some(HTTP_ENDPOINT_FAILED));
        assert_eq!(strip_uuid(&k), "logs/http-endpoint-failed/2020/07/09/03/s-1-2020-07-09-03-39-03-");
        let k = object_key(&s3("logs/", "errors/"), "s", 1, at(), Some(HTTP_ENDPOINT_FAILED));
        assert_eq!(strip_uuid(&k), "errors/http-endpoint-failed/2020/07/09/03/s-1-2020-07-09-03-39-03-");
        let k = object_key(
            &s3("", "err/!{firehose:error-output-type}/!{timestamp:yyyy/MM}/"),
            "s",
            1,
            at(),
            Some(HTTP_ENDPOINT_FAILED),
        );
        assert_eq!(strip_uuid(&k), "err/http-endpoint-failed/2020/07/s-1-2020-07-09-03-39-03-");
    }

    #[test]
    fn expressions() {
        let k = object_key(
            &s3("year=!{timestamp:yyyy}/month=!{timestamp:MM}/!{firehose:random-string}/", ""),
            "s",
            1,
            at(),
            None,
        );
        assert!(k.starts_with("year=2020/month=07/"), "{k}");
        assert_eq!(k.split('/').nth(2).unwrap().len(), 11);
        assert!(check_prefix("!{timestamp:yyyy-MM-dd'T'HH}").is_ok());
        assert!(check_prefix("!{partitionKeyFromQuery:x}").is_err());
        assert!(check_prefix("!{timestamp:yyyy").is_err());
        assert_eq!(java_date("yyyy-MM-dd'T'HH:mm:ss.SSS", at()).unwrap(), "2020-07-09T03:39:03.000");
    }

    #[test]
    fn compressions_round_trip() {
        use std::io::Read;
        let body = b"hello hello hello".repeat(1000);
        let gz = compress(Compression::Gzip, &body, "x").unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        let sn = compress(Compression::Snappy, &body, "x").unwrap();
        let mut out = Vec::new();
        snap::read::FrameDecoder::new(&sn[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
        let hs = compress(Compression::HadoopSnappy, &body, "x").unwrap();
        assert_eq!(u32::from_be_bytes(hs[0..4].try_into().unwrap()) as usize, body.len());
        let clen = u32::from_be_bytes(hs[4..8].try_into().unwrap()) as usize;
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&hs[8..8 + clen]).unwrap(), body);
        let z = compress(Compression::Zip, &body, "x").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        let mut out = Vec::new();
        archive.by_index(0).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, body);
    }
}
