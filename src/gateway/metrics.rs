//! `GET /metrics`: the node's and the gateway's counters in the Prometheus
//! text format.

use super::GwStats;
use crate::status::Report;
use std::fmt::Write as _;

/// Prometheus text exposition of the status counters.
pub fn metrics(r: &Report, g: &GwStats) -> String {
    let mut o = String::new();
    let mut gauge = |name: &str, help: &str, v: f64| {
        let _ = writeln!(
            o,
            "# HELP dave_{name} {help}\n# TYPE dave_{name} gauge\ndave_{name} {v}"
        );
    };
    gauge(
        "peers",
        "Peers: edges and table entries that answered a GETPEER of ours.",
        r.peers as f64,
    );
    gauge(
        "live_peers",
        "Peers heard from recently.",
        r.live_peers as f64,
    );
    gauge(
        "clients",
        "Recent clients: table entries that never answered a GETPEER of ours.",
        r.clients as f64,
    );
    gauge(
        "live_clients",
        "Clients heard from recently.",
        r.live_clients as f64,
    );
    gauge("dats", "Dats held.", r.dats as f64);
    gauge(
        "dat_bytes",
        "Bytes of encoded dats held.",
        r.dat_bytes as f64,
    );
    gauge(
        "dat_cap",
        "Dats kept after each prune (DAT_CAP).",
        r.dat_cap as f64,
    );
    gauge(
        "uptime_seconds",
        "Seconds since the node started.",
        r.uptime_s,
    );
    gauge(
        "epoch_nanoseconds",
        "Base period of the cycle.",
        r.epoch_ns as f64,
    );
    let t = &r.totals;
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(o, "# HELP dave_{name}_total {help}\n# TYPE dave_{name}_total counter\ndave_{name}_total {v}");
    };
    counter("packets_in", "Datagrams received.", t.packets_in);
    counter("bytes_in", "Bytes received.", t.bytes_in);
    counter("packets_out", "Datagrams sent.", t.packets_out);
    counter("bytes_out", "Bytes sent.", t.bytes_out);
    counter("puts_novel", "Novel dats stored.", t.puts_novel);
    counter("puts_known", "PUTs of dats already held.", t.puts_known);
    counter("gets_answered", "GETs answered.", t.gets_answered);
    counter(
        "epochs_skipped",
        "Epochs skipped because the loop fell behind.",
        t.epochs_skipped,
    );
    counter("dats_pruned", "Dats removed by pruning.", t.dats_pruned);
    counter(
        "outbox_full",
        "Sends dropped because the outbox was full.",
        t.outbox_full,
    );
    counter("http_requests", "HTTP requests parsed.", g.requests);
    counter(
        "http_files_sent",
        "Files read whole, verified and sent by GET /v1/file.",
        g.files_sent,
    );
    counter(
        "http_file_errors",
        "File reads that failed or were refused as busy.",
        g.file_errors,
    );
    counter(
        "http_values",
        "Values made, signed with the node's key and put for POST /v1/value.",
        g.values,
    );
    let _ = writeln!(
        o,
        "# HELP dave_drops_total Packets dropped, by reason.\n# TYPE dave_drops_total counter"
    );
    for reason in dave_core::Reason::ALL {
        let _ = writeln!(
            o,
            "dave_drops_total{{reason=\"{}\"}} {}",
            reason.name(),
            t.drop_count(reason)
        );
    }
    let _ = writeln!(o, "# HELP dave_http_refused_total HTTP requests refused, by reason.\n# TYPE dave_http_refused_total counter");
    for (name, v) in [
        ("busy", g.refused_busy + g.busy_gets),
        ("client_conns", g.refused_client),
        ("slow_head", g.slow_heads),
        ("too_large", g.too_large),
        ("timeout", g.timeouts),
        ("rate_limited", g.rate_limited),
        ("bad_request", g.bad_requests),
        ("not_found", g.not_found),
        ("bad_method", g.bad_method),
        ("forbidden", g.forbidden),
        ("value_queue_full", g.value_busy),
    ] {
        let _ = writeln!(o, "dave_http_refused_total{{reason=\"{name}\"}} {v}");
    }
    o
}
