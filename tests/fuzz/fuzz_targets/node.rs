//! A node's whole receive path: each input is a script of packets from
//! several sources with ticks between them, pushed through one long-lived
//! node; every bound is checked after every step, and everything is
//! re-verified now and then.
#![no_main]
use dave_core::{Node, Now};
use dave_core::Config;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::net::SocketAddr;

thread_local! {
    static NODE: RefCell<(Node, u64, u64)> = RefCell::new({
        let mut cfg = Config::default().with_dat_cap(64);
        cfg.filter_cap = 1 << 10;
        cfg.max_peers = 32;
        cfg.prune_epochs = 500;
        cfg.edges = vec!["127.0.0.1:1618".parse().unwrap()];
        let mut n = Node::new(cfg);
        n.add_self_addr("127.0.0.1:1700".parse().unwrap());
        (n, 0, 0)
    });
}

fuzz_target!(|data: &[u8]| {
    NODE.with(|cell| {
        let (node, epoch, runs) = &mut *cell.borrow_mut();
        // Script: [src byte][len byte][len bytes of packet] ..., src byte 0xff = tick.
        let mut i = 0;
        while i + 1 < data.len() {
            let src = data[i];
            if src == 0xff {
                *epoch += 1 + data[i + 1] as u64;
                node.handle_tick(Now { epoch: *epoch, unix_ms: 1_763_700_000_000 + *epoch / 16 });
                i += 2;
            } else {
                let len = data[i + 1] as usize * 6;
                let end = (i + 2 + len).min(data.len());
                let from = SocketAddr::from(([127, 0, 0, 1 + src % 8], 1600 + (src as u16 % 120)));
                node.handle_packet(from, &data[i + 2..end]);
                i = end;
            }
            while node.peek_transmit().is_some() {
                node.pop_transmit();
            }
            while node.poll_event().is_some() {}
            if let Err(e) = node.check_bounds() {
                panic!("bound broken: {e}");
            }
        }
        *runs += 1;
        if *runs % 256 == 0 {
            node.check_invariants().expect("invariants hold");
        }
    });
});
