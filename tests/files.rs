//! Files larger than a dat (`dave_files`, `docs/files.md`): the layout and
//! the reader's checks on an in-memory store, the transfer engines over
//! in-memory nodes, and `daved setf` / `daved getf` on a loopback network.

use dave_core::testing::{addr, now_at, Net};
use dave_core::wire::{self, Op};
use dave_core::{Config, Dat};
use dave_core::{Event, GetOpts, Node, Query, Reason};
use dave_files::{
    self, Download, DownloadOpts, FetchError, Header, Pace, Place, PowProgress, RootRef, Shape,
    Upload, UploadOpts, CHUNK, DEFAULT_MAX_LEN, FANOUT, MAX_DEPTH,
};
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const T0_MS: u64 = 1_763_700_000_000;
const BITS: u8 = 8;

fn signer(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

/// Deterministic bytes (xorshift), so failures repeat.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn make(key: &[u8], val: &[u8], who: &SigningKey) -> Dat {
    Dat::make(key, val, T0_MS, BITS, who, 1, None).unwrap().0
}

/// Every dat of a file, by work and by name, as a network would hold them.
#[derive(Default, Clone)]
struct Mem {
    by_work: HashMap<[u8; 32], Dat>,
    by_name: HashMap<[u8; 32], Dat>,
}

impl Mem {
    fn add(&mut self, d: Dat) {
        self.by_work.insert(d.work, d.clone());
        if let Ok(key) = <[u8; 32]>::try_from(d.key.as_slice()) {
            self.by_name.insert(key, d);
        }
    }

    /// Lays `data` out, works and signs every piece, stores it; returns the
    /// root's work hash.
    fn put_file(
        &mut self,
        data: &[u8],
        name: &[u8],
        who: &SigningKey,
    ) -> (dave_files::Layout, Dat) {
        let lay = dave_files::layout(data, name).unwrap();
        let stop = AtomicBool::new(false);
        let dats = dave_files::make_dats(
            &lay.pieces,
            BITS,
            who,
            T0_MS,
            2,
            &PowProgress::default(),
            &stop,
            &|_, _| {},
        );
        assert_eq!(dats.len(), lay.pieces.len());
        let root = dats.last().unwrap().clone();
        for d in dats {
            self.add(d);
        }
        (lay, root)
    }

    /// Walks the tree from `root`, answering every want from memory.
    fn fetch(&self, root: RootRef) -> Result<Vec<u8>, FetchError> {
        self.fetch_max(root, DEFAULT_MAX_LEN)
    }

    fn fetch_max(&self, root: RootRef, max_len: u64) -> Result<Vec<u8>, FetchError> {
        let mut f = dave_files::Fetch::new(root, max_len);
        let mut out = Vec::new();
        while let Some(w) = f.next_want() {
            let d = match w.query {
                Query::Work(h) => &self.by_work[&h],
                Query::Name { key, key_len, .. } => {
                    assert_eq!(key_len, 32);
                    &self.by_name[&key]
                }
            };
            let time = d.time_ms.to_le_bytes();
            f.deliver(&w, &d.put(&time), &mut out)?;
        }
        assert!(f.is_complete(), "the walk ended before the file did");
        let p = f.progress();
        assert_eq!(Some(p.dats), p.dats_total);
        assert_eq!(Some(p.bytes), p.bytes_total);
        Ok(out)
    }
}

#[test]
fn files_of_every_edge_size_round_trip_in_memory() {
    let who = signer(1);
    let sizes = [
        0,
        1,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        37 * CHUNK,     // the most a root with no name lists directly
        37 * CHUNK + 1, // one more: a level of pointers
        FANOUT * CHUNK, // exactly one full pointer
        1407 * CHUNK,   // 37 * 38 + 1 chunks: three levels
        3_000_000 + 17, // several MB
    ];
    for (i, &n) in sizes.iter().enumerate() {
        let data = bytes(n, 7 + i as u64);
        let mut mem = Mem::default();
        let (lay, root) = mem.put_file(&data, b"", &who);
        let expect_height = match n.div_ceil(CHUNK) {
            0..=37 => 1,
            38..=1406 => 2,
            _ => 3,
        };
        assert_eq!(lay.shape.height, expect_height, "{n} bytes");
        let got = mem.fetch(RootRef::Work(root.work)).unwrap();
        assert!(got == data, "{n} bytes came back different");
        // The same file by the root's name.
        let by_name = RootRef::Name {
            pubkey: root.pubkey,
            key: lay.root_key,
        };
        assert!(mem.fetch(by_name).unwrap() == data);
    }
}

