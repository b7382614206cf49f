//! A fixed-size open-addressing hash index from a 64-bit hash to a `u32`
//! slot number, used by the store (by work, by name) and the peer table (by
//! address).
//!
//! The index holds only slot numbers; callers keep the keys and compare them
//! through a closure, so an entry costs four bytes. A table entry is the
//! value plus one, so that 0 means empty and the table is a zeroed
//! allocation: an index sized for a full store costs no resident memory
//! until entries are written. Linear probing with
//! backward-shift deletion leaves no tombstones, so a table that never holds
//! more than its capacity never degrades and never allocates. Hashes are
//! keyed SipHash with a per-node secret, so a sender cannot craft keys that
//! pile into one probe chain.

use std::hash::Hasher;

const EMPTY: u32 = 0;

/// A keyed hasher for index keys (SipHash-2-4 with per-node keys).
#[derive(Clone, Copy, Debug)]
pub struct KeyedHash {
    k0: u64,
    k1: u64,
}

impl KeyedHash {
    /// A hasher with the given secret keys.
    pub fn new(k0: u64, k1: u64) -> KeyedHash {
        KeyedHash { k0, k1 }
    }

    /// Hash of the concatenation of `parts`.
    #[allow(deprecated)] // std's SipHasher is the only keyed SipHash in std.
    pub fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut h = std::hash::SipHasher::new_with_keys(self.k0, self.k1);
        for p in parts {
            h.write(p);
        }
        h.finish()
    }
}

/// Open-addressing index of `u32` values.
pub struct Index {
    table: Box<[u32]>,
    mask: usize,
    len: usize,
}

impl Index {
    /// An index for up to `cap` entries (load factor at most one half).
    pub fn with_capacity(cap: usize) -> Index {
        let size = (cap.max(4) * 2).next_power_of_two();
        Index {
            table: vec![EMPTY; size].into_boxed_slice(),
            mask: size - 1,
            len: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Most entries the index accepts.
    pub fn capacity(&self) -> usize {
        self.table.len() / 2
    }

    /// The value whose key matches, probing from `h`.
    pub fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = h as usize & self.mask;
        loop {
            let e = self.table[i];
            if e == EMPTY {
                return None;
            }
            if eq(e - 1) {
                return Some(e - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `v` (below `u32::MAX`) under `h`. The caller guarantees the
    /// key is absent; returns false (and inserts nothing) when the index is
    /// at capacity.
    pub fn insert(&mut self, h: u64, v: u32) -> bool {
        if self.len >= self.capacity() || v == u32::MAX {
            return false;
        }
        let mut i = h as usize & self.mask;
        while self.table[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.table[i] = v + 1;
        self.len += 1;
        true
    }

    /// Replaces the stored value `old` (under `h`) with `new`.
    pub fn replace(&mut self, h: u64, old: u32, new: u32) -> bool {
        let mut i = h as usize & self.mask;
        loop {
            match self.table[i] {
                EMPTY => return false,
                e if e - 1 == old => {
                    self.table[i] = new + 1;
                    return true;
                }
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// Removes value `v` stored under `h`; `hash_of` gives the hash of any
    /// other stored value (needed to shift the probe chain back).
    pub fn remove(&mut self, h: u64, v: u32, mut hash_of: impl FnMut(u32) -> u64) -> bool {
        let mut i = h as usize & self.mask;
        loop {
            match self.table[i] {
                EMPTY => return false,
                e if e - 1 == v => break,
                _ => i = (i + 1) & self.mask,
            }
        }
        // Backward-shift deletion.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let x = self.table[j];
            if x == EMPTY {
                break;
            }
            let home = hash_of(x - 1) as usize & self.mask;
            // Move x into the hole if its home is not cyclically within (hole, j].
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.table[hole] = x;
                hole = j;
            }
        }
        self.table[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Empties the index.
    pub fn clear(&mut self) {
        self.table.fill(EMPTY);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_against_a_model() {
        // Keys collide heavily (hash = key % 8) to exercise probe chains.
        let mut idx = Index::with_capacity(64);
        let mut model: Vec<u32> = Vec::new();
        let hash = |v: u32| (v % 8) as u64;
        let mut x = 12345u32;
        for _ in 0..10_000 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let v = (x >> 16) % 100;
            if model.contains(&v) {
                assert!(idx.remove(hash(v), v, hash));
                model.retain(|&m| m != v);
            } else if model.len() < 64 {
                assert!(idx.insert(hash(v), v));
                model.push(v);
            }
            for m in &model {
                assert_eq!(idx.find(hash(*m), |c| c == *m), Some(*m));
            }
            assert_eq!(idx.len(), model.len());
        }
        for v in 0..100 {
            let found = idx.find(hash(v), |c| c == v).is_some();
            assert_eq!(found, model.contains(&v), "value {v}");
        }
    }

    #[test]
    fn full_index_refuses() {
        let mut idx = Index::with_capacity(4);
        for v in 0..idx.capacity() as u32 {
            assert!(idx.insert(v as u64, v));
        }
        assert!(!idx.insert(99, 99));
    }
}
