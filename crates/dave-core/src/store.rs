//! The dat store (docs/protocol.md section 4).
//!
//! Every dat is kept as its canonical PUT encoding in one byte arena, ready
//! to be copied into a datagram. A dense array of [`Meta`] holds what the
//! node decides with (time, difficulty, work), so a uniformly random dat is
//! one random index. Two [`Index`]es find a dat by work hash and by name.
//!
//! Nothing allocates after [`Store::new`]: the arena's capacity is reserved
//! for the worst case (every slot a full-size datagram), which costs address
//! space, not memory, until it is written. Replaced and pruned records leave
//! garbage in the arena that is compacted in place, in one pass, when the
//! arena's end is reached or after a prune.
//!
//! The store holds at most `max_dats` dats. The node prunes to DAT_CAP every
//! PRUNE epochs; if inflow fills the slack above DAT_CAP first, the insert
//! prunes early.

use crate::index::{Index, KeyedHash};
use crate::pow::{age_ms, cmp_mass};
use crate::wire::{self, Packet, Put, PACKET_MAX, PUBKEY_LEN, SIG_LEN};
use std::cmp::Ordering;

const HDR: usize = 6; // slot u32 LE, len u16 LE
const DEAD: u32 = u32::MAX;

/// What the node needs to know about a stored dat without reading its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Offset of the encoded PUT in the arena.
    off: u32,
    /// Length of the encoded PUT.
    len: u16,
    /// Offset of the key within the encoding.
    key_off: u16,
    /// Offset of the public key within the encoding.
    pub_off: u16,
    /// Key length.
    key_len: u8,
    /// Leading zero bits of the work.
    pub difficulty: u8,
    /// The dat's time in ms.
    pub time_ms: u64,
    /// The work hash.
    pub work: [u8; 32],
}

/// Result of offering a valid dat to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Its name was not held: stored.
    New,
    /// It replaced the held dat of its name.
    Replaced,
    /// The held dat of its name is newer (or equal with a smaller work): not stored.
    Stale,
}

impl Insert {
    /// Whether the dat was novel (docs/protocol.md section 4).
    pub fn is_novel(self) -> bool {
        self != Insert::Stale
    }
}

/// Outcome of a prune.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Dats before.
    pub before: usize,
    /// Dats kept.
    pub kept: usize,
}

/// The bounded dat store.
pub struct Store {
    metas: Vec<Meta>,
    arena: Vec<u8>,
    by_work: Index,
    by_name: Index,
    scratch: Vec<u32>,
    hash: KeyedHash,
    cap: usize,
    max_dats: usize,
    arena_live: usize,
}

/// Name of a dat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name<'a> {
    /// Owner's public key.
    pub pubkey: &'a [u8; 32],
    /// Key within the owner's namespace.
    pub key: &'a [u8],
}

impl Store {
    /// A store that keeps `cap` dats after each prune, with room for `slack`
    /// more between prunes. `hash` keys the indexes.
    pub fn new(cap: usize, slack: usize, hash: KeyedHash) -> Store {
        let max_dats = cap + slack;
        Store {
            metas: Vec::with_capacity(max_dats),
            arena: Vec::with_capacity(max_dats * (HDR + PACKET_MAX)),
            by_work: Index::with_capacity(max_dats),
            by_name: Index::with_capacity(max_dats),
            scratch: Vec::with_capacity(max_dats),
            hash,
            cap,
            max_dats,
            arena_live: 0,
        }
    }

    /// Dats held.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    /// True when no dat is held.
    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// Dats kept by a prune (DAT_CAP).
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Most dats held at once.
    pub fn max_dats(&self) -> usize {
        self.max_dats
    }

    /// Bytes of encoded dats held.
    pub fn bytes(&self) -> usize {
        self.arena_live
    }

    fn work_hash(&self, work: &[u8; 32]) -> u64 {
        // Work hashes are outputs of blake3, but a writer can grind their low
        // bits; keying the index hash takes that lever away.
        self.hash.hash(&[work])
    }

    fn name_hash(&self, pubkey: &[u8; 32], key: &[u8]) -> u64 {
        self.hash.hash(&[pubkey, &[key.len() as u8], key])
    }

    /// The encoded PUT of slot `i`.
    pub fn record(&self, i: u32) -> &[u8] {
        let m = &self.metas[i as usize];
        &self.arena[m.off as usize..m.off as usize + m.len as usize]
    }

    /// The metadata of slot `i`.
    pub fn meta(&self, i: u32) -> &Meta {
        &self.metas[i as usize]
    }

