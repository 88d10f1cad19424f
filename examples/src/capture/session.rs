//! Following the PPTP tunnels and calls of a capture: control messages
//! from the reassembled TCP streams (RFC 2637 §2), each call's GRE
//! packets (RFC 2637 §4.1) and the PPP inside, its MS-CHAP exchange
//! (RFC 2433, RFC 2759) and CCP's MPPE agreement (RFC 3078 §2), then the
//! MPPE keys (RFC 3079) and every MPPE packet through [`Direction`].
//!
//! Bounded whatever the capture holds: at most [`MAX_STREAMS`] TCP
//! directions, [`MAX_TUNNELS`] tunnels and [`MAX_CALLS`] calls are
//! followed; what lies beyond is counted, not stored.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;

use mppe::keys::{asymmetric_start_key, master_key, mschapv1_lm_start_key, mschapv1_start_key};
use mppe::policy::{SupportedBits, OPTION_TYPE as MPPE_OPTION};
use mppe::{Config, StartKey};
use ppp_core::auth::crypto;
use ppp_core::wire::auth::{ChapRepr, MsChapV1Response, MsChapV2Response};
use ppp_core::wire::frame::{protocol, FieldCompression, Frame, ADDRESS_CONTROL};
use ppp_core::wire::ipv4;
use ppp_core::wire::packet::{Code, OptionIter, Packet};
use pptp_core::wire::control::{ControlMessage, ControlRepr};
use pptp_core::wire::gre::GrePacket;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::decrypt::{inner_protocol, Direction, DirectionStats, KeySource, Outcome};
use super::reader::{ipv4_offset, Record};
use super::tcp_stream::Reassembler;
use super::writer::DecryptedWriter;
use crate::decode;
use crate::transcript::format_line;

/// Why nothing decrypts when the secret does not match the exchange.
const WRONG_SECRET: &str =
    "the secret does not give the captured NT-Response: wrong password or hash";

/// TCP directions followed at once.
pub const MAX_STREAMS: usize = 1024;
/// Tunnels (address pairs) followed.
pub const MAX_TUNNELS: usize = 1024;
/// Calls followed.
pub const MAX_CALLS: usize = 4096;
/// The PPTP control port (RFC 2637 §2.1 via IANA).
const PPTP_PORT: u16 = 1723;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_GRE: u8 = 47;

/// The secret the keys come from. Wiped on drop; `Debug` does not show it.
#[derive(Clone, Default)]
pub struct Secret {
    /// The cleartext password (gives the NT hash and, for MS-CHAPv1
    /// 40/56-bit, the LM hash).
    pub password: Option<Zeroizing<String>>,
    /// The NT password hash (MD4 of the UTF-16LE password), when the
    /// password is not known.
    pub nt_hash: Option<Zeroizing<[u8; 16]>>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("nt_hash", &self.nt_hash.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Which end of a tunnel sent something (RFC 2637's names: the PAC
/// answers on port 1723, the PNS calls it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The PNS (the VPN client in dial-in use).
    Client,
    /// The PAC (the VPN server).
    Server,
}

impl End {
    fn index(self) -> usize {
        match self {
            End::Client => 0,
            End::Server => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            End::Client => "client",
            End::Server => "server",
        }
    }

    fn arrow(self) -> &'static str {
        match self {
            End::Client => "client->server",
            End::Server => "server->client",
        }
    }
}

/// Counters of the whole capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records read.
    pub records: u64,
    /// Records that are not IPv4 (ARP, IPv6) or of an unknown link type.
    pub not_ipv4: u64,
    /// IPv4 fragments (not reassembled: PPTP peers set DF on GRE).
    pub fragments: u64,
    /// PPTP control messages.
    pub control_messages: u64,
    /// GRE packets of version 1 (enhanced GRE).
    pub gre_packets: u64,
    /// IP protocol 47 packets that are not valid enhanced GRE.
    pub bad_gre: u64,
    /// GRE packets whose payload is not a PPP frame.
    pub bad_ppp: u64,
    /// Packets beyond the stream, tunnel or call limits.
    pub untracked: u64,
}

/// One direction of a call as the report gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionReport {
    /// Who sent: `client->server` or `server->client`.
    pub direction: &'static str,
    /// MPPE as CCP agreed, when the capture shows it.
    pub config: Option<Config>,
    /// Counters.
    pub stats: DirectionStats,
    /// Which keys decrypt, in words.
    pub verdict: String,
}

