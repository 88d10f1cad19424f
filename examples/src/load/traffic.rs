//! The traffic phase (`pptp-load --traffic-secs S --traffic-rate R`): for
//! a bounded time, ICMP Echo Requests of a set size from every established
//! session, round robin, at R packets per second in all, to the server's
//! tunnel address. The server's kernel answers each from its TUN device,
//! so every request crosses the server's data path inward (GRE, MPPE
//! decrypt, PPP, TUN write) and its reply outward (TUN read, PPP, MPPE
//! encrypt, GRE): both directions on all N sessions at once, which
//! `scripts/throughput.sh` measures. pptp-load has no TUN device of its
//! own, so TCP through N sessions is out of its reach; an Echo flood needs
//! no peer program and no socket per session.
//!
//! PPTP carries data unreliably (RFC 2637 §4.4: no retransmission), so a
//! request or reply lost anywhere is simply missing from the count; the
//! report says how many went out, came back, and where pptp-load itself
//! refused or failed to send.

use std::time::Duration as StdDuration;

use mio::Events;
use pptp_core::endpoint::{Destination, Outbound};
use pptp_core::time::Instant;
use signal_hook_mio::v1_0::Signals;

use super::icmp::{write_echo_request, ECHO_MIN_LEN};
use super::{print_line, Load, Phase};

/// Requests sent in one loop turn at most, so replies are read in between
/// even when the rate is more than one loop turn per millisecond can keep.
const MAX_BURST: u64 = 256;

/// How long replies still in flight are waited for after the last request.
const DRAIN_MS: u64 = 1_000;

/// Settings of the traffic phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrafficConfig {
    /// How long requests are sent.
    pub duration: StdDuration,
    /// Echo Requests per second, all sessions together (at least 1).
    pub rate: u64,
    /// IP packet size in octets (clamped to 28 and to each session's MTU).
    pub size: usize,
}

/// What the traffic phase measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrafficReport {
    /// Sessions that took part (established and with addresses).
    pub sessions: usize,
    /// Sessions at least one reply came back on.
    pub sessions_replying: usize,
    /// Seconds from the first request to the last reply waited for.
    pub seconds: f64,
    /// Seconds requests were sent.
    pub send_seconds: f64,
    /// Requests handed to the raw GRE socket's send batch.
    pub sent: u64,
    /// Their IP octets.
    pub sent_octets: u64,
    /// Replies received through the tunnels.
    pub replied: u64,
    /// Their IP octets.
    pub replied_octets: u64,
    /// Datagrams the GRE send batch dropped during the phase, requests
    /// and the acknowledgments queued with them: refused by the kernel
    /// (ENOBUFS and the like) or dropped while the socket was full.
    /// Requests among them count in `sent` and not in `replied`.
    pub send_errors: u64,
    /// Requests the endpoints did not send (a full GRE window, RFC 2637
    /// §4.4, or another `send_ip` refusal).
    pub not_sent: u64,
    /// Requests the rate called for that pptp-load had no time to send
    /// (its own CPU was the limit, not the server).
    pub behind: u64,
    /// Fewest and most replies one session received: requests go out
    /// round robin, so these show how evenly the server served the
    /// sessions (issue #15: fair within ±20 %).
    pub replied_min: u64,
    pub replied_max: u64,
}

impl TrafficReport {
    /// The `TRAFFIC ...` line `scripts/throughput.sh` parses.
    pub fn line(&self) -> String {
        format!(
            "TRAFFIC sessions={} sessions_replying={} seconds={:.3} send_seconds={:.3} sent={} sent_octets={} \
             replied={} replied_octets={} send_errors={} not_sent={} behind={} replied_min={} replied_max={}",
            self.sessions,
            self.sessions_replying,
            self.seconds,
            self.send_seconds,
            self.sent,
            self.sent_octets,
            self.replied,
            self.replied_octets,
            self.send_errors,
            self.not_sent,
            self.behind,
            self.replied_min,
            self.replied_max
        )
    }
}

