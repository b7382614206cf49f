//! Wire format and proof-of-work conformance (docs/protocol.md sections 2 and 3).
//!
//! The vectors in `tests/vectors/protocol.json` are a byte-identical copy of
//! `shared/vectors/protocol.json`, computed outside this project (Python's
//! blake3 and cryptography packages). They are read at run time with a small,
//! strict JSON reader written here (the crate has no JSON dependency), so the
//! expected values stay independent of the code under test.
//!
//! The robustness test at the end is a bounded, seeded fuzz run: set
//! `DAVE_FUZZ_SEED` (decimal or 0x-hex) and `DAVE_FUZZ_ITERS` (per generator)
//! to reproduce or extend a run.

use dave_core::pow;
use dave_core::wire::{
    self, encode_into, DecodeError, EncodeError, Hex, Msg, Op, Packet, Pd, MTU, PACKET_MAX,
};

/// Decodes into the typed datagram and back into the message that encodes
/// it (token included): what the round-trip tests compare.
fn decode(b: &[u8]) -> Result<Msg<'_>, DecodeError> {
    wire::decode_datagram(b).map(|d| d.msg())
}
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;

// ---------------------------------------------------------------------------
// A strict reader for the vectors file: objects, arrays, strings and
// non-negative integers; anything else (floats, negatives, true/false/null,
// duplicate keys, trailing bytes, bad escapes) is an error.

#[derive(Debug)]
enum Json {
    Str(String),
    Num(u64),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> JsonParser<'a> {
    fn parse(text: &'a str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(p.err("trailing bytes"));
        }
        Ok(v)
    }

    fn err(&self, what: &str) -> String {
        format!("vectors JSON: {what} at byte {}", self.i)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", c as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 16 {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'0'..=b'9') => self.number(),
            _ => Err(self.err("unexpected value (only objects, arrays, strings, integers)")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.eat(b'{')?;
        let mut fields: Vec<(String, Json)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Obj(fields));
        }
        loop {
            self.ws();
            let k = self.string()?;
            if fields.iter().any(|(n, _)| *n == k) {
                return Err(self.err(&format!("duplicate key {k:?}")));
            }
            self.eat(b':')?;
            let v = self.value(depth + 1)?;
            fields.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string"));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let h = self
                                .s
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.err("bad \\u escape"))?;
                            self.i += 4;
                            // Surrogate pairs are not needed by the vectors: refuse them.
                            let ch = char::from_u32(h).ok_or_else(|| self.err("surrogate"))?;
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                0..=0x1f => return Err(self.err("control character in string")),
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E' | b'-' | b'+')) {
            return Err(self.err("only non-negative integers are supported"));
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(self.err("leading zero"));
        }
        digits
            .parse::<u64>()
            .map(Json::Num)
            .map_err(|_| self.err("integer out of range"))
    }
}

impl Json {
    fn fields(&self) -> &[(String, Json)] {
        match self {
            Json::Obj(f) => f,
            other => panic!("vectors: expected an object, found {other:?}"),
        }
    }

    /// The object's fields, checking that its keys are exactly `keys`
    /// (so a field added to the vectors is never silently ignored).
    fn exact_keys(&self, what: &str, keys: &[&str]) -> &Json {
        let f = self.fields();
        let mut have: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        let mut want = keys.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        assert_eq!(have, want, "vectors: keys of {what}");
        self
    }

    fn get(&self, k: &str) -> &Json {
        self.fields()
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("vectors: missing field {k:?}"))
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("vectors: expected a string, found {other:?}"),
        }
    }

    fn num(&self) -> u64 {
        match self {
            Json::Num(n) => *n,
            other => panic!("vectors: expected an integer, found {other:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("vectors: expected an array, found {other:?}"),
        }
    }

    fn hex(&self) -> Vec<u8> {
        let s = self.str();
        let mut out = vec![0u8; s.len() / 2];
        assert!(
            s.len().is_multiple_of(2) && wire::parse_hex(s, &mut out),
            "vectors: not hex: {s:?}"
        );
        out
    }

    fn hex_n<const N: usize>(&self) -> [u8; N] {
        let v = self.hex();
        v.as_slice()
            .try_into()
            .unwrap_or_else(|_| panic!("vectors: expected {N} bytes, got {}", v.len()))
    }
}

struct PutVector {
    key: Vec<u8>,
    val: Vec<u8>,
    time_ms: u64,
    time: [u8; 8],
    salt: Vec<u8>,
    load: [u8; 32],
    work: [u8; 32],
    difficulty: u8,
    sig: [u8; 64],
    packet: Vec<u8>,
}

struct Vectors {
    seed: [u8; 32],
    pubkey: [u8; 32],
    puts: Vec<PutVector>,
    getpeer: Vec<u8>,
    get_by_work: Vec<u8>,
    get_by_name: Vec<u8>,
    peer_two: Vec<u8>,
    cookie_secret: [u8; 32],
    /// (ip, port, keyed-hash input, cookie).
    cookies: Vec<(String, u16, Vec<u8>, [u8; 8])>,
}

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/protocol.json");

