//! The node core does not allocate after construction (docs/protocol.md section 2,
//! and the promise of `crates/dave-core/src/node.rs`).
//!
//! A counting global allocator wraps the system one. Everything the test
//! needs (dats, datagrams, addresses) is prepared first and a node is warmed
//! up with the same mix of traffic; then counting is switched on while
//! 100,000 mixed datagrams, ticks and application calls go through the node:
//! novel, replayed, replacing and stale PUTs, every kind of bad PUT, GETs that
//! hit and miss, GETPEER, solicited and unsolicited PEER, garbage, packets
//! from the node's own address and packets the filter drops, running past
//! several prunes and peer drops. The count must be exactly zero.
//!
//! `harness = false` (Cargo.toml): the libtest harness allocates on its own
//! threads, which would pollute a global count.

use dave_core::pow;
use dave_core::testing::handshake;
use dave_core::wire::{
    self, decode, encode_into, Cookie, Msg, Op, Packet, Pd, MTU, NPEER, PACKET_MAX, TOKEN_FIELD_LEN,
};
use dave_core::{Config, Dat};
use dave_core::{Event, GetOpts, Node, Now, Query, Reason, Stats};
use ed25519_dalek::SigningKey;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

// ---------------------------------------------------------------------------
// The counting allocator.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// alloc, alloc_zeroed and realloc calls while counting.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// dealloc calls while counting (reported, not asserted).
static FREES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            FREES.fetch_add(1, Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Relaxed)
}

// ---------------------------------------------------------------------------
// Test data.

/// A tiny deterministic PRNG (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Wall clock at epoch 0.
const BASE_MS: u64 = 1_763_700_000_000;
/// Datagrams pushed while counting.
const PACKETS: usize = 100_000;
/// Datagrams pushed to warm the node up.
const WARM_PACKETS: usize = 30_000;
/// Epochs between prunes (shorter than the default, so the run sees many).
const PRUNE_EPOCHS: u64 = 4096;

/// A dat with its datagrams, all encoded ahead of time.
struct Prepared {
    dat: Dat,
    time: [u8; 8],
    put: Vec<u8>,
    get_work: Vec<u8>,
    get_name: Vec<u8>,
}

fn encode_vec(m: &Msg<'_>) -> Vec<u8> {
    let mut buf = [0u8; MTU];
    let n = encode_into(m, &mut buf).expect("encode");
    buf[..n].to_vec()
}

fn prepare(dat: Dat) -> Prepared {
    let time = dat.time_ms.to_le_bytes();
    let put = encode_vec(&dat.msg(&time));
    let get_work = encode_vec(&Msg {
        op: Op::Get,
        work: &dat.work,
        ..Msg::default()
    });
    let get_name = encode_vec(&Msg {
        op: Op::Get,
        pubkey: &dat.pubkey,
        key: &dat.key,
        ..Msg::default()
    });
    Prepared {
        dat,
        time,
        put,
        get_work,
        get_name,
    }
}

fn make(key: &[u8], val_len: usize, time_ms: u64, signer: &SigningKey, fill: u8) -> Prepared {
    let val: Vec<u8> = (0..val_len).map(|j| fill ^ j as u8).collect();
    let (dat, _) = Dat::make(key, &val, time_ms, 8, signer, 1, None).expect("make dat");
    prepare(dat)
}

/// A PUT with a real signature over a proof below MIN_WORK.
fn low_work_put(signer: &SigningKey) -> Vec<u8> {
    let time = (BASE_MS - 5_000).to_le_bytes();
    let load = pow::load(b"cheap", b"no work", &time);
    let mut ctr = 0u64;
    let (salt, work) = loop {
        let salt = ctr.to_le_bytes();
        let w = pow::work(&salt, &load);
        if pow::difficulty(&w) < 8 {
            break (salt, w);
        }
        ctr += 1;
    };
    let sig = pow::sign(signer, &work);
    let pk = signer.verifying_key().to_bytes();
    encode_vec(&Msg {
        op: Op::Put,
        key: b"cheap",
        val: b"no work",
        time: &time,
        salt: &salt,
        work: &work,
        pubkey: &pk,
        sig: &sig,
        ..Msg::default()
    })
}

/// A PUT that decodes (under MTU) but whose canonical form exceeds PACKET_MAX.
fn oversize_put() -> Vec<u8> {
    let val = vec![b'o'; wire::max_val_len(3, 8) + 20];
    let m = Msg {
        op: Op::Put,
        key: b"big",
        val: &val,
        time: &BASE_MS.to_le_bytes(),
        salt: &[1; 8],
        work: &[0x42; 32],
        pubkey: &[0x43; 32],
        sig: &[0x44; 64],
        ..Msg::default()
    };
    let b = encode_vec(&m);
    assert!(b.len() > PACKET_MAX && b.len() <= MTU);
    b
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 7, last)),
        port,
    )
}