/// One call as the report gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallReport {
    /// Its number in the transcript.
    pub number: usize,
    /// MS-CHAP version seen (1 or 2).
    pub ms_chap: Option<u8>,
    /// Whether the secret gives the captured NT-Response.
    pub secret_matches: Option<bool>,
    /// Both directions.
    pub directions: Vec<DirectionReport>,
}

/// What the capture held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Every call.
    pub calls: Vec<CallReport>,
    /// Capture-wide counters.
    pub counters: Counters,
    /// Things worth saying that are not about one packet (read errors,
    /// gaps in the control connection).
    pub notes: Vec<String>,
    /// Why the capture was not read to its end, if it was not.
    pub read_error: Option<String>,
}

impl Report {
    /// MPPE packets in the capture.
    pub fn mppe_packets(&self) -> u64 {
        self.directions().map(|d| d.stats.packets).sum()
    }

    /// MPPE packets decrypted to a well-formed packet.
    pub fn decrypted(&self) -> u64 {
        self.directions().map(|d| d.stats.decrypted).sum()
    }

    fn directions(&self) -> impl Iterator<Item = &DirectionReport> {
        self.calls.iter().flat_map(|c| c.directions.iter())
    }
}

#[derive(Debug)]
struct Tunnel {
    number: usize,
    server: Ipv4Addr,
    client: Ipv4Addr,
}

#[derive(Debug, Default)]
struct Chap {
    /// The challenge (8 octets: MS-CHAPv1; 16: MS-CHAPv2).
    challenge: Option<Vec<u8>>,
    /// Who sent the challenge (the authenticator, RFC 1994 §4.1).
    authenticator: Option<End>,
    /// The 49-octet Response value and the peer's name.
    response: Option<(Vec<u8>, Vec<u8>)>,
    secret_matches: Option<bool>,
}

#[derive(Debug)]
struct Call {
    number: usize,
    tunnel: usize,
    /// The call ID each end chose (GRE packets to an end carry its ID).
    ids: [Option<u16>; 2],
    cleared: bool,
    chap: Chap,
    /// Per sender: the decrypting state once CCP agreed on MPPE.
    directions: [Option<Direction>; 2],
    /// Per sender: why there are no keys, if there are none.
    key_problem: [Option<String>; 2],
    /// Per sender: MPPE packets before any CCP agreement was seen.
    without_ccp: [DirectionStats; 2],
}

/// Follows a capture record by record, writes the transcript to `out`,
/// and the decrypted capture to `writer` if given.
pub struct Analyser<'o> {
    secret: Secret,
    out: &'o mut dyn Write,
    writer: Option<DecryptedWriter<Box<dyn Write>>>,
    first_us: Option<u64>,
    now_ms: u64,
    streams: HashMap<(Ipv4Addr, u16, Ipv4Addr, u16), Reassembler>,
    tunnels: Vec<Tunnel>,
    calls: Vec<Call>,
    counters: Counters,
    notes: Vec<String>,
}