fn vectors() -> Vectors {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| panic!("{VECTORS}: {e}"));
    let root = JsonParser::parse(&text).unwrap_or_else(|e| panic!("{VECTORS}: {e}"));
    root.exact_keys(
        "the root",
        &[
            "about",
            "ed25519_secret_seed",
            "ed25519_public_key",
            "puts",
            "messages",
            "cookies",
        ],
    );
    let cookies = root
        .get("cookies")
        .exact_keys("cookies", &["about", "secret", "vectors"]);
    let cookie_secret: [u8; 32] = cookies.get("secret").hex_n();
    let cookies: Vec<(String, u16, Vec<u8>, [u8; 8])> = cookies
        .get("vectors")
        .arr()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.exact_keys(&format!("cookies[{i}]"), &["ip", "port", "input", "cookie"]);
            let Json::Str(ip) = c.get("ip") else {
                panic!("vectors: cookies[{i}].ip is not a string")
            };
            (
                ip.clone(),
                u16::try_from(c.get("port").num()).expect("a port"),
                c.get("input").hex(),
                c.get("cookie").hex_n(),
            )
        })
        .collect();
    let puts: Vec<PutVector> = root
        .get("puts")
        .arr()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.exact_keys(
                &format!("puts[{i}]"),
                &[
                    "key",
                    "val",
                    "time_ms",
                    "time",
                    "salt",
                    "load",
                    "work",
                    "difficulty",
                    "sig",
                    "put_packet",
                ],
            );
            PutVector {
                key: p.get("key").hex(),
                val: p.get("val").hex(),
                time_ms: p.get("time_ms").num(),
                time: p.get("time").hex_n(),
                salt: p.get("salt").hex(),
                load: p.get("load").hex_n(),
                work: p.get("work").hex_n(),
                difficulty: u8::try_from(p.get("difficulty").num()).expect("difficulty fits u8"),
                sig: p.get("sig").hex_n(),
                packet: p.get("put_packet").hex(),
            }
        })
        .collect();
    assert!(!puts.is_empty(), "vectors: no puts");
    let msgs = root.get("messages").exact_keys(
        "messages",
        &["getpeer", "get_by_work", "get_by_name", "peer_two"],
    );
    Vectors {
        seed: root.get("ed25519_secret_seed").hex_n(),
        pubkey: root.get("ed25519_public_key").hex_n(),
        puts,
        getpeer: msgs.get("getpeer").hex(),
        get_by_work: msgs.get("get_by_work").hex(),
        get_by_name: msgs.get("get_by_name").hex(),
        peer_two: msgs.get("peer_two").hex(),
        cookie_secret,
        cookies,
    }
}

impl PutVector {
    /// The PUT message of this vector, signed by `pubkey`.
    fn msg<'a>(&'a self, pubkey: &'a [u8; 32]) -> Msg<'a> {
        Msg {
            op: Op::Put,
            key: &self.key,
            val: &self.val,
            time: &self.time,
            salt: &self.salt,
            work: &self.work,
            pubkey,
            sig: &self.sig,
            ..Msg::default()
        }
    }
}

fn encode_vec(m: &Msg<'_>) -> Vec<u8> {
    let mut buf = [0u8; MTU];
    let n = encode_into(m, &mut buf).unwrap_or_else(|e| panic!("encode {m:?}: {e}"));
    assert_eq!(n, m.encoded_len(), "encoded_len disagrees with encode_into");
    buf[..n].to_vec()
}

// ---------------------------------------------------------------------------
// (a) PUT vectors: proof of work, signatures, exact encoding.

#[test]
fn put_vectors() {
    let v = vectors();
    let sk = SigningKey::from_bytes(&v.seed);
    assert_eq!(
        sk.verifying_key().to_bytes(),
        v.pubkey,
        "public key of the vector seed"
    );
    for (i, p) in v.puts.iter().enumerate() {
        let ctx = format!("put vector {i} (key {})", Hex(&p.key));
        assert_eq!(
            p.time,
            p.time_ms.to_le_bytes(),
            "{ctx}: time is LE8 of time_ms"
        );

        let load = pow::load(&p.key, &p.val, &p.time);
        assert_eq!(
            Hex(&load).to_string(),
            Hex(&p.load).to_string(),
            "{ctx}: load"
        );
        let work = pow::work(&p.salt, &load);
        assert_eq!(
            Hex(&work).to_string(),
            Hex(&p.work).to_string(),
            "{ctx}: work"
        );
        assert_eq!(pow::difficulty(&work), p.difficulty, "{ctx}: difficulty");

        assert!(
            pow::verify(&v.pubkey, &p.work, &p.sig),
            "{ctx}: signature verifies"
        );
        assert_eq!(
            Hex(&pow::sign(&sk, &p.work)).to_string(),
            Hex(&p.sig).to_string(),
            "{ctx}: signing with the seed reproduces the signature (Ed25519 is deterministic)"
        );
        // Any change to the signed bytes or the signature fails.
        let mut bad_sig = p.sig;
        bad_sig[7] ^= 0x10;
        assert!(
            !pow::verify(&v.pubkey, &p.work, &bad_sig),
            "{ctx}: tampered sig"
        );
        let mut bad_work = p.work;
        bad_work[31] ^= 1;
        assert!(
            !pow::verify(&v.pubkey, &bad_work, &p.sig),
            "{ctx}: other work"
        );

        let m = p.msg(&v.pubkey);
        let enc = encode_vec(&m);
        assert_eq!(
            Hex(&enc).to_string(),
            Hex(&p.packet).to_string(),
            "{ctx}: encode_into is byte-identical to put_packet"
        );
        assert!(enc.len() <= PACKET_MAX, "{ctx}: fits PACKET_MAX");

        // Decoding is not the place for proof of work: difficulty-0 vectors
        // are still valid wire messages.
        let d = decode(&p.packet).unwrap_or_else(|e| panic!("{ctx}: decode: {e}"));
        assert_eq!(d, m, "{ctx}: decode round-trips to the same fields");
        assert_eq!(d.time_ms(), p.time_ms, "{ctx}: time_ms");
        let Ok(Packet::Put(typed)) = wire::decode(&p.packet) else {
            panic!("{ctx}: not a typed PUT");
        };
        assert_eq!(typed.work, &p.work, "{ctx}: work as an array");
        assert_eq!(typed.sig, &p.sig, "{ctx}: sig as an array");
        assert_eq!(typed.time_ms(), p.time_ms, "{ctx}: typed time_ms");
        // Fields borrow from the datagram (decoding copies nothing).
        let range = p.packet.as_ptr_range();
        for f in [d.key, d.val, d.time, d.salt, d.work, d.pubkey, d.sig] {
            if !f.is_empty() {
                assert!(
                    range.contains(&f.as_ptr()),
                    "{ctx}: field not borrowed from input"
                );
            }
        }
        // The owned form gives the same message back.
        let dat = Dat::from_msg(&d).expect("complete PUT");
        assert_eq!(dat.time_ms, p.time_ms);
        assert_eq!(dat.msg(&p.time), m, "{ctx}: Dat::from_msg / Dat::msg");
    }
}

