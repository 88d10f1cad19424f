//! The `show vpdn`-style status table.

use std::collections::HashMap;
use std::fmt::Write;

use mio::Token;

use super::{Pool, Tunnel};

/// Renders tunnels and sessions like the PIX's `show vpdn tunnel` and
/// `show vpdn session`.
pub(super) fn render(tunnels: &HashMap<Token, Tunnel>, pool: &Pool, active: usize) -> String {
    let mut out = String::new();
    let mut list: Vec<&Tunnel> = tunnels.values().collect();
    list.sort_by_key(|t| t.id);
    let _ = writeln!(
        out,
        "PPTP Tunnel Information (Total tunnels={} sessions={})",
        list.len(),
        active
    );
    if list.is_empty() {
        let _ = writeln!(out, "% No active PPTP tunnels");
    } else {
        let _ = writeln!(
            out,
            "{:<6} {:<16} {:<8} {:<6} {:>8} {:>10} {:>10}  Control",
            "TnlID", "Peer", "State", "Calls", "Time(s)", "CtrlIn", "CtrlOut"
        );
        for t in &list {
            let stats = t.conn.stats();
            let state = if t.conn.is_established() {
                "estabd"
            } else if t.conn.is_closed() {
                "closed"
            } else {
                "setup"
            };
            let _ = writeln!(
                out,
                "{:<6} {:<16} {:<8} {:<6} {:>8} {:>10} {:>10}  {} (parked {} time(s))",
                t.id,
                t.peer.to_string(),
                state,
                t.calls.len(),
                t.since.elapsed().as_secs(),
                stats.messages_in,
                stats.messages_out,
                if t.conn.is_parked() { "parked" } else { "full" },
                t.conn.parks()
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<6} {:<6} {:<6} {:<12} {:<16} {:<10} {:<16} {:>7} {:>9} {:>9} {:>11} {:>11}",
            "TnlID",
            "CallID",
            "Peer",
            "User",
            "Address",
            "Auth",
            "MPPE",
            "Time(s)",
            "PktsIn",
            "PktsOut",
            "BytesIn",
            "BytesOut"
        );
        for t in &list {
            for c in &t.calls {
                let counters = c.link.counters();
                let mppe = match c.mppe {
                    Some(m) => format!("{:?}/{:?}", m.send.strength, m.send.mode),
                    None => "none".into(),
                };
                let _ = writeln!(
                    out,
                    "{:<6} {:<6} {:<6} {:<12} {:<16} {:<10} {:<16} {:>7} {:>9} {:>9} {:>11} {:>11}",
                    t.id,
                    c.local_id,
                    c.peer_id,
                    c.user,
                    c.address.map_or("-".into(), |a| a.to_string()),
                    c.auth.map_or("-".into(), |a| format!("{a:?}")),
                    mppe,
                    c.since.elapsed().as_secs(),
                    counters.frames_in,
                    counters.frames_out,
                    counters.octets_in,
                    counters.octets_out
                );
                let gre = c.gre.stats();
                let _ = writeln!(
                    out,
                    "       GRE lost {} out-of-order {} stale {} duplicate {} window-full {} (queue drops {}) ack-timeouts {}; \
                     CCP resets sent {} received {}; PPP drops mppe {} malformed {}",
                    gre.lost,
                    gre.out_of_order,
                    gre.dropped_stale,
                    gre.dropped_duplicate,
                    gre.window_full,
                    c.queue.dropped,
                    gre.ack_timeouts,
                    counters.reset_requests_sent,
                    counters.reset_requests_received,
                    counters.dropped_mppe,
                    counters.dropped_malformed
                );
                let _ = writeln!(
                    out,
                    "       PPP link {} (parked {} time(s))",
                    if c.link.is_parked() { "parked" } else { "full" },
                    c.link.parks()
                );
                if let Some(stats) = c.link.mppe_stats() {
                    let r = stats.receive;
                    let _ = writeln!(
                        out,
                        "       MPPE receive: resyncs {} (forced {}), key changes {} (recovered {}), lost {}",
                        r.resyncs, r.forced_resyncs, r.key_changes, r.recovered_key_changes, r.lost_packets
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "Pool: {} of {} addresses in use",
        pool.allocated(),
        pool.size()
    );
    out
}