#[test]
fn identical_content_is_one_dat() {
    let who = signer(2);
    // 100 identical chunks: one chunk dat, the full pointer (repeated) and
    // the short last one, and the root.
    let data = vec![0u8; 100 * CHUNK];
    let mut mem = Mem::default();
    let (lay, root) = mem.put_file(&data, b"zeros", &who);
    assert_eq!(lay.pieces.len(), 4);
    assert_eq!(lay.shape.positions(), 100 + 3 + 1);
    assert_eq!(mem.fetch(RootRef::Work(root.work)).unwrap(), data);
    // 10 MB of zeros (as docs/files.md says): a full chunk and the short
    // last one, two distinct pointers on each of two levels, the root.
    let ten = dave_files::layout(&vec![0u8; 10_000_000], b"").unwrap();
    assert_eq!(ten.shape.height, 3);
    assert_eq!(ten.pieces.len(), 7);
    assert_eq!(ten.shape.positions(), 8124 + 214 + 6 + 1);
    // A repeated run of chunks that starts at a multiple of the fan-out
    // shares its pointer too.
    let unit = bytes(FANOUT * CHUNK, 9);
    let twice = [unit.clone(), unit].concat();
    let lay = dave_files::layout(&twice, b"").unwrap();
    assert_eq!(lay.pieces.len(), FANOUT + 1 + 1);
    // The name is in the root only: the tree below is shared.
    let a = dave_files::layout(&data, b"a").unwrap();
    let b = dave_files::layout(&data, b"b").unwrap();
    assert_ne!(a.root_key, b.root_key);
    assert_eq!(a.pieces[..3], b.pieces[..3]);
}

fn expect_bad(r: Result<Vec<u8>, FetchError>, place: Place, words: &[&str]) -> String {
    match r {
        Err(e @ FetchError::Bad { .. }) => {
            let FetchError::Bad { piece, .. } = &e else {
                unreachable!()
            };
            assert_eq!(piece.place, place, "{e}");
            let msg = e.to_string();
            for w in words {
                assert!(msg.contains(w), "`{w}` not in: {msg}");
            }
            msg
        }
        Err(e) => panic!("expected a bad piece, got: {e}"),
        Ok(_) => panic!("a tampered file was accepted"),
    }
}

#[test]
fn a_tampered_chunk_is_detected_and_named() {
    let who = signer(3);
    let data = bytes(100 * CHUNK + 5, 11);
    let mut mem = Mem::default();
    let (_, root) = mem.put_file(&data, b"", &who);
    // The writer's key signs a dat of chunk 41's name with other content.
    let key = dave_files::name_of(&data[41 * CHUNK..42 * CHUNK]);
    let mut evil = data[41 * CHUNK..42 * CHUNK].to_vec();
    evil[100] ^= 1;
    mem.add(make(&key, &evil, &who));
    let msg = expect_bad(
        mem.fetch(RootRef::Work(root.work)),
        Place {
            level: 0,
            index: 41,
        },
        &["chunk 41", "hashes to", "tampered", "bytes 50471..51702"],
    );
    assert!(msg.contains(&wire::Hex(&key).to_string()), "{msg}");
    // A chunk signed by someone else is refused too.
    let mut mem2 = Mem::default();
    let (_, root2) = mem2.put_file(&data, b"", &who);
    mem2.add(make(&key, &data[41 * CHUNK..42 * CHUNK], &signer(4)));
    expect_bad(
        mem2.fetch(RootRef::Work(root2.work)),
        Place {
            level: 0,
            index: 41,
        },
        &["signed by"],
    );
}

