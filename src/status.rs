//! What a running node reports about itself: the `/d/st` log line, the
//! answer to `daved status` (text or JSON), and (for the HTTP gateway)
//! Prometheus metrics. All are rendered from one [`Report`].

use dave_core::{Node, Peer, Reason, Stats, NEVER};
use std::fmt::Write;
use std::time::Duration;

/// Socket-level counters (the node counts everything after the socket).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockStats {
    /// Datagrams received.
    pub recv: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Sends that failed for a reason other than WouldBlock (the datagram is dropped).
    pub send_errors: u64,
    /// Sends to an address family the socket cannot reach.
    pub unreachable: u64,
    /// Times a send would block (the datagram stayed queued).
    pub would_block: u64,
    /// Receive errors.
    pub recv_errors: u64,
    /// Wakes of the loop.
    pub wakes: u64,
}

/// Everything reported, taken from a node at one moment, with rates over a
/// window before it.
#[derive(Clone, Debug)]
pub struct Report {
    /// Node version.
    pub version: &'static str,
    /// Seconds since the node started.
    pub uptime_s: f64,
    /// The node's listening address.
    pub listen: String,
    /// Base period in ns.
    pub epoch_ns: u64,
    /// Current epoch.
    pub epoch: u64,
    /// Peers: edges, and table entries that answered a GETPEER of ours.
    pub peers: usize,
    /// Peers heard from within 2×PING epochs.
    pub live_peers: usize,
    /// Edges among the peers.
    pub edges: usize,
    /// Recent clients: table entries that never answered a GETPEER of
    /// ours (they only sent requests), until they are dropped.
    pub clients: usize,
    /// Clients heard from within 2×PING epochs.
    pub live_clients: usize,
    /// Dats held.
    pub dats: usize,
    /// Bytes of encoded dats held.
    pub dat_bytes: usize,
    /// DAT_CAP.
    pub dat_cap: usize,
    /// Counters now.
    pub totals: Stats,
    /// Counters at the start of the rate window.
    pub before: Stats,
    /// Length of the rate window.
    pub window: Duration,
    /// Socket counters.
    pub sock: SockStats,
}

/// The peer table counted as peers and clients.
///
/// The core keeps one table for every validated address; a short-lived
/// client (`daved get`, `set`, `getf`, ...) enters it like any node and
/// stays until DROP epochs of silence, so the table alone overstates the
/// network. An entry counts as a peer if it is an edge; otherwise
///
/// - one heard from within 2×PING epochs (live) is a peer if it has
///   answered a GETPEER of ours (the driver remembers entries it saw with
///   `pinged` set and `awaiting_peer` clear; we ask a peer when it falls
///   silent for PING epochs or when our token for it ages), and a client
///   if it has only sent us requests;
/// - one gone silent is a client if we heard from it over less than
///   [`CLIENT_SPAN`] (it came, asked and left), and a peer otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Peers (edges included).
    pub peers: usize,
    /// Peers heard from within 2×PING epochs.
    pub live_peers: usize,
    /// Edges.
    pub edges: usize,
    /// Clients.
    pub clients: usize,
    /// Clients heard from within 2×PING epochs.
    pub live_clients: usize,
}

/// A silent entry heard from over less than this was a client.
pub const CLIENT_SPAN: Duration = Duration::from_secs(60);

/// Whether a table entry answers us now: an edge, or an entry that
/// answered the last GETPEER we sent it.
pub fn answers(p: &Peer) -> bool {
    p.edge || (p.pinged != NEVER && !p.awaiting_peer)
}

impl Table {
    /// Counts `node`'s table; `answered(p)` tells whether entry `p` was
    /// seen to answer a GETPEER of ours before now.
    pub fn count(node: &Node, answered: impl Fn(&Peer) -> bool) -> Table {
        let now = node.epoch();
        let live = 2 * node.config().ping_epochs;
        let span = (CLIENT_SPAN.as_nanos() / node.config().epoch_ns.max(1) as u128) as u64;
        let mut t = Table::default();
        for p in node.peers().iter() {
            let is_live = p.silence(now) < live;
            let peer = if is_live {
                answers(p) || answered(p)
            } else {
                p.edge || (p.seen != NEVER && p.seen.saturating_sub(p.added) >= span)
            };
            if peer {
                t.peers += 1;
                t.live_peers += is_live as usize;
                t.edges += p.edge as usize;
            } else {
                t.clients += 1;
                t.live_clients += is_live as usize;
            }
        }
        t
    }
}

