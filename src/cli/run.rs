//! `daved` with no command: a node on a real socket until SIGINT or
//! SIGTERM, with its backup file, control socket, status lines and gateway.

use crate::{named_edges, node, node_config, node_edge_specs, parse_addr, parse_num, rt, Fail};
use dave::backup::Backup;
use dave::driver::Driver;
use dave_core::pow;
use dave_core::DEFAULT_PORT;
use log::info;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn run_node(m: &getopts::Matches) -> Result<(), Fail> {
    let listen = match m.opt_str("l") {
        Some(s) => parse_addr(&s)?,
        None => SocketAddr::from(([0u16; 8], DEFAULT_PORT)),
    };
    let status = parse_num::<u64>(m, "status", "a number of seconds")?.unwrap_or(10);
    let key = match m.opt_str("k") {
        None => None,
        Some(_) if !m.opt_present("http") => {
            return Err(Fail::Usage(
                "-k gives a node the key its gateway signs values with (POST /v1/value): give --http ADDR too".into(),
            ))
        }
        Some(p) => Some(dave::keys::load(std::path::Path::new(&p)).map_err(rt)?),
    };
    let specs = node_edge_specs(m);
    let flags = m.opt_strs("e").len();
    let edges = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse_addr(s).map_err(|e| match e {
                // Say where an edge that is not a flag came from.
                Fail::Usage(msg) if i >= flags => Fail::Usage(format!("DAVE_EDGES: {msg}")),
                Fail::Runtime(msg) if i >= flags => Fail::Runtime(format!("DAVE_EDGES: {msg}")),
                e => e,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let named = named_edges(&specs, &edges);
    let names = named
        .iter()
        .map(|n| format!("{}:{}={}", n.host, n.port, n.addr))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rehome = dave::edges::Rehome::new(named);
    let mut cfg = node_config(m, edges)?;
    let backup_path = m.opt_str("backup").map(PathBuf::from);
    cfg.track_novel = backup_path.is_some();
    let epoch_ns = cfg.epoch_ns;
    let (cap, nedges) = (cfg.dat_cap, cfg.edges.len());
    let mut drv = Driver::bind(listen, node(cfg)?).map_err(|e| {
        Fail::Runtime(format!(
            "cannot listen on {listen}: {e} (is another node using the port? choose one with -l ADDR)"
        ))
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(rt)?;
    }
    if let Err(e) = drv.enable_control() {
        let port = drv.local_addr().map_or(0, |a| a.port());
        let name = dave::control::name(port);
        if e.kind() == std::io::ErrorKind::AddrInUse {
            let who = match dave::control::holder(port, Duration::from_millis(300)) {
                Some(c) => format!("uid {} (pid {})", c.uid, c.pid),
                None => "a process that does not answer".to_string(),
            };
            log::warn!(
                "/ctl/taken the control socket @{name} is held by another process, {who}: `daved status -p {port}` reaches it, not this node, and trusts its answer only if it runs as root, as the user asking, or as the only user holding UDP port {port}; stop it and restart this node"
            );
        } else {
            log::warn!(
                "/ctl/error cannot open the control socket @{name}: {e} (daved status will not reach this node)"
            );
        }
    }
    if let Some(h) = m.opt_str("http") {
        let addr = parse_addr(&h)?;
        drv.enable_gateway(addr, dave::gateway::Limits::default())
            .map_err(|e| {
                Fail::Runtime(format!(
                    "cannot serve HTTP on {addr}: {e} (choose another address with --http)"
                ))
            })?;
        if let Some(k) = key {
            drv.gateway_key(k).map_err(|e| {
                Fail::Runtime(format!(
                    "cannot start the gateway's proof-of-work thread: {e}"
                ))
            })?;
        }
    }
    // Tell the node the time before loading: dats are checked against it.
    let now = drv.now();
    drv.node_mut().handle_tick(now);
    let mut backup = match &backup_path {
        Some(p) => Some(Backup::open(p, drv.node_mut(), pow::cores()).map_err(rt)?.0),
        None => None,
    };
    info!(
        "/d/up listening on {} epoch={epoch_ns}ns seed_rate={:.0}dats/s cap={cap} edges={nedges} dats={} rcvbuf={}{}",
        drv.local_addr().map_err(rt)?,
        1e9 / (dave_core::SEED_EPOCHS as f64 * epoch_ns as f64),
        drv.node().store().len(),
        drv.recv_buffer(),
        if names.is_empty() {
            String::new()
        } else {
            format!(" resolved: {names}")
        }
    );
    if nedges == 0 {
        info!(
            "/d/alone no edges: this node knows no other and waits for nodes to join it; to join a network, start it with -e HOST:PORT (a node already in it; repeat -e for more)"
        );
    }
    drv.run(&stop, Duration::from_secs(status), |node| {
        rehome.after_turn(node);
        if let Some(b) = backup.as_mut() {
            b.after_turn(node);
        }
    })
    .map_err(rt)?;
    if let Some(b) = backup.take() {
        b.close(drv.node_mut())
            .map_err(|e| Fail::Runtime(format!("could not save the backup on stop: {e}")))?;
    }
    let s = drv.node().stats();
    info!(
        "/d/down dats={} peers={} packets in={} out={}",
        drv.node().store().len(),
        drv.node().peers().len(),
        s.packets_in,
        s.packets_out
    );
    Ok(())
}