#[test]
fn a_tampered_pointer_is_detected_and_named() {
    let who = signer(5);
    let data = bytes(100 * CHUNK, 13);
    let mut mem = Mem::default();
    let (lay, root) = mem.put_file(&data, b"", &who);
    // Pointer 1 of level 1: swap two of its children.
    let p = lay
        .pieces
        .iter()
        .filter(|p| p.level == 1)
        .nth(1)
        .unwrap()
        .clone();
    let mut val = p.val.clone();
    let (a, b) = (dave_files::HEADER, dave_files::HEADER + 32);
    let first: Vec<u8> = val[a..b].to_vec();
    val.copy_within(b..b + 32, a);
    val[b..b + 32].copy_from_slice(&first);
    mem.add(make(&p.key, &val, &who));
    expect_bad(
        mem.fetch(RootRef::Work(root.work)),
        Place { level: 1, index: 1 },
        &[
            "pointer 1 of level 1",
            "hashes to",
            "covering bytes 46778..93556",
        ],
    );
}

/// Signs a hand-made tree: pieces given as (key, value).
fn store_all(mem: &mut Mem, vals: &[Vec<u8>], who: &SigningKey) -> Vec<[u8; 32]> {
    vals.iter()
        .map(|v| {
            let k = dave_files::name_of(v);
            mem.add(make(&k, v, who));
            k
        })
        .collect()
}

#[test]
fn trees_that_break_the_roots_promises_are_refused() {
    let who = signer(6);
    let chunks: Vec<Vec<u8>> = (0..3).map(|i| bytes(CHUNK, 20 + i)).collect();

    // A pointer with more children than the stated length allows: the
    // root says 2 chunks, its pointer lists 3.
    let mut mem = Mem::default();
    let keys = store_all(&mut mem, &chunks, &who);
    let p = dave_files::encode_pointer(1, &keys);
    let pk = store_all(&mut mem, &[p], &who)[0];
    let shape = Shape::new(2 * CHUNK as u64, CHUNK as u32, FANOUT as u32, 2).unwrap();
    let r = dave_files::encode_root(&shape, b"", &[pk]);
    let rk = store_all(&mut mem, &[r], &who)[0];
    let root = mem.by_name[&rk].work;
    expect_bad(
        mem.fetch(RootRef::Work(root)),
        Place { level: 1, index: 0 },
        &["lists 3 children, more than the stated length allows (2)"],
    );

    // A chunk longer than the length promises.
    let mut mem = Mem::default();
    let keys = store_all(&mut mem, &chunks[..2], &who);
    let shape = Shape::new(CHUNK as u64 + 10, CHUNK as u32, FANOUT as u32, 1).unwrap();
    let r = dave_files::encode_root(&shape, b"", &keys);
    let rk = store_all(&mut mem, &[r], &who)[0];
    expect_bad(
        mem.fetch(RootRef::Work(mem.by_name[&rk].work)),
        Place { level: 0, index: 1 },
        &["1231 bytes where the length promises 10"],
    );

    // A pointer that lists a pointer of its own parent's level (the only
    // way to aim back up the tree): a cycle.
    let mut mem = Mem::default();
    let shape = Shape::new(1445 * CHUNK as u64, CHUNK as u32, FANOUT as u32, 3).unwrap();
    assert_eq!((shape.count(1), shape.count(2)), (39, 2));
    let fake: Vec<[u8; 32]> = (0..38u8).map(|i| [i; 32]).collect();
    let p2a = store_all(&mut mem, &[dave_files::encode_pointer(2, &fake)], &who)[0];
    let p2b = store_all(&mut mem, &[dave_files::encode_pointer(2, &[p2a])], &who)[0];
    let r = dave_files::encode_root(&shape, b"", &[p2a, p2b]);
    let rk = store_all(&mut mem, &[r], &who)[0];
    expect_bad(
        mem.fetch(RootRef::Work(mem.by_name[&rk].work)),
        Place { level: 2, index: 1 },
        &["a cycle"],
    );

    // A pointer at the wrong level, and a root where a pointer belongs.
    let mut mem = Mem::default();
    let keys = store_all(&mut mem, &chunks, &who);
    let p = store_all(&mut mem, &[dave_files::encode_pointer(2, &keys)], &who)[0];
    let shape = Shape::new(3 * CHUNK as u64, CHUNK as u32, FANOUT as u32, 2).unwrap();
    let rk = store_all(
        &mut mem,
        &[dave_files::encode_root(&shape, b"", &[p])],
        &who,
    )[0];
    expect_bad(
        mem.fetch(RootRef::Work(mem.by_name[&rk].work)),
        Place { level: 1, index: 0 },
        &["level 2, but sits at level 1"],
    );
}

