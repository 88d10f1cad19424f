//! A `show vpdn`-style table, after the PIX 6.x output described in the
//! origin document: per tunnel its ids, state, packet and byte counters;
//! per session its call ids, user name and the GRE window state (`Seq`,
//! `Ack`, `Ack_Rcvd`, peer RWS, out-of-order packets).

use std::fmt::Write as _;

/// One session (PPTP call) row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRow {
    /// Our call ID.
    pub call_id: u16,
    /// The peer's call ID.
    pub remote_call_id: u16,
    /// Authenticated user name.
    pub username: String,
    /// What the peer sent in LCP Identification (RFC 1570 §1.1), e.g.
    /// Windows' "MSRASV5.20"; empty when it sent none.
    pub peer_identification: Vec<String>,
    /// Session state text.
    pub state: String,
    /// PPP interface id.
    pub ppp_interface: u16,
    /// Address given to the client, if any.
    pub client_ip: Option<std::net::Ipv4Addr>,
    /// MPPE in use, e.g. `128-bit stateless`, or `none`.
    pub encryption: String,
    /// Last GRE sequence number sent.
    pub seq: Option<u32>,
    /// Last sequence number we acknowledged.
    pub ack: Option<u32>,
    /// Last acknowledgement received.
    pub ack_rcvd: Option<u32>,
    /// Peer's receive window.
    pub peer_rws: u16,
    /// Out-of-order packets received.
    pub out_of_order: u64,
    /// GRE data packets sent / received, bytes sent / received.
    pub gre_packets: (u64, u64),
    /// GRE bytes.
    pub gre_bytes: (u64, u64),
}

/// One tunnel (control connection) row with its sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelRow {
    /// Our tunnel id.
    pub tunnel_id: u16,
    /// The peer's tunnel id.
    pub remote_id: u16,
    /// State text.
    pub state: String,
    /// Seconds since the last state change.
    pub secs_since_change: u64,
    /// Remote address and port.
    pub remote: String,
    /// Local address and port.
    pub local: String,
    /// Packets sent / received (control messages plus GRE).
    pub packets: (u64, u64),
    /// Bytes sent / received (control plus GRE).
    pub bytes: (u64, u64),
    /// The calls.
    pub sessions: Vec<SessionRow>,
}

fn opt(v: Option<u32>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// Renders the PIX-style text.
pub fn render(tunnels: &[TunnelRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} tunnel(s) in use", tunnels.len());
    for t in tunnels {
        let _ = writeln!(
            s,
            "Tunnel id {}, remote id {} is {}, time since event change {} secs",
            t.tunnel_id, t.remote_id, t.state, t.secs_since_change
        );
        let _ = writeln!(
            s,
            "  Remote address {}, local address {}",
            t.remote, t.local
        );
        let _ = writeln!(
            s,
            "  {} active session(s); {} packets sent, {} received, {} bytes sent, {} received",
            t.sessions.len(),
            t.packets.0,
            t.packets.1,
            t.bytes.0,
            t.bytes.1
        );
        for c in &t.sessions {
            let _ = writeln!(
                s,
                "  Call id {} is {} on tunnel id {}, remote call id {}, PPP interface id {}",
                c.call_id, c.state, t.tunnel_id, c.remote_call_id, c.ppp_interface
            );
            let _ = writeln!(
                s,
                "    Session username {}, client IP {}, encryption {}",
                c.username,
                c.client_ip.map_or("-".into(), |a| a.to_string()),
                c.encryption
            );
            if !c.peer_identification.is_empty() {
                let _ = writeln!(
                    s,
                    "    Peer identification \"{}\"",
                    c.peer_identification.join("\", \"")
                );
            }
            let _ = writeln!(
                s,
                "    {} GRE packets sent, {} received, {} bytes sent, {} received",
                c.gre_packets.0, c.gre_packets.1, c.gre_bytes.0, c.gre_bytes.1
            );
            let _ = writeln!(
                s,
                "    Seq {}, Ack {}, Ack_Rcvd {}, peer RWS {}, {} out of order packets",
                opt(c.seq),
                opt(c.ack),
                opt(c.ack_rcvd),
                c.peer_rws,
                c.out_of_order
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_pix_fields() {
        let t = TunnelRow {
            tunnel_id: 13,
            remote_id: 13,
            state: "established".into(),
            sessions: vec![SessionRow {
                call_id: 13,
                remote_call_id: 32768,
                username: "cisco".into(),
                seq: Some(13),
                ack: Some(34),
                ack_rcvd: Some(12),
                peer_rws: 64,
                ..SessionRow::default()
            }],
            ..TunnelRow::default()
        };
        let mut identified = t.clone();
        let text = render(&[t]);
        assert!(!text.contains("Peer identification"));
        identified.sessions[0].peer_identification =
            vec!["MSRASV5.20".into(), "MSRAS-0-DESKTOP".into()];
        assert!(render(&[identified])
            .contains("    Peer identification \"MSRASV5.20\", \"MSRAS-0-DESKTOP\"\n"));
        assert!(text.contains("Tunnel id 13, remote id 13 is established"));
        assert!(text.contains("remote call id 32768"));
        assert!(text.contains("Seq 13, Ack 34, Ack_Rcvd 12, peer RWS 64, 0 out of order packets"));
    }
}
