//! The mio shell around a [`Node`]: one UDP socket, one thread, the wall
//! clock turned into epochs.
//!
//! mio sleeps in whole milliseconds, so EPOCH (65.5 µs) is a logical tick:
//! each wake runs every epoch that fell due (in chunks, draining the outbox
//! between them), then sends, then reads until the socket would block or the
//! receive budget runs out. A send that would block stays in the outbox.

use crate::control::{self, Request};
use crate::gateway::{Gateway, Limits};
use crate::status::{answers, Parts, Report, SockStats, Table};
use crate::sys;
use dave_core::canonical;
use dave_core::wire::MTU;
use dave_core::{Node, Now, Stats};
use log::{debug, info, warn};
use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::tokens::{CONTROL, SOCK};
/// Snapshots kept for rates: one a second.
const SNAPSHOTS: usize = 10;
/// Datagrams read per wake before other work gets a turn.
pub const RECV_BUDGET: usize = 1024;
/// Epochs run between outbox drains during catch-up.
const TICK_CHUNK: u64 = 32;
/// Receive buffer asked of the kernel.
pub const RCVBUF_BYTES: usize = 4 << 20;
/// Send buffer asked of the kernel.
pub const SNDBUF_BYTES: usize = 1 << 20;

/// A node on a real socket.
pub struct Driver {
    poll: Poll,
    events: Events,
    sock: UdpSocket,
    v6: bool,
    node: Node,
    start: Instant,
    epoch_ns: u64,
    buf: Box<[u8; MTU + 1]>,
    more_to_read: bool,
    stats: SockStats,
    rcvbuf: usize,
    control: Option<UnixDatagram>,
    snaps: VecDeque<(Instant, Stats)>,
    gateway: Option<Gateway>,
    ready: Vec<Token>,
    /// Table entries (address, epoch added) seen to answer a GETPEER of
    /// ours: peers, as against clients (see [`Table`]).
    answered: HashSet<(SocketAddr, u64)>,
}