fn expect_refused(r: Result<Vec<u8>, FetchError>, words: &str) {
    match r {
        Err(e @ FetchError::Refused(_)) => {
            assert!(e.to_string().contains(words), "`{words}` not in: {e}")
        }
        Err(e) => panic!("expected a refusal, got: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn roots_that_promise_too_much_are_refused_before_anything_is_fetched() {
    let who = signer(7);
    let mut mem = Mem::default();
    // Too deep.
    let mut r = dave_files::encode_root(&Shape::new(0, CHUNK as u32, 38, 1).unwrap(), b"", &[]);
    r[3] = MAX_DEPTH + 1;
    let rk = store_all(&mut mem, &[r], &who)[0];
    expect_refused(
        mem.fetch(RootRef::Work(mem.by_name[&rk].work)),
        "7 levels deep; at most 6",
    );
    // Longer than the reader accepts.
    let shape = Shape::new(1 << 40, CHUNK as u32, 38, 6).unwrap();
    let kids = vec![[9u8; 32]; shape.count(5) as usize];
    let rk = store_all(
        &mut mem,
        &[dave_files::encode_root(&shape, b"", &kids)],
        &who,
    )[0];
    expect_refused(
        mem.fetch_max(RootRef::Work(mem.by_name[&rk].work), 1 << 30),
        "more than the 1073741824 this reader accepts",
    );
    // Not a file at all, and a pointer given as a root.
    let d = make(b"greeting", b"hello dave", &who);
    mem.add(d.clone());
    expect_refused(mem.fetch(RootRef::Work(d.work)), "32-byte name");
    let p = dave_files::encode_pointer(1, &[[1u8; 32]]);
    let pk = store_all(&mut mem, &[p], &who)[0];
    expect_refused(
        mem.fetch(RootRef::Work(mem.by_name[&pk].work)),
        "a pointer inside a file",
    );
    // A root whose value does not hash to its name.
    let mut v = dave_files::encode_root(&Shape::new(0, CHUNK as u32, 38, 1).unwrap(), b"x", &[]);
    let k = dave_files::name_of(&v);
    v[16] = b'y';
    let d = make(&k, &v, &who);
    mem.add(d.clone());
    match mem.fetch(RootRef::Work(d.work)) {
        Err(e @ FetchError::Bad { .. }) => assert!(e.to_string().contains("the root"), "{e}"),
        other => panic!("{:?}", other.map(|v| v.len())),
    }
    assert!(matches!(
        dave_files::decode(&[0xDF, 1, 2, 1]),
        Err(e) if e.contains("too short")
    ));
    assert!(matches!(
        dave_files::decode(&dave_files::encode_pointer(3, &[])),
        Ok(Header::Pointer { level: 3, .. })
    ));
}

// ---- the node changes the engines rely on ----

fn packet(d: &Dat) -> Vec<u8> {
    let time = d.time_ms.to_le_bytes();
    let mut buf = [0u8; wire::PACKET_MAX];
    let n = wire::encode_into(&d.msg(&time), &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn an_answer_to_our_own_get_passes_the_packet_filter() {
    let who = signer(8);
    let mut cfg = Config::default().with_dat_cap(100);
    cfg.max_gets = 40;
    let mut n = Node::new(cfg);
    n.handle_tick(now_at(1));
    let (a, b) = (make(b"a", b"gossip", &who), make(b"b", b"answer", &who));
    let id = n
        .get_to(Query::Work(b.work), GetOpts::timeout(1000), addr(1))
        .unwrap();
    // The GET went to that peer only.
    let (to, bytes) = n.peek_transmit().unwrap();
    assert_eq!(to, addr(1));
    assert_eq!(wire::decode(bytes).unwrap().op(), Op::Get);
    n.pop_transmit();
    assert!(n.peek_transmit().is_none());
    // In one epoch the peer sends gossip first, then our answer, then more.
    n.handle_packet(addr(1), &packet(&a));
    n.handle_packet(addr(1), &packet(&b));
    n.handle_packet(addr(1), &packet(&make(b"c", b"more", &who)));
    assert_eq!(
        n.poll_event(),
        Some(Event::Got {
            id,
            work: b.work,
            from: Some(addr(1))
        })
    );
    assert_eq!(n.stats().drop_count(Reason::Filter), 1);
    // max_gets is the node's setting now.
    for i in 0..40u8 {
        let q = Query::Work([i; 32]);
        let r = n.get_to(q, GetOpts::timeout(1000), addr(1));
        assert_eq!(r.is_ok(), i < 40, "get {i}");
    }
    assert!(n.get(Query::Work([99; 32]), GetOpts::timeout(1)).is_err());
    // put_to sends a held dat again, to the peers chosen.
    while n.peek_transmit().is_some() {
        n.pop_transmit();
    }
    let time = a.time_ms.to_le_bytes();
    n.put_to(&a.msg(&time), &[addr(2), addr(3)]).unwrap();
    assert_eq!(n.last_sent(), &[addr(2), addr(3)]);
    let mut sent = Vec::new();
    while let Some((to, bytes)) = n.peek_transmit() {
        assert_eq!(wire::decode(bytes).unwrap().msg().work, &a.work);
        sent.push(to);
        n.pop_transmit();
    }
    assert_eq!(sent, [addr(2), addr(3)]);
}

// ---- the engines over in-memory nodes ----

/// `servers` nodes meshed through node 0, then client nodes (file
/// settings), client `j` with `clients[j]` as its edge.
fn file_net(servers: usize, clients: &[usize]) -> Net {
    Net::new(servers + clients.len(), |i, cfg| {
        *cfg = cfg.clone().with_dat_cap(20_000);
        cfg.seed = 500 + i as u64;
        if i >= servers {
            cfg.edges = vec![addr(clients[i - servers])];
            cfg.max_gets = 200;
            cfg.seed_epochs = 1 << 40;
            cfg.pull_epochs = 1 << 40;
        }
    })
}

/// The engines' clock: it follows the epochs, so runs are exact.
fn instant(t0: Instant, net: &Net) -> Instant {
    t0 + Duration::from_nanos(net.epoch * 65537)
}

fn quick_pace() -> Pace {
    // At most one request per peer per epoch, the most a receiver's filter
    // passes when every epoch is one burst.
    Pace {
        least: Duration::from_nanos(65537),
        most: Duration::from_millis(20),
    }
}

#[test]
fn upload_and_download_engines_move_a_multi_level_file_between_nodes() {
    let who = signer(9);
    // Four nodes; client 4 writes through node 0, client 5 reads through node 3.
    let mut net = file_net(4, &[0, 3]);
    let t0 = Instant::now();
    net.run(3000); // peers meet, pass DELAY, and answer pings
    let data = bytes(1500 * CHUNK + 99, 31);
    let lay = dave_files::layout(&data, b"big.bin").unwrap();
    assert_eq!(lay.shape.height, 3);
    let stop = AtomicBool::new(false);
    let dats = dave_files::make_dats(
        &lay.pieces,
        BITS,
        &who,
        net.now().unix_ms,
        2,
        &PowProgress::default(),
        &stop,
        &|_, _| {},
    );
    let root = dats.last().unwrap().work;
    let opts = UploadOpts {
        pace: quick_pace(),
        stall: Duration::from_secs(2),
        ..UploadOpts::default()
    };
    let mut up = Upload::new(dats.len(), opts);
    for (i, d) in dats.into_iter().enumerate() {
        up.add(i, d);
    }
    let mut epochs = 0;
    while !up.is_complete() {
        let now = instant(t0, &net);
        while let Some(ev) = net.nodes[4].poll_event() {
            assert!(up.on_event(&ev, now));
        }
        up.step(&mut net.nodes[4], now).unwrap();
        net.run(1);
        epochs += 1;
        assert!(epochs < 200_000, "upload did not finish");
    }
    assert!(up.peers() >= 3, "the upload used {} peers", up.peers());
    assert_eq!(up.confirmed(), lay.pieces.len());

    let opts = DownloadOpts {
        pace: quick_pace(),
        stall: Duration::from_secs(2),
        window: 128,
        ..DownloadOpts::default()
    };
    let mut dl = Download::new(RootRef::Work(root), opts);
    let mut out = Vec::new();
    let mut epochs = 0;
    while !dl.is_complete() {
        let now = instant(t0, &net);
        while let Some(ev) = net.nodes[5].poll_event() {
            assert!(dl.on_event(&net.nodes[5], &ev, &mut out, now).unwrap());
        }
        dl.step(&mut net.nodes[5], now).unwrap();
        net.run(1);
        epochs += 1;
        assert!(epochs < 200_000, "download did not finish");
    }
    assert!(out == data, "the download differs");
    let info = dl.info().unwrap();
    assert_eq!(info.name, b"big.bin");
    assert_eq!(dl.progress().dats, lay.shape.positions());
    for n in &net.nodes {
        n.check_invariants().unwrap();
    }
}

// ---- the command line on loopback ----

mod common;
use common::{field, free_port, start_node, text, tmpdir, Nodes, BIN};

fn start_network(n: usize, dir: &Path) -> (Nodes, Vec<String>) {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut nodes = Nodes(Vec::new());
    for (i, p) in ports.iter().enumerate() {
        let edge = (i > 0).then_some(ports[0]);
        nodes.0.push(start_node(
            *p,
            edge,
            &dir.join(format!("n{i}.log")),
            &["--status", "0"],
        ));
    }
    std::thread::sleep(Duration::from_millis(300));
    let addrs = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    (nodes, addrs)
}

fn daved(args: &[&str], home: &Path, cwd: &Path, stdin: Option<&Path>) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("JOURNAL_STREAM")
        .stdin(match stdin {
            Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
            None => Stdio::null(),
        })
        .output()
        .expect("daved runs")
}

/// A string field of a one-line JSON object.
fn json_str<'a>(out: &'a str, name: &str) -> &'a str {
    let pat = format!("\"{name}\":\"");
    let at = out
        .find(&pat)
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        + pat.len();
    &out[at..at + out[at..].find('"').unwrap()]
}

#[test]
fn setf_and_getf_round_trip_files_on_loopback() {
    let dir = tmpdir("files-rt");
    let (_nodes, e) = start_network(3, &dir);
    let kg = daved(&["keygen"], &dir, &dir, None);
    assert!(kg.status.success(), "{}", text(&kg.stderr));
    let pubkey = text(&kg.stdout).trim().to_string();

    for (i, n) in [0, 1, CHUNK, CHUNK + 1].into_iter().enumerate() {
        let data = bytes(n, 100 + i as u64);
        let src = dir.join(format!("in{n}"));
        std::fs::write(&src, &data).unwrap();
        let set = daved(
            &["-e", &e[0], "setf", "-d", "8", src.to_str().unwrap()],
            &dir,
            &dir,
            None,
        );
        let out = text(&set.stdout);
        assert!(set.status.success(), "setf {n}: {}{out}", text(&set.stderr));
        assert_eq!(field(&out, "pubkey"), pubkey);
        let root = field(&out, "root").to_string();
        let summary = text(&set.stderr);
        assert!(summary.contains(" dats ("), "{summary}");
        let dst = dir.join(format!("out{n}"));
        let get = daved(
            &["-e", &e[2], "getf", &root, "-o", dst.to_str().unwrap()],
            &dir,
            &dir,
            None,
        );
        assert!(get.status.success(), "getf {n}: {}", text(&get.stderr));
        assert!(std::fs::read(&dst).unwrap() == data, "{n} bytes differ");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|f| f.ok())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    // Several MB, three levels, from standard input; read back by name to
    // standard output through another node.
    let data = bytes(3_000_000, 5);
    let src = dir.join("big");
    std::fs::write(&src, &data).unwrap();
    let set = daved(
        &[
            "-e", &e[1], "setf", "-d", "8", "--json", "--name", "big.bin", "-",
        ],
        &dir,
        &dir,
        Some(&src),
    );
    let out = text(&set.stdout);
    assert!(set.status.success(), "{}{out}", text(&set.stderr));
    assert!(out.contains("\"height\":3"), "{out}");
    assert!(out.contains("\"file_name\":\"big.bin\""), "{out}");
    let root = json_str(&out, "root").to_string();
    let name = json_str(&out, "name").to_string();
    let get = daved(
        &["-e", &e[0], "getf", &pubkey, &name, "-o", "-"],
        &dir,
        &dir,
        None,
    );
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert!(get.stdout == data, "the big file differs");

    // Without -o: the recorded name, in the current directory; never replaced.
    let cwd = dir.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let get = daved(&["-e", &e[2], "getf", "--json", &root], &dir, &cwd, None);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert!(text(&get.stdout).contains("\"path\":\"big.bin\""));
    assert!(std::fs::read(cwd.join("big.bin")).unwrap() == data);
    let again = daved(&["-e", &e[2], "getf", &root], &dir, &cwd, None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("not replacing"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn getf_usage_and_failures() {
    let dir = tmpdir("files-usage");
    let u = daved(&["getf"], &dir, &dir, None);
    assert_eq!(u.status.code(), Some(2));
    let u = daved(&["getf", "nothex"], &dir, &dir, None);
    assert_eq!(u.status.code(), Some(2));
    let u = daved(&["setf", "a", "b"], &dir, &dir, None);
    assert_eq!(u.status.code(), Some(2));
    let u = daved(
        &["getf", "-o", "-", "--json", &"0".repeat(64)],
        &dir,
        &dir,
        None,
    );
    assert_eq!(u.status.code(), Some(2));
    let u = daved(&["set", "-o", "x", "v"], &dir, &dir, None);
    assert_eq!(u.status.code(), Some(2));
    // A root nobody has: exit 1, saying so, no file left.
    let (_nodes, e) = start_network(1, &dir);
    let g = daved(
        &["-e", &e[0], "-t", "1", "getf", &"ab".repeat(32), "-o", "x"],
        &dir,
        &dir,
        None,
    );
    assert_eq!(g.status.code(), Some(1), "{}", text(&g.stderr));
    assert!(
        text(&g.stderr).contains("root not found"),
        "{}",
        text(&g.stderr)
    );
    assert!(!dir.join("x").exists());
}

/// The layout vectors the web page's `src/web/files.js` is checked against
/// (`node src/web/test-vectors.mjs`): each case's generated bytes and name,
/// with the dats, height, root name and a hash of every piece's key in
/// order. `DAVE_WRITE_VECTORS=1` rewrites the file from this layout.
#[test]
fn the_layout_vectors_of_the_web_page_match() {
    // The same generators as src/web/test-vectors.mjs.
    fn gen(kind: &str, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| match kind {
                "pattern" => ((i * 31 + (i >> 11)) % 251) as u8,
                _ => ((i / CHUNK) % 3) as u8,
            })
            .collect()
    }
    let cases: [(&str, usize, String); 10] = [
        ("pattern", 0, String::new()),
        ("pattern", 1, "a".into()),
        ("pattern", CHUNK, "x.bin".into()),
        ("pattern", CHUNK + 1, String::new()),
        ("pattern", 37 * CHUNK, String::new()),
        ("pattern", 37 * CHUNK + 1, String::new()),
        ("pattern", 100_000, "notes.txt".into()),
        ("pattern", 40_000, "n".repeat(255)),
        ("blocks", 200_000, "b".into()),
        ("blocks", 1_800_000, "height three".into()),
    ];
    let mut out = String::from("{\"cases\":[\n");
    for (i, (kind, n, name)) in cases.iter().enumerate() {
        let lay = dave_files::layout(&gen(kind, *n), name.as_bytes()).unwrap();
        let mut h = blake3::Hasher::new();
        for p in &lay.pieces {
            h.update(&p.key);
        }
        out.push_str(&format!(
            "{{\"gen\":\"{kind}\",\"len\":{n},\"name\":\"{name}\",\"dats\":{},\"height\":{},\"root_key\":\"{}\",\"keys_hash\":\"{}\"}}{}\n",
            lay.pieces.len(),
            lay.shape.height,
            wire::Hex(&lay.root_key),
            h.finalize().to_hex(),
            if i + 1 < cases.len() { "," } else { "" }
        ));
    }
    out.push_str("]}\n");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/layout.json");
    if std::env::var_os("DAVE_WRITE_VECTORS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        want, out,
        "tests/vectors/layout.json differs from the layout (DAVE_WRITE_VECTORS=1 rewrites it, if the layout was meant to change)"
    );
}
