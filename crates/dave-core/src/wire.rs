//! The wire format (docs/protocol.md section 2): a borrowed, allocation-free view
//! of one protobuf message `M` per datagram, and an encoder into a caller's
//! fixed buffer.
//!
//! Decoding borrows every byte field from the receive buffer and keeps at most
//! [`NPEER`] peer descriptors in a fixed array. It is strict where protobuf is
//! lenient, because every field here has one legal size: a field of the wrong
//! wire type, a repeated singular field, or a field of impossible length drops
//! the packet. Unknown fields are skipped for forward compatibility.
//!
//! One piece on purpose (over 800 lines with its tests): the field numbers,
//! the size rules, the typed packets, the decoder and the encoder must
//! agree byte for byte, and kept side by side they cannot drift.

use quick_protobuf::{BytesReader, BytesWriter, Writer};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Most peer descriptors in one PEER message.
pub const NPEER: usize = 2;
/// Largest datagram a node sends.
pub const PACKET_MAX: usize = 1424;
/// Receive buffer size; a longer datagram is dropped.
pub const MTU: usize = 1500;
/// Longest key, in bytes.
pub const KEY_MAX: usize = 32;
/// Longest salt, in bytes.
pub const SALT_MAX: usize = 32;
/// Size of `time`: little-endian unsigned milliseconds since the Unix epoch.
pub const TIME_LEN: usize = 8;
/// Size of a work hash, a public key, and a signature.
pub const WORK_LEN: usize = 32;
/// Size of an Ed25519 public key.
pub const PUBKEY_LEN: usize = 32;
/// Size of an Ed25519 signature.
pub const SIG_LEN: usize = 64;
/// Size of a cookie and of a token (docs/protocol.md 5.3).
pub const COOKIE_LEN: usize = 8;
/// Bytes a token adds to a datagram: tag, length, 8 bytes.
pub const TOKEN_FIELD_LEN: usize = 2 + COOKIE_LEN;
/// Largest datagram a node sends: a dat of at most [`PACKET_MAX`] bytes
/// and a token.
pub const DATAGRAM_MAX: usize = PACKET_MAX + TOKEN_FIELD_LEN;
/// Field number of `cookie`.
pub const FIELD_COOKIE: u32 = 10;
/// Field number of `token`.
pub const FIELD_TOKEN: u32 = 11;

/// A cookie or token.
pub type Cookie = [u8; COOKIE_LEN];

/// Message operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Op {
    /// Ask for peers.
    #[default]
    Getpeer = 0,
    /// Up to NPEER peer descriptors, answering a GETPEER.
    Peer = 1,
    /// A dat.
    Put = 2,
    /// Ask for a dat by work hash or by name.
    Get = 3,
}

impl Op {
    /// Every op, in wire order.
    pub const ALL: [Op; 4] = [Op::Getpeer, Op::Peer, Op::Put, Op::Get];

    fn from_wire(v: u64) -> Option<Op> {
        Op::ALL.into_iter().find(|op| *op as u64 == v)
    }

    /// Short lowercase name, for logs and counters.
    pub fn name(self) -> &'static str {
        match self {
            Op::Getpeer => "getpeer",
            Op::Peer => "peer",
            Op::Put => "put",
            Op::Get => "get",
        }
    }
}

/// One counter per op, indexed by [`Op`].
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct PerOp(pub [u64; Op::ALL.len()]);

impl fmt::Debug for PerOp {
    // As the bare array: digests of a node's counters stay comparable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Index<Op> for PerOp {
    type Output = u64;
    fn index(&self, op: Op) -> &u64 {
        &self.0[op as usize]
    }
}

impl std::ops::IndexMut<Op> for PerOp {
    fn index_mut(&mut self, op: Op) -> &mut u64 {
        &mut self.0[op as usize]
    }
}

/// A peer descriptor: a 16-byte IPv6 address (IPv4 as `::ffff:a.b.c.d`) and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Pd {
    /// IPv6 or v4-mapped address bytes.
    pub ip: [u8; 16],
    /// UDP port, 1..=65535 once validated.
    pub port: u16,
}

impl Pd {
    /// The descriptor for a socket address (IPv4 is mapped into IPv6).
    pub fn from_addr(addr: SocketAddr) -> Pd {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        Pd {
            ip,
            port: addr.port(),
        }
    }

