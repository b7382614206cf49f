//! The packet filter (docs/protocol.md section 5.7): each epoch, each op may
//! arrive once per (source ip, port bucket).
//!
//! A cuckoo filter of 16-bit fingerprints in buckets of four. Each slot also
//! carries a 16-bit tag of the epoch it was written in, and a slot from an
//! older epoch counts as empty, so emptying the filter every epoch costs one
//! increment. Tags wrap every 65535 epochs, so each reset also zeroes a fixed
//! share of stale slots (a full sweep every [`SWEEP_EPOCHS`], well inside the
//! wrap): constant work per epoch, and an old tag can never look current.

use crate::wire::Op;
use std::net::{IpAddr, SocketAddr};

const SLOTS_PER_BUCKET: usize = 4;
const MAX_KICKS: usize = 64;
/// Epochs for the stale-slot sweep to cover the whole filter once.
pub const SWEEP_EPOCHS: usize = 32768;

/// A slot: the epoch tag in the high 16 bits (0: never written, or swept),
/// the fingerprint in the low 16. Packed into a `u32` so the table is a
/// zeroed allocation: pages no packet ever hashed to are never made resident.
type Slot = u32;

fn slot(fp: u16, tag: u16) -> Slot {
    (tag as u32) << 16 | fp as u32
}

fn slot_tag(s: Slot) -> u16 {
    (s >> 16) as u16
}

fn slot_fp(s: Slot) -> u16 {
    s as u16
}

/// Outcome of offering a packet to the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// First of its kind this epoch: let it through.
    Pass,
    /// Same op from the same source already seen this epoch.
    Seen,
    /// The filter could not place the key (it is saturated this epoch).
    Full,
}

/// A cuckoo filter that forgets everything when the epoch changes.
pub struct PacketFilter {
    slots: Box<[Slot]>,
    mask: usize,
    epoch: u16,
    sweep_at: usize,
    sweep_step: usize,
    kick: u64,
}

/// Port bucket of docs/protocol.md 5.7: 16 buckets per address.
pub fn port_bucket(port: u16) -> u8 {
    (port.wrapping_mul(41) >> 12) as u8
}

/// FNV-1a-128 of the filter key: `ip16 || port bucket || op` (loopback
/// sources use the full port, two bytes little-endian, so that many local
/// nodes on one address do not collide).
pub fn filter_key(src: SocketAddr, op: Op) -> u128 {
    let ip = match src.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut h = fnv128_start();
    h = fnv128_update(h, &ip);
    if src.ip().to_canonical().is_loopback() {
        h = fnv128_update(h, &src.port().to_le_bytes());
    } else {
        h = fnv128_update(h, &[port_bucket(src.port())]);
    }
    fnv128_update(h, &[op as u8])
}

const FNV128_OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
const FNV128_PRIME: u128 = 0x0000000001000000000000000000013B;

fn fnv128_start() -> u128 {
    FNV128_OFFSET
}

fn fnv128_update(mut h: u128, bytes: &[u8]) -> u128 {
    for b in bytes {
        h ^= *b as u128;
        h = h.wrapping_mul(FNV128_PRIME);
    }
    h
}

impl PacketFilter {
    /// A filter with about `cap` slots (rounded up to a power of two, at least 64).
    pub fn new(cap: usize) -> PacketFilter {
        let buckets = (cap / SLOTS_PER_BUCKET).max(16).next_power_of_two();
        let n = buckets * SLOTS_PER_BUCKET;
        PacketFilter {
            slots: vec![0; n].into_boxed_slice(),
            mask: buckets - 1,
            epoch: 1,
            sweep_at: 0,
            sweep_step: n.div_ceil(SWEEP_EPOCHS),
            kick: 0x9e3779b97f4a7c15,
        }
    }

    /// Number of slots.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every key: O(1).
    pub fn reset(&mut self) {
        self.epoch = match self.epoch.wrapping_add(1) {
            0 => 1,
            e => e,
        };
        let end = (self.sweep_at + self.sweep_step).min(self.slots.len());
        let epoch = self.epoch;
        for s in &mut self.slots[self.sweep_at..end] {
            // Only write slots that were used, so pages never touched stay unmapped.
            if slot_tag(*s) != 0 && slot_tag(*s) != epoch {
                *s = 0;
            }
        }
        self.sweep_at = if end == self.slots.len() { 0 } else { end };
    }

    fn alt(&self, i: usize, fp: u16) -> usize {
        // The fingerprint's own hash, so alt(alt(i)) == i.
        (i ^ (fp as usize).wrapping_mul(0x5bd1e995)) & self.mask
    }

