//! Draws without scans (docs/protocol.md 5.5): a Fenwick tree over trust
//! for draws in proportion to trust, and a dense list of eligible peers for
//! uniform draws. Both are sized once, when the table is made, and never
//! allocate afterwards.

/// Position meaning "not in the list".
const OUT: u32 = u32::MAX;

/// A Fenwick (binary indexed) tree of non-negative weights: set a weight,
/// total them, and find the entry a uniform point of the total falls in,
/// each in O(log n).
pub struct Fenwick {
    /// The weights themselves.
    w: Box<[f64]>,
    /// Partial sums, 1-based.
    t: Box<[f64]>,
    /// The sum of all weights, kept as they change (exact again after
    /// every `scale`).
    sum: f64,
}

impl Fenwick {
    /// `n` weights, all zero.
    pub fn new(n: usize) -> Fenwick {
        Fenwick {
            w: vec![0.0; n].into_boxed_slice(),
            t: vec![0.0; n + 1].into_boxed_slice(),
            sum: 0.0,
        }
    }

    /// Weight `i`.
    pub fn get(&self, i: usize) -> f64 {
        self.w[i]
    }

    /// Sets weight `i` (negative or NaN counts as zero).
    pub fn set(&mut self, i: usize, v: f64) {
        let v = if v > 0.0 { v } else { 0.0 };
        let d = v - self.w[i];
        self.w[i] = v;
        if d == 0.0 {
            return;
        }
        self.sum += d;
        let mut k = i + 1;
        while k < self.t.len() {
            self.t[k] += d;
            k += k & k.wrapping_neg();
        }
    }

    /// Sum of all weights, in O(1).
    pub fn total(&self) -> f64 {
        self.sum.max(0.0)
    }

    /// Sum of all weights from the tree, in O(log n) (to check `total`).
    pub fn tree_total(&self) -> f64 {
        let mut k = self.w.len();
        let mut s = 0.0;
        while k > 0 {
            s += self.t[k];
            k &= k - 1;
        }
        s
    }

    /// The entry whose share of the total holds `x` (0 <= x < total): the
    /// smallest `i` with `w[0] + ... + w[i] > x`. Rounding can land on an
    /// entry of weight zero; callers check.
    pub fn find(&self, x: f64) -> usize {
        let n = self.w.len();
        let mut pos = 0;
        let mut rem = x;
        let mut step = if n == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.t[next] <= rem {
                pos = next;
                rem -= self.t[next];
            }
            step >>= 1;
        }
        pos.min(n.saturating_sub(1))
    }

    /// Multiplies every weight by `f` and rebuilds the sums in O(n), which
    /// also clears rounding drift.
    pub fn scale(&mut self, f: f64) {
        for w in self.w.iter_mut() {
            *w *= f;
        }
        self.rebuild();
    }

    fn rebuild(&mut self) {
        self.sum = self.w.iter().sum();
        let n = self.w.len();
        self.t[0] = 0.0;
        self.t[1..].copy_from_slice(&self.w);
        for k in 1..=n {
            let j = k + (k & k.wrapping_neg());
            if j <= n {
                self.t[j] += self.t[k];
            }
        }
    }
}

/// A set of small integers kept as a dense list, for uniform draws: insert,
/// remove, test and relabel in O(1).
pub struct Dense {
    list: Vec<u32>,
    at: Box<[u32]>,
}

impl Dense {
    /// A set of integers below `n`, empty.
    pub fn new(n: usize) -> Dense {
        Dense {
            list: Vec::with_capacity(n),
            at: vec![OUT; n].into_boxed_slice(),
        }
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Member at position `k` (k < len).
    pub fn nth(&self, k: usize) -> usize {
        self.list[k] as usize
    }

    /// Whether `i` is a member.
    pub fn contains(&self, i: usize) -> bool {
        self.at[i] != OUT
    }

    /// Adds `i` (no-op if present).
    pub fn insert(&mut self, i: usize) {
        if self.at[i] == OUT {
            self.at[i] = self.list.len() as u32;
            self.list.push(i as u32);
        }
    }

    /// Removes `i` (no-op if absent).
    pub fn remove(&mut self, i: usize) {
        let k = self.at[i];
        if k == OUT {
            return;
        }
        self.at[i] = OUT;
        let last = self.list.len() - 1;
        self.list.swap_remove(k as usize);
        if (k as usize) < last {
            let moved = self.list[k as usize] as usize;
            self.at[moved] = k;
        }
    }

    /// Member `from` is now called `to` (which must not be a member).
    pub fn relabel(&mut self, from: usize, to: usize) {
        let k = self.at[from];
        if k == OUT {
            return;
        }
        self.at[from] = OUT;
        self.at[to] = k;
        self.list[k as usize] = to as u32;
    }

    /// Checks that positions and list agree.
    pub fn check(&self) -> Result<(), String> {
        for (k, &i) in self.list.iter().enumerate() {
            if self.at[i as usize] != k as u32 {
                return Err(format!("dense list: {i} at {k} is misplaced"));
            }
        }
        let members = self.at.iter().filter(|&&k| k != OUT).count();
        if members != self.list.len() {
            return Err("dense list: positions and list differ".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenwick_finds_the_entry_a_point_falls_in() {
        let mut f = Fenwick::new(10);
        f.set(2, 1.0);
        f.set(5, 3.0);
        f.set(9, 4.0);
        assert_eq!(f.total(), 8.0);
        assert_eq!(f.tree_total(), 8.0);
        assert_eq!(f.find(0.0), 2);
        assert_eq!(f.find(0.99), 2);
        assert_eq!(f.find(1.0), 5);
        assert_eq!(f.find(3.99), 5);
        assert_eq!(f.find(4.0), 9);
        assert_eq!(f.find(7.99), 9);
        f.set(5, 0.0);
        assert_eq!(f.total(), 5.0);
        assert_eq!(f.find(1.5), 9);
        f.scale(0.5);
        assert_eq!(f.total(), 2.5);
        assert_eq!(f.get(9), 2.0);
        assert_eq!(f.find(0.49), 2);
        f.set(3, -1.0);
        assert_eq!(f.get(3), 0.0, "negative weights count as zero");
    }

    #[test]
    fn fenwick_draws_in_proportion() {
        let n = 37;
        let mut f = Fenwick::new(n);
        for i in 0..n {
            f.set(i, (i % 5) as f64);
        }
        let total = f.total();
        let mut hits = vec![0u32; n];
        let draws = 200_000;
        for k in 0..draws {
            let x = (k as f64 + 0.5) / draws as f64 * total;
            hits[f.find(x)] += 1;
        }
        for (i, &h) in hits.iter().enumerate() {
            let want = (i % 5) as f64 / total * draws as f64;
            assert!(
                (h as f64 - want).abs() <= 2.0,
                "entry {i}: {h} hits, want {want}"
            );
        }
    }

    #[test]
    fn dense_set_inserts_removes_and_relabels() {
        let mut d = Dense::new(8);
        for i in [3, 1, 6] {
            d.insert(i);
        }
        d.insert(3);
        assert_eq!(d.len(), 3);
        d.remove(3);
        assert!(!d.contains(3) && d.contains(6) && d.contains(1));
        d.relabel(6, 3);
        assert!(d.contains(3) && !d.contains(6));
        d.check().unwrap();
        d.remove(7);
        d.remove(1);
        d.remove(3);
        assert_eq!(d.len(), 0);
        d.check().unwrap();
    }
}
