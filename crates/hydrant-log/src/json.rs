//! A log's JSON, written by hand: the same bytes as `serde_json::to_writer(log)`, faster.
//!
//! The intake writes every log it accepts as JSON into its write-ahead log, and that JSON
//! is also the log the store keeps, so this is on the hot path of every log (~1 KB each
//! for Fluent Bit's records). serde_json checks every byte of a string against its escape
//! table one at a time and writes through `io::Write` in small pieces (each quote, colon
//! and comma), which made string escaping the intake's costliest symbol outside the index.
//! Here strings are scanned eight bytes at a time for the three things JSON must escape
//! (`"`, `\` and control characters) and copied in runs straight into a `Vec`.
//!
//! The output is byte for byte serde_json's (compact, keys in the map's order, the same
//! escapes and number spellings): records written before this existed and after it are
//! spelled alike, and the tests compare the two on generated logs.

use crate::Log;
use bytes::BufMut;
use serde_json::{Map, Number, Value};

/// Appends `log`'s JSON to `out` (a `Vec<u8>`, or the write-ahead log frame's `BytesMut`), exactly as `serde_json::to_writer(out, log)` would.
pub fn write_log(out: &mut impl BufMut, log: &Log) {
    out.put_slice(b"{\"id\":");
    write_str(out, &log.id);
    out.put_slice(b",\"timestamp_ms\":");
    out.put_slice(itoa::Buffer::new().format(log.timestamp_ms).as_bytes());
    for (key, value) in
        [(&b",\"host\":"[..], &log.host), (b",\"service\":", &log.service), (b",\"source\":", &log.source)]
    {
        if let Some(v) = value {
            out.put_slice(key);
            write_str(out, v);
        }
    }
    out.put_slice(b",\"status\":");
    write_str(out, &log.status);
    out.put_slice(b",\"message\":");
    write_str(out, &log.message);
    if let Some(v) = &log.trace_id {
        out.put_slice(b",\"trace_id\":");
        write_str(out, v);
    }
    out.put_slice(b",\"tags\":[");
    for (i, tag) in log.tags.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        write_str(out, tag);
    }
    out.put_slice(b"],\"attributes\":");
    write_object(out, &log.attributes);
    out.put_u8(b'}');
}