/// What a report needs besides the node: cheap to copy, so a driver can
/// hand it to code that also borrows the node.
#[derive(Clone, Copy, Debug)]
pub struct Parts {
    /// Listening address.
    pub listen: std::net::SocketAddr,
    /// Time since start.
    pub uptime: Duration,
    /// Counters at the start of the rate window.
    pub before: Stats,
    /// Length of the rate window.
    pub window: Duration,
    /// Socket counters.
    pub sock: SockStats,
    /// The table, counted when these parts were taken.
    pub table: Table,
}

impl Parts {
    /// The report on `node`.
    pub fn report(&self, node: &Node) -> Report {
        Report::new(
            node,
            self.listen.to_string(),
            self.uptime,
            self.before,
            self.window,
            self.sock,
            self.table,
        )
    }
}

impl Report {
    /// A report on `node`, with rates from `before` over `window`, and
    /// its table counted as `table`.
    pub fn new(
        node: &Node,
        listen: String,
        uptime: Duration,
        before: Stats,
        window: Duration,
        sock: SockStats,
        table: Table,
    ) -> Report {
        let now = node.epoch();
        Report {
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: uptime.as_secs_f64(),
            listen,
            epoch_ns: node.config().epoch_ns,
            epoch: now,
            peers: table.peers,
            live_peers: table.live_peers,
            edges: table.edges,
            clients: table.clients,
            live_clients: table.live_clients,
            dats: node.store().len(),
            dat_bytes: node.store().bytes(),
            dat_cap: node.store().cap(),
            totals: *node.stats(),
            before,
            window,
            sock,
        }
    }

    fn rate(&self, f: impl Fn(&Stats) -> u64) -> f64 {
        let s = self.window.as_secs_f64();
        if s <= 0.0 {
            return 0.0;
        }
        f(&self.totals).saturating_sub(f(&self.before)) as f64 / s
    }

    /// (name, count in the window) of every drop reason that occurred.
    fn recent_drops(&self) -> Vec<(&'static str, u64)> {
        Reason::ALL
            .into_iter()
            .map(|r| {
                (
                    r.name(),
                    self.totals
                        .drop_count(r)
                        .saturating_sub(self.before.drop_count(r)),
                )
            })
            .filter(|d| d.1 > 0)
            .collect()
    }

    /// The `/d/st` log line: totals now, rates and drops over the window.
    pub fn line(&self) -> String {
        let mut drops = String::new();
        for (name, n) in self.recent_drops() {
            let _ = write!(drops, " {name}={n}");
        }
        if drops.is_empty() {
            drops.push_str(" none");
        }
        format!(
            "/d/st peers={} live={} clients={} dats={} bytes={} in={:.0}pkt/s {:.0}B/s out={:.0}pkt/s {:.0}B/s novel={:.1}/s skipped={} drops:{}",
            self.peers,
            self.live_peers,
            self.clients,
            self.dats,
            self.dat_bytes,
            self.rate(|s| s.packets_in),
            self.rate(|s| s.bytes_in),
            self.rate(|s| s.packets_out),
            self.rate(|s| s.bytes_out),
            self.rate(|s| s.puts_novel),
            self.totals.epochs_skipped.saturating_sub(self.before.epochs_skipped),
            drops
        )
    }