/// A PEER naming `pds` and issuing a cookie; the token that makes it an
/// answer is appended when it is sent.
fn peer_msg(pds: &[SocketAddr]) -> Vec<u8> {
    let mut m = Msg {
        op: Op::Peer,
        cookie: &[5; 8],
        ..Msg::default()
    };
    for (i, a) in pds.iter().take(NPEER).enumerate() {
        m.pds[i] = Pd::from_addr(*a);
        m.npds += 1;
    }
    encode_vec(&m)
}

// ---------------------------------------------------------------------------
// The traffic mix.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
enum Kind {
    Tick,
    NovelPut,
    ReplacePut,
    StalePut,
    ReplayPut,
    BadWork,
    BadSig,
    LowWork,
    Future,
    Oversize,
    GetWorkHeld,
    GetWorkMissing,
    GetNameHeld,
    GetNameMissing,
    Getpeer,
    PeerSolicited,
    PeerUnsolicited,
    Garbage,
    FromSelf,
    FilterDup,
    AppPut,
    AppGet,
    DrainNovel,
}

const KINDS: usize = Kind::DrainNovel as usize + 1;

const KIND_NAMES: [&str; KINDS] = [
    "tick",
    "novel_put",
    "replace_put",
    "stale_put",
    "replay_put",
    "bad_work",
    "bad_sig",
    "low_work",
    "future",
    "oversize",
    "get_work_held",
    "get_work_missing",
    "get_name_held",
    "get_name_missing",
    "getpeer",
    "peer_solicited",
    "peer_unsolicited",
    "garbage",
    "from_self",
    "filter_dup",
    "app_put",
    "app_get",
    "drain_novel",
];

/// Relative weights of the packet kinds (ticks are scheduled separately).
const MIX: [(Kind, usize); 20] = [
    (Kind::NovelPut, 22),
    (Kind::ReplacePut, 3),
    (Kind::StalePut, 3),
    (Kind::ReplayPut, 120),
    (Kind::BadWork, 8),
    (Kind::BadSig, 8),
    (Kind::LowWork, 5),
    (Kind::Future, 5),
    (Kind::Oversize, 5),
    (Kind::GetWorkHeld, 140),
    (Kind::GetWorkMissing, 50),
    (Kind::GetNameHeld, 100),
    (Kind::GetNameMissing, 30),
    (Kind::Getpeer, 120),
    (Kind::PeerSolicited, 40),
    (Kind::PeerUnsolicited, 40),
    (Kind::Garbage, 120),
    (Kind::FromSelf, 10),
    (Kind::FilterDup, 20),
    (Kind::AppPut, 3),
];

/// Pools of prepared data, indexed without allocating while counting.
struct Data {
    /// Dats for the warm-up.
    warm: Vec<Prepared>,
    /// Novel dats for the counted run.
    novel: Vec<Prepared>,
    /// Later versions of some warm-up names.
    replace: Vec<Prepared>,
    /// Earlier versions of some warm-up names.
    stale: Vec<Prepared>,
    /// Dats the application puts during the counted run.
    app: Vec<Prepared>,
    /// Valid dats whose work field was altered.
    bad_work: Vec<Vec<u8>>,
    /// Valid dats whose signature was altered.
    bad_sig: Vec<Vec<u8>>,
    low_work: Vec<u8>,
    future: Vec<u8>,
    oversize: Vec<u8>,
    /// GETs by work and by name for dats nobody has.
    get_work_missing: Vec<Vec<u8>>,
    get_name_missing: Vec<Vec<u8>>,
    /// PEER datagrams.
    peers: Vec<Vec<u8>>,
    /// Undecodable or invalid datagrams.
    garbage: Vec<Vec<u8>>,
    /// Source addresses.
    sources: Vec<SocketAddr>,
    /// A GETPEER issuing a cookie.
    getpeer: Vec<u8>,
    me: SocketAddr,
    pubkeys: Vec<[u8; 32]>,
}