    /// The canonical socket address (v4-mapped addresses become IPv4).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(Ipv6Addr::from(self.ip).to_canonical(), self.port)
    }
}

pub use crate::reason::DecodeError;

/// A decoded, validated datagram: one type per op, with every fixed-size
/// field as an array, so no caller ever re-checks a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Ask for peers, and hand the receiver a cookie to quote back (other
    /// fields are ignored).
    Getpeer {
        /// The sender's cookie for the receiver.
        cookie: &'a Cookie,
    },
    /// The answer to a GETPEER: the receiver's cookie for the asker, and up
    /// to [`NPEER`] peer descriptors (the token, required, is in the
    /// [`Datagram`]).
    Peer {
        /// The sender's cookie for the receiver.
        cookie: &'a Cookie,
        /// The descriptors.
        list: PeerList,
    },
    /// A dat.
    Put(Put<'a>),
    /// Ask for a dat.
    Get(Get<'a>),
}

impl<'a> Packet<'a> {
    /// The op.
    pub fn op(&self) -> Op {
        match self {
            Packet::Getpeer { .. } => Op::Getpeer,
            Packet::Peer { .. } => Op::Peer,
            Packet::Put(_) => Op::Put,
            Packet::Get(_) => Op::Get,
        }
    }

    /// The message to encode this packet again (fields the op ignores are
    /// not kept).
    pub fn msg(&self) -> Msg<'a> {
        match *self {
            Packet::Getpeer { cookie } => Msg {
                op: Op::Getpeer,
                cookie,
                ..Msg::default()
            },
            Packet::Peer { cookie, list } => Msg {
                op: Op::Peer,
                pds: list.pds,
                npds: list.len,
                cookie,
                ..Msg::default()
            },
            Packet::Put(p) => p.msg(),
            Packet::Get(g) => g.msg(),
        }
    }

    /// Checks a decoded message against the op table of the wire format
    /// (sizes were checked while decoding, and are checked again here so
    /// that a message built by hand gets the same answer).
    pub fn from_msg(m: &Msg<'a>) -> Result<Packet<'a>, DecodeError> {
        let cookie = || <&Cookie>::try_from(m.cookie).map_err(|_| DecodeError::Missing);
        Ok(match m.op {
            Op::Getpeer => Packet::Getpeer { cookie: cookie()? },
            Op::Peer => {
                if m.token.is_empty() {
                    return Err(DecodeError::Missing);
                }
                Packet::Peer {
                    cookie: cookie()?,
                    list: PeerList::new(m.peers()),
                }
            }
            Op::Put => Packet::Put(Put::from_msg(m)?),
            Op::Get => Packet::Get(Get::from_msg(m)?),
        })
    }
}

/// A decoded datagram: its typed packet and the token it quotes, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// What it carries.
    pub packet: Packet<'a>,
    /// The latest cookie the receiver issued the sender, quoted back
    /// (docs/protocol.md 5.3); required on a PEER.
    pub token: Option<&'a Cookie>,
}

impl<'a> Datagram<'a> {
    /// The message to encode this datagram again.
    pub fn msg(&self) -> Msg<'a> {
        Msg {
            token: self.token.map_or(&[][..], |t| &t[..]),
            ..self.packet.msg()
        }
    }
}

/// The descriptors of a PEER message: at most [`NPEER`], in a fixed array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PeerList {
    pds: [Pd; NPEER],
    len: u8,
}

impl PeerList {
    /// The first [`NPEER`] of `pds`.
    pub fn new(pds: &[Pd]) -> PeerList {
        let mut l = PeerList::default();
        for (slot, pd) in l.pds.iter_mut().zip(pds) {
            *slot = *pd;
            l.len += 1;
        }
        l
    }

    /// The descriptors.
    pub fn as_slice(&self) -> &[Pd] {
        &self.pds[..self.len as usize]
    }
}

/// A PUT: one dat, every fixed-size field an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Put<'a> {
    /// Key, 0..=32 bytes.
    pub key: &'a [u8],
    /// Value.
    pub val: &'a [u8],
    /// Milliseconds since the Unix epoch, little-endian.
    pub time: &'a [u8; TIME_LEN],
    /// Salt, 1..=32 bytes.
    pub salt: &'a [u8],
    /// Work hash.
    pub work: &'a [u8; WORK_LEN],
    /// The writer's Ed25519 public key.
    pub pubkey: &'a [u8; PUBKEY_LEN],
    /// The writer's signature over `work`.
    pub sig: &'a [u8; SIG_LEN],
}