    /// A few lines for a person.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "daved {} on {}, up {:.0} s, epoch {} ns",
            self.version, self.listen, self.uptime_s, self.epoch_ns
        );
        let _ = writeln!(
            o,
            "peers     {} ({} live, {} edges)",
            self.peers, self.live_peers, self.edges
        );
        let _ = writeln!(
            o,
            "clients   {} recent ({} live)",
            self.clients, self.live_clients
        );
        let _ = writeln!(
            o,
            "dats      {} of cap {} ({} bytes)",
            self.dats, self.dat_cap, self.dat_bytes
        );
        let _ = writeln!(
            o,
            "in        {:.0} packets/s, {:.0} bytes/s",
            self.rate(|s| s.packets_in),
            self.rate(|s| s.bytes_in)
        );
        let _ = writeln!(
            o,
            "out       {:.0} packets/s, {:.0} bytes/s",
            self.rate(|s| s.packets_out),
            self.rate(|s| s.bytes_out)
        );
        let _ = writeln!(
            o,
            "novel     {:.1} dats/s ({} since start)",
            self.rate(|s| s.puts_novel),
            self.totals.puts_novel
        );
        let _ = writeln!(
            o,
            "skipped   {} epochs since start",
            self.totals.epochs_skipped
        );
        let _ = write!(o, "drops     ");
        let d = self.recent_drops();
        if d.is_empty() {
            let _ = write!(o, "none");
        }
        for (i, (name, n)) in d.iter().enumerate() {
            let _ = write!(o, "{}{name}={n}", if i > 0 { " " } else { "" });
        }
        let _ = writeln!(o, " (last {:.0} s)", self.window.as_secs_f64());
        o
    }

    /// The same as JSON (rates over the window; `totals` since start).
    pub fn json(&self) -> String {
        let t = &self.totals;
        let mut drops = String::new();
        for (i, r) in Reason::ALL.into_iter().enumerate() {
            let _ = write!(
                drops,
                "{}\"{}\":{}",
                if i > 0 { "," } else { "" },
                r.name(),
                t.drop_count(r)
            );
        }
        format!(
            concat!(
                "{{\"version\":\"{}\",\"listen\":\"{}\",\"uptime_s\":{:.3},\"epoch_ns\":{},\"epoch\":{},",
                "\"peers\":{},\"live_peers\":{},\"edges\":{},\"clients\":{},\"live_clients\":{},\"dats\":{},\"dat_bytes\":{},\"dat_cap\":{},",
                "\"window_s\":{:.3},\"rates\":{{\"packets_in\":{:.1},\"bytes_in\":{:.1},\"packets_out\":{:.1},",
                "\"bytes_out\":{:.1},\"novel\":{:.2},\"drops\":{:.1}}},",
                "\"totals\":{{\"packets_in\":{},\"bytes_in\":{},\"packets_out\":{},\"bytes_out\":{},",
                "\"puts_novel\":{},\"puts_known\":{},\"gets_answered\":{},\"outbox_full\":{},\"peers_added\":{},",
                "\"peers_dropped\":{},\"peers_full\":{},\"pds_refused\":{},\"dats_pruned\":{},\"epochs_skipped\":{},",
                "\"filter_saturated\":{},\"send_errors\":{},\"recv_errors\":{}}},\"drops\":{{{}}}}}"
            ),
            self.version,
            self.listen,
            self.uptime_s,
            self.epoch_ns,
            self.epoch,
            self.peers,
            self.live_peers,
            self.edges,
            self.clients,
            self.live_clients,
            self.dats,
            self.dat_bytes,
            self.dat_cap,
            self.window.as_secs_f64(),
            self.rate(|s| s.packets_in),
            self.rate(|s| s.bytes_in),
            self.rate(|s| s.packets_out),
            self.rate(|s| s.bytes_out),
            self.rate(|s| s.puts_novel),
            self.rate(|s| s.drops_total()),
            t.packets_in,
            t.bytes_in,
            t.packets_out,
            t.bytes_out,
            t.puts_novel,
            t.puts_known,
            t.gets_answered,
            t.outbox_full,
            t.peers_added,
            t.peers_dropped,
            t.peers_full,
            t.pds_refused,
            t.dats_pruned,
            t.epochs_skipped,
            t.filter_saturated,
            self.sock.send_errors,
            self.sock.recv_errors,
            drops
        )
    }
}
