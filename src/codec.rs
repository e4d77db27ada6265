//! The one byte codec of every binary format vjson writes: the snapshot, the write-ahead
//! log, `rows.dat` and the HNSW graph's flat bytes.
//!
//! Little-endian throughout. [`Encoder`] appends values to a byte buffer; [`Decoder`]
//! reads them back with every length checked against the bytes present before anything
//! is allocated, and fails with a [`DecodeError`] that says what failed to parse and
//! where (never `None`, never a panic). Callers turn a `DecodeError` into their own error
//! kind: `invalid_snapshot` for snapshots, `corrupt` for the files of a database.
//!
//! Shared building blocks:
//!
//! ```text
//! string           = length u32 | UTF-8 bytes
//! optional string  = length u32 | UTF-8 bytes, or u32::MAX for none
//! metadata         = optional string holding a JSON object
//! f32 slice        = count x f32 (the count is known from context: the dimension)
//! frame            = length u32 | crc32 u32 | body      (crc32 of the body)
//! long frame       = length u64 | crc32 u32 | body
//! ```
//!
//! Checksums: [`crc32`] is the one CRC of every format (IEEE 802.3, zlib's).

use std::fmt;

use serde_json::Value;

use crate::error::Error;

/// The CRC-32 (IEEE 802.3, as zlib and PNG compute it) of `bytes`: the checksum of every
/// frame, snapshot header and data file. Natively it is `crc32fast`'s (carry-less
/// multiplication where the CPU has it).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The CRC-32 (IEEE 802.3, as zlib and PNG compute it) of `bytes`. On wasm32 `crc32fast`
/// falls back to slice-by-16 over a 16 KB table compiled into the module, ~16 KB of the npm
/// package's gzipped size (tables of random-looking words do not compress). The same
/// checksum is computed here slice-by-8 over a table built on first use (8 KB of memory,
/// none of the module), about as fast as a snapshot is read.
#[cfg(target_arch = "wasm32")]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32_sliced(bytes)
}

/// Slice-by-8 CRC-32 (reflected polynomial 0xEDB88320); see [`crc32`].
#[cfg(any(target_arch = "wasm32", test))]
fn crc32_sliced(bytes: &[u8]) -> u32 {
    static TABLES: std::sync::OnceLock<Box<[[u32; 256]; 8]>> = std::sync::OnceLock::new();
    let t = TABLES.get_or_init(|| {
        let mut t = Box::new([[0u32; 256]; 8]);
        for i in 0..256 {
            let mut c = i as u32;
            for _ in 0..8 {
                c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
            }
            t[0][i] = c;
        }
        for k in 1..8 {
            for i in 0..256 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        t
    });
    let mut crc = !0u32;
    let mut blocks = bytes.chunks_exact(8);
    for b in &mut blocks {
        let lo = crc ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][b[4] as usize]
            ^ t[2][b[5] as usize]
            ^ t[1][b[6] as usize]
            ^ t[0][b[7] as usize];
    }
    for &b in blocks.remainder() {
        crc = t[0][((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The optional-string length that means "none".
const NONE: u32 = u32::MAX;

/// What went wrong decoding bytes: which part (`section`), at which byte offset of it,
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub(crate) section: String,
    pub(crate) offset: usize,
    pub(crate) problem: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (at byte {})",
            self.section, self.problem, self.offset
        )
    }
}

impl DecodeError {
    /// As an `invalid_snapshot` error.
    pub(crate) fn into_snapshot(self) -> Error {
        Error::InvalidSnapshot(self.to_string())
    }

    /// As a `corrupt` error for the file at `path`.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn into_corrupt(self, path: &std::path::Path) -> Error {
        Error::Corrupt {
            path: path.display().to_string(),
            detail: self.to_string(),
        }
    }
}

/// The result of a decode step.
pub(crate) type Decoded<T> = std::result::Result<T, DecodeError>;

/// Appends little-endian values to a byte buffer.
#[derive(Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Encoder {
            buf: Vec::with_capacity(bytes),
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes written so far.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn u8(&mut self, x: u8) {
        self.buf.push(x);
    }

    pub(crate) fn u32(&mut self, x: u32) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, x: u64) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }

    pub(crate) fn f32s(&mut self, v: &[f32]) {
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// A string: length, then bytes. Strings are at most 4 GiB (ids and texts are far
    /// below; callers bound what they write).
    pub(crate) fn str(&mut self, s: &str) {
        debug_assert!(s.len() < NONE as usize);
        self.u32(s.len() as u32);
        self.bytes(s.as_bytes());
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.u32(NONE),
        }
    }

    /// Metadata (a JSON object, or none) as an optional string of its JSON.
    pub(crate) fn metadata(&mut self, m: Option<&Value>) {
        let json = m.map(|v| {
            let mut out = String::new();
            write_json(v, &mut out);
            out
        });
        self.opt_str(json.as_deref());
    }

    /// A frame: `length u32 | crc32 u32 | body`, the body written by `body`. Fails (with
    /// the body's length) when the body exceeds 4 GiB - 1.
    pub(crate) fn frame(&mut self, body: impl FnOnce(&mut Encoder)) -> Result<(), usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; 8]);
        body(self);
        let len = self.buf.len() - start - 8;
        let Ok(len32) = u32::try_from(len) else {
            self.buf.truncate(start);
            return Err(len);
        };
        let crc = crc32(&self.buf[start + 8..]);
        self.buf[start..start + 4].copy_from_slice(&len32.to_le_bytes());
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// A long frame: `length u64 | crc32 u32 | body`.
    pub(crate) fn long_frame(&mut self, body: &[u8]) {
        self.u64(body.len() as u64);
        self.u32(crc32(body));
        self.bytes(body);
    }
}