impl<'a> Put<'a> {
    /// `time` in milliseconds.
    pub fn time_ms(&self) -> u64 {
        u64::from_le_bytes(*self.time)
    }

    /// The message that encodes this PUT.
    pub fn msg(&self) -> Msg<'a> {
        Msg {
            op: Op::Put,
            key: self.key,
            val: self.val,
            time: self.time,
            salt: self.salt,
            work: self.work,
            pubkey: self.pubkey,
            sig: self.sig,
            ..Msg::default()
        }
    }

    /// The PUT a message describes, if every field has its size.
    pub fn from_msg(m: &Msg<'a>) -> Result<Put<'a>, DecodeError> {
        if m.op != Op::Put {
            return Err(DecodeError::Missing);
        }
        let (Ok(time), Ok(work), Ok(pubkey), Ok(sig)) = (
            m.time.try_into(),
            m.work.try_into(),
            m.pubkey.try_into(),
            m.sig.try_into(),
        ) else {
            return Err(DecodeError::Missing);
        };
        if m.salt.is_empty() {
            return Err(DecodeError::Missing);
        }
        if m.key.len() > KEY_MAX || m.salt.len() > SALT_MAX {
            return Err(DecodeError::FieldSize);
        }
        Ok(Put {
            key: m.key,
            val: m.val,
            time,
            salt: m.salt,
            work,
            pubkey,
            sig,
        })
    }
}

/// A GET: by work hash (that exact dat), or by name (the current dat of a
/// name). A GET carrying both asks by work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Get<'a> {
    /// The dat with this work hash.
    Work(&'a [u8; WORK_LEN]),
    /// The current dat of the name (pubkey, key).
    Name {
        /// Owner.
        pubkey: &'a [u8; PUBKEY_LEN],
        /// Key, 0..=32 bytes.
        key: &'a [u8],
    },
}

impl<'a> Get<'a> {
    /// The message that encodes this GET.
    pub fn msg(&self) -> Msg<'a> {
        match *self {
            Get::Work(work) => Msg {
                op: Op::Get,
                work,
                ..Msg::default()
            },
            Get::Name { pubkey, key } => Msg {
                op: Op::Get,
                pubkey,
                key,
                ..Msg::default()
            },
        }
    }

    /// The GET a message describes.
    pub fn from_msg(m: &Msg<'a>) -> Result<Get<'a>, DecodeError> {
        if let Ok(work) = m.work.try_into() {
            return Ok(Get::Work(work));
        }
        match m.pubkey.try_into() {
            Ok(pubkey) if m.key.len() <= KEY_MAX => Ok(Get::Name { pubkey, key: m.key }),
            Ok(_) => Err(DecodeError::FieldSize),
            Err(_) => Err(DecodeError::Missing),
        }
    }
}

impl From<quick_protobuf::Error> for DecodeError {
    fn from(_: quick_protobuf::Error) -> Self {
        DecodeError::Malformed
    }
}

/// A decoded message. Byte fields borrow from the buffer it was decoded from;
/// absent fields are empty slices (proto3 defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msg<'a> {
    /// Operation.
    pub op: Op,
    /// Peer descriptors; only the first `npds` are meaningful.
    pub pds: [Pd; NPEER],
    /// Number of peer descriptors.
    pub npds: u8,
    /// Key, 0..=32 bytes.
    pub key: &'a [u8],
    /// Value.
    pub val: &'a [u8],
    /// Time, 8 bytes little-endian ms (or empty).
    pub time: &'a [u8],
    /// Salt, 1..=32 bytes (or empty).
    pub salt: &'a [u8],
    /// Work hash, 32 bytes (or empty).
    pub work: &'a [u8],
    /// Public key, 32 bytes (or empty).
    pub pubkey: &'a [u8],
    /// Signature, 64 bytes (or empty).
    pub sig: &'a [u8],
    /// The sender's cookie for the receiver, 8 bytes (GETPEER, PEER).
    pub cookie: &'a [u8],
    /// The receiver's cookie for the sender, quoted back, 8 bytes (any op).
    pub token: &'a [u8],
}

