//! Any backup file: loading never panics, never loads more than it read,
//! and leaves a consistent store.
#![no_main]
use dave::backup::load_into;
use dave_core::{Node, Now};
use dave_core::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut cfg = Config::default().with_dat_cap(32);
    cfg.filter_cap = 64;
    let mut node = Node::new(cfg);
    node.handle_tick(Now { epoch: 1, unix_ms: 1_763_700_000_000 });
    let rep = load_into(std::io::Cursor::new(data), &mut node, 1).expect("reading memory cannot fail");
    assert!(rep.loaded <= rep.records);
    assert_eq!(rep.file_bytes, data.len() as u64);
    let covered: u64 = rep.bad_bytes();
    assert!(covered <= rep.file_bytes);
    node.check_invariants().expect("a loaded store is consistent");
});