    /// The decoded dat in slot `i`. Records are canonical encodings made by
    /// this store, so this is `None` only if memory was corrupted.
    pub fn put(&self, i: u32) -> Option<Put<'_>> {
        match wire::decode(self.record(i)) {
            Ok(Packet::Put(p)) => Some(p),
            _ => None,
        }
    }

    /// The name of slot `i` (`None` only if memory was corrupted).
    pub fn name(&self, i: u32) -> Option<Name<'_>> {
        let m = &self.metas[i as usize];
        let rec = self.record(i);
        let p = m.pub_off as usize;
        let k = m.key_off as usize;
        Some(Name {
            pubkey: rec.get(p..p + 32)?.try_into().ok()?,
            key: rec.get(k..k + m.key_len as usize)?,
        })
    }

    /// Slot of the dat with this work hash.
    pub fn find_work(&self, work: &[u8; 32]) -> Option<u32> {
        self.by_work.find(self.work_hash(work), |i| {
            &self.metas[i as usize].work == work
        })
    }

    /// Slot of the current dat of this name.
    pub fn find_name(&self, pubkey: &[u8; 32], key: &[u8]) -> Option<u32> {
        let h = self.name_hash(pubkey, key);
        self.find_name_h(h, pubkey, key)
    }

    fn find_name_h(&self, h: u64, pubkey: &[u8; 32], key: &[u8]) -> Option<u32> {
        self.by_name.find(h, |i| {
            self.name(i)
                .is_some_and(|n| n.pubkey == pubkey && n.key == key)
        })
    }

    /// A uniformly random slot, given a uniformly random `r`.
    pub fn random(&self, r: u64) -> Option<u32> {
        if self.metas.is_empty() {
            None
        } else {
            // Lemire's multiply-shift: uniform enough for 2^64 / n bias.
            Some(((r as u128 * self.metas.len() as u128) >> 64) as u32)
        }
    }

    /// Stores a dat that passed every check (work, difficulty, signature,
    /// time). Applies the replacement rule of docs/protocol.md section 4.
    pub fn insert(&mut self, m: &Put<'_>, difficulty: u8, now_ms: u64) -> Insert {
        let (pubkey, work) = (m.pubkey, m.work);
        let time_ms = m.time_ms();
        let name_h = self.name_hash(pubkey, m.key);
        if let Some(i) = self.find_name_h(name_h, pubkey, m.key) {
            let held = self.metas[i as usize];
            let newer = time_ms > held.time_ms || (time_ms == held.time_ms && *work < held.work);
            if !newer {
                return Insert::Stale;
            }
            let old_wh = self.work_hash(&held.work);
            self.unlink_work(old_wh, i);
            self.kill_record(i);
            self.write_record(i, m, difficulty);
            let wh = self.work_hash(work);
            self.by_work.insert(wh, i);
            return Insert::Replaced;
        }
        if self.metas.len() >= self.max_dats {
            self.prune(now_ms);
        }
        let i = self.metas.len() as u32;
        self.metas.push(Meta {
            off: 0,
            len: 0,
            key_off: 0,
            pub_off: 0,
            key_len: 0,
            difficulty,
            time_ms,
            work: *work,
        });
        self.write_record(i, m, difficulty);
        let wh = self.work_hash(work);
        self.by_work.insert(wh, i);
        self.by_name.insert(name_h, i);
        Insert::New
    }

    fn unlink_work(&mut self, wh: u64, i: u32) {
        let Store {
            by_work,
            metas,
            hash,
            ..
        } = self;
        by_work.remove(wh, i, |j| hash.hash(&[&metas[j as usize].work]));
    }

    fn kill_record(&mut self, i: u32) {
        let m = self.metas[i as usize];
        let h = m.off as usize - HDR;
        self.arena[h..h + 4].copy_from_slice(&DEAD.to_le_bytes());
        self.arena_live -= m.len as usize;
    }

    /// Appends the canonical encoding of `m` for slot `i` and points its meta at it.
    fn write_record(&mut self, i: u32, m: &Put<'_>, difficulty: u8) {
        let canon = m.msg();
        let need = canon.encoded_len();
        if self.arena.len() + HDR + need > self.arena.capacity() {
            self.compact();
        }
        let start = self.arena.len();
        // Within capacity, by construction: no reallocation.
        self.arena.resize(start + HDR + need, 0);
        self.arena[start..start + 4].copy_from_slice(&i.to_le_bytes());
        self.arena[start + 4..start + HDR].copy_from_slice(&(need as u16).to_le_bytes());
        let body = &mut self.arena[start + HDR..];
        // The arena has room for `need` bytes, so encoding cannot fail; the
        // length written is what the meta records either way.
        let n = wire::encode_into(&canon, body).unwrap_or(0);
        // The canonical encoding is op, key, val, time, salt, work, pubkey,
        // sig (docs/protocol.md section 2): the key starts after the op
        // field and its own two-byte header, the pubkey just before the
        // 66-byte sig field.
        let key_off = if m.key.is_empty() { 0 } else { 2 + 2 };
        let pub_off = n.saturating_sub(2 + SIG_LEN + PUBKEY_LEN);
        let meta = &mut self.metas[i as usize];
        *meta = Meta {
            off: (start + HDR) as u32,
            len: n as u16,
            key_off: key_off as u16,
            pub_off: pub_off as u16,
            key_len: m.key.len() as u8,
            difficulty,
            time_ms: m.time_ms(),
            work: *m.work,
        };
        self.arena_live += n;
    }

    /// Moves live records down over dead ones, in one pass.
    fn compact(&mut self) {
        let mut r = 0;
        let mut w = 0;
        let end = self.arena.len();
        while r < end {
            let a = &self.arena;
            let slot = u32::from_le_bytes([a[r], a[r + 1], a[r + 2], a[r + 3]]);
            let len = u16::from_le_bytes([a[r + 4], a[r + 5]]) as usize;
            let total = HDR + len;
            if slot != DEAD {
                if r != w {
                    self.arena.copy_within(r..r + total, w);
                }
                self.metas[slot as usize].off = (w + HDR) as u32;
                w += total;
            }
            r += total;
        }
        self.arena.truncate(w);
    }

    /// Keeps the `cap` most massive dats at `now_ms` and drops the rest, in
    /// O(n) time, without allocating. Ties go to the smaller work hash.
    pub fn prune(&mut self, now_ms: u64) -> Pruned {
        let before = self.metas.len();
        if before <= self.cap {
            return Pruned {
                before,
                kept: before,
            };
        }
        self.scratch.clear();
        self.scratch.extend(0..before as u32);
        let metas = &self.metas;
        let heavier = |a: &u32, b: &u32| -> Ordering {
            let (ma, mb) = (&metas[*a as usize], &metas[*b as usize]);
            cmp_mass(
                mb.difficulty,
                age_ms(mb.time_ms, now_ms),
                ma.difficulty,
                age_ms(ma.time_ms, now_ms),
            )
            .then_with(|| ma.work.cmp(&mb.work))
        };
        self.scratch.select_nth_unstable_by(self.cap, heavier);
        for k in self.cap..before {
            let i = self.scratch[k];
            self.kill_record(i);
            // Mark the meta for removal; `off == 0` never names a live record.
            self.metas[i as usize].off = 0;
        }
        // Keep survivors in place, renumber them, and re-point their records.
        let mut w = 0;
        for r in 0..before {
            if self.metas[r].off != 0 {
                self.metas[w] = self.metas[r];
                let h = self.metas[w].off as usize - HDR;
                self.arena[h..h + 4].copy_from_slice(&(w as u32).to_le_bytes());
                w += 1;
            }
        }
        self.metas.truncate(w);
        self.compact();
        self.reindex();
        Pruned { before, kept: w }
    }

    fn reindex(&mut self) {
        self.by_work.clear();
        self.by_name.clear();
        for i in 0..self.metas.len() {
            let wh = self.work_hash(&self.metas[i].work);
            // Names are hashed again rather than kept per dat: 8 bytes a
            // dat saved for a few ms per prune.
            let nh = self.name(i as u32).map(|n| self.name_hash(n.pubkey, n.key));
            self.by_work.insert(wh, i as u32);
            // A name that cannot be read (corrupted memory) leaves the dat
            // findable by work only; `check` reports it.
            if let Some(nh) = nh {
                self.by_name.insert(nh, i as u32);
            }
        }
    }

    /// Checks internal consistency (for tests and the simulator): every
    /// dat is found by its work and its name, records decode to their meta.
    pub fn check(&self) -> Result<(), String> {
        if self.metas.len() > self.max_dats {
            return Err(format!("{} dats above bound {}", self.len(), self.max_dats));
        }
        let mut live = 0;
        for i in 0..self.metas.len() as u32 {
            let m = self.meta(i);
            let d = self
                .put(i)
                .ok_or_else(|| format!("slot {i}: record is not a PUT"))?;
            if *d.work != m.work || d.time_ms() != m.time_ms {
                return Err(format!("slot {i}: record does not match meta"));
            }
            if self.find_work(&m.work) != Some(i) {
                return Err(format!("slot {i}: not found by work"));
            }
            let n = self
                .name(i)
                .ok_or_else(|| format!("slot {i}: name out of the record"))?;
            if n.pubkey != d.pubkey || n.key != d.key {
                return Err(format!("slot {i}: name offsets do not match the record"));
            }
            if self.find_name(n.pubkey, n.key) != Some(i) {
                return Err(format!("slot {i}: not found by name"));
            }
            live += m.len as usize;
        }
        if live != self.arena_live || self.by_work.len() != self.len() {
            return Err("byte or index counts drifted".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dat_costs_56_bytes_of_metadata() {
        // The footprint benchmark's bytes per dat: metadata, the record
        // header, and the two index entries. Growing Meta shows there.
        assert_eq!(std::mem::size_of::<Meta>(), 56);
    }
}
