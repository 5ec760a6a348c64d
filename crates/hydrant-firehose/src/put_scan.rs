//! A fast reading of PutRecordBatch bodies as the SDKs and Fluent Bit send them.
//!
//! A PutRecordBatch body is almost all base64 text: up to 500 `Data` strings, ~5 MiB. A
//! JSON parser checks every byte of every string for escapes, control characters and
//! UTF-8. That was ~20% of the service's request-handling CPU at peak ingest
//! (`skip_to_escape` and `from_utf8`, BENCHMARKS.md). It is not needed here, because
//! base64 decoding checks the same bytes anyway: a string that decodes holds only the 65
//! characters of the alphabet, so it had no escape, no control character and nothing but
//! ASCII.
//!
//! So this reader finds where each `Data` string ends with `memchr` (its closing quote,
//! or a backslash, which sends the body to the parser) and leaves the rest of the check to
//! the decoder. It takes only the plain shape: an object with `DeliveryStreamName` (a
//! string of printable ASCII) and `Records` (an array of `{"Data": "..."}` objects), in
//! any order, with any JSON whitespace. For anything else it returns `None`: another key,
//! a duplicate, a null, an escape, trailing bytes. The caller then parses with serde_json,
//! as before. It does the same when a scanned body is refused for any reason, a `Data`
//! string that does not decode included (see `api::put_record_batch`). So every answer is
//! the one serde_json's reading gives.

/// The parts of a PutRecordBatch body, borrowed from it. The `Data` strings are not yet
/// checked (see the module docs): only a successful base64 decoding makes them valid.
#[derive(Debug, PartialEq)]
pub(crate) struct ScannedBatch<'a> {
    pub name: Option<&'a str>,
    pub records: Option<Vec<&'a [u8]>>,
}

/// Reads `body` if it has the plain shape (see the module docs).
pub(crate) fn scan(body: &[u8]) -> Option<ScannedBatch<'_>> {
    let mut s = Scanner { b: body, i: 0 };
    let mut out = ScannedBatch { name: None, records: None };
    s.expect(b'{')?;
    if !s.peek_is(b'}') {
        loop {
            match s.key()? {
                b"DeliveryStreamName" if out.name.is_none() => out.name = Some(s.plain_str()?),
                b"Records" if out.records.is_none() => out.records = Some(s.records()?),
                _ => return None,
            }
            if !s.comma_or(b'}')? {
                break;
            }
        }
    } else {
        s.i += 1;
    }
    s.ws();
    (s.i == body.len()).then_some(out)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// After whitespace, is the next byte `c`? (Not consumed.)
    fn peek_is(&mut self, c: u8) -> bool {
        self.ws();
        self.b.get(self.i) == Some(&c)
    }

    /// After a member or element: `,` (true) or `close` (false).
    fn comma_or(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// A string without escapes, as its raw bytes up to the closing `"` (`None` at a
    /// backslash: the parser reads escapes). Control characters and non-ASCII bytes are
    /// not looked for (see the module docs).
    fn raw_str(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let len = memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
        if self.b[self.i + len] != b'"' {
            return None;
        }
        let s = &self.b[self.i..self.i + len];
        self.i += len + 1;
        Some(s)
    }

    /// A string of printable ASCII without escapes (keys, the stream name), else `None`.
    fn plain_str(&mut self) -> Option<&'a str> {
        let s = self.raw_str()?;
        if s.iter().all(|c| (0x20..0x7f).contains(c)) {
            std::str::from_utf8(s).ok()
        } else {
            None
        }
    }

    /// A member's key and the `:` after it.
    fn key(&mut self) -> Option<&'a [u8]> {
        let k = self.plain_str()?.as_bytes();
        self.expect(b':')?;
        Some(k)
    }

    /// `[ {"Data": "..."}, ... ]`.
    fn records(&mut self) -> Option<Vec<&'a [u8]>> {
        self.expect(b'[')?;
        let mut out = Vec::with_capacity(500);
        if self.peek_is(b']') {
            self.i += 1;
            return Some(out);
        }
        loop {
            self.expect(b'{')?;
            if self.key()? != b"Data" {
                return None;
            }
            out.push(self.raw_str()?);
            self.expect(b'}')?;
            if !self.comma_or(b']')? {
                return Some(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bodies_are_read() {
        let b = br#"{"DeliveryStreamName":"s-1","Records":[{"Data":"aGk="},{"Data":""}]}"#;
        assert_eq!(scan(b), Some(ScannedBatch { name: Some("s-1"), records: Some(vec![&b"aGk="[..], &b""[..]]) }));
        let b = b" {\n \"Records\" : [ { \"Data\" : \"QQ==\" } ] ,\t\"DeliveryStreamName\" : \"x\" }\r\n";
        assert_eq!(scan(b), Some(ScannedBatch { name: Some("x"), records: Some(vec![&b"QQ=="[..]]) }));
        assert_eq!(scan(b"{}"), Some(ScannedBatch { name: None, records: None }));
        assert_eq!(scan(br#"{"Records":[]}"#), Some(ScannedBatch { name: None, records: Some(vec![]) }));
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for b in [
            &br#"{"DeliveryStreamName":"s","Records":[{"Data":"QQ=="}]} x"#[..],
            br#"{"DeliveryStreamName":"s","DeliveryStreamName":"t"}"#,
            br#"{"DeliveryStreamName":"s\/t"}"#,
            br#"{"DeliveryStreamName":null}"#,
            br#"{"DeliveryStreamName":"s","Other":1}"#,
            br#"{"Records":[{"Data":"QQ==","Extra":1}]}"#,
            br#"{"Records":[{"Data":null}]}"#,
            br#"{"Records":[{}]}"#,
            br#"{"Records":{"Data":"QQ=="}}"#,
            br#"{"Records":[{"Data":"QQ=="},]}"#,
            br#"{"DeliveryStreamName":"s",}"#,
            br#"{"DeliveryStreamName":"s""#,
            br#"["DeliveryStreamName"]"#,
            b"",
            "{\"DeliveryStreamName\":\"\u{e9}\"}".as_bytes(),
            b"{\"DeliveryStreamName\":\"a\tb\"}",
        ] {
            assert_eq!(scan(b), None, "{}", String::from_utf8_lossy(b));
        }
    }

    /// Escapes go to the parser; other bytes in `Data` are left to the base64 decoder
    /// (tests/python: every spelling answers as the parser's reading does).
    #[test]
    fn escapes_go_to_the_parser_and_data_bytes_to_the_decoder() {
        for b in [&br#"{"Records":[{"Data":"a\/b"}]}"#[..], br#"{"Records":[{"Data":"c\"d"}]}"#] {
            assert_eq!(scan(b), None, "{}", String::from_utf8_lossy(b));
        }
        let b = "{\"Records\":[{\"Data\":\"\u{e9}\t%\"}]}".as_bytes();
        assert_eq!(scan(b).unwrap().records.unwrap(), vec!["\u{e9}\t%".as_bytes()]);
    }
}