impl<'a> Msg<'a> {
    /// A message with only an op.
    pub fn op(op: Op) -> Msg<'static> {
        Msg {
            op,
            ..Msg::default()
        }
    }

    /// The peer descriptors carried.
    pub fn peers(&self) -> &[Pd] {
        &self.pds[..self.npds as usize]
    }

    /// `time` as milliseconds (0 when absent).
    pub fn time_ms(&self) -> u64 {
        match <[u8; 8]>::try_from(self.time) {
            Ok(b) => u64::from_le_bytes(b),
            Err(_) => 0,
        }
    }

    /// Exact encoded size of this message.
    pub fn encoded_len(&self) -> usize {
        let mut n = 0;
        if self.op != Op::Getpeer {
            n += 2; // tag + one-byte varint
        }
        for pd in self.peers() {
            n += field_len(1, pd_len(pd));
        }
        for (_, f) in self.byte_fields() {
            if !f.is_empty() {
                n += field_len(1, f.len());
            }
        }
        n
    }

    fn byte_fields(&self) -> [(u32, &'a [u8]); 9] {
        [
            (3, self.key),
            (4, self.val),
            (5, self.time),
            (6, self.salt),
            (7, self.work),
            (8, self.pubkey),
            (9, self.sig),
            (FIELD_COOKIE, self.cookie),
            (FIELD_TOKEN, self.token),
        ]
    }
}

const WT_VARINT: u32 = 0;
const WT_LEN: u32 = 2;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Bytes of a length-delimited field whose tag fits in one byte.
fn field_len(tag_len: usize, len: usize) -> usize {
    tag_len.max(1) + varint_len(len as u64) + len
}

fn pd_len(pd: &Pd) -> usize {
    field_len(1, 16) + 1 + varint_len(pd.port as u64)
}

/// Checks that a byte field has a legal length for any message. An empty
/// field is the same as an absent one (proto3), so it is always legal here;
/// op validation then decides whether the field was required.
fn check_size(field: u32, len: usize) -> Result<(), DecodeError> {
    let ok = len == 0
        || match field {
            3 => len <= KEY_MAX,
            4 => len <= MTU,
            5 => len == TIME_LEN,
            6 => (1..=SALT_MAX).contains(&len),
            7 | 8 => len == WORK_LEN,
            9 => len == SIG_LEN,
            FIELD_COOKIE | FIELD_TOKEN => len == COOKIE_LEN,
            _ => true,
        };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::FieldSize)
    }
}

/// Decodes one datagram and validates it for its op (docs/protocol.md
/// section 2); the token, if any, is dropped (see [`decode_datagram`]).
pub fn decode(buf: &[u8]) -> Result<Packet<'_>, DecodeError> {
    decode_datagram(buf).map(|d| d.packet)
}

/// Decodes one datagram, its packet and its token.
pub fn decode_datagram(buf: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    if buf.len() > MTU {
        return Err(DecodeError::TooLong);
    }
    let mut m = Msg::default();
    let mut r = BytesReader::from_bytes(buf);
    let mut seen: u16 = 0;
    while !r.is_eof() {
        let tag = r.next_tag(buf)?;
        let field = tag >> 3;
        let wt = tag & 7;
        if field == 0 {
            return Err(DecodeError::Malformed);
        }
        if field > FIELD_TOKEN {
            r.read_unknown(buf, tag)?;
            continue;
        }
        let want = if field == 1 { WT_VARINT } else { WT_LEN };
        if wt != want {
            return Err(DecodeError::WireType);
        }
        if field != 2 {
            if seen & (1 << field) != 0 {
                return Err(DecodeError::Duplicate);
            }
            seen |= 1 << field;
        }
        match field {
            1 => m.op = Op::from_wire(r.read_varint64(buf)?).ok_or(DecodeError::UnknownOp)?,
            2 => {
                let b = r.read_bytes(buf)?;
                if m.npds as usize == NPEER {
                    return Err(DecodeError::TooManyPeers);
                }
                m.pds[m.npds as usize] = decode_pd(b)?;
                m.npds += 1;
            }
            _ => {
                let b = r.read_bytes(buf)?;
                check_size(field, b.len())?;
                match field {
                    3 => m.key = b,
                    4 => m.val = b,
                    5 => m.time = b,
                    6 => m.salt = b,
                    7 => m.work = b,
                    8 => m.pubkey = b,
                    9 => m.sig = b,
                    FIELD_COOKIE => m.cookie = b,
                    _ => m.token = b,
                }
            }
        }
    }
    Ok(Datagram {
        packet: Packet::from_msg(&m)?,
        token: <&Cookie>::try_from(m.token).ok(),
    })
}