fn prepare_data(rng: &mut Rng) -> Data {
    let signers: Vec<SigningKey> = (0..3u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let mut serial = 0u64;
    let mut next = |prefix: &str, n: usize, rng: &mut Rng| -> Vec<Prepared> {
        (0..n)
            .map(|_| {
                serial += 1;
                let key = format!("{prefix}{serial:05}");
                let time = BASE_MS - 60_000 + serial * 7;
                let s = &signers[serial as usize % signers.len()];
                make(key.as_bytes(), 16 + rng.below(300), time, s, serial as u8)
            })
            .collect()
    };
    let warm = next("w", 1200, rng);
    let novel = next("n", 1600, rng);
    let app = next("a", 200, rng);
    let extra = next("x", 100, rng);

    // Other versions of warm-up names: later ones replace, earlier ones are stale.
    let version = |p: &Prepared, time: u64, rng: &mut Rng| {
        let s = signers
            .iter()
            .find(|s| s.verifying_key().to_bytes() == p.dat.pubkey)
            .expect("signer");
        make(&p.dat.key, 16 + rng.below(200), time, s, 0x5a)
    };
    let replace: Vec<Prepared> = (0..150)
        .map(|i| version(&warm[i], BASE_MS + 1_000 + i as u64, rng))
        .collect();
    let stale: Vec<Prepared> = (0..100)
        .map(|i| version(&warm[200 + i], BASE_MS - 3_600_000, rng))
        .collect();

    let bad_work = extra[..50]
        .iter()
        .map(|p| {
            let mut w = p.dat.work;
            w[5] ^= 0x20;
            encode_vec(&Msg {
                work: &w,
                ..p.dat.msg(&p.time)
            })
        })
        .collect();
    let bad_sig = extra[50..]
        .iter()
        .map(|p| {
            let mut s = p.dat.sig;
            s[3] ^= 0x01;
            encode_vec(&Msg {
                sig: &s,
                ..p.dat.msg(&p.time)
            })
        })
        .collect();

    let future = {
        let (d, _) = Dat::make(
            b"future",
            b"too early",
            BASE_MS + 3_600_000,
            8,
            &signers[0],
            1,
            None,
        )
        .expect("make");
        encode_vec(&d.msg(&d.time_ms.to_le_bytes()))
    };

    let mut get_work_missing = Vec::new();
    let mut get_name_missing = Vec::new();
    for i in 0..64u8 {
        get_work_missing.push(encode_vec(&Msg {
            op: Op::Get,
            work: &[i; 32],
            ..Msg::default()
        }));
        let pk = signers[i as usize % 3].verifying_key().to_bytes();
        get_name_missing.push(encode_vec(&Msg {
            op: Op::Get,
            pubkey: &pk,
            key: format!("nobody{i}").as_bytes(),
            ..Msg::default()
        }));
    }

    let me = v4(192, 0, 2, 250, 1618);
    let mut peers = Vec::new();
    for i in 0..256usize {
        let a = v4(198, 51, 100, (i % 250) as u8 + 1, 1000 + i as u16);
        let b = v6(i as u16, 2000 + i as u16);
        peers.push(match i % 8 {
            // A loopback descriptor (refused unless the sender is loopback) and our own address.
            0 => peer_msg(&[v4(127, 0, 0, 9, 4000 + i as u16), me]),
            1 => peer_msg(&[a]),
            2 => peer_msg(&[]),
            3 => peer_msg(&[v4(10, 1, (i / 256) as u8, i as u8, 1618), b]),
            _ => peer_msg(&[a, b]),
        });
    }

    let mut garbage: Vec<Vec<u8>> = Vec::new();
    for _ in 0..48 {
        let n = rng.below(80);
        garbage.push((0..n).map(|_| rng.next() as u8).collect());
    }
    for p in warm.iter().take(16) {
        let cut = 1 + rng.below(p.put.len() - 1);
        garbage.push(p.put[..cut].to_vec());
    }
    garbage.push(vec![0; MTU + 1]);
    garbage.push(vec![0x08, 0x07]); // unknown op
    garbage.push(vec![0x08, 0x03]); // GET with nothing to get
    garbage.push(vec![0x08, 0x01, 0x12, 0x02, 0x10, 0x00]); // bad peer descriptor
    garbage.push({
        let p = &warm[0];
        let mut m = p.dat.msg(&p.time);
        m.sig = &[];
        encode_vec(&m) // PUT without a signature
    });

    let mut sources = Vec::new();
    for i in 0..120u16 {
        sources.push(v4(127, 0, 0, 1 + (i % 40) as u8, 20_000 + i * 7));
    }
    for i in 0..200u16 {
        sources.push(v4(192, 0, 2, 1 + (i % 240) as u8, 30_000 + i * 131));
    }
    for i in 0..60u16 {
        sources.push(v4(10, 7, (i / 200) as u8, i as u8, 1618 + i));
    }
    for i in 0..40u16 {
        sources.push(v6(0x100 + i, 1618));
    }

    Data {
        warm,
        novel,
        replace,
        stale,
        app,
        bad_work,
        bad_sig,
        low_work: low_work_put(&signers[1]),
        future,
        oversize: oversize_put(),
        get_work_missing,
        get_name_missing,
        peers,
        garbage,
        sources,
        getpeer: encode_vec(&Msg {
            op: Op::Getpeer,
            cookie: &[4; 8],
            ..Msg::default()
        }),
        me,
        pubkeys: signers
            .iter()
            .map(|s| s.verifying_key().to_bytes())
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// The driver of the traffic.

/// Which pool a delivered dat came from.
#[derive(Clone, Copy)]
enum Pool {
    Warm,
    Novel,
    Replace,
    App,
}

const PING_RING: usize = 64;

struct Run<'a> {
    /// Notes drained: [prunes, per-event].
    notes: [u64; 2],
    node: Node,
    d: &'a Data,
    rng: Rng,
    epoch: u64,
    /// Dats sent to (or put into) the node, for replays and GETs.
    delivered: Vec<(Pool, u32)>,
    next_warm: usize,
    next_novel: usize,
    next_replace: usize,
    next_stale: usize,
    next_app: usize,
    /// Addresses the node recently sent a GETPEER to, and the cookie it
    /// issued them.
    pinged: [(SocketAddr, Cookie); PING_RING],
    /// The token each source quotes (from its handshake), by index in
    /// `Data::sources`.
    tokens: Vec<Cookie>,
    pinged_head: usize,
    pinged_len: usize,
    // Tallies.
    kind_count: [u64; KINDS],
    kind_allocs: [u64; KINDS],
    out_by_op: [u64; 4],
    out_undecodable: u64,
    first_undecodable: Option<(SocketAddr, [u8; 64], usize)>,
    app_puts_ok: u64,
    app_gets: u64,
    app_busy: u64,
    got_local: u64,
    got_network: u64,
    timed_out: u64,
    novel_records: u64,
    novel_bytes: u64,
    novel_overflows: u64,
    bounds_failures: u64,
}

impl<'a> Run<'a> {
    fn new(cfg: Config, d: &'a Data, seed: u64) -> Run<'a> {
        let total = d.warm.len() + d.novel.len() + d.replace.len() + d.app.len();
        let mut node = Node::new(cfg);
        node.add_self_addr(d.me);
        Run {
            notes: [0; 2],
            node,
            d,
            rng: Rng(seed),
            epoch: 0,
            delivered: Vec::with_capacity(total),
            next_warm: 0,
            next_novel: 0,
            next_replace: 0,
            next_stale: 0,
            next_app: 0,
            pinged: [(d.me, [0; 8]); PING_RING],
            tokens: Vec::new(),
            pinged_head: 0,
            pinged_len: 0,
            kind_count: [0; KINDS],
            kind_allocs: [0; KINDS],
            out_by_op: [0; 4],
            out_undecodable: 0,
            first_undecodable: None,
            app_puts_ok: 0,
            app_gets: 0,
            app_busy: 0,
            got_local: 0,
            got_network: 0,
            timed_out: 0,
            novel_records: 0,
            novel_bytes: 0,
            novel_overflows: 0,
            bounds_failures: 0,
        }
    }

    fn now(&self) -> Now {
        Now {
            epoch: self.epoch,
            unix_ms: BASE_MS + self.epoch * 65_537 / 1_000_000,
        }
    }

    fn prepared(&self, pool: Pool, i: u32) -> &'a Prepared {
        let d = self.d;
        match pool {
            Pool::Warm => &d.warm[i as usize],
            Pool::Novel => &d.novel[i as usize],
            Pool::Replace => &d.replace[i as usize],
            Pool::App => &d.app[i as usize],
        }
    }

    fn source(&mut self) -> SocketAddr {
        self.d.sources[self.rng.below(self.d.sources.len())]
    }

    /// Every source proves its address (allocates: done before counting).
    fn handshakes(&mut self) {
        for i in 0..self.d.sources.len() {
            let t = handshake(&mut self.node, self.d.sources[i]);
            self.tokens.push(t);
            self.epoch = self.node.epoch();
        }
    }

    /// Drains the outbox and the events, remembering GETPEER destinations.
    fn drain(&mut self) {
        while let Some((to, bytes)) = self.node.peek_transmit() {
            match decode(bytes) {
                Ok(m) => {
                    self.out_by_op[m.op() as usize] += 1;
                    if let Packet::Getpeer { cookie } = m {
                        let i = (self.pinged_head + self.pinged_len) % PING_RING;
                        self.pinged[i] = (to, *cookie);
                        if self.pinged_len < PING_RING {
                            self.pinged_len += 1;
                        } else {
                            self.pinged_head = (self.pinged_head + 1) % PING_RING;
                        }
                    }
                }
                Err(_) => {
                    self.out_undecodable += 1;
                    if self.first_undecodable.is_none() {
                        let mut b = [0u8; 64];
                        let n = bytes.len().min(64);
                        b[..n].copy_from_slice(&bytes[..n]);
                        self.first_undecodable = Some((to, b, bytes.len()));
                    }
                }
            }
            self.node.pop_transmit();
        }
        while let Some(e) = self.node.poll_event() {
            match e {
                Event::Got { from: None, .. } => self.got_local += 1,
                Event::Got { from: Some(_), .. } => self.got_network += 1,
                Event::TimedOut { .. } => self.timed_out += 1,
            }
        }
        while let Some(n) = self.node.poll_note() {
            self.notes[n.per_event() as usize] += 1;
        }
    }

    fn tick(&mut self) {
        // Mostly one epoch at a time; now and then a catch-up batch.
        self.epoch += if self.rng.chance(100) {
            2 + self.rng.below(300) as u64
        } else {
            1
        };
        let now = self.now();
        self.node.handle_tick(now);
    }

    /// Sends `bytes` from `src`, quoting its token seven times in eight
    /// (the eighth exercises the paths for unproven sources); the token
    /// is appended in a stack buffer, so sending allocates nothing.
    fn packet(&mut self, src: SocketAddr, bytes: &[u8]) {
        let token = match self.d.sources.iter().position(|s| *s == src) {
            Some(i) if i < self.tokens.len() && !self.rng.chance(8) => Some(self.tokens[i]),
            _ => None,
        };
        self.packet_with(src, bytes, token.as_ref());
    }

    fn packet_with(&mut self, src: SocketAddr, bytes: &[u8], token: Option<&Cookie>) {
        let mut buf = [0u8; MTU + 16];
        let n = bytes.len().min(MTU + 16 - TOKEN_FIELD_LEN);
        buf[..n].copy_from_slice(&bytes[..n]);
        let n = match token {
            Some(t) => n + wire::write_token(&mut buf[n..], t).unwrap_or(0),
            None => n,
        };
        self.node.handle_packet(src, &buf[..n]);
    }

    /// Delivers the next dat of a pool as a PUT; false when it is used up.
    fn deliver_next(&mut self, pool: Pool) -> bool {
        let (next, len) = match pool {
            Pool::Warm => (&mut self.next_warm, self.d.warm.len()),
            Pool::Novel => (&mut self.next_novel, self.d.novel.len()),
            Pool::Replace => (&mut self.next_replace, self.d.replace.len()),
            Pool::App => (&mut self.next_app, self.d.app.len()),
        };
        if *next >= len {
            return false;
        }
        let i = *next as u32;
        *next += 1;
        let p = self.prepared(pool, i);
        if let Pool::App = pool {
            if self.node.put(&p.dat.msg(&p.time)).is_ok() {
                self.app_puts_ok += 1;
            }
        } else {
            let src = self.source();
            self.packet(src, &p.put);
        }
        self.delivered.push((pool, i));
        true
    }

    fn random_delivered(&mut self) -> Option<&'a Prepared> {
        if self.delivered.is_empty() {
            return None;
        }
        let (pool, i) = self.delivered[self.rng.below(self.delivered.len())];
        Some(self.prepared(pool, i))
    }

    fn app_get(&mut self) {
        let d = self.d;
        let timeout = GetOpts::timeout(50 + self.rng.below(400) as u64);
        let q = match self.rng.below(5) {
            // Something held, by work and by name.
            0 => self.random_delivered().map(|p| Query::Work(p.dat.work)),
            1 => self
                .random_delivered()
                .and_then(|p| Query::name(p.dat.pubkey, &p.dat.key)),
            // A dat that will arrive from the network a little later.
            2 => {
                let i = self.next_novel + self.rng.below(20);
                d.novel.get(i).map(|p| Query::Work(p.dat.work))
            }
            // A name nobody has: times out.
            3 => Query::name(d.pubkeys[self.rng.below(d.pubkeys.len())], b"no such key"),
            _ => Some(Query::Work([0xab; 32])),
        };
        let Some(q) = q else { return };
        let opts = if self.rng.chance(4) {
            GetOpts {
                network_only: true,
                ..timeout
            }
        } else {
            timeout
        };
        match self.node.get(q, opts) {
            Ok(_) => self.app_gets += 1,
            Err(_) => self.app_busy += 1,
        }
    }

    fn one(&mut self, kind: Kind, warm: bool) {
        let d = self.d;
        match kind {
            Kind::Tick => self.tick(),
            Kind::NovelPut => {
                let pool = if warm { Pool::Warm } else { Pool::Novel };
                if !self.deliver_next(pool) {
                    self.one(Kind::ReplayPut, warm);
                }
            }
            Kind::ReplacePut => {
                if warm || !self.deliver_next(Pool::Replace) {
                    self.one(Kind::ReplayPut, warm);
                }
            }
            Kind::StalePut => {
                if warm {
                    return self.one(Kind::ReplayPut, warm);
                }
                let p = &d.stale[self.next_stale % d.stale.len()];
                self.next_stale += 1;
                let src = self.source();
                self.packet(src, &p.put);
            }
            Kind::AppPut => {
                if warm || !self.deliver_next(Pool::App) {
                    self.one(Kind::ReplayPut, warm);
                }
            }
            Kind::ReplayPut => {
                if let Some(p) = self.random_delivered() {
                    let src = self.source();
                    self.packet(src, &p.put);
                }
            }
            Kind::BadWork => {
                let b = &d.bad_work[self.rng.below(d.bad_work.len())];
                let src = self.source();
                self.packet(src, b);
            }
            Kind::BadSig => {
                let b = &d.bad_sig[self.rng.below(d.bad_sig.len())];
                let src = self.source();
                self.packet(src, b);
            }
            Kind::LowWork => {
                let src = self.source();
                self.packet(src, &d.low_work);
            }
            Kind::Future => {
                let src = self.source();
                self.packet(src, &d.future);
            }
            Kind::Oversize => {
                let src = self.source();
                self.packet(src, &d.oversize);
            }
            Kind::GetWorkHeld => {
                if let Some(p) = self.random_delivered() {
                    let src = self.source();
                    self.packet(src, &p.get_work);
                }
            }
            Kind::GetNameHeld => {
                if let Some(p) = self.random_delivered() {
                    let src = self.source();
                    self.packet(src, &p.get_name);
                }
            }
            Kind::GetWorkMissing => {
                let b = &d.get_work_missing[self.rng.below(d.get_work_missing.len())];
                let src = self.source();
                self.packet(src, b);
            }
            Kind::GetNameMissing => {
                let b = &d.get_name_missing[self.rng.below(d.get_name_missing.len())];
                let src = self.source();
                self.packet(src, b);
            }
            Kind::Getpeer => {
                let src = self.source();
                self.packet(src, &d.getpeer);
            }
            Kind::PeerSolicited => {
                if self.pinged_len == 0 {
                    return self.one(Kind::PeerUnsolicited, warm);
                }
                let (src, cookie) = self.pinged[self.pinged_head];
                self.pinged_head = (self.pinged_head + 1) % PING_RING;
                self.pinged_len -= 1;
                let b = &d.peers[self.rng.below(d.peers.len())];
                self.packet_with(src, b, Some(&cookie));
            }
            Kind::PeerUnsolicited => {
                let src = self.source();
                let b = &d.peers[self.rng.below(d.peers.len())];
                self.packet(src, b);
            }
            Kind::Garbage => {
                let b = &d.garbage[self.rng.below(d.garbage.len())];
                let src = self.source();
                self.packet(src, b);
            }
            Kind::FromSelf => {
                let b = &d.get_work_missing[0];
                self.packet(d.me, b);
            }
            Kind::FilterDup => {
                // The same op twice from one source in one epoch.
                let src = self.source();
                let b = &d.get_name_missing[1];
                self.packet(src, b);
                self.packet(src, b);
            }
            Kind::AppGet => self.app_get(),
            Kind::DrainNovel => {
                let (mut recs, mut bytes) = (0u64, 0u64);
                self.node.drain_novel(|r| {
                    recs += 1;
                    bytes += r.len() as u64;
                });
                self.novel_records += recs;
                self.novel_bytes += bytes;
                if self.node.take_novel_overflow() {
                    self.novel_overflows += 1;
                }
            }
        }
    }

    /// Forgets the warm-up's tallies (not the node's state).
    fn reset_tallies(&mut self) {
        self.notes = [0; 2];
        self.kind_count = [0; KINDS];
        self.kind_allocs = [0; KINDS];
        self.out_by_op = [0; 4];
        self.app_puts_ok = 0;
        self.app_gets = 0;
        self.app_busy = 0;
        self.got_local = 0;
        self.got_network = 0;
        self.timed_out = 0;
        self.novel_records = 0;
        self.novel_bytes = 0;
        self.novel_overflows = 0;
    }

    fn step(&mut self, kind: Kind, warm: bool) {
        let before = allocs();
        self.one(kind, warm);
        self.drain();
        self.kind_count[kind as usize] += 1;
        self.kind_allocs[kind as usize] += allocs() - before;
    }

    fn pick(&mut self) -> Kind {
        let total: usize = MIX.iter().map(|(_, w)| w).sum();
        let mut r = self.rng.below(total);
        for (k, w) in MIX {
            if r < w {
                return k;
            }
            r -= w;
        }
        unreachable!()
    }

    /// Pushes `packets` datagrams with ticks and application calls between them.
    fn traffic(&mut self, packets: usize, warm: bool) {
        let mut until_tick = 1;
        for n in 0..packets {
            until_tick -= 1;
            if until_tick == 0 {
                self.step(Kind::Tick, warm);
                until_tick = 1 + self.rng.below(6);
            }
            let k = self.pick();
            self.step(k, warm);
            if n % 61 == 0 {
                self.step(Kind::AppGet, warm);
            }
            if n % 997 == 0 {
                self.step(Kind::DrainNovel, warm);
                if self.node.check_bounds().is_err() {
                    self.bounds_failures += 1;
                }
            }
        }
    }
}

fn diff(a: &Stats, b: &Stats) -> (u64, u64, u64, [u64; dave_core::REASONS]) {
    let mut drops = [0; dave_core::REASONS];
    for (i, d) in drops.iter_mut().enumerate() {
        *d = b.drops[i] - a.drops[i];
    }
    (
        b.puts_novel - a.puts_novel,
        b.dats_pruned - a.dats_pruned,
        b.gets_answered - a.gets_answered,
        drops,
    )
}

fn main() {
    // The daemon's own logger, installed as `daved` installs it; the core
    // must not reach it at the default level or at -v (debug, every event
    // noted).
    dave::logfmt::init(true);
    for verbose in [false, true] {
        log::set_max_level(if verbose {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        });
        println!(
            "zero_alloc: {} level",
            if verbose {
                "-v (debug)"
            } else {
                "default (info)"
            }
        );
        run_all(verbose);
    }
}

fn run_all(verbose: bool) {
    let started = Instant::now();

    // 1. The counter counts.
    COUNTING.store(true, Relaxed);
    let v: Vec<u64> = black_box(Vec::with_capacity(black_box(100)));
    drop(black_box(v));
    COUNTING.store(false, Relaxed);
    let probe = ALLOCS.swap(0, Relaxed);
    FREES.store(0, Relaxed);
    assert!(
        probe > 0,
        "the counting allocator did not count a Vec allocation"
    );

    // 2. Everything the run needs, prepared while allocating is fine.
    let mut rng = Rng(0x5eed_0a11_0c00_0001);
    let data = prepare_data(&mut rng);
    let prepared_in = started.elapsed();

    let mut cfg = Config::default().with_dat_cap(2000);
    cfg.filter_cap = 1 << 14;
    cfg.seed = 7;
    cfg.edges = vec![v4(10, 9, 9, 9, 1618), v4(192, 0, 2, 9, 1618)];
    cfg.prune_epochs = PRUNE_EPOCHS;
    cfg.drop_epochs = 6000;
    cfg.track_novel = true;
    cfg.notes = verbose;
    let mut run = Run::new(cfg, &data, 0x0a11_0c00_0002);

    // Start: the edges are pinged, and answer with peers.
    run.epoch = 1;
    run.step(Kind::Tick, true);
    assert!(
        run.pinged_len >= 2,
        "edges were not pinged at the first tick"
    );
    // The edges answer, quoting the cookies they were sent.
    let b = peer_msg(&[v4(198, 51, 100, 200, 1618), v6(0xfff, 1618)]);
    while run.pinged_len > 0 {
        let (e, cookie) = run.pinged[run.pinged_head];
        run.pinged_head = (run.pinged_head + 1) % PING_RING;
        run.pinged_len -= 1;
        run.packet_with(e, &b, Some(&cookie));
        run.drain();
    }
    assert!(
        run.node.stats().peers_added >= 2,
        "the edges' PEER answers were not accepted"
    );
    run.handshakes();

    // Warm-up: the same traffic, with the warm-up dats.
    run.traffic(WARM_PACKETS, true);
    // The rest of the warm-up dats, a few per epoch (the packet filter lets
    // one PUT per source and epoch through).
    loop {
        run.step(Kind::Tick, true);
        if !(run.deliver_next(Pool::Warm) && run.deliver_next(Pool::Warm)) {
            break;
        }
        run.drain();
    }
    run.drain();
    let warm_stats = *run.node.stats();
    let warm_store = run.node.store().len();
    let warm_peers = run.node.peers().len();
    run.reset_tallies();
    let warm_epoch = run.epoch;

    // 3. Count.
    let t0 = Instant::now();
    COUNTING.store(true, Relaxed);
    run.traffic(PACKETS, false);
    COUNTING.store(false, Relaxed);
    let counted_in = t0.elapsed();
    let total_allocs = allocs();
    let total_frees = FREES.load(Relaxed);

    let end = *run.node.stats();
    let (novel, pruned, answered, drops) = diff(&warm_stats, &end);
    let prunes = run.epoch / PRUNE_EPOCHS - warm_epoch / PRUNE_EPOCHS;
    println!(
        "zero_alloc: pushed {PACKETS} packets and {} ticks ({} epochs, {prunes} prunes) in \
         {counted_in:.2?}: {total_allocs} allocations, {novel} novel dats, {pruned} dats pruned, \
         {answered} GETs answered",
        run.kind_count[Kind::Tick as usize],
        run.epoch - warm_epoch,
    );
    println!(
        "  setup: data prepared in {prepared_in:.2?}; after warm-up {warm_store} dats, \
         {warm_peers} peers; {total_frees} deallocations while counting"
    );
    println!(
        "  novel {novel} (fresh: network {} + replacements {} + app puts {}; the rest are \
         replays of dats pruned earlier), known {}, store {} of cap 2000, app gets {} (busy {}): got local {}, \
         got from network {}, timed out {}; drained novel {} records / {} bytes (overflows {})",
        run.next_novel,
        run.next_replace,
        run.app_puts_ok,
        end.puts_known - warm_stats.puts_known,
        run.node.store().len(),
        run.app_gets,
        run.app_busy,
        run.got_local,
        run.got_network,
        run.timed_out,
        run.novel_records,
        run.novel_bytes,
        run.novel_overflows,
    );
    println!(
        "  peers {} (added {}, dropped {}, full {}, pds refused {}); sent by op \
         getpeer/peer/put/get {:?}, outbox full {}",
        run.node.peers().len(),
        end.peers_added - warm_stats.peers_added,
        end.peers_dropped - warm_stats.peers_dropped,
        end.peers_full - warm_stats.peers_full,
        end.pds_refused - warm_stats.pds_refused,
        run.out_by_op,
        end.outbox_full - warm_stats.outbox_full,
    );
    let reasons = Reason::ALL;
    let mut line = String::from("  drops:");
    for (r, n) in reasons.iter().zip(drops) {
        if n > 0 {
            line.push_str(&format!(" {}={n}", r.name()));
        }
    }
    println!("{line}");

    if total_allocs > 0 {
        let mut by_kind = String::new();
        for (k, name) in KIND_NAMES.iter().enumerate() {
            if run.kind_allocs[k] > 0 {
                by_kind.push_str(&format!(
                    " {name}={} (of {} steps)",
                    run.kind_allocs[k], run.kind_count[k]
                ));
            }
        }
        panic!("the node allocated {total_allocs} times while counting; by step kind:{by_kind}");
    }

    // 4. The run did real work.
    assert!(novel > 0, "no novel dats while counting");
    assert!(
        run.next_novel > 0 && run.next_replace > 0 && run.app_puts_ok > 0,
        "novel pools unused"
    );
    assert!(pruned > 0, "no dat was pruned while counting");
    assert!(answered > 0, "no GET was answered while counting");
    assert!(
        run.got_local > 0 && run.got_network > 0 && run.timed_out > 0,
        "application gets: local {}, network {}, timed out {}",
        run.got_local,
        run.got_network,
        run.timed_out
    );
    assert!(run.novel_records > 0, "drain_novel handed nothing over");
    for r in [
        Reason::Filter,
        Reason::FromSelf,
        Reason::Oversize,
        Reason::WorkMismatch,
        Reason::LowWork,
        Reason::Future,
        Reason::BadSig,
        Reason::Stale,
        Reason::Unsolicited,
        Reason::GetMiss,
        Reason::Decode(wire::DecodeError::Malformed),
        Reason::Decode(wire::DecodeError::TooLong),
    ] {
        let i = reasons.iter().position(|x| *x == r).expect("reason");
        assert!(
            drops[i] > 0,
            "no {} drop while counting: that path was not exercised",
            r.name()
        );
    }
    assert!(
        end.peers_added > warm_stats.peers_added && end.peers_dropped > warm_stats.peers_dropped,
        "peer table did not change while counting"
    );
    assert!(
        end.in_by_op[Op::Peer] > warm_stats.in_by_op[Op::Peer],
        "no PEER accepted while counting"
    );
    assert_eq!(run.bounds_failures, 0, "check_bounds failed during the run");
    assert!(run.notes[0] > 0, "no prune was noted while counting");
    assert_eq!(
        run.notes[1] > 0,
        verbose,
        "per-event notes must come exactly with -v (drained {:?})",
        run.notes
    );

    // 5. Every datagram the node sent decodes, and its state is consistent.
    if let Some((to, b, n)) = run.first_undecodable {
        panic!(
            "{} datagrams the node sent do not decode; first, to {to} ({n} bytes): {}",
            run.out_undecodable,
            wire::Hex(&b[..n.min(64)])
        );
    }
    run.node
        .check_invariants()
        .unwrap_or_else(|e| panic!("invariants after the run: {e}"));
    println!(
        "zero_alloc: ok, 0 allocations in {PACKETS} packets ({:.2?} total)",
        started.elapsed()
    );
}