impl std::fmt::Debug for Analyser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyser")
            .field("calls", &self.calls.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl<'o> Analyser<'o> {
    /// An analyser printing its transcript to `out`.
    pub fn new(
        secret: Secret,
        out: &'o mut dyn Write,
        writer: Option<DecryptedWriter<Box<dyn Write>>>,
    ) -> Self {
        Analyser {
            secret,
            out,
            writer,
            first_us: None,
            now_ms: 0,
            streams: HashMap::new(),
            tunnels: Vec::new(),
            calls: Vec::new(),
            counters: Counters::default(),
            notes: Vec::new(),
        }
    }

    /// Adds a note to the report (and the transcript).
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.line(None, &format!("NOTE: {text}"));
        self.notes.push(text);
    }

    fn line(&mut self, who: Option<End>, text: &str) {
        let who = who.map_or("  note", End::name);
        let _ = writeln!(self.out, "{}", format_line(self.now_ms, who, text));
    }

    /// One captured record.
    pub fn record(&mut self, record: &Record) -> std::io::Result<()> {
        self.counters.records += 1;
        let first = *self.first_us.get_or_insert(record.time_us);
        self.now_ms = record.time_us.saturating_sub(first) / 1000;
        let Some(at) = ipv4_offset(record.link_type, &record.data) else {
            self.counters.not_ipv4 += 1;
            return Ok(());
        };
        let Ok(ip) = ipv4::Packet::new_checked(&record.data[at..]) else {
            self.counters.not_ipv4 += 1;
            return Ok(());
        };
        // The IP packet without link-layer padding.
        let ip_bytes = &record.data[at..at + ip.total_len()];
        let mut replacement = None;
        if ip.is_fragment() {
            self.counters.fragments += 1;
        } else {
            match ip.protocol() {
                IPPROTO_TCP => self.tcp(ip.src_addr(), ip.dst_addr(), ip.payload()),
                IPPROTO_GRE => {
                    replacement = self.gre(ip.src_addr(), ip.dst_addr(), ip.payload());
                }
                _ => {}
            }
        }
        if let Some(w) = self.writer.as_mut() {
            match replacement {
                Some(frame) => w.with_ppp_frame(record.time_us, ip_bytes, &frame)?,
                None => w.packet(record.time_us, ip_bytes)?,
            }
        }
        Ok(())
    }

    // ----- the control connection -----

    fn tcp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) {
        if segment.len() < 20 {
            return;
        }
        let sport = u16::from_be_bytes([segment[0], segment[1]]);
        let dport = u16::from_be_bytes([segment[2], segment[3]]);
        if sport != PPTP_PORT && dport != PPTP_PORT {
            return;
        }
        let seq = u32::from_be_bytes([segment[4], segment[5], segment[6], segment[7]]);
        let data_offset = usize::from(segment[12] >> 4) * 4;
        let syn = segment[13] & 0x02 != 0;
        let Some(payload) = segment.get(data_offset..).filter(|_| data_offset >= 20) else {
            return;
        };
        let key = (src, sport, dst, dport);
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            self.counters.untracked += 1;
            return;
        }
        let stream = self.streams.entry(key).or_default();
        let missing_before = stream.notes().octets_missing;
        stream.push(seq, syn, payload);
        let missing = stream.notes().octets_missing - missing_before;
        let mut messages = Vec::new();
        while let Some(m) = stream.next_message() {
            messages.push(m);
        }
        let from = if sport == PPTP_PORT {
            End::Server
        } else {
            End::Client
        };
        if missing > 0 {
            self.note(format!(
                "{missing} octets of the {} control stream are not in the capture",
                from.arrow()
            ));
        }
        let (server, client) = match from {
            End::Server => (src, dst),
            End::Client => (dst, src),
        };
        let Some(tunnel) = self.tunnel(server, client) else {
            return;
        };
        for m in messages {
            self.control(tunnel, from, &m);
        }
    }

    /// The tunnel between `server` and `client`, created if new.
    fn tunnel(&mut self, server: Ipv4Addr, client: Ipv4Addr) -> Option<usize> {
        if let Some(i) = self
            .tunnels
            .iter()
            .position(|t| t.server == server && t.client == client)
        {
            return Some(i);
        }
        if self.tunnels.len() >= MAX_TUNNELS {
            self.counters.untracked += 1;
            return None;
        }
        self.tunnels.push(Tunnel {
            number: self.tunnels.len() + 1,
            server,
            client,
        });
        Some(self.tunnels.len() - 1)
    }

    fn control(&mut self, tunnel: usize, from: End, bytes: &[u8]) {
        self.counters.control_messages += 1;
        let number = self.tunnels[tunnel].number;
        let text = decode::decode_control(bytes)
            .map(|d| d.one_line())
            .unwrap_or_else(|e| e);
        self.line(
            Some(from),
            &format!(
                "PPTP: tnl {number}: sent {}",
                text.trim_start_matches("PPTP ")
            ),
        );
        let Ok(msg) = ControlMessage::new_checked(bytes) else {
            return;
        };
        // RFC 2637 §2: each end picks its own Call ID; the GRE packets
        // sent to an end carry the ID that end picked (§4.1).
        match ControlRepr::parse(&msg) {
            ControlRepr::Ocrq(m) => {
                self.new_call(tunnel, [Some(m.call_id), None]);
            }
            ControlRepr::Ocrp(m) => {
                self.pair_call(tunnel, m.peer_call_id, End::Client, m.call_id, End::Server)
            }
            ControlRepr::Icrq(m) => {
                self.new_call(tunnel, [None, Some(m.call_id)]);
            }
            ControlRepr::Icrp(m) => {
                self.pair_call(tunnel, m.peer_call_id, End::Server, m.call_id, End::Client)
            }
            ControlRepr::Cdn(m) => self.clear_call(tunnel, End::Server, m.call_id),
            ControlRepr::Ccrq(m) => self.clear_call(tunnel, End::Client, m.call_id),
            _ => {}
        }
    }

    fn new_call(&mut self, tunnel: usize, ids: [Option<u16>; 2]) -> Option<usize> {
        if self.calls.len() >= MAX_CALLS {
            self.counters.untracked += 1;
            return None;
        }
        self.calls.push(Call {
            number: self.calls.len() + 1,
            tunnel,
            ids,
            cleared: false,
            chap: Chap::default(),
            directions: [None, None],
            key_problem: [None, None],
            without_ccp: Default::default(),
        });
        Some(self.calls.len() - 1)
    }

    /// A reply naming the asker's ID (`known`, chosen by `known_end`) and
    /// the replier's (`new`, chosen by `new_end`).
    fn pair_call(&mut self, tunnel: usize, known: u16, known_end: End, new: u16, new_end: End) {
        let found =
            self.calls.iter_mut().rev().find(|c| {
                c.tunnel == tunnel && !c.cleared && c.ids[known_end.index()] == Some(known)
            });
        match found {
            Some(c) => c.ids[new_end.index()] = Some(new),
            None => {
                let mut ids = [None, None];
                ids[known_end.index()] = Some(known);
                ids[new_end.index()] = Some(new);
                self.new_call(tunnel, ids);
            }
        }
    }

    fn clear_call(&mut self, tunnel: usize, end: End, id: u16) {
        // A Call-Clear-Request asks; the Call-Disconnect-Notify ends it
        // (RFC 2637 §2.12, §2.13).
        if end == End::Server {
            if let Some(c) = self
                .calls
                .iter_mut()
                .rev()
                .find(|c| c.tunnel == tunnel && !c.cleared && c.ids[end.index()] == Some(id))
            {
                c.cleared = true;
            }
        }
    }

    // ----- GRE and PPP -----

    /// One GRE packet; returns the plaintext PPP frame that replaces it in
    /// the decrypted capture, if it carried MPPE that decrypted.
    fn gre(&mut self, src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Option<Vec<u8>> {
        let Ok(gre) = GrePacket::new_checked(bytes) else {
            self.counters.bad_gre += 1;
            return None;
        };
        self.counters.gre_packets += 1;
        let payload = gre.payload();
        if payload.is_empty() {
            return None; // an acknowledgement only (RFC 2637 §4.4)
        }
        // Which end sent it: the tunnel's server if the control
        // connection said so; else the receiver of the first GRE packet
        // seen is taken for the server.
        let (tunnel, from) =
            match self.tunnels.iter().position(|t| {
                (t.server, t.client) == (src, dst) || (t.server, t.client) == (dst, src)
            }) {
                Some(t) if self.tunnels[t].server == src => (t, End::Server),
                Some(t) => (t, End::Client),
                None => (self.tunnel(dst, src)?, End::Client),
            };
        let call = self.call_for(tunnel, from, gre.call_id())?;
        let Ok(frame) = Frame::parse(payload, FieldCompression::BOTH) else {
            self.counters.bad_ppp += 1;
            return None;
        };
        let number = self.calls[call].number;
        if frame.protocol == protocol::COMPRESSED {
            let plain = self.mppe(call, from, frame.information)?;
            // The frame keeps its address and control field if it had
            // them (RFC 1662 §3.2; ACFC drops them, RFC 1661 §6.6).
            let mut out = Vec::with_capacity(plain.len() + 2);
            if payload.starts_with(&ADDRESS_CONTROL) {
                out.extend_from_slice(&ADDRESS_CONTROL);
            }
            out.extend_from_slice(&plain);
            return Some(out);
        }
        let text = decode::decode_ppp_payload(frame.protocol, frame.information).one_line();
        self.line(Some(from), &format!("PPP: call {number}: sent {text}"));
        match frame.protocol {
            protocol::CHAP => self.chap(call, from, frame.information),
            protocol::CCP => self.ccp(call, from, frame.information),
            _ => {}
        }
        None
    }

    /// The call a GRE packet from `from` with `call_id` belongs to.
    fn call_for(&mut self, tunnel: usize, from: End, call_id: u16) -> Option<usize> {
        let to = match from {
            End::Client => End::Server,
            End::Server => End::Client,
        };
        let open = |c: &&Call| c.tunnel == tunnel && !c.cleared;
        if let Some(i) = self
            .calls
            .iter()
            .rposition(|c| open(&c) && c.ids[to.index()] == Some(call_id))
        {
            return Some(i);
        }
        // A call whose set-up the capture missed half of.
        if let Some(i) = self
            .calls
            .iter()
            .rposition(|c| open(&c) && c.ids[to.index()].is_none())
        {
            self.calls[i].ids[to.index()] = Some(call_id);
            return Some(i);
        }
        let mut ids = [None, None];
        ids[to.index()] = Some(call_id);
        let i = self.new_call(tunnel, ids)?;
        let number = self.calls[i].number;
        self.note(format!(
            "call {number}: GRE for call ID {call_id} without its set-up in the capture"
        ));
        Some(i)
    }

    fn chap(&mut self, call: usize, from: End, info: &[u8]) {
        let Ok(repr) = ChapRepr::parse_bytes(info) else {
            return;
        };
        let c = &mut self.calls[call];
        match repr {
            ChapRepr::Challenge { value, .. } if matches!(value.len(), 8 | 16) => {
                c.chap = Chap {
                    challenge: Some(value.to_vec()),
                    authenticator: Some(from),
                    ..Chap::default()
                };
            }
            ChapRepr::Response { value, name, .. } if value.len() == 49 => {
                c.chap.response = Some((value.to_vec(), name.to_vec()));
                let verdict = check_secret(&c.chap, &self.secret);
                c.chap.secret_matches = verdict;
                let number = c.number;
                match verdict {
                    Some(true) => self.line(
                        None,
                        &format!("KEYS: call {number}: the secret gives this NT-Response"),
                    ),
                    Some(false) => self.line(
                        None,
                        &format!(
                            "KEYS: call {number}: the secret does NOT give this NT-Response \
                             (wrong password or hash: MPPE will not decrypt)"
                        ),
                    ),
                    None => {}
                }
            }
            _ => {}
        }
    }

    fn ccp(&mut self, call: usize, from: End, info: &[u8]) {
        let Ok(p) = Packet::new_checked(info) else {
            return;
        };
        if p.code() != Code::ConfigureAck {
            return;
        }
        // RFC 3078 §2 / RFC 1962: the option a peer requested and the
        // sender of this Ack acknowledged sets what the Ack's sender
        // sends (mppe's `Negotiated`: send = the peer's acked request).
        let Some(bits) = OptionIter::new(p.data())
            .filter_map(Result::ok)
            .find(|o| o.kind == MPPE_OPTION)
            .and_then(|o| SupportedBits::parse(o.data).ok())
        else {
            return;
        };
        let number = self.calls[call].number;
        let Some(strength) = bits.strengths().single() else {
            self.line(
                None,
                &format!("KEYS: call {number}: CCP acknowledged no single MPPE strength"),
            );
            return;
        };
        let config = Config::new(strength, bits.mode());
        let c = &mut self.calls[call];
        let (keys, problem) = match start_keys(&c.chap, &self.secret, from, config) {
            Ok(k) => (k, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let sources: Vec<&str> = keys.iter().map(|(s, _)| s.name()).collect();
        let direction = match Direction::new(&keys, config) {
            Ok(d) => d,
            Err(e) => {
                c.key_problem[from.index()] = Some(e);
                return;
            }
        };
        c.directions[from.index()] = Some(direction);
        c.key_problem[from.index()] = problem.clone();
        let text = match problem {
            None => format!(
                "KEYS: call {number}: {}: MPPE {config}, keys from {}",
                from.arrow(),
                sources.join(" and from ")
            ),
            Some(p) => format!(
                "KEYS: call {number}: {}: MPPE {config}, no keys: {p}",
                from.arrow()
            ),
        };
        self.line(None, &text);
    }

    fn mppe(&mut self, call: usize, from: End, packet: &[u8]) -> Option<Vec<u8>> {
        let c = &mut self.calls[call];
        let number = c.number;
        let header = match packet {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        let head = format!(
            "PPP: call {number}: sent MPPE cc {}{}",
            header & 0x0fff,
            if header & 0x8000 != 0 { " flushed" } else { "" }
        );
        let Some(direction) = c.directions[from.index()].as_mut() else {
            let stats = &mut c.without_ccp[from.index()];
            stats.packets += 1;
            *stats
                .not_decrypted
                .entry("no CCP agreement in the capture")
                .or_insert(0) += 1;
            self.line(
                Some(from),
                &format!("{head}: NOT decrypted: no CCP agreement in the capture"),
            );
            return None;
        };
        match direction.decrypt(packet) {
            Outcome::Decrypted {
                plaintext,
                candidate,
            } => {
                let inner = inner_protocol(&plaintext)
                    .map(|(p, n)| decode::decode_ppp_payload(p, &plaintext[n..]).one_line())
                    .unwrap_or_default();
                let keys = if direction.candidates.len() > 1 {
                    format!(" ({})", direction.candidates[candidate].describe())
                } else {
                    String::new()
                };
                self.line(Some(from), &format!("{head}: decrypted{keys}: {inner}"));
                Some(plaintext)
            }
            Outcome::NotDecrypted { reason, .. } => {
                let reason = match (&c.key_problem[from.index()], c.chap.secret_matches) {
                    (Some(problem), _) => problem.clone(),
                    (None, Some(false)) => WRONG_SECRET.to_string(),
                    (None, _) => reason,
                };
                self.line(Some(from), &format!("{head}: NOT decrypted: {reason}"));
                None
            }
        }
    }

    /// Ends the analysis: prints the summary and returns the report and
    /// the writer.
    pub fn finish(mut self) -> (Report, Option<DecryptedWriter<Box<dyn Write>>>) {
        let mut calls = Vec::new();
        for c in &self.calls {
            let mut directions = Vec::new();
            for end in [End::Client, End::Server] {
                let i = end.index();
                let report = match &c.directions[i] {
                    Some(d) => {
                        let mut stats = d.stats.clone();
                        let early = &c.without_ccp[i];
                        stats.packets += early.packets;
                        for (k, v) in &early.not_decrypted {
                            *stats.not_decrypted.entry(k).or_insert(0) += v;
                        }
                        let verdict = match (&c.key_problem[i], c.chap.secret_matches) {
                            (Some(p), _) => format!("no keys: {p}"),
                            (None, Some(false)) if d.stats.decrypted == 0 => {
                                WRONG_SECRET.to_string()
                            }
                            (None, _) => d.verdict(),
                        };
                        DirectionReport {
                            direction: end.arrow(),
                            config: Some(d.config),
                            stats,
                            verdict,
                        }
                    }
                    None => DirectionReport {
                        direction: end.arrow(),
                        config: None,
                        stats: c.without_ccp[i].clone(),
                        verdict: if c.without_ccp[i].packets > 0 {
                            "no CCP agreement in the capture".into()
                        } else {
                            "no MPPE".into()
                        },
                    },
                };
                directions.push(report);
            }
            calls.push(CallReport {
                number: c.number,
                ms_chap: c.chap.challenge.as_ref().map(|ch| match ch.len() {
                    8 => 1,
                    _ => 2,
                }),
                secret_matches: c.chap.secret_matches,
                directions,
            });
        }
        for s in self.streams.values() {
            let n = s.notes();
            if n.octets_skipped > 0 {
                self.notes.push(format!(
                    "{} octets of a control stream skipped (not a control message)",
                    n.octets_skipped
                ));
            }
        }
        let report = Report {
            calls,
            counters: self.counters.clone(),
            notes: std::mem::take(&mut self.notes),
            read_error: None,
        };
        let _ = self.out.write_all(summary(&report).as_bytes());
        (report, self.writer.take())
    }
}

/// The summary printed after the transcript.
pub fn summary(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "\nsummary:");
    for c in &r.calls {
        let chap = match c.ms_chap {
            Some(v) => format!("MS-CHAPv{v}"),
            None => "no MS-CHAP exchange seen".into(),
        };
        let secret = match c.secret_matches {
            Some(true) => ", the secret gives the captured NT-Response",
            Some(false) => ", the secret does NOT give the captured NT-Response",
            None => "",
        };
        let _ = writeln!(s, "  call {}: {chap}{secret}", c.number);
        for d in &c.directions {
            if d.stats.packets == 0 && d.config.is_none() {
                continue;
            }
            let mode = d.config.map(|c| c.to_string()).unwrap_or("MPPE".into());
            let _ = writeln!(
                s,
                "    {}: {mode}, {} MPPE packets ({} flushed), {} decrypted, {} not: {}",
                d.direction,
                d.stats.packets,
                d.stats.flushed,
                d.stats.decrypted,
                d.stats.failed(),
                d.verdict
            );
            for (why, n) in &d.stats.not_decrypted {
                let _ = writeln!(s, "      not decrypted: {n} {why}");
            }
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    let k = &r.counters;
    let _ = writeln!(
        s,
        "  records {}, not IPv4 {}, control messages {}, GRE packets {} (bad {}), MPPE packets {}, decrypted {}",
        k.records,
        k.not_ipv4,
        k.control_messages,
        k.gre_packets,
        k.bad_gre,
        r.mppe_packets(),
        r.decrypted()
    );
    s
}

/// The NT password hash of the secret, if there is one.
fn nt_hash(secret: &Secret) -> Option<Zeroizing<[u8; 16]>> {
    if let Some(h) = &secret.nt_hash {
        return Some(h.clone());
    }
    let pw = secret.password.as_ref()?;
    crypto::nt_password_hash(pw.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// Whether the secret gives the captured NT-Response (RFC 2759 §8.1,
/// RFC 2433 §A.5); `None` without a secret or a whole exchange.
fn check_secret(chap: &Chap, secret: &Secret) -> Option<bool> {
    let hash = nt_hash(secret)?;
    let challenge = chap.challenge.as_ref()?;
    let (value, name) = chap.response.as_ref()?;
    let (expected, captured) = match challenge.len() {
        16 => {
            let r = MsChapV2Response::parse(value).ok()?;
            let ac: [u8; 16] = challenge.as_slice().try_into().ok()?;
            (
                crypto::generate_nt_response(&ac, &r.peer_challenge, name, &hash),
                r.nt_response,
            )
        }
        _ => {
            let r = MsChapV1Response::parse(value).ok()?;
            let ch: [u8; 8] = challenge.as_slice().try_into().ok()?;
            (crypto::mschapv1_nt_response(&ch, &hash), r.nt_response)
        }
    };
    Some(bool::from(expected.ct_eq(&captured)))
}

/// The start keys for what `sender` sends, from the call's MS-CHAP
/// exchange and the secret (RFC 3079 §2.4 for MS-CHAPv1, §3.3 for
/// MS-CHAPv2).
fn start_keys(
    chap: &Chap,
    secret: &Secret,
    sender: End,
    config: Config,
) -> Result<Vec<(KeySource, StartKey)>, String> {
    let challenge = chap
        .challenge
        .as_ref()
        .ok_or("no MS-CHAP Challenge in the capture")?;
    let (value, _) = chap
        .response
        .as_ref()
        .ok_or("no MS-CHAP Response in the capture")?;
    let hash = nt_hash(secret).ok_or("give --password or --nt-hash")?;
    let hash_hash = Zeroizing::new(crypto::hash_nt_password_hash(&hash));
    if challenge.len() == 16 {
        let r = MsChapV2Response::parse(value).map_err(|e| e.to_string())?;
        let master = master_key(&hash_hash, &r.nt_response);
        // The authenticator is RFC 3079's server whichever end of the
        // tunnel it is.
        let side = if chap.authenticator == Some(sender) {
            mppe::Side::Server
        } else {
            mppe::Side::Client
        };
        return Ok(vec![(
            KeySource::NtHash,
            asymmetric_start_key(&master, side, true),
        )]);
    }
    let ch: [u8; 8] = challenge
        .as_slice()
        .try_into()
        .map_err(|_| "MS-CHAP challenge of a wrong length")?;
    // RFC 3079 §2.4: one start key for both directions.
    let mut keys = vec![(KeySource::NtHash, mschapv1_start_key(&ch, &hash_hash))];
    // RFC 3079 §2.1: 40/56-bit keys from the LM hash, as Windows does
    // (pppd and Linux use the NT-based key above): try both.
    if config.strength != mppe::KeyStrength::Bits128 {
        if let Some(pw) = &secret.password {
            let lm = Zeroizing::new(crypto::lm_password_hash(pw.as_bytes()));
            keys.push((KeySource::LmHash, mschapv1_lm_start_key(&lm)));
        }
    }
    Ok(keys)
}
