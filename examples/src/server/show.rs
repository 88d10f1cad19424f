//! The `show vpdn`-style status table, from the endpoint's views.

use std::fmt::Write;

use pptp_core::endpoint::MtuCounters;

use super::Server;

/// Renders tunnels and sessions like the PIX's `show vpdn tunnel` and
/// `show vpdn session`.
pub(super) fn render(server: &Server) -> String {
    let endpoint = &server.endpoint;
    let mut out = String::new();
    let mut list: Vec<&super::Tunnel> = server.tunnels.values().collect();
    list.sort_by_key(|t| t.id);
    let refusing = list
        .iter()
        .filter(|t| endpoint.is_refused(t.handle))
        .count();
    let _ = writeln!(
        out,
        "PPTP Tunnel Information (Total tunnels={} sessions={})",
        list.len() - refusing,
        endpoint.active_sessions()
    );
    if list.len() == refusing {
        let _ = writeln!(out, "% No active PPTP tunnels");
    } else {
        let _ = writeln!(
            out,
            "{:<6} {:<16} {:<8} {:<6} {:>8} {:>10} {:>10}  Control",
            "TnlID", "Peer", "State", "Calls", "Time(s)", "CtrlIn", "CtrlOut"
        );
        // One pass over the sessions (not one per tunnel: at 10,000
        // tunnels that was 10^8 steps and `status` stalled the server).
        let mut per_conn: std::collections::HashMap<_, (usize, Option<_>)> =
            std::collections::HashMap::new();
        for v in endpoint.sessions() {
            let entry = per_conn.entry(v.connection).or_insert((0, None));
            entry.0 += usize::from(v.call_ids.is_some());
            if entry.1.is_none() {
                entry.1 = Some((v.tunnel.messages_in, v.tunnel.messages_out, v.tunnel_parked));
            }
        }
        for t in &list {
            let Some(&(calls, Some((messages_in, messages_out, parked)))) = per_conn.get(&t.handle)
            else {
                continue;
            };
            let state = if calls == 0 { "setup" } else { "estabd" };
            let _ = writeln!(
                out,
                "{:<6} {:<16} {:<8} {:<6} {:>8} {:>10} {:>10}  {}",
                t.id,
                t.peer.to_string(),
                state,
                calls,
                t.since.elapsed().as_secs(),
                messages_in,
                messages_out,
                if parked { "parked" } else { "full" },
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
        let mut views: Vec<_> = endpoint.sessions().collect();
        views.sort_by_key(|v| (server.tokens_id(v.connection), v.call_ids));
        for view in views {
            let Some(t) = server.tunnel_of(view.connection) else {
                continue;
            };
            let (Some((ours, theirs)), Some(counters)) = (view.call_ids, view.link) else {
                continue;
            };
            let notes = server.notes.get(&view.session).cloned().unwrap_or_default();
            let mppe = match view.mppe.or(notes.mppe) {
                Some(m) => m.send.to_string(),
                None => "none".into(),
            };
            let user = String::from_utf8_lossy(view.user);
            let user = match view.matched_user {
                Some(entry) => format!("{user} (matched {})", String::from_utf8_lossy(entry)),
                None => user.into_owned(),
            };
            let _ = writeln!(
                out,
                "{:<6} {:<6} {:<6} {:<12} {:<16} {:<10} {:<16} {:>7} {:>9} {:>9} {:>11} {:>11}",
                t.id,
                ours,
                theirs,
                if user.is_empty() { "-".into() } else { user },
                view.address.map_or("-".into(), |a| a.to_string()),
                notes.auth.map_or("-".into(), |a| a.to_string()),
                mppe,
                notes.since.unwrap_or(t.since).elapsed().as_secs(),
                counters.frames_in,
                counters.frames_out,
                counters.octets_in,
                counters.octets_out
            );
            if !notes.identification.is_empty() {
                let _ = writeln!(
                    out,
                    "       peer identification \"{}\"",
                    notes.identification.join("\", \"")
                );
            }
            if let Some(gre) = view.gre {
                let g = gre.stats;
                let _ = writeln!(
                    out,
                    "       GRE lost {} out-of-order {} stale {} duplicate {} window-full {} ack-timeouts {}; \
                     CCP resets sent {} received {}; PPP drops mppe {} malformed {}",
                    g.lost,
                    g.out_of_order,
                    g.dropped_stale,
                    g.dropped_duplicate,
                    g.window_full,
                    g.ack_timeouts,
                    counters.reset_requests_sent,
                    counters.reset_requests_received,
                    counters.dropped_mppe,
                    counters.dropped_malformed
                );
            }
            let _ = writeln!(
                out,
                "       PPP link {}",
                if view.link_parked { "parked" } else { "full" }
            );
            if view.mtu != MtuCounters::default() {
                let _ = writeln!(out, "       {}", mtu_line(&view.mtu));
            }
            if let Some(stats) = view.mppe_stats {
                let r = stats.receive;
                let _ = writeln!(
                    out,
                    "       MPPE receive: resyncs {} (forced {}), key changes {} (recovered {}), lost {}",
                    r.resyncs, r.forced_resyncs, r.key_changes, r.recovered_key_changes, r.lost_packets
                );
            }
        }
    }
    if let Some(pool) = endpoint.pool() {
        let _ = writeln!(
            out,
            "Pool: {} of {} addresses in use",
            pool.allocated(),
            pool.size()
        );
    }
    let s = endpoint.stats();
    let _ = writeln!(
        out,
        "Refused at max_sessions: {} (SCCRP result 2 error 4 sent), {} closed unanswered, {} pending",
        s.refusals_answered,
        s.connections_refused
            .saturating_sub(s.refusals_answered)
            .saturating_sub(refusing as u64),
        refusing
    );
    let _ = writeln!(
        out,
        "Endpoint: sessions established {} ended {}; parks {} unparks {}; GRE unknown call {} wrong peer {} malformed {}; \
         frames dropped at a full GRE window {}, for want of a free machine {}; events dropped {}\n\
         Limits: calls not yet up now {}; GRE packets that proved nothing {}; connections refused per source {}; \
         calls refused before authentication {}; set-up time-outs {}; idle connections closed {}; \
         logins refused by the per-user limit {}",
        s.sessions_established,
        s.sessions_ended,
        s.parks,
        s.unparks,
        s.gre_unknown_call,
        s.gre_wrong_peer,
        s.gre_malformed,
        s.window_drops,
        s.no_engine_drops,
        s.events_dropped,
        endpoint.unauthenticated_calls(),
        s.gre_unproven,
        s.source_limit_refusals,
        s.unauthenticated_limit_refusals,
        s.setup_timeouts,
        s.idle_connections_closed,
        s.user_limit_refusals
    );
    let l = s.logins;
    let (users, addresses) = endpoint.logins_blocked(server.now());
    let _ = writeln!(
        out,
        "Logins: failed {}, answered late {}, refused while blocked {}, blocks {}; blocked now: {users} user(s), {addresses} address(es){}",
        l.failed,
        l.delayed,
        l.refused,
        l.blocks,
        if server.config.login_throttle.is_none() { " (throttling off)" } else { "" }
    );
    let _ = writeln!(out, "All sessions: {}", mtu_line(&s.mtu));
    if let Some(reader) = server.tun_reader.as_ref() {
        let hold = reader.hold().stats();
        let (tso, unexpected) = reader.segmenter_stats();
        let _ = writeln!(
            out,
            "Data: TUN packets held for a full peer window {}, dropped after waiting {} ms {}; \
             TSO reads {} cut into {} segments, malformed {}, unexpected GSO {}",
            hold.held,
            crate::net::hold::HOLD_MAX_MS,
            hold.dropped,
            tso.packets,
            tso.segments,
            tso.malformed,
            unexpected
        );
    }
    out
}

/// What the endpoint did to fit IP to the peers' MRUs, one session's or
/// all of them.
fn mtu_line(m: &MtuCounters) -> String {
    format!(
        "IP over the peer's MRU: {} packets fragmented into {} fragments, {} ICMP fragmentation-needed sent; \
         TCP MSS clamped {}",
        m.fragmented, m.fragments, m.frag_needed, m.mss_clamped
    )
}