impl Load<'_> {
    /// Phase 2b: the Echo flood; prints `TRAFFIC ...`.
    pub(super) fn traffic(&mut self, config: &TrafficConfig, signals: &mut Signals) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65_536];
        let mut packet = vec![0u8; config.size.clamp(ECHO_MIN_LEN, 65_535)];
        let up: Vec<usize> = (0..self.sessions.len())
            .filter(|&i| {
                let s = &self.sessions[i];
                s.phase == Phase::Up && s.local.is_some() && s.remote.is_some()
            })
            .collect();
        let mut report = TrafficReport {
            sessions: up.len(),
            ..TrafficReport::default()
        };
        let replies_before: Vec<u64> = up.iter().map(|&i| self.sessions[i].echo_replies).collect();
        let octets_before = self.echo_reply_octets;
        let send_drops = |l: &Self| {
            let s = l.gre_tx.stats();
            s.dropped_full + s.dropped_error
        };
        let drops_before = send_drops(self);
        let rate = config.rate.max(1);
        let start = self.now();
        let end = start + config.duration.as_millis() as u64;
        let mut attempted = 0u64;
        let mut next = 0usize;
        while !up.is_empty() {
            let now = self.now();
            if now >= end {
                break;
            }
            let due = (now - start) * rate / 1000 + 1;
            for _ in 0..due.saturating_sub(attempted).min(MAX_BURST) {
                let idx = up[next % up.len()];
                next += 1;
                attempted += 1;
                self.flood_one(idx, &mut packet, &mut report);
            }
            if self.turn(&mut events, &mut buf, signals, Some(1)) {
                self.stopping = true;
                break;
            }
        }
        let sent_until = self.now();
        let due = (sent_until.min(end) - start) * rate / 1000;
        report.behind = due.saturating_sub(attempted);
        // Replies still on their way back.
        while !self.stopping && self.now() < sent_until + DRAIN_MS {
            let replied: u64 = up.iter().map(|&i| self.sessions[i].echo_replies).sum();
            if replied - replies_before.iter().sum::<u64>() >= report.sent {
                break;
            }
            if self.turn(&mut events, &mut buf, signals, Some(10)) {
                self.stopping = true;
            }
        }
        report.send_errors = send_drops(self) - drops_before;
        report.send_seconds = (sent_until - start) as f64 / 1000.0;
        report.seconds = (self.now() - start) as f64 / 1000.0;
        report.replied_min = u64::MAX;
        for (k, &idx) in up.iter().enumerate() {
            let got = self.sessions[idx].echo_replies - replies_before[k];
            report.replied += got;
            report.sessions_replying += usize::from(got > 0);
            report.replied_min = report.replied_min.min(got);
            report.replied_max = report.replied_max.max(got);
        }
        if up.is_empty() {
            report.replied_min = 0;
        }
        report.replied_octets = self.echo_reply_octets - octets_before;
        print_line(&report.line());
        self.report.traffic = Some(report);
    }

    /// One Echo Request of `packet.len()` octets (at most the session's
    /// MTU: DF is set) on session `idx`.
    fn flood_one(&mut self, idx: usize, packet: &mut [u8], report: &mut TrafficReport) {
        let now = Instant::from_millis(self.now());
        let s = &mut self.sessions[idx];
        let (Some(local), Some(remote), Some(e)) = (s.local, s.remote, s.endpoint.as_mut()) else {
            return;
        };
        let len = packet.len().min(s.mtu).max(ECHO_MIN_LEN);
        s.echo_sequence = s.echo_sequence.wrapping_add(1);
        let request = &mut packet[..len];
        if !write_echo_request(request, local, remote, s.call_id, s.echo_sequence) {
            return;
        }
        match e.send_ip(now, &mut Outbound::new(request), &mut self.tx) {
            Ok(Some(t)) => match t.to {
                Destination::Gre(peer) => {
                    self.gre.queue(&mut self.gre_tx, peer, &self.tx[..t.len]);
                    report.sent += 1;
                    report.sent_octets += len as u64;
                }
                // An ICMP error for the host instead: not sent.
                _ => report.not_sent += 1,
            },
            _ => report.not_sent += 1,
        }
        self.drain(idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scripts/throughput.sh reads these keys by name: each must appear
    /// once, as ` key=value`, with the value of its own field.
    #[test]
    fn line_names_every_field_the_script_reads() {
        let report = TrafficReport {
            sessions: 1,
            sessions_replying: 2,
            seconds: 3.5,
            send_seconds: 4.25,
            sent: 5,
            sent_octets: 6,
            replied: 7,
            replied_octets: 8,
            send_errors: 9,
            not_sent: 10,
            behind: 11,
            replied_min: 12,
            replied_max: 13,
        };
        let line = report.line();
        assert!(line.starts_with("TRAFFIC "), "{line}");
        for (key, value) in [
            ("sessions", "1"),
            ("sessions_replying", "2"),
            ("seconds", "3.500"),
            ("send_seconds", "4.250"),
            ("sent", "5"),
            ("sent_octets", "6"),
            ("replied", "7"),
            ("replied_octets", "8"),
            ("send_errors", "9"),
            ("not_sent", "10"),
            ("behind", "11"),
            ("replied_min", "12"),
            ("replied_max", "13"),
        ] {
            let field = format!(" {key}={value}");
            assert_eq!(line.matches(&field).count(), 1, "{field} in {line}");
        }
    }
}
