//! The event log: a sequence of fixed-size binary records (kind, node,
//! peer, size or detail) fed to blake3 as the run goes, and written as
//! text lines when asked (`--log FILE`).

use crate::addr::{ip_of, v6_addr, ID_HOSTILE, ID_NONE, ID_PHANTOM, ID_SPOOF, V6_NET};
use dave_core::Event;
use std::io::Write as _;
use std::net::Ipv4Addr;

/// Kinds of event-log records.
pub(crate) mod rec {
    pub const EPOCH: u8 = b'e';
    pub const DELIVER: u8 = b'D';
    pub const TO_DOWN: u8 = b'Z';
    pub const SEND: u8 = b'S';
    pub const LOST: u8 = b'L';
    pub const CUT: u8 = b'P';
    pub const DUP: u8 = b'2';
    pub const CRASH: u8 = b'C';
    pub const RESTART: u8 = b'R';
    pub const JOIN: u8 = b'J';
    pub const SPLIT: u8 = b'X';
    pub const HEAL: u8 = b'Y';
    pub const PUT: u8 = b'W';
    pub const GET: u8 = b'G';
    pub const GOT: u8 = b'g';
    pub const TIMEOUT: u8 = b't';
    pub const HOSTILE: u8 = b'H';
    pub const WRITE: u8 = b'w';
    pub const SYBIL: u8 = b'y';
}

const REC_LEN: usize = 13;

pub(crate) fn push_rec(buf: &mut Vec<u8>, kind: u8, a: u32, b: u32, c: u32) {
    buf.push(kind);
    buf.extend_from_slice(&a.to_le_bytes());
    buf.extend_from_slice(&b.to_le_bytes());
    buf.extend_from_slice(&c.to_le_bytes());
}

fn rec_name(kind: u8) -> &'static str {
    match kind {
        rec::EPOCH => "epoch",
        rec::DELIVER => "deliver",
        rec::TO_DOWN => "to_down",
        rec::SEND => "send",
        rec::LOST => "lost",
        rec::CUT => "cut",
        rec::DUP => "dup",
        rec::CRASH => "crash",
        rec::RESTART => "restart",
        rec::JOIN => "join",
        rec::SPLIT => "split",
        rec::HEAL => "heal",
        rec::PUT => "put",
        rec::GET => "get",
        rec::GOT => "got",
        rec::TIMEOUT => "timeout",
        rec::HOSTILE => "hostile",
        rec::WRITE => "write",
        rec::SYBIL => "sybil",
        _ => "?",
    }
}

fn id_name(id: u32) -> String {
    if id & 0xffff_0000 == V6_NET {
        format!("{}", v6_addr((id & 0xffff) as usize).ip())
    } else if id >> 24 == 10 {
        format!("{}", Ipv4Addr::from(id))
    } else if id == ID_NONE {
        "-".into()
    } else if id & ID_HOSTILE != 0 {
        format!("h{}", id & 0xffff)
    } else if id & ID_PHANTOM != 0 {
        format!("phantom{}", id & 0xffff)
    } else if id & ID_SPOOF != 0 {
        format!("spoof{}", id & 0xffff)
    } else {
        format!("n{id}")
    }
}

pub(crate) struct Log {
    pub(crate) hasher: blake3::Hasher,
    pub(crate) buf: Vec<u8>,
    pub(crate) records: u64,
    pub(crate) text: Option<std::io::BufWriter<std::fs::File>>,
    pub(crate) epoch: u64,
}

impl Log {
    pub(crate) fn flush_buf(&mut self) {
        self.hasher.update(&self.buf);
        self.records += (self.buf.len() / REC_LEN) as u64;
        if let Some(w) = &mut self.text {
            for r in self.buf.chunks_exact(REC_LEN) {
                let (a, b, c) = (
                    u32::from_le_bytes(r[1..5].try_into().expect("4")),
                    u32::from_le_bytes(r[5..9].try_into().expect("4")),
                    u32::from_le_bytes(r[9..13].try_into().expect("4")),
                );
                let kind = r[0];
                if kind == rec::EPOCH {
                    self.epoch = a as u64 | (b as u64) << 32;
                    continue;
                }
                let _ = writeln!(
                    w,
                    "{} {} {} {} {}",
                    self.epoch,
                    rec_name(kind),
                    id_name(a),
                    id_name(b),
                    c
                );
            }
        }
        self.buf.clear();
    }

    pub(crate) fn add(&mut self, kind: u8, a: u32, b: u32, c: u32) {
        push_rec(&mut self.buf, kind, a, b, c);
    }

    pub(crate) fn append(&mut self, other: &[u8]) {
        self.buf.extend_from_slice(other);
    }
}

/// An application event in the log; the peer is its raw IPv4 address.
pub(crate) fn log_event(buf: &mut Vec<u8>, i: u32, ev: &Event) {
    let (kind, id, from) = match *ev {
        Event::Got { id, from, .. } => (rec::GOT, id, from.map_or(ID_NONE, ip_of)),
        Event::TimedOut { id } => (rec::TIMEOUT, id, ID_NONE),
    };
    push_rec(buf, kind, i, id as u32, from);
}