// ---------------------------------------------------------------------------
// (b) The other message vectors.

#[test]
fn message_vectors() {
    let v = vectors();

    // An empty datagram is what a bare GETPEER encodes to (op 0 is the
    // proto3 default); revision 2 requires a cookie, so it decodes as
    // missing_field, and with one appended it is a GETPEER.
    assert!(v.getpeer.is_empty());
    assert_eq!(encode_vec(&Msg::op(Op::Getpeer)), v.getpeer);
    assert_eq!(wire::decode(&v.getpeer), Err(DecodeError::Missing));
    let with_cookie = [&v.getpeer[..], &[0x52, 8], &[9; 8]].concat();
    assert_eq!(
        wire::decode(&with_cookie),
        Ok(Packet::Getpeer { cookie: &[9; 8] })
    );

    let d = decode(&v.get_by_work).expect("get_by_work");
    let work: Vec<u8> = (0u8..32).collect();
    let want = Msg {
        op: Op::Get,
        work: &work,
        ..Msg::default()
    };
    assert_eq!(d, want, "get_by_work fields");
    assert_eq!(
        Hex(&encode_vec(&d)).to_string(),
        Hex(&v.get_by_work).to_string(),
        "get_by_work re-encodes byte-identically"
    );

    let d = decode(&v.get_by_name).expect("get_by_name");
    let want = Msg {
        op: Op::Get,
        key: b"greeting",
        pubkey: &v.pubkey,
        ..Msg::default()
    };
    assert_eq!(d, want, "get_by_name fields");
    assert_eq!(
        Hex(&encode_vec(&d)).to_string(),
        Hex(&v.get_by_name).to_string(),
        "get_by_name re-encodes byte-identically"
    );

    // peer_two has descriptors but no token or cookie: revision 2 refuses
    // it as it is; with both appended its descriptors decode as listed.
    assert_eq!(wire::decode(&v.peer_two), Err(DecodeError::Missing));
    let full = [&v.peer_two[..], &[0x52, 8], &[5; 8], &[0x5a, 8], &[6; 8]].concat();
    let dg = wire::decode_datagram(&full).expect("peer_two with a cookie and a token");
    assert_eq!(dg.token, Some(&[6; 8]));
    let Packet::Peer { cookie, list } = dg.packet else {
        panic!("peer_two is a PEER");
    };
    assert_eq!(cookie, &[5; 8]);
    let a0: SocketAddr = "192.0.2.1:1618".parse().unwrap();
    let a1: SocketAddr = "[::1]:1619".parse().unwrap();
    assert_eq!(list.as_slice(), &[Pd::from_addr(a0), Pd::from_addr(a1)][..]);
    assert_eq!(
        list.as_slice()[0].addr(),
        a0,
        "v4-mapped descriptor is canonical IPv4"
    );
    assert_eq!(list.as_slice()[1].addr(), a1);
    let mut d = Msg::op(Op::Peer);
    d.pds[..2].copy_from_slice(list.as_slice());
    d.npds = 2;
    let mut buf = [0xa5u8; MTU];
    let n = encode_into(&d, &mut buf).expect("peer_two encodes");
    assert_eq!(
        n,
        v.peer_two.len(),
        "peer_two: encode_into/encoded_len returns {n} bytes for a {}-byte message \
         (encoded_len = {}); written bytes: {}",
        v.peer_two.len(),
        d.encoded_len(),
        Hex(&buf[..n])
    );
    assert_eq!(
        Hex(&buf[..n]).to_string(),
        Hex(&v.peer_two).to_string(),
        "peer_two re-encodes byte-identically"
    );
}

// ---------------------------------------------------------------------------
// (c) The length byte in the load.

#[test]
fn length_byte_separates_key_from_value() {
    let t = 1_763_700_000_000u64.to_le_bytes();
    let a = pow::load(b"ab", b"c", &t);
    let b = pow::load(b"a", b"bc", &t);
    assert_ne!(
        a, b,
        "key \"ab\"/val \"c\" and key \"a\"/val \"bc\" must differ"
    );

    // Without the length byte they would collide (the forgery it prevents).
    let naive = |k: &[u8], v: &[u8]| {
        let mut h = blake3::Hasher::new();
        h.update(k);
        h.update(v);
        h.update(&t);
        *h.finalize().as_bytes()
    };
    assert_eq!(naive(b"ab", b"c"), naive(b"a", b"bc"));
    // The load is exactly blake3(len || key || val || time).
    let mut h = blake3::Hasher::new();
    h.update(&[2]);
    h.update(b"abc");
    h.update(&t);
    assert_eq!(*h.finalize().as_bytes(), a);

    // And the independent vectors agree.
    let v = vectors();
    let find = |k: &[u8], val: &[u8]| {
        v.puts
            .iter()
            .find(|p| p.key == k && p.val == val && p.time == t)
            .unwrap_or_else(|| panic!("vector for key {:?}", Hex(k)))
            .load
    };
    assert_eq!(find(b"ab", b"c"), a);
    assert_eq!(find(b"a", b"bc"), b);
}

// ---------------------------------------------------------------------------
// Hand-made protobuf, for malformed and edge-case datagrams.

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u64, wt: u64) {
    varint(out, field << 3 | wt);
}

