//! The invariant checks: a node's bounds after every event, the full
//! invariants of one node in turn every `check_every` epochs, and the
//! final check of every node.

use super::Sim;
use crate::error::SimError;
use dave_core::wire;

impl Sim {
    pub(super) fn check_bounds(&self, i: Option<u32>) -> Result<(), SimError> {
        if let Some(i) = i {
            if let Some(n) = self.node(i as usize) {
                n.check_bounds()
                    .map_err(|m| self.err(format!("node {i}: {m}")))?;
            }
        }
        Ok(())
    }

    pub(super) fn check_one(&mut self) -> Result<(), SimError> {
        let n = self.members.len();
        for _ in 0..n {
            let i = self.check_cursor % n;
            self.check_cursor += 1;
            if let Some(node) = self.node(i) {
                let r = node
                    .check_invariants()
                    .map_err(|m| self.err(format!("node {i}: {m}")));
                self.net.checks += 1;
                return r;
            }
        }
        Ok(())
    }

    /// Checks every up node in full: its bounds, its store and peer table,
    /// and every stored dat against the checks of a received PUT. Nodes
    /// hold mostly the same dats, so each distinct stored record is
    /// verified once and the verdict reused (a record's check depends only
    /// on its bytes and the clock, which is the same for every node).
    pub fn final_check(&mut self) -> Result<(), SimError> {
        let mut verified: fnv::FnvHashMap<[u8; 32], bool> = fnv::FnvHashMap::default();
        for i in 0..self.members.len() {
            let Some(n) = self.node(i) else { continue };
            let fail = |m: String| self.err(format!("final check, node {i}: {m}"));
            n.check_bounds().map_err(fail)?;
            n.store().check().map_err(fail)?;
            n.peers().check(n.self_addrs()).map_err(fail)?;
            let st = n.store();
            for s in 0..st.len() as u32 {
                let h = *blake3::hash(st.record(s)).as_bytes();
                let ok = match verified.get(&h) {
                    Some(ok) => *ok,
                    None => {
                        let ok = st.put(s).is_some_and(|p| n.check_put(&p.msg()).is_ok());
                        verified.insert(h, ok);
                        ok
                    }
                };
                if !ok {
                    return Err(fail(format!(
                        "stored dat {} fails its checks",
                        wire::Hex(&st.meta(s).work)
                    )));
                }
            }
        }
        self.net.checks += 1;
        Ok(())
    }
}