/// True when `s` is a JSON object (checked without building a value).
pub(crate) fn is_json_object(s: &str) -> bool {
    s.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

/// Writes `v` as compact JSON, byte for byte as `serde_json::to_string` does (keys in the
/// map's order, the same string escapes, numbers by serde_json's own writer). Written here
/// rather than through serde_json's serialiser, which would be one more instance of its
/// generic code in the npm package's module.
pub(crate) fn write_json(v: &Value, out: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // Infallible: writing to a String.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_json_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads what an [`Encoder`] wrote, checking every length.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    section: &'a str,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf`, whose errors name `section` (e.g. `"ids section"`).
    pub(crate) fn new(buf: &'a [u8], section: &'a str) -> Self {
        Decoder {
            buf,
            pos: 0,
            section,
        }
    }

    /// An error at the current position.
    pub(crate) fn error(&self, problem: impl Into<String>) -> DecodeError {
        DecodeError {
            section: self.section.to_owned(),
            offset: self.pos,
            problem: problem.into(),
        }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize, what: &str) -> Decoded<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.error(format!(
                "cut short reading {what}: {n} bytes needed, {} present",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Decoded<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Decoded<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Decoded<u64> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A length or count that the rest of the input must be able to hold, at
    /// `min_bytes_each` bytes per item: checked before anything is allocated for it.
    pub(crate) fn count(&mut self, n: u64, min_bytes_each: usize, what: &str) -> Decoded<usize> {
        let need = n.checked_mul(min_bytes_each as u64);
        match need {
            Some(need) if need <= self.remaining() as u64 => Ok(n as usize),
            _ => Err(self.error(format!(
                "{n} {what} declared, but only {} bytes remain",
                self.remaining()
            ))),
        }
    }

    /// `n` f32 values.
    pub(crate) fn f32s(&mut self, n: usize, what: &str) -> Decoded<Vec<f32>> {
        let bytes = n
            .checked_mul(4)
            .ok_or_else(|| self.error(format!("{what}: length overflows")))?;
        let raw = self.take(bytes, what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The bytes of an optional string, not checked to be UTF-8.
    pub(crate) fn opt_bytes(&mut self, what: &str) -> Decoded<Option<&'a [u8]>> {
        let len = self.u32(what)?;
        if len == NONE {
            return Ok(None);
        }
        self.take(len as usize, what).map(Some)
    }

    pub(crate) fn opt_str(&mut self, what: &str) -> Decoded<Option<&'a str>> {
        let at = self.pos + 4;
        let Some(bytes) = self.opt_bytes(what)? else {
            return Ok(None);
        };
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DecodeError {
                section: self.section.to_owned(),
                offset: at,
                problem: format!("{what} is not valid UTF-8"),
            })
    }

    pub(crate) fn str(&mut self, what: &str) -> Decoded<&'a str> {
        self.opt_str(what)?
            .ok_or_else(|| self.error(format!("{what} is missing")))
    }

    /// Metadata written by [`Encoder::metadata`]: none, or a JSON object.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn metadata(&mut self, what: &str) -> Decoded<Option<Value>> {
        let at = self.pos;
        match self.opt_str(what)? {
            None => Ok(None),
            Some(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Ok(Some(v)),
                _ => Err(self.not_an_object(at, what)),
            },
        }
    }

    /// Metadata as [`Decoder::metadata`] reads it, checked to be a JSON object but left as
    /// its JSON text (checking builds no value).
    pub(crate) fn metadata_json(&mut self, what: &str) -> Decoded<Option<&'a str>> {
        let at = self.pos;
        match self.opt_str(what)? {
            None => Ok(None),
            Some(s) if is_json_object(s) => Ok(Some(s)),
            Some(_) => Err(self.not_an_object(at, what)),
        }
    }

    fn not_an_object(&self, at: usize, what: &str) -> DecodeError {
        DecodeError {
            section: self.section.to_owned(),
            offset: at,
            problem: format!("{what} is not a JSON object"),
        }
    }

    /// A frame written by [`Encoder::frame`]: its body, CRC checked.
    pub(crate) fn frame(&mut self, what: &str) -> Decoded<&'a [u8]> {
        let len = self.u32(what)?;
        let crc = self.u32(what)?;
        self.checked_body(len as u64, crc, what)
    }

    /// A long frame written by [`Encoder::long_frame`]: its body, CRC checked.
    pub(crate) fn long_frame(&mut self, what: &str) -> Decoded<&'a [u8]> {
        let len = self.u64(what)?;
        let crc = self.u32(what)?;
        self.checked_body(len, crc, what)
    }

    fn checked_body(&mut self, len: u64, crc: u32, what: &str) -> Decoded<&'a [u8]> {
        // (`count`'s message, built only when it fails: frames are read by the million.)
        let len = match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => n,
            _ => self.count(len, 1, &format!("bytes of {what}"))?,
        };
        let at = self.pos;
        let body = self.take(len, what)?;
        if crc32(body) != crc {
            return Err(DecodeError {
                section: self.section.to_owned(),
                offset: at,
                problem: format!("{what} fails its CRC check"),
            });
        }
        Ok(body)
    }

    /// Checks that everything was read.
    pub(crate) fn finish(&self) -> Decoded<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.error(format!("{} unexpected trailing bytes", self.remaining())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_text(v: &Value) -> String {
        let mut out = String::new();
        write_json(v, &mut out);
        out
    }

    #[test]
    fn metadata_json_is_serde_jsons_and_reads_back_the_same() {
        let v = json!({
            "s": "quote \" backslash \\ newline \n tab \t bell \u{7} é 😀",
            "n": [0, -1, 18446744073709551615u64, -9223372036854775808i64],
            "f": [0.1, 1.0, -2.5, 1e21, 1.5e-7, 1.7976931348623157e308, 5e-324],
            "nested": {"b": true, "z": null, "a": [[], {}]},
        });
        let text = json_text(&v);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
        // Byte for byte what serde_json writes.
        assert_eq!(text, serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn values_round_trip() {
        let mut e = Encoder::new();
        e.u8(7);
        e.u32(0xDEAD_BEEF);
        e.u64(u64::MAX - 1);
        e.str("héllo");
        e.opt_str(None);
        e.opt_str(Some(""));
        e.metadata(Some(&json!({"a": [1, 2]})));
        e.metadata(None);
        e.f32s(&[1.5, -0.0, f32::MIN_POSITIVE]);
        e.frame(|e| e.str("inside")).unwrap();
        e.long_frame(b"long body");
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes, "test");
        assert_eq!(d.u8("a").unwrap(), 7);
        assert_eq!(d.u32("b").unwrap(), 0xDEAD_BEEF);
        assert_eq!(d.u64("c").unwrap(), u64::MAX - 1);
        assert_eq!(d.str("d").unwrap(), "héllo");
        assert_eq!(d.opt_str("e").unwrap(), None);
        assert_eq!(d.opt_str("f").unwrap(), Some(""));
        assert_eq!(d.metadata("g").unwrap(), Some(json!({"a": [1, 2]})));
        assert_eq!(d.metadata("h").unwrap(), None);
        assert_eq!(d.f32s(3, "i").unwrap(), vec![1.5, -0.0, f32::MIN_POSITIVE]);
        let body = d.frame("j").unwrap();
        assert_eq!(Decoder::new(body, "frame").str("s").unwrap(), "inside");
        assert_eq!(d.long_frame("k").unwrap(), b"long body");
        d.finish().unwrap();
    }

    #[test]
    fn a_declared_gigabyte_is_refused_before_anything_is_allocated() {
        // Lengths and counts past the bytes present: a frame, a string, a count and a
        // vector of a gigabyte each, in a 12-byte input.
        let gib = 1u32 << 30;
        let mut header = gib.to_le_bytes().to_vec();
        header.extend_from_slice(&[0u8; 8]);
        let mut d = Decoder::new(&header, "log");
        assert!(d.frame("record").unwrap_err().problem.contains("declared"));
        let mut d = Decoder::new(&header, "rows");
        assert!(d.str("an id").is_err());
        let mut d = Decoder::new(&header, "graph");
        assert!(d.count(gib as u64, 4, "nodes").is_err());
        let mut d = Decoder::new(&header, "vectors");
        assert!(d.f32s(gib as usize, "a vector").is_err());
        let mut long = (1u64 << 30).to_le_bytes().to_vec();
        long.extend_from_slice(&[0u8; 4]);
        assert!(
            Decoder::new(&long, "snapshot")
                .long_frame("section")
                .is_err()
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let mut e = Encoder::new();
        e.str("abc");
        let bytes = e.into_bytes();
        let err = Decoder::new(&bytes[..5], "ids").str("an id").unwrap_err();
        assert_eq!(err.section, "ids");
        assert_eq!(err.offset, 4);
        assert!(err.problem.contains("cut short reading an id"), "{err}");
        // A damaged frame body fails its CRC.
        let mut e = Encoder::new();
        e.frame(|e| e.str("x")).unwrap();
        let mut bytes = e.into_bytes();
        *bytes.last_mut().unwrap() ^= 1;
        let err = Decoder::new(&bytes, "log").frame("record").unwrap_err();
        assert!(err.problem.contains("CRC"), "{err}");
        // Metadata must be an object; counts are bounded by the bytes present.
        let mut e = Encoder::new();
        e.opt_str(Some("[1]"));
        let bytes = e.into_bytes();
        assert!(Decoder::new(&bytes, "m").metadata("metadata").is_err());
        let mut d = Decoder::new(&[0u8; 8], "c");
        assert!(d.count(3, 4, "rows").is_err());
        assert_eq!(d.count(2, 4, "rows").unwrap(), 2);
        assert!(d.count(u64::MAX, 2, "rows").is_err());
        // Invalid UTF-8.
        let bad = [2u8, 0, 0, 0, 0xff, 0xfe];
        assert!(
            Decoder::new(&bad, "s")
                .str("s")
                .unwrap_err()
                .problem
                .contains("UTF-8")
        );
    }

    #[test]
    fn metadata_floats_read_back_exactly() {
        // Once read back one ulp off (1020362608286044.4 for ...044.3) before serde_json
        // parsed with `float_roundtrip`.
        for f in [
            1020362608286044.3,
            0.1,
            1e-310,
            f64::MAX,
            5e-324,
            123456789.12345678,
        ] {
            let v = json!({ "f": f });
            let back: Value = serde_json::from_str(&json_text(&v)).unwrap();
            assert_eq!(back["f"].as_f64(), Some(f), "{f:e}");
        }
    }

    #[test]
    fn wasm_crc32_is_crc32fasts() {
        // The check values of CRC-32/ISO-HDLC, then every length around the 8-byte blocks.
        assert_eq!(crc32_sliced(b""), 0);
        assert_eq!(crc32_sliced(b"123456789"), 0xCBF4_3926);
        let bytes: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for end in start..bytes.len() {
                let b = &bytes[start..end];
                assert_eq!(crc32_sliced(b), crc32fast::hash(b), "bytes {start}..{end}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn wasm_crc32_matches_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            proptest::prop_assert_eq!(crc32_sliced(&bytes), crc32fast::hash(&bytes));
        }

        #[test]
        fn metadata_json_round_trips(
            keys in proptest::collection::vec("\\PC{0,8}", 0..6),
            nums in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO, 0..6),
            ints in proptest::collection::vec(proptest::num::i64::ANY, 0..6),
        ) {
            let mut map = serde_json::Map::new();
            for (i, k) in keys.iter().enumerate() {
                map.insert(k.clone(), json!({"f": nums.get(i), "i": ints.get(i), "s": k}));
            }
            // Reads back exactly (serde_json parses with `float_roundtrip`, so the shortest
            // digits that name a float read back as that float, whoever wrote them).
            let v = Value::Object(map);
            let text = json_text(&v);
            proptest::prop_assert_eq!(&text, &serde_json::to_string(&v).unwrap());
            let ours: Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(ours, v);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut d = Decoder::new(&bytes, "fuzz");
            let _ = d.metadata("m");
            let _ = d.frame("f");
            let _ = d.long_frame("l");
            let _ = d.opt_str("s");
            let n = d.u32("n").unwrap_or(0);
            let _ = d.count(n as u64, 4, "items").and_then(|n| d.f32s(n, "v"));
            let _ = d.finish();
        }
    }
}