/// Appends a JSON value, as serde_json writes it compactly.
pub fn write_value(out: &mut impl BufMut, value: &Value) {
    match value {
        Value::Null => out.put_slice(b"null"),
        Value::Bool(true) => out.put_slice(b"true"),
        Value::Bool(false) => out.put_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.put_u8(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                write_value(out, item);
            }
            out.put_u8(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut impl BufMut, map: &Map<String, Value>) {
    out.put_u8(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        write_str(out, k);
        out.put_u8(b':');
        write_value(out, v);
    }
    out.put_u8(b'}');
}

/// Numbers are rare next to strings; `Number`'s `Display` is serde_json's own spelling
/// (itoa for integers, ryu for floats, which are always finite in a `Number`).
fn write_number(out: &mut impl BufMut, n: &Number) {
    if let Some(u) = n.as_u64() {
        out.put_slice(itoa::Buffer::new().format(u).as_bytes());
    } else if let Some(i) = n.as_i64() {
        out.put_slice(itoa::Buffer::new().format(i).as_bytes());
    } else {
        out.put_slice(n.to_string().as_bytes());
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// True when one of the eight bytes of `w` may need escaping. Exact about whether any byte
/// is `"`, `\` or below 0x20 (the borrow of the subtraction can only flag bytes above a
/// byte that is truly flagged, and the chunk is then escaped byte by byte anyway).
#[inline]
fn needs_escape(w: u64) -> bool {
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = (w ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES) & !(w ^ (ONES * u64::from(b'"')));
    let backslash = (w ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES) & !(w ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash) & HIGHS != 0
}

/// Appends `s` as a JSON string with serde_json's escapes: `\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, and `\u00XX` for the other control characters; everything else as is.
pub fn write_str(out: &mut impl BufMut, s: &str) {
    let bytes = s.as_bytes();
    out.put_u8(b'"');
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let w = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
            if !needs_escape(w) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(bytes.len());
        while i < end {
            let b = bytes[i];
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.put_slice(&bytes[run..i]);
                    out.put_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
                    i += 1;
                    run = i;
                    continue;
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            out.put_slice(&bytes[run..i]);
            out.put_slice(escape);
            i += 1;
            run = i;
        }
    }
    out.put_slice(&bytes[run..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    fn same_as_serde(log: &Log) {
        let mut ours = Vec::<u8>::new();
        write_log(&mut ours, log);
        let theirs = serde_json::to_vec(log).expect("serializes");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    /// Text mixing every byte class: plain ASCII runs longer and shorter than a chunk,
    /// each escape, every control character, `DEL`, and multi-byte characters.
    fn text(rng: &mut StdRng) -> String {
        const PIECES: &[&str] = &[
            "plain ascii text that runs past eight bytes",
            "ab",
            "\"",
            "\\",
            "\n",
            "\r\n",
            "\t",
            "\u{8}",
            "\u{c}",
            "\u{7f}",
            "é",
            "日本語",
            "😀",
            "/",
            "'",
            " ",
        ];
        let mut s = String::new();
        for _ in 0..rng.gen_range(0..12) {
            if rng.gen_bool(0.15) {
                s.push(char::from(rng.gen_range(0u8..0x20)));
            } else {
                s.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
            }
        }
        s
    }

    fn value(rng: &mut StdRng, depth: u32) -> Value {
        match rng.gen_range(0..if depth > 2 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.gen()),
            2 => json!(rng.gen::<u64>()),
            3 => json!(-rng.gen_range(1i64..i64::MAX)),
            4 => json!(rng.gen::<f64>() * 10f64.powi(rng.gen_range(-30..30)) - 0.5),
            5 => Value::String(text(rng)),
            6 => Value::Array((0..rng.gen_range(0..4)).map(|_| value(rng, depth + 1)).collect()),
            _ => Value::Object((0..rng.gen_range(0..5)).map(|_| (text(rng), value(rng, depth + 1))).collect()),
        }
    }

    #[test]
    fn every_byte_class_is_written_as_serde_json_writes_it() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..3000 {
            let opt = |rng: &mut StdRng| rng.gen_bool(0.5).then(|| text(rng));
            let log = Log {
                id: text(&mut rng),
                timestamp_ms: rng.gen(),
                host: opt(&mut rng),
                service: opt(&mut rng),
                source: opt(&mut rng),
                status: text(&mut rng),
                message: text(&mut rng),
                trace_id: opt(&mut rng),
                tags: (0..rng.gen_range(0..4)).map(|_| text(&mut rng)).collect(),
                attributes: (0..rng.gen_range(0..6)).map(|_| (text(&mut rng), value(&mut rng, 0))).collect(),
            };
            same_as_serde(&log);
        }
    }

    #[test]
    fn each_single_byte_in_every_position_of_a_chunk() {
        for b in 0u8..0x80 {
            for pos in 0..17 {
                let mut s = "x".repeat(17);
                s.replace_range(pos..pos + 1, &char::from(b).to_string());
                let mut ours = Vec::<u8>::new();
                write_str(&mut ours, &s);
                assert_eq!(ours, serde_json::to_vec(&s).expect("serializes"), "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn a_fluent_bit_log() {
        let mut log = Log::new(1_764_000_000_123);
        log.message = "10.0.1.7 - - [02/Dec/2026:07:00:00 +0000] \"GET /api/v1/orders HTTP/1.1\" 200 612 \"-\" \"curl/8.4.0\" \"-\"".into();
        log.source = Some("aws".into());
        log.service = Some("aws".into());
        log.tags = vec!["kube_namespace:fargate-namespace".into(), "pod_name:web-1".into()];
        log.attributes = json!({"stream": "stdout", "kubernetes": {"labels": {"app": "web"}, "pod_name": "web-1"}, "n": 1.5, "k": [1, -2, null, true]})
            .as_object()
            .cloned()
            .expect("object");
        same_as_serde(&log);
    }
}