    fn find(&self, b: usize, fp: u16) -> bool {
        let s = &self.slots[b * SLOTS_PER_BUCKET..(b + 1) * SLOTS_PER_BUCKET];
        let want = slot(fp, self.epoch);
        s.contains(&want)
    }

    fn place(&mut self, b: usize, fp: u16) -> bool {
        let epoch = self.epoch;
        for s in &mut self.slots[b * SLOTS_PER_BUCKET..(b + 1) * SLOTS_PER_BUCKET] {
            if slot_tag(*s) != epoch {
                *s = slot(fp, epoch);
                return true;
            }
        }
        false
    }

    /// Inserts a key; says whether it was new this epoch.
    pub fn check(&mut self, key: u128) -> Verdict {
        // Fingerprint 0 is allowed: emptiness is the epoch tag.
        let fp = (key >> 112) as u16;
        let i1 = (key as usize) & self.mask;
        let i2 = self.alt(i1, fp);
        if self.find(i1, fp) || self.find(i2, fp) {
            return Verdict::Seen;
        }
        if self.place(i1, fp) || self.place(i2, fp) {
            return Verdict::Pass;
        }
        // Both buckets are full: evict along a cuckoo path.
        let mut i = if self.kick & 1 == 0 { i1 } else { i2 };
        let mut fp = fp;
        for _ in 0..MAX_KICKS {
            // A xorshift step picks which slot to evict, deterministically.
            self.kick ^= self.kick << 13;
            self.kick ^= self.kick >> 7;
            self.kick ^= self.kick << 17;
            let j = i * SLOTS_PER_BUCKET + (self.kick as usize % SLOTS_PER_BUCKET);
            // The evicted slot keeps its tag (current: the bucket was full).
            let evicted = slot_fp(self.slots[j]);
            self.slots[j] = slot(fp, slot_tag(self.slots[j]));
            fp = evicted;
            i = self.alt(i, fp);
            if self.place(i, fp) {
                return Verdict::Pass;
            }
        }
        // The last evicted fingerprint is lost: one future packet from that
        // source may pass twice this epoch. The new packet itself was placed.
        Verdict::Full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_epoch_then_forgotten() {
        let mut f = PacketFilter::new(1 << 10);
        let a: SocketAddr = "192.0.2.1:1618".parse().unwrap();
        let k = filter_key(a, Op::Put);
        assert_eq!(f.check(k), Verdict::Pass);
        assert_eq!(f.check(k), Verdict::Seen);
        assert_eq!(f.check(filter_key(a, Op::Get)), Verdict::Pass);
        f.reset();
        assert_eq!(f.check(k), Verdict::Pass);
    }

    #[test]
    fn tags_never_wrap_into_a_false_hit() {
        let mut f = PacketFilter::new(1 << 10);
        let k = filter_key("192.0.2.9:9".parse().unwrap(), Op::Get);
        assert_eq!(f.check(k), Verdict::Pass);
        // A full tag cycle later the old entry must have been swept.
        for _ in 0..65535 {
            f.reset();
        }
        assert_eq!(f.check(k), Verdict::Pass);
        assert_eq!(f.check(k), Verdict::Seen);
    }

    #[test]
    fn port_bucket_groups_ports_but_loopback_does_not() {
        assert_eq!(port_bucket(0), 0);
        assert!(port_bucket(65535) < 16);
        // Ports 1618 and 1619 share a bucket; from a public address they collide.
        assert_eq!(port_bucket(1618), port_bucket(1619));
        let p1: SocketAddr = "192.0.2.1:1618".parse().unwrap();
        let p2: SocketAddr = "192.0.2.1:1619".parse().unwrap();
        assert_eq!(filter_key(p1, Op::Put), filter_key(p2, Op::Put));
        let l1: SocketAddr = "127.0.0.1:1618".parse().unwrap();
        let l2: SocketAddr = "127.0.0.1:1619".parse().unwrap();
        assert_ne!(filter_key(l1, Op::Put), filter_key(l2, Op::Put));
        // v4 and v4-mapped v6 are the same source.
        let m: SocketAddr = "[::ffff:192.0.2.1]:1618".parse().unwrap();
        assert_eq!(filter_key(m, Op::Put), filter_key(p1, Op::Put));
    }

    #[test]
    fn holds_near_capacity_with_few_false_positives() {
        let mut f = PacketFilter::new(1 << 12);
        let n = f.capacity() * 9 / 10;
        let mut seen = 0;
        for i in 0..n as u64 {
            let k = (i as u128).wrapping_mul(0x9e3779b97f4a7c15f39cc0605cedc835);
            if f.check(k) == Verdict::Seen {
                seen += 1;
            }
        }
        // 16-bit fingerprints, 8 candidate slots: about n * 8 / 65536 / 2.
        assert!(seen < n / 100, "{seen} false positives out of {n}");
    }
}