fn decode_pd(b: &[u8]) -> Result<Pd, DecodeError> {
    let mut r = BytesReader::from_bytes(b);
    let mut ip: Option<&[u8]> = None;
    let mut port: Option<u64> = None;
    while !r.is_eof() {
        let tag = r.next_tag(b)?;
        match (tag >> 3, tag & 7) {
            (1, WT_LEN) if ip.is_none() => ip = Some(r.read_bytes(b)?),
            (2, WT_VARINT) if port.is_none() => port = Some(r.read_varint64(b)?),
            (1, _) | (2, _) => return Err(DecodeError::BadPeer),
            (0, _) => return Err(DecodeError::Malformed),
            _ => r.read_unknown(b, tag)?,
        }
    }
    let ip: [u8; 16] = match ip.unwrap_or(&[]) {
        b4 if b4.len() == 4 => std::net::Ipv4Addr::new(b4[0], b4[1], b4[2], b4[3])
            .to_ipv6_mapped()
            .octets(),
        b16 => b16.try_into().map_err(|_| DecodeError::BadPeer)?,
    };
    let port = match port {
        Some(p @ 1..=65535) => p as u16,
        _ => return Err(DecodeError::BadPeer),
    };
    let canon = Ipv6Addr::from(ip).to_canonical();
    if canon.is_unspecified() || canon.is_multicast() {
        return Err(DecodeError::BadPeer);
    }
    if let IpAddr::V4(v4) = canon {
        if v4.is_broadcast() {
            return Err(DecodeError::BadPeer);
        }
    }
    Ok(Pd { ip, port })
}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The message is larger than the buffer (or than PACKET_MAX).
    TooLarge {
        /// Bytes the message needs.
        need: usize,
        /// Bytes available.
        room: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { need, room } => {
                write!(f, "message needs {need} bytes but only {room} fit")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Encodes `m` into `buf` in field-number order, omitting empty fields, and
/// returns the length written. Fails without writing if it does not fit.
pub fn encode_into(m: &Msg<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let need = m.encoded_len();
    if need > buf.len() {
        return Err(EncodeError::TooLarge {
            need,
            room: buf.len(),
        });
    }
    let mut w = Writer::new(BytesWriter::new(&mut buf[..need]));
    // Writing cannot fail: every size was counted above.
    let res: quick_protobuf::Result<()> = (|| {
        if m.op != Op::Getpeer {
            w.write_tag(1 << 3 | WT_VARINT)?;
            w.write_varint(m.op as u64)?;
        }
        for pd in m.peers() {
            w.write_tag(2 << 3 | WT_LEN)?;
            w.write_varint((pd_len(pd)) as u64)?;
            w.write_tag(1 << 3 | WT_LEN)?;
            w.write_bytes(&pd.ip)?;
            w.write_tag(2 << 3 | WT_VARINT)?;
            w.write_varint(pd.port as u64)?;
        }
        for (field, f) in m.byte_fields() {
            if !f.is_empty() {
                w.write_tag(field << 3 | WT_LEN)?;
                w.write_bytes(f)?;
            }
        }
        Ok(())
    })();
    debug_assert!(res.is_ok(), "encoded_len miscounted");
    match res {
        Ok(()) => Ok(need),
        Err(_) => Err(EncodeError::TooLarge {
            need,
            room: buf.len(),
        }),
    }
}

/// Writes a `token` field (tag, length, the 8 bytes) at the start of
/// `out`, to follow an encoded message: a field may come in any order, so
/// a stored dat's encoding plus this is the dat quoting a token. Returns
/// the bytes written ([`TOKEN_FIELD_LEN`]), or `None` when `out` is short.
pub fn write_token(out: &mut [u8], token: &Cookie) -> Option<usize> {
    let out = out.get_mut(..TOKEN_FIELD_LEN)?;
    out[0] = (FIELD_TOKEN << 3 | WT_LEN) as u8;
    out[1] = COOKIE_LEN as u8;
    out[2..].copy_from_slice(token);
    Some(TOKEN_FIELD_LEN)
}

/// `bytes` (one encoded message) quoting `token`, as a new buffer.
pub fn with_token(bytes: &[u8], token: &Cookie) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len() + TOKEN_FIELD_LEN];
    out[..bytes.len()].copy_from_slice(bytes);
    let _ = write_token(&mut out[bytes.len()..], token);
    out
}