impl Driver {
    /// Binds `addr` and wraps `node`. The node learns its own addresses so
    /// it never lists itself.
    pub fn bind(addr: SocketAddr, mut node: Node) -> io::Result<Driver> {
        let std_sock = std::net::UdpSocket::bind(addr)?;
        std_sock.set_nonblocking(true)?;
        let mut sock = UdpSocket::from_std(std_sock);
        let fd = sock.as_raw_fd();
        let rcvbuf = sys::set_recv_buffer(fd, RCVBUF_BYTES).unwrap_or(0);
        let _ = sys::set_send_buffer(fd, SNDBUF_BYTES);
        let local = sock.local_addr()?;
        let v6 = local.is_ipv6();
        if local.ip().is_unspecified() {
            for ip in sys::interface_addrs() {
                if v6 || ip.is_ipv4() {
                    node.add_self_addr(SocketAddr::new(ip, local.port()));
                }
            }
            node.add_self_addr(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), local.port()));
            if v6 {
                node.add_self_addr(SocketAddr::new(
                    IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                    local.port(),
                ));
            }
        } else {
            node.add_self_addr(local);
        }
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut sock, SOCK, Interest::READABLE | Interest::WRITABLE)?;
        let epoch_ns = node.config().epoch_ns.max(1);
        Ok(Driver {
            poll,
            events: Events::with_capacity(256),
            sock,
            v6,
            node,
            start: Instant::now(),
            epoch_ns,
            buf: Box::new([0u8; MTU + 1]),
            more_to_read: true,
            stats: SockStats::default(),
            rcvbuf,
            control: None,
            snaps: VecDeque::with_capacity(SNAPSHOTS + 1),
            gateway: None,
            ready: Vec::with_capacity(256),
            answered: HashSet::new(),
        })
    }

    /// Opens the control socket (`dave/PORT`, see [`crate::control`]) so
    /// that `daved status` can ask this node for its report.
    pub fn enable_control(&mut self) -> io::Result<()> {
        let port = self.local_addr()?.port();
        let s = control::bind(port)?;
        self.poll.registry().register(
            &mut SourceFd(&s.as_raw_fd()),
            CONTROL,
            Interest::READABLE,
        )?;
        self.control = Some(s);
        Ok(())
    }

    /// The node's report, with rates over the last few seconds.
    pub fn report(&self) -> Report {
        self.report_parts().report(&self.node)
    }

    fn report_parts(&self) -> Parts {
        let (t, before) = self
            .snaps
            .front()
            .copied()
            .unwrap_or((self.start, Stats::default()));
        Parts {
            listen: self
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
            uptime: self.start.elapsed(),
            before,
            window: t.elapsed(),
            sock: self.stats,
            table: self.table(),
        }
    }

    /// The peer table counted as peers and clients.
    pub fn table(&self) -> Table {
        Table::count(&self.node, |p| self.answered.contains(&(p.addr, p.added)))
    }

    /// Remembers the entries that answer a GETPEER of ours now, and
    /// forgets those no longer in the table.
    fn note_answers(&mut self) {
        let peers = self.node.peers();
        self.answered
            .retain(|(a, added)| peers.find(*a).is_some_and(|i| peers.get(i).added == *added));
        for p in peers.iter().filter(|p| answers(p)) {
            self.answered.insert((p.addr, p.added));
        }
    }

    /// Serves the HTTP gateway on `addr` from this loop.
    pub fn enable_gateway(&mut self, addr: SocketAddr, limits: Limits) -> io::Result<SocketAddr> {
        let g = Gateway::bind(addr, limits, self.poll.registry(), self.epoch_ns)?;
        let a = g.local_addr()?;
        g.announce();
        self.gateway = Some(g);
        Ok(a)
    }

    /// Gives the gateway the node's key, for `POST /v1/value` (see
    /// [`Gateway::set_key`]); an error if the gateway is not enabled.
    pub fn gateway_key(&mut self, key: ed25519_dalek::SigningKey) -> io::Result<()> {
        match self.gateway.as_mut() {
            Some(g) => g.set_key(key, self.poll.registry()),
            None => Err(io::Error::other("the gateway is not enabled")),
        }
    }

    /// The gateway, if enabled.
    pub fn gateway(&self) -> Option<&Gateway> {
        self.gateway.as_ref()
    }

    fn snapshot(&mut self) {
        let due = self
            .snaps
            .back()
            .is_none_or(|(t, _)| t.elapsed() >= Duration::from_secs(1));
        if due {
            if self.snaps.len() == SNAPSHOTS {
                self.snaps.pop_front();
            }
            self.snaps.push_back((Instant::now(), *self.node.stats()));
            self.note_answers();
        }
    }

    fn serve_control(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            let Some(s) = &self.control else { return };
            let (n, from) = match s.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let answer = match Request::parse(&buf[..n]) {
                Some(Request::Status) => self.report().text(),
                Some(Request::StatusJson) => self.report().json(),
                None => "error: unknown request (try `status` or `status json`)".to_string(),
            };
            if let Some(s) = &self.control {
                if let Err(e) = s.send_to_addr(answer.as_bytes(), &from) {
                    debug!("/ctl/send/error {e}");
                }
            }
        }
    }

    fn serve_gateway(&mut self) {
        let parts = self.report_parts();
        let report = move |n: &Node| parts.report(n);
        let Some(g) = self.gateway.as_mut() else {
            return;
        };
        let registry = self.poll.registry();
        for t in self.ready.drain(..) {
            if Gateway::owns(t) {
                g.ready(t, registry, &mut self.node, &report);
            }
        }
        g.tick(registry, &mut self.node);
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.rcvbuf
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node, mutably (for application requests between turns).
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// Socket counters.
    pub fn sock_stats(&self) -> &SockStats {
        &self.stats
    }

    /// The current time as the node sees it.
    pub fn now(&self) -> Now {
        let ns = self.start.elapsed().as_nanos();
        Now {
            epoch: (ns / self.epoch_ns as u128) as u64,
            unix_ms: wall_ms(),
        }
    }

    /// Epochs in a duration.
    pub fn epochs(&self, d: Duration) -> u64 {
        (d.as_nanos() / self.epoch_ns as u128) as u64
    }

    fn tick(&mut self) {
        let now = self.now();
        // Catch up in chunks so the outbox never has to hold a whole batch.
        while self.node.epoch() < now.epoch {
            let step = Now {
                epoch: now.epoch.min(self.node.epoch() + TICK_CHUNK),
                unix_ms: now.unix_ms,
            };
            self.node.handle_tick(step);
            self.log_notes();
            self.flush();
            if self.node.epoch() < step.epoch {
                break;
            }
        }
        if self.node.epoch() == 0 {
            self.node.handle_tick(now);
            self.log_notes();
        }
    }

    /// Writes the node's notes to the log.
    fn log_notes(&mut self) {
        while let Some(n) = self.node.poll_note() {
            crate::logfmt::log_note(&n);
        }
    }

    /// Sends queued datagrams until the outbox is empty or the socket would block.
    pub fn flush(&mut self) {
        while let Some((to, bytes)) = self.node.peek_transmit() {
            let to = match (self.v6, to) {
                (true, SocketAddr::V4(a)) => {
                    SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port())
                }
                (false, SocketAddr::V6(a)) => match a.ip().to_ipv4_mapped() {
                    Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
                    None => {
                        self.stats.unreachable += 1;
                        self.node.pop_transmit();
                        continue;
                    }
                },
                (_, a) => a,
            };
            match self.sock.send_to(bytes, to) {
                Ok(_) => {
                    self.stats.sent += 1;
                    self.node.pop_transmit();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.would_block += 1;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stats.send_errors += 1;
                    debug!("/lstn/send/error {to}: {e}");
                    self.node.pop_transmit();
                }
            }
        }
    }

    fn read(&mut self) {
        for _ in 0..RECV_BUDGET {
            match self.sock.recv_from(&mut self.buf[..]) {
                Ok((n, src)) => {
                    self.stats.recv += 1;
                    self.node.handle_packet(canonical(src), &self.buf[..n]);
                    self.log_notes();
                    if self.node.transmit_len() > 0 {
                        self.flush();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.more_to_read = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stats.recv_errors += 1;
                    debug!("/lstn/recv/error {e}");
                }
            }
        }
        // Budget spent: the socket may hold more; poll without sleeping.
        self.more_to_read = true;
    }

    /// One turn of the loop: run due epochs, send, wait at most `max_wait`
    /// (less if an epoch falls due sooner), read, send.
    pub fn turn(&mut self, max_wait: Duration) -> io::Result<()> {
        self.stats.wakes += 1;
        self.tick();
        self.flush();
        // A send that would block waits for a writable event, so only unread
        // input makes the poll return at once.
        let timeout = if self.more_to_read {
            Duration::ZERO
        } else {
            let ns = self.start.elapsed().as_nanos();
            let next = (ns / self.epoch_ns as u128 + 1) * self.epoch_ns as u128;
            Duration::from_nanos((next - ns) as u64).min(max_wait)
        };
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut control = false;
        self.ready.clear();
        for ev in self.events.iter() {
            match ev.token() {
                CONTROL => control = true,
                SOCK if ev.is_readable() => self.more_to_read = true,
                SOCK => {}
                t => self.ready.push(t),
            }
        }
        if control {
            self.serve_control();
        }
        self.snapshot();
        if self.more_to_read {
            self.tick();
            self.read();
        }
        if self.gateway.is_some() {
            self.serve_gateway();
        }
        self.flush();
        Ok(())
    }

    /// Runs until `stop` is set, logging a `/d/st` status line every
    /// `status_every` (if not zero) and calling `after_turn` after each turn.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        status_every: Duration,
        mut after_turn: impl FnMut(&mut Node),
    ) -> io::Result<()> {
        let mut last = (Instant::now(), *self.node.stats(), self.stats);
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = self.turn(Duration::from_millis(50)) {
                warn!("/lstn/poll/error {e}");
                return Err(e);
            }
            after_turn(&mut self.node);
            if !status_every.is_zero() && last.0.elapsed() >= status_every {
                info!("{}", self.status_line(&last.1, last.0.elapsed()));
                last = (Instant::now(), *self.node.stats(), self.stats);
            }
        }
        self.flush();
        Ok(())
    }

    /// The `/d/st` status line: totals now, rates since `before` over `dt`.
    pub fn status_line(&self, before: &Stats, dt: Duration) -> String {
        let mut r = self.report();
        r.before = *before;
        r.window = dt;
        r.line()
    }
}

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
