//! The fixed ring of outgoing datagrams a shell drains.

use super::*;

/// A fixed ring of outgoing datagrams.
pub(super) struct Outbox {
    bufs: Box<[u8]>,
    lens: Box<[u16]>,
    addrs: Box<[SocketAddr]>,
    head: usize,
    pub(super) len: usize,
}

impl Outbox {
    pub(super) fn new(slots: usize) -> Outbox {
        Outbox {
            bufs: vec![0u8; slots * DATAGRAM_MAX].into_boxed_slice(),
            lens: vec![0u16; slots].into_boxed_slice(),
            addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0)); slots].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    pub(super) fn slots(&self) -> usize {
        self.lens.len()
    }

    /// The next free slot's buffer, or None when full.
    pub(super) fn next_free(&mut self) -> Option<(usize, &mut [u8])> {
        if self.len == self.slots() {
            return None;
        }
        let i = (self.head + self.len) % self.slots();
        Some((i, &mut self.bufs[i * DATAGRAM_MAX..(i + 1) * DATAGRAM_MAX]))
    }

    pub(super) fn commit(&mut self, i: usize, addr: SocketAddr, n: usize) {
        self.lens[i] = n as u16;
        self.addrs[i] = addr;
        self.len += 1;
    }

    pub(super) fn peek(&self) -> Option<(SocketAddr, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        Some((
            self.addrs[i],
            &self.bufs[i * DATAGRAM_MAX..i * DATAGRAM_MAX + self.lens[i] as usize],
        ))
    }

    pub(super) fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % self.slots();
            self.len -= 1;
        }
    }
}