/// Largest value that fits in a PUT with a key of `key_len` bytes and a salt
/// of `salt_len` bytes within PACKET_MAX.
pub fn max_val_len(key_len: usize, salt_len: usize) -> usize {
    let fixed =
        2 + if key_len > 0 {
            field_len(1, key_len)
        } else {
            0
        } + field_len(1, TIME_LEN)
            + field_len(1, salt_len)
            + field_len(1, WORK_LEN)
            + field_len(1, PUBKEY_LEN)
            + field_len(1, SIG_LEN);
    // The value's own tag and length varint (2 bytes for lengths >= 128).
    let mut v = PACKET_MAX - fixed - 1 - 1;
    while field_len(1, v) + fixed > PACKET_MAX {
        v -= 1;
    }
    v
}

/// Lowercase hex display of bytes, without allocating.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// 64 hex digits as 32 bytes (a work hash or a public key).
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    parse_hex(s, &mut out).then_some(out)
}

/// Parses hex into `out`; returns false unless `s` is exactly `2*out.len()` hex digits.
pub fn parse_hex(s: &str, out: &mut [u8]) -> bool {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return false;
    }
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        match (nib(s[2 * i]), nib(s[2 * i + 1])) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pd_round_trip_and_limits() {
        let (token, cookie) = ([1u8; 8], [2u8; 8]);
        let mut m = Msg {
            op: Op::Peer,
            token: &token,
            cookie: &cookie,
            ..Msg::default()
        };
        m.pds[0] = Pd::from_addr("192.0.2.1:3282".parse().unwrap());
        m.pds[1] = Pd::from_addr("[2001:db8::1]:65535".parse().unwrap());
        m.npds = 2;
        let mut buf = [0u8; PACKET_MAX];
        let n = encode_into(&m, &mut buf).unwrap();
        assert_eq!(n, m.encoded_len());
        let d = decode_datagram(&buf[..n]).unwrap();
        assert_eq!(d.msg(), m);
        assert_eq!(d.token, Some(&token));
        let Packet::Peer { cookie: c, list } = d.packet else {
            panic!("a PEER decodes as a PEER");
        };
        assert_eq!(c, &cookie);
        assert_eq!(list.as_slice()[0].addr(), "192.0.2.1:3282".parse().unwrap());
        // A PEER must quote a token and issue a cookie; a GETPEER must
        // issue a cookie.
        let bare = encode_into(&Msg { token: &[], ..m }, &mut buf).unwrap();
        assert_eq!(decode(&buf[..bare]), Err(DecodeError::Missing));
        let n = encode_into(&Msg::op(Op::Getpeer), &mut buf).unwrap();
        assert_eq!(decode(&buf[..n]), Err(DecodeError::Missing));
    }

    #[test]
    fn cookies_match_the_vectors() {
        // tests/vectors/protocol.json, "cookies".
        let secret: [u8; 32] = std::array::from_fn(|i| i as u8);
        for (a, want) in [
            ("127.0.0.1:1618", "2d5a9a351efcc50b"),
            ("[::1]:1618", "8be474e6fbdbf7f4"),
            ("203.0.113.7:40000", "5b6afd897c734126"),
            ("[2001:db8::1]:65535", "c0a9c80cf94fb00f"),
        ] {
            let c = crate::cookie::cookie(&secret, a.parse().unwrap());
            assert_eq!(Hex(&c).to_string(), want, "{a}");
        }
    }

    #[test]
    fn max_val_fits_exactly() {
        for key_len in [0, 1, 32] {
            for salt_len in [1, 8, 32] {
                let v = max_val_len(key_len, salt_len);
                let val = vec![7u8; v];
                let key = vec![1u8; key_len];
                let salt = vec![2u8; salt_len];
                let m = Msg {
                    op: Op::Put,
                    key: &key,
                    val: &val,
                    time: &[0; 8],
                    salt: &salt,
                    work: &[0; 32],
                    pubkey: &[0; 32],
                    sig: &[0; 64],
                    ..Msg::default()
                };
                assert_eq!(m.encoded_len(), PACKET_MAX, "key {key_len} salt {salt_len}");
                let val2 = vec![7u8; v + 1];
                let m2 = Msg { val: &val2, ..m };
                assert!(m2.encoded_len() > PACKET_MAX);
            }
        }
    }
}