fn len_field(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    tag(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn var_field(out: &mut Vec<u8>, field: u64, v: u64) {
    tag(out, field, 0);
    varint(out, v);
}

/// A PEER descriptor sub-message.
fn pd(ip: Option<&[u8]>, port: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(ip) = ip {
        len_field(&mut out, 1, ip);
    }
    if let Some(p) = port {
        var_field(&mut out, 2, p);
    }
    out
}

fn ip16(s: &str) -> [u8; 16] {
    match s.parse::<std::net::IpAddr>().expect("ip") {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    }
}

/// A PEER message with these descriptors, a cookie of 5s and a token of 6s.
fn peer_msg(pds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    var_field(&mut out, 1, 1);
    for p in pds {
        len_field(&mut out, 2, p);
    }
    len_field(&mut out, 10, &[5; 8]);
    len_field(&mut out, 11, &[6; 8]);
    out
}

/// A GETPEER issuing a cookie of 9s.
fn getpeer_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    len_field(&mut out, 10, &[9; 8]);
    out
}

/// Fields of a message as (field number, bytes), op first as a varint.
struct Fields {
    op: Option<u64>,
    f: Vec<(u64, Vec<u8>)>,
}

impl Fields {
    /// The fields of a valid PUT (the "greeting" vector).
    fn put(v: &Vectors) -> Fields {
        let p = &v.puts[1];
        assert_eq!(p.key, b"greeting");
        Fields {
            op: Some(2),
            f: vec![
                (3, p.key.clone()),
                (4, p.val.clone()),
                (5, p.time.to_vec()),
                (6, p.salt.clone()),
                (7, p.work.to_vec()),
                (8, v.pubkey.to_vec()),
                (9, p.sig.to_vec()),
            ],
        }
    }

    fn get_by_work() -> Fields {
        Fields {
            op: Some(3),
            f: vec![(7, vec![9; 32])],
        }
    }

    fn without(mut self, field: u64) -> Fields {
        self.f.retain(|(n, _)| *n != field);
        self
    }

    fn set(mut self, field: u64, data: &[u8]) -> Fields {
        match self.f.iter_mut().find(|(n, _)| *n == field) {
            Some(x) => x.1 = data.to_vec(),
            None => self.f.push((field, data.to_vec())),
        }
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(op) = self.op {
            var_field(&mut out, 1, op);
        }
        for (n, d) in &self.f {
            len_field(&mut out, *n, d);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// (d) Rejections, each with its exact reason.

#[test]
fn rejections_have_exact_reasons() {
    use DecodeError::*;
    let v = vectors();
    let put = || Fields::put(&v);
    let good_pd = pd(Some(&ip16("192.0.2.7")), Some(1618));

    let mut too_long_put = put().bytes();
    let mtu_pad = MTU + 1 - too_long_put.len();
    let mut val = v.puts[1].val.clone();
    val.resize(val.len() + mtu_pad, b'x');
    too_long_put = put().set(4, &val).bytes();
    // The val length varint may have grown by one byte: trim to MTU + 1.
    while too_long_put.len() > MTU + 1 {
        val.pop();
        too_long_put = put().set(4, &val).bytes();
    }
    assert_eq!(too_long_put.len(), MTU + 1);

    let mut cut_sig = put().bytes();
    cut_sig.pop();

    let mut dup_key = put().bytes();
    len_field(&mut dup_key, 3, b"again");
    let mut dup_op = put().bytes();
    var_field(&mut dup_op, 1, 2);
    let mut dup_work_get = Fields::get_by_work().bytes();
    len_field(&mut dup_work_get, 7, &[9; 32]);

    let mut eleven_byte_varint = vec![0x08];
    eleven_byte_varint.extend_from_slice(&[0x80; 10]);
    eleven_byte_varint.push(0x00);

    let mut sig_fixed64 = put().without(9).bytes();
    tag(&mut sig_fixed64, 9, 1);
    sig_fixed64.extend_from_slice(&[0; 8]);

    let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        // Size.
        ("MTU+1 zero bytes", vec![0; MTU + 1], TooLong),
        ("PUT of MTU+1 bytes", too_long_put, TooLong),
        // Malformed varints, lengths and tags.
        ("truncated tag varint", vec![0x80], Malformed),
        ("truncated op varint", vec![0x08, 0x80], Malformed),
        ("truncated length varint", vec![0x1a, 0x80], Malformed),
        ("op varint of 11 bytes", eleven_byte_varint, Malformed),
        ("length past end", vec![0x1a, 0x05, b'a', b'b'], Malformed),
        ("PUT with its last byte cut", cut_sig, Malformed),
        (
            "unknown field length past end",
            vec![0xa2, 0x01, 0x05, 0],
            Malformed,
        ),
        ("unknown fixed32 past end", vec![0x7d, 0, 0], Malformed),
        ("field number 0", vec![0x02, 0x00], Malformed),
        // Wire types.
        ("key as varint", vec![0x18, 0x01], WireType),
        ("op as bytes", vec![0x0a, 0x01, 0x02], WireType),
        ("pds as varint", vec![0x08, 0x01, 0x10, 0x01], WireType),
        ("sig as fixed64", sig_fixed64, WireType),
        // Singular fields twice.
        ("PUT with key twice", dup_key, Duplicate),
        ("PUT with op twice", dup_op, Duplicate),
        ("GET with work twice", dup_work_get, Duplicate),
        // Ops.
        ("op 7", vec![0x08, 0x07], UnknownOp),
        ("op 4", vec![0x08, 0x04], UnknownOp),
        (
            "op 2^32+2",
            {
                let mut b = Vec::new();
                var_field(&mut b, 1, (1 << 32) + 2);
                b
            },
            UnknownOp,
        ),
        // Field sizes.
        (
            "GET with work of 31 bytes",
            Fields::get_by_work().set(7, &[9; 31]).bytes(),
            FieldSize,
        ),
        (
            "GET with work of 33 bytes",
            Fields::get_by_work().set(7, &[9; 33]).bytes(),
            FieldSize,
        ),
        (
            "PUT with work of 31 bytes",
            put().set(7, &[9; 31]).bytes(),
            FieldSize,
        ),
        (
            "PUT with key of 33 bytes",
            put().set(3, &[b'k'; 33]).bytes(),
            FieldSize,
        ),
        (
            "GET with key of 33 bytes",
            Fields {
                op: Some(3),
                f: vec![(3, vec![b'k'; 33]), (8, vec![1; 32])],
            }
            .bytes(),
            FieldSize,
        ),
        (
            "PUT with time of 7 bytes",
            put().set(5, &[1; 7]).bytes(),
            FieldSize,
        ),
        (
            "PUT with time of 9 bytes",
            put().set(5, &[1; 9]).bytes(),
            FieldSize,
        ),
        (
            "PUT with salt of 33 bytes",
            put().set(6, &[1; 33]).bytes(),
            FieldSize,
        ),
        (
            "PUT with pubkey of 31 bytes",
            put().set(8, &[1; 31]).bytes(),
            FieldSize,
        ),
        (
            "PUT with sig of 63 bytes",
            put().set(9, &[1; 63]).bytes(),
            FieldSize,
        ),
        (
            "PUT with sig of 65 bytes",
            put().set(9, &[1; 65]).bytes(),
            FieldSize,
        ),
        // Peer descriptors.
        (
            "PEER with 3 pds",
            peer_msg(&[good_pd.clone(), good_pd.clone(), good_pd.clone()]),
            TooManyPeers,
        ),
        (
            "pd port 0",
            peer_msg(&[pd(Some(&ip16("192.0.2.7")), Some(0))]),
            BadPeer,
        ),
        (
            "pd port 65536",
            peer_msg(&[pd(Some(&ip16("192.0.2.7")), Some(65536))]),
            BadPeer,
        ),
        (
            "pd port 2^32+1618",
            peer_msg(&[pd(Some(&ip16("192.0.2.7")), Some((1 << 32) + 1618))]),
            BadPeer,
        ),
        (
            "pd without port",
            peer_msg(&[pd(Some(&ip16("192.0.2.7")), None)]),
            BadPeer,
        ),
        (
            "pd ip of 5 bytes",
            peer_msg(&[pd(Some(&[192, 0, 2, 7, 1]), Some(1618))]),
            BadPeer,
        ),
        (
            "pd ip of 15 bytes",
            peer_msg(&[pd(Some(&[1; 15]), Some(1618))]),
            BadPeer,
        ),
        ("pd without ip", peer_msg(&[pd(None, Some(1618))]), BadPeer),
        (
            "pd ip ::",
            peer_msg(&[pd(Some(&[0; 16]), Some(1618))]),
            BadPeer,
        ),
        (
            "pd ip 0.0.0.0 (4 bytes)",
            peer_msg(&[pd(Some(&[0; 4]), Some(1618))]),
            BadPeer,
        ),
        (
            "pd ip ::ffff:0.0.0.0",
            peer_msg(&[pd(Some(&ip16("0.0.0.0")), Some(1618))]),
            BadPeer,
        ),
        (
            "pd ip ff02::1",
            peer_msg(&[pd(Some(&ip16("ff02::1")), Some(1618))]),
            BadPeer,
        ),
        (
            "pd ip 224.0.0.1 (4 bytes)",
            peer_msg(&[pd(Some(&[224, 0, 0, 1]), Some(1618))]),
            BadPeer,
        ),
        (
            "pd ip ::ffff:239.1.2.3",
            peer_msg(&[pd(Some(&ip16("239.1.2.3")), Some(1618))]),
            BadPeer,
        ),
        (
            "good pd then bad pd",
            peer_msg(&[good_pd.clone(), pd(Some(&[0; 16]), Some(1618))]),
            BadPeer,
        ),
        // Required fields.
        ("PUT without sig", put().without(9).bytes(), Missing),
        ("PUT without pubkey", put().without(8).bytes(), Missing),
        ("PUT without work", put().without(7).bytes(), Missing),
        ("PUT without salt", put().without(6).bytes(), Missing),
        ("PUT without time", put().without(5).bytes(), Missing),
        (
            "GET with neither work nor pubkey",
            vec![0x08, 0x03],
            Missing,
        ),
        (
            "GET with only a key",
            Fields {
                op: Some(3),
                f: vec![(3, b"greeting".to_vec())],
            }
            .bytes(),
            Missing,
        ),
    ];

    let mut failures = Vec::new();
    for (name, bytes, want) in &cases {
        let got = decode(bytes);
        if got != Err(*want) {
            failures.push(format!(
                "{name}: expected Err({want:?}), got {got:?}\n    input {}",
                Hex(bytes)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rejection cases wrong:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

/// proto3 has no presence for singular `bytes`: a zero-length field is the
/// same message as an absent one. So a PUT whose salt field is present but
/// empty has no salt and fails with Missing (the reason a proto3 peer would
/// give), and a GET by name that also carries an empty work field is a valid
/// GET by name.
#[test]
fn empty_field_is_the_same_as_absent() {
    let v = vectors();
    let b = Fields::put(&v).set(6, b"").bytes();
    assert_eq!(
        decode(&b),
        Err(DecodeError::Missing),
        "PUT with a zero-length salt field: {}",
        Hex(&b)
    );
    let by_name = Fields {
        op: Some(3),
        f: vec![(3, b"greeting".to_vec()), (8, v.pubkey.to_vec())],
    };
    let plain = by_name.bytes();
    let want = decode(&plain).expect("GET by name");
    let b = by_name.set(7, b"").bytes();
    assert_eq!(
        decode(&b),
        Ok(want),
        "GET by name with a zero-length work field: {}",
        Hex(&b)
    );
}

#[test]
fn valid_edge_cases_decode() {
    let v = vectors();
    let put = Fields::put(&v).bytes();
    let put_msg = decode(&put).expect("base PUT");
    let get = Fields::get_by_work().bytes();
    let get_msg = decode(&get).expect("base GET");
    let peer = peer_msg(&[
        pd(Some(&ip16("192.0.2.7")), Some(1618)),
        pd(Some(&ip16("2001:db8::1")), Some(65535)),
    ]);
    let peer_m = decode(&peer).expect("base PEER");
    assert_eq!(peer_m.npds, 2);

    // Unknown fields (varint, fixed64, bytes, fixed32, the largest field
    // number) are skipped wherever they appear.
    let mut unknown = Vec::new();
    var_field(&mut unknown, 15, 300);
    tag(&mut unknown, 12, 1);
    unknown.extend_from_slice(&[7; 8]);
    len_field(&mut unknown, 20, b"future");
    tag(&mut unknown, 13, 5);
    unknown.extend_from_slice(&[7; 4]);
    var_field(&mut unknown, (1 << 29) - 1, 1);
    for (name, base, want) in [
        ("PUT", &put, put_msg),
        ("GET", &get, get_msg),
        ("PEER", &peer, peer_m),
        (
            "GETPEER",
            &getpeer_bytes(),
            Msg {
                op: Op::Getpeer,
                cookie: &[9; 8],
                ..Msg::default()
            },
        ),
    ] {
        let mut after = base.clone();
        after.extend_from_slice(&unknown);
        let mut before = unknown.clone();
        before.extend_from_slice(base);
        for (pos, b) in [("after", after), ("before", before)] {
            assert_eq!(
                decode(&b),
                Ok(want),
                "{name} with unknown fields {pos}: {}",
                Hex(&b)
            );
        }
    }
    // Field 15 varint and field 20 bytes in the middle of a PUT.
    let mut mid = Vec::new();
    var_field(&mut mid, 1, 2);
    var_field(&mut mid, 15, 1);
    len_field(&mut mid, 20, &[0xff; 40]);
    mid.extend_from_slice(&put[2..]);
    assert_eq!(decode(&mid), Ok(put_msg), "PUT with unknown fields inside");

    // An unknown field inside a peer descriptor is skipped too.
    let mut pd_unknown = pd(Some(&ip16("192.0.2.7")), Some(1618));
    len_field(&mut pd_unknown, 5, b"x");
    let b = peer_msg(&[pd_unknown]);
    let m = decode(&b).expect("pd with unknown field");
    assert_eq!(
        m.peers(),
        &[Pd::from_addr("192.0.2.7:1618".parse().unwrap())][..]
    );

    // A 4-byte IPv4 descriptor is accepted and mapped.
    let b = peer_msg(&[pd(Some(&[198, 51, 100, 9]), Some(1))]);
    let m = decode(&b).expect("v4 pd");
    assert_eq!(m.pds[0].ip, ip16("198.51.100.9"));
    assert_eq!(m.pds[0].addr(), "198.51.100.9:1".parse().unwrap());

    // A PEER with no descriptors; an explicit op 0 is a GETPEER.
    assert_eq!(
        decode(&peer_msg(&[])),
        Ok(Msg {
            op: Op::Peer,
            cookie: &[5; 8],
            token: &[6; 8],
            ..Msg::default()
        })
    );
    let explicit_getpeer = [&[0x08, 0x00][..], &getpeer_bytes()].concat();
    assert_eq!(
        wire::decode(&explicit_getpeer),
        Ok(Packet::Getpeer { cookie: &[9; 8] })
    );
    // The op may come last.
    let mut op_last = put[2..].to_vec();
    op_last.extend_from_slice(&[0x08, 0x02]);
    assert_eq!(decode(&op_last), Ok(put_msg));
    // Empty key and value are legal in a PUT (the first vector has both).
    let d = decode(&v.puts[0].packet).expect("empty key and val");
    assert!(d.key.is_empty() && d.val.is_empty());
    // A GET by name with a 32-byte key, and with an empty key.
    for key in [&[b'k'; 32][..], b""] {
        let b = Fields {
            op: Some(3),
            f: vec![(3, key.to_vec()), (8, v.pubkey.to_vec())],
        }
        .bytes();
        let d = decode(&b).expect("GET by name");
        assert_eq!((d.key, d.pubkey), (key, &v.pubkey[..]));
    }
}

// ---------------------------------------------------------------------------
// (e) Limits.

#[test]
fn round_trips_at_the_limits() {
    let key = [b'K'; 32];
    let salt = [b'S'; 32];
    let max = wire::max_val_len(32, 32);
    let val = vec![b'V'; max];
    let m = Msg {
        op: Op::Put,
        key: &key,
        val: &val,
        time: &[1, 2, 3, 4, 5, 6, 7, 8],
        salt: &salt,
        work: &[0xee; 32],
        pubkey: &[0xdd; 32],
        sig: &[0xcc; 64],
        ..Msg::default()
    };
    assert_eq!(m.encoded_len(), PACKET_MAX);
    let mut buf = [0u8; PACKET_MAX];
    let n = encode_into(&m, &mut buf).expect("largest PUT fits PACKET_MAX");
    assert_eq!(n, PACKET_MAX);
    assert_eq!(decode(&buf), Ok(m), "largest PUT decodes back equal");

    // One more value byte does not fit.
    let val2 = vec![b'V'; max + 1];
    let m2 = Msg { val: &val2, ..m };
    assert!(m2.encoded_len() > PACKET_MAX);
    assert!(matches!(
        encode_into(&m2, &mut buf),
        Err(EncodeError::TooLarge {
            room: PACKET_MAX,
            ..
        })
    ));
    // A buffer one byte short is refused, not overrun.
    let mut short = [0u8; PACKET_MAX - 1];
    assert_eq!(
        encode_into(&m, &mut short),
        Err(EncodeError::TooLarge {
            need: PACKET_MAX,
            room: PACKET_MAX - 1
        })
    );

    // A datagram of exactly MTU bytes is read (a longer one is not).
    let mut big = vec![0u8; MTU];
    let mut val3 = vec![b'V'; MTU - (PACKET_MAX - max)];
    let m3 = loop {
        let m3 = Msg { val: &val3, ..m };
        if m3.encoded_len() <= MTU {
            break m3.encoded_len();
        }
        val3.pop();
    };
    val3.resize(val3.len() + (MTU - m3), b'V');
    let m3 = Msg { val: &val3, ..m };
    assert_eq!(m3.encoded_len(), MTU);
    assert_eq!(encode_into(&m3, &mut big), Ok(MTU));
    assert_eq!(decode(&big), Ok(m3), "an MTU-sized datagram decodes");

    // The smallest PUT: empty key and value, one-byte salt.
    let m4 = Msg {
        key: b"",
        val: b"",
        salt: &[1],
        ..m
    };
    let n = encode_into(&m4, &mut buf).expect("smallest PUT");
    assert_eq!(decode(&buf[..n]), Ok(m4));
}

// ---------------------------------------------------------------------------
// (f) Robustness: random and mutated datagrams never panic the decoder, and
// whatever decodes re-encodes to a message that decodes back equal.

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let s = std::env::var(name).ok()?;
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A message built from protobuf-shaped pieces: mostly the right fields with
/// sizes near the legal ones, so that a good share decodes.
fn structured(r: &mut SplitMix, out: &mut Vec<u8>) {
    out.clear();
    let nfields = r.below(10);
    for _ in 0..nfields {
        let field = match r.below(20) {
            0 => 0,
            1..=14 => 1 + r.below(11),
            15..=17 => 10 + r.below(20),
            _ => 1 + r.below(1 << 29),
        };
        let right_wt = if field == 1 { 0 } else { 2 };
        let wt = if r.chance(12) { r.below(8) } else { right_wt };
        tag(out, field, wt);
        match wt {
            0 => {
                let v = match r.below(6) {
                    0..=3 => r.below(5),
                    4 => r.next(),
                    _ => r.below(1 << 16),
                };
                varint(out, v);
            }
            1 => {
                let n = if r.chance(8) { r.below(8) } else { 8 };
                out.extend((0..n).map(|_| r.next() as u8));
            }
            5 => {
                let n = if r.chance(8) { r.below(4) } else { 4 };
                out.extend((0..n).map(|_| r.next() as u8));
            }
            2 if field == 2 && !r.chance(10) => {
                // A peer descriptor.
                let mut p = Vec::new();
                let ip: Vec<u8> = match r.below(8) {
                    0 => vec![r.next() as u8; r.below(20) as usize],
                    1 | 2 => (0..4).map(|_| r.next() as u8).collect(),
                    3 => ip16("::").to_vec(),
                    4 => ip16("ff02::1").to_vec(),
                    _ => {
                        let mut b = ip16("192.0.2.1");
                        b[15] = r.next() as u8;
                        if r.chance(2) {
                            b[..12].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
                        }
                        b.to_vec()
                    }
                };
                if !r.chance(10) {
                    len_field(&mut p, 1, &ip);
                }
                if !r.chance(10) {
                    let port = match r.below(5) {
                        0 => 0,
                        1 => 65535 + r.below(3),
                        _ => 1 + r.below(65535),
                    };
                    var_field(&mut p, 2, port);
                }
                if r.chance(6) {
                    len_field(&mut p, 3 + r.below(5), b"zz");
                }
                len_field(out, 2, &p);
            }
            2 => {
                let legal = match field {
                    3 => r.below(33),
                    4 => r.below(200),
                    5 => 8,
                    6 => 1 + r.below(32),
                    7 | 8 => 32,
                    9 => 64,
                    10 | 11 => 8,
                    _ => r.below(20),
                };
                let n = if r.chance(6) { r.below(70) } else { legal };
                let mut data = vec![0u8; n as usize];
                r.fill(&mut data);
                let len = if r.chance(30) { n + 1 + r.below(3) } else { n };
                varint(out, len);
                out.extend_from_slice(&data);
            }
            _ => {}
        }
    }
    if r.chance(20) {
        let cut = r.below(out.len() as u64 + 1) as usize;
        out.truncate(cut);
    }
}

/// Mutates `buf` in place: bit flips, byte writes, inserts, deletes,
/// truncation, splices and length-byte nudges.
fn mutate(r: &mut SplitMix, buf: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let n = 1 + r.below(4);
    for _ in 0..n {
        let len = buf.len() as u64;
        match r.below(8) {
            0 | 1 if len > 0 => {
                let i = r.below(len) as usize;
                buf[i] ^= 1 << r.below(8);
            }
            2 if len > 0 => {
                let i = r.below(len) as usize;
                buf[i] = r.next() as u8;
            }
            3 => {
                let i = r.below(len + 1) as usize;
                buf.insert(i, r.next() as u8);
            }
            4 if len > 0 => {
                let i = r.below(len) as usize;
                buf.remove(i);
            }
            5 if len > 0 => {
                let i = r.below(len) as usize;
                buf.truncate(i);
            }
            6 => {
                // Splice a run of another corpus packet in.
                let other = &corpus[r.below(corpus.len() as u64) as usize];
                if !other.is_empty() {
                    let a = r.below(other.len() as u64) as usize;
                    let b = a + r.below((other.len() - a) as u64 + 1) as usize;
                    let at = r.below(len + 1) as usize;
                    let tail = buf.split_off(at);
                    buf.extend_from_slice(&other[a..b]);
                    buf.extend_from_slice(&tail);
                }
            }
            _ if len > 0 => {
                let i = r.below(len) as usize;
                buf[i] = buf[i].wrapping_add(if r.chance(2) { 1 } else { 255 });
            }
            _ => {}
        }
    }
    buf.truncate(MTU + 1);
}

#[derive(Default)]
struct FuzzTally {
    decoded_by_op: [u64; 4],
    rejected: u64,
    failures: Vec<String>,
    failure_kinds: Vec<String>,
}

impl FuzzTally {
    fn fail(
        &mut self,
        kind: String,
        seed: u64,
        gen: &str,
        iter: u64,
        input: &[u8],
        detail: String,
    ) {
        if self.failure_kinds.contains(&kind) {
            return;
        }
        self.failure_kinds.push(kind.clone());
        self.failures.push(format!(
            "{kind}: seed {seed:#x}, generator {gen}, iteration {iter}: {detail}\n    input ({} bytes) {}",
            input.len(),
            Hex(input)
        ));
    }
}

fn check_one(t: &mut FuzzTally, seed: u64, gen: &str, iter: u64, input: &[u8]) {
    let res = std::panic::catch_unwind(|| decode(input));
    let m = match res {
        Err(_) => {
            return t.fail(
                "decode panicked".into(),
                seed,
                gen,
                iter,
                input,
                String::new(),
            )
        }
        Ok(Err(_)) => {
            t.rejected += 1;
            return;
        }
        Ok(Ok(m)) => m,
    };
    t.decoded_by_op[m.op as usize] += 1;
    let op = m.op.name();
    // Fill with a pattern so bytes the encoder claims but does not write show up.
    let mut out = [0xa5u8; MTU];
    let n = match encode_into(&m, &mut out) {
        Ok(n) => n,
        Err(e) => {
            return t.fail(
                format!("{op}: encode failed"),
                seed,
                gen,
                iter,
                input,
                format!("{e}"),
            );
        }
    };
    if n != m.encoded_len() {
        let d = format!("encode_into returned {n}, encoded_len {}", m.encoded_len());
        return t.fail(format!("{op}: length mismatch"), seed, gen, iter, input, d);
    }
    match decode(&out[..n]) {
        Ok(m2) if m2 == m => {
            let mut out2 = [0x5au8; MTU];
            match encode_into(&m2, &mut out2) {
                Ok(n2) if out2[..n2] == out[..n] => {}
                _ => t.fail(
                    format!("{op}: re-encoding is not a fixpoint"),
                    seed,
                    gen,
                    iter,
                    input,
                    format!("first encoding {}", Hex(&out[..n])),
                ),
            }
        }
        Ok(m2) => t.fail(
            format!("{op}: re-decoded message differs"),
            seed,
            gen,
            iter,
            input,
            format!("decoded {m:?}\n    re-decoded {m2:?}"),
        ),
        Err(e) => t.fail(
            format!("{op}: re-encoding does not decode ({e:?})"),
            seed,
            gen,
            iter,
            input,
            format!("re-encoded {}", Hex(&out[..n])),
        ),
    }
}

#[test]
fn decode_never_panics_and_round_trips() {
    let seed = env_u64("DAVE_FUZZ_SEED").unwrap_or(0x0dd5_eed5_da7e_2025);
    // Three generators of this many inputs each: ~300k decodes in total.
    let iters = env_u64("DAVE_FUZZ_ITERS").unwrap_or(100_000);
    let v = vectors();

    let mut corpus: Vec<Vec<u8>> = v.puts.iter().map(|p| p.packet.clone()).collect();
    corpus.extend([
        v.getpeer.clone(),
        v.get_by_work.clone(),
        v.get_by_name.clone(),
        v.peer_two.clone(),
        peer_msg(&[pd(Some(&[198, 51, 100, 9]), Some(7))]),
        peer_msg(&[pd(Some(&ip16("2001:db8::5")), Some(65535))]),
    ]);
    let mut with_unknown = v.get_by_work.clone();
    len_field(&mut with_unknown, 20, b"future");
    var_field(&mut with_unknown, 15, 1);
    corpus.push(with_unknown);

    let started = std::time::Instant::now();
    let mut t = FuzzTally::default();
    let mut r = SplitMix(seed);
    let mut buf = Vec::with_capacity(2 * MTU);

    for i in 0..iters {
        // Uniformly random bytes, any length 0..=MTU+1.
        let len = r.below(MTU as u64 + 2) as usize;
        // Short buffers are the interesting ones for random bytes.
        let len = if r.chance(2) { len % 24 } else { len };
        buf.clear();
        buf.resize(len, 0);
        r.fill(&mut buf);
        check_one(&mut t, seed, "random", i, &buf);
    }
    for i in 0..iters {
        buf.clear();
        buf.extend_from_slice(&corpus[r.below(corpus.len() as u64) as usize]);
        mutate(&mut r, &mut buf, &corpus);
        check_one(&mut t, seed, "mutate", i, &buf);
    }
    for i in 0..iters {
        structured(&mut r, &mut buf);
        check_one(&mut t, seed, "structured", i, &buf);
    }
    let decoded: u64 = t.decoded_by_op.iter().sum();
    eprintln!(
        "fuzz: seed {seed:#x}, {} inputs in {:.2?}: {decoded} decoded \
         (getpeer/peer/put/get {:?}), {} rejected, {} distinct failures",
        3 * iters,
        started.elapsed(),
        t.decoded_by_op,
        t.rejected,
        t.failures.len()
    );
    assert!(
        t.failures.is_empty(),
        "decode/encode round trip failed (seed {seed:#x}; first input of each kind):\n  {}",
        t.failures.join("\n  ")
    );
    if iters >= 10_000 {
        for (op, n) in Op::ALL.iter().zip(t.decoded_by_op) {
            assert!(
                n > 0,
                "seed {seed:#x}: no {} message decoded; the fuzz is too weak",
                op.name()
            );
        }
    }
}

#[test]
fn cookie_vectors() {
    let v = vectors();
    assert!(!v.cookies.is_empty(), "vectors: no cookies");
    for (ip, port, input, want) in &v.cookies {
        let ip: std::net::IpAddr = ip.parse().expect("an address");
        let a = SocketAddr::new(ip, *port);
        // The keyed-hash input is ip16 || port LE, IPv4 v4-mapped.
        let ip16 = match ip {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => v6.octets(),
        };
        assert_eq!(
            &[&ip16[..], &port.to_le_bytes()].concat(),
            input,
            "{a}: input"
        );
        assert_eq!(&dave_core::cookie(&v.cookie_secret, a), want, "{a}: cookie");
    }
}
