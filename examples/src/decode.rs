//! Field-by-field decoding of PPTP control messages, enhanced GRE packets
//! and PPP frames, in the style of the PIX's `debug vpdn packet` / `debug
//! ppp negotiation` output. Used by `pptp-tool decode` (one field per line)
//! and by the demo's transcript (one line per message).
//!
//! Parsing goes through the crates' own wire views (`pptp_core::wire`,
//! `ppp_core::wire`, `mppe::policy`); this module only formats.

use std::fmt::Write as _;

use ppp_core::wire::frame::{protocol, FieldCompression, Frame};
use ppp_core::wire::packet::{Code, OptionIter, Packet};
use pptp_core::wire::control::{ControlMessage, ControlRepr};
use pptp_core::wire::gre::GrePacket;

/// One decoded message: a title (its name) and its fields in wire order,
/// possibly with the message it carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Layer and message name, e.g. `PPTP SCCRQ` or `LCP CONFREQ`.
    pub title: String,
    /// `(field, value)` pairs in wire order.
    pub fields: Vec<(String, String)>,
    /// The message this one carries (GRE → PPP → IP).
    pub inner: Option<Box<Decoded>>,
    /// What could not be decoded in this message (its inner message keeps
    /// its own): a truncated header, a bad option. Also shown as an
    /// `error` field.
    pub problems: Vec<String>,
}

impl Decoded {
    fn new(title: impl Into<String>) -> Self {
        Decoded {
            title: title.into(),
            ..Decoded::default()
        }
    }

    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        self.fields.push((name.to_string(), value.to_string()));
    }

    /// Records something that could not be decoded, as a field and in
    /// [`Decoded::problems`].
    fn problem(&mut self, name: &str, what: impl std::fmt::Display) {
        let what = what.to_string();
        self.field(name, &what);
        self.problems.push(what);
    }

    /// Every problem of this message and the messages it carries,
    /// outermost first, each prefixed by its message's title. Empty when
    /// everything decoded (`pptp-tool decode` exits non-zero otherwise).
    pub fn all_problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {p}", self.title))
            .collect();
        if let Some(inner) = &self.inner {
            out.extend(inner.all_problems());
        }
        out
    }

    /// One line: `TITLE field value, field value ...` (inner messages
    /// follow after ` | `).
    pub fn one_line(&self) -> String {
        let mut s = self.title.clone();
        for (i, (k, v)) in self.fields.iter().enumerate() {
            s.push_str(if i == 0 { " " } else { ", " });
            if k.is_empty() {
                s.push_str(v);
            } else {
                let _ = write!(s, "{k} {v}");
            }
        }
        if let Some(inner) = &self.inner {
            s.push_str(" | ");
            s.push_str(&inner.one_line());
        }
        s
    }

    /// The fields as the PIX's `debug ppp negotiation` prints them after
    /// the message name: ` id 1 len 18 (MAGICNUMBER 0x1234abcd)(PFC)`
    /// (options run together, other fields `name value`).
    pub fn pix_fields(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.fields {
            if k.is_empty() {
                if !(v.starts_with('(') && s.ends_with(')')) {
                    s.push(' ');
                }
                s.push_str(v);
            } else {
                let _ = write!(s, " {k} {v}");
            }
        }
        s
    }

    /// Several lines: the title, then one indented field per line, then
    /// the inner message indented further.
    pub fn multi_line(&self) -> String {
        let mut s = String::new();
        self.write_multi(&mut s, 0);
        s
    }

    fn write_multi(&self, s: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let _ = writeln!(s, "{pad}{}", self.title);
        for (k, v) in &self.fields {
            if k.is_empty() {
                let _ = writeln!(s, "{pad}  {v}");
            } else {
                let _ = writeln!(s, "{pad}  {k:<22} {v}");
            }
        }
        if let Some(inner) = &self.inner {
            inner.write_multi(s, depth + 1);
        }
    }
}

/// What kind of bytes [`decode_auto`] recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A PPTP control message (magic cookie 0x1a2b3c4d).
    PptpControl,
    /// An enhanced GRE packet (version 1, protocol 0x880b).
    Gre,
    /// A PPP frame (with or without `ff 03`).
    Ppp,
    /// Async HDLC-like framing (RFC 1662: `7e`, escapes, FCS-16), as
    /// pppd and pptp-linux's `--nolaunchpppd` stdio carry PPP.
    Hdlc,
    /// A bare IPv4 packet (only with [`decode_as`]: not self-describing).
    Ipv4,
    /// A bare MPPE packet: the 2-octet header (RFC 3078 §3) and the
    /// encrypted data, as carried in PPP protocol 0x00fd (only with
    /// [`decode_as`]).
    Mppe,
}

impl Kind {
    /// The kinds by the names `pptp-tool decode --as` takes.
    pub const NAMES: [(&'static str, Kind); 6] = [
        ("ip", Kind::Ipv4),
        ("mppe", Kind::Mppe),
        ("ppp", Kind::Ppp),
        ("gre", Kind::Gre),
        ("pptp", Kind::PptpControl),
        ("hdlc", Kind::Hdlc),
    ];

    /// The kind named `name` (`ip`, `mppe`, `ppp`, `gre`, `pptp`, `hdlc`).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, k)| k)
    }
}

/// Decodes `bytes` as `kind`, for bytes that do not say what they are (a
/// bare IPv4 packet, an MPPE payload) or that [`decode_auto`] would take
/// for something else.
pub fn decode_as(kind: Kind, bytes: &[u8]) -> Result<Decoded, String> {
    match kind {
        Kind::PptpControl => decode_control(bytes),
        Kind::Gre => decode_gre(bytes),
        Kind::Ppp => decode_ppp(bytes),
        Kind::Hdlc => decode_hdlc(bytes),
        Kind::Ipv4 => Ok(decode_ipv4(bytes)),
        Kind::Mppe => Ok(decode_mppe(bytes)),
    }
}

/// Recognises and decodes a PPTP control message, a GRE packet or a PPP
/// frame.
pub fn decode_auto(bytes: &[u8]) -> Result<(Kind, Decoded), String> {
    if bytes.len() >= 8 && bytes[4..8] == [0x1a, 0x2b, 0x3c, 0x4d] {
        return decode_control(bytes).map(|d| (Kind::PptpControl, d));
    }
    if bytes.len() >= 4 && bytes[1] & 0x07 == 1 && bytes[2..4] == [0x88, 0x0b] {
        return decode_gre(bytes).map(|d| (Kind::Gre, d));
    }
    if bytes.first() == Some(&0x7e) {
        return decode_hdlc(bytes).map(|d| (Kind::Hdlc, d));
    }
    decode_ppp(bytes).map(|d| (Kind::Ppp, d))
}

/// Decodes async HDLC-like framed PPP (RFC 1662 §4): removes flags and
/// escapes (any ACCM), checks the FCS-16, and decodes the first frame;
/// further frames are counted.
pub fn decode_hdlc(bytes: &[u8]) -> Result<Decoded, String> {
    use ppp_core::wire::hdlc::SliceDecoder;
    let mut storage = vec![0u8; bytes.len() + 2];
    let mut decoder = SliceDecoder::new(&mut storage);
    let mut frames: Vec<Result<Vec<u8>, String>> = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let step = decoder.decode(rest);
        if let Some(frame) = step.frame {
            frames.push(frame.map(|f| f.to_vec()).map_err(|e| e.to_string()));
        }
        if step.consumed == 0 {
            break;
        }
        rest = &rest[step.consumed..];
    }
    let first = frames
        .first()
        .cloned()
        .ok_or("HDLC: no complete frame (a closing 7e flag is needed)")?;
    let frame = first.map_err(|e| format!("HDLC: {e}"))?;
    let mut d = Decoded::new("HDLC async (RFC 1662)");
    d.field("wire octets", bytes.len());
    d.field("frame octets", frame.len());
    d.field("FCS-16", "ok");
    if frames.len() > 1 {
        d.field("further frames", frames.len() - 1);
    }
    d.inner = Some(Box::new(
        decode_ppp(&frame).unwrap_or_else(|e| error_node("PPP", &e)),
    ));
    Ok(d)
}

fn name_str(bytes: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(bytes).escape_debug())
}

/// The PIX's short name of a control message type.
pub fn control_name(raw_type: u16) -> &'static str {
    match raw_type {
        1 => "SCCRQ",
        2 => "SCCRP",
        3 => "StopCCRQ",
        4 => "StopCCRP",
        5 => "ECHORQ",
        6 => "ECHORP",
        7 => "OCRQ",
        8 => "OCRP",
        9 => "ICRQ",
        10 => "ICRP",
        11 => "ICCN",
        12 => "CCRQ",
        13 => "CDN",
        14 => "WEN",
        15 => "SLI",
        _ => "unknown",
    }
}

fn version(v: u16) -> String {
    format!("{}.{}", v >> 8, v & 0xff)
}

/// Decodes one PPTP control message (RFC 2637 §2).
pub fn decode_control(bytes: &[u8]) -> Result<Decoded, String> {
    let msg = ControlMessage::new_checked(bytes).map_err(|e| format!("PPTP control: {e}"))?;
    let repr = ControlRepr::parse(&msg);
    let mut d = Decoded::new(format!("PPTP {}", control_name(msg.raw_control_type())));
    d.field("len", msg.length());
    match repr {
        ControlRepr::Sccrq(m) => {
            d.field("ver", version(m.protocol_version));
            d.field("framing caps", m.framing_capabilities.0);
            d.field("bearer caps", m.bearer_capabilities.0);
            d.field("max chan", m.maximum_channels);
            d.field("fw rev", format!("{:#06x}", m.firmware_revision));
            d.field("host", name_str(m.host_name));
            d.field("vendor", name_str(m.vendor_string));
        }
        ControlRepr::Sccrp(m) => {
            d.field("ver", version(m.protocol_version));
            d.field("result", format!("{} ({:?})", u8::from(m.result), m.result));
            d.field("error", format!("{} ({:?})", u8::from(m.error), m.error));
            d.field("framing caps", m.framing_capabilities.0);
            d.field("bearer caps", m.bearer_capabilities.0);
            d.field("max chan", m.maximum_channels);
            d.field("fw rev", format!("{:#06x}", m.firmware_revision));
            d.field("host", name_str(m.host_name));
            d.field("vendor", name_str(m.vendor_string));
        }
        ControlRepr::StopCcrq(m) => {
            d.field("reason", format!("{} ({:?})", u8::from(m.reason), m.reason))
        }
        ControlRepr::StopCcrp(m) => {
            d.field("result", format!("{} ({:?})", u8::from(m.result), m.result));
            d.field("error", format!("{} ({:?})", u8::from(m.error), m.error));
        }
        ControlRepr::EchoRequest(m) => d.field("id", format!("{:#010x}", m.identifier)),
        ControlRepr::EchoReply(m) => {
            d.field("id", format!("{:#010x}", m.identifier));
            d.field("result", format!("{} ({:?})", u8::from(m.result), m.result));
            d.field("error", format!("{} ({:?})", u8::from(m.error), m.error));
        }
        ControlRepr::Ocrq(m) => {
            d.field("call id", m.call_id);
            d.field("serial", m.call_serial_number);
            d.field("min bps", m.minimum_bps);
            d.field("max bps", m.maximum_bps);
            d.field("bearer", m.bearer_type.0);
            d.field("framing", m.framing_type.0);
            d.field("recv window", m.packet_recv_window_size);
            d.field("proc delay", m.packet_processing_delay);
            d.field("phone", name_str(m.phone_number));
        }
        ControlRepr::Ocrp(m) => {
            d.field("call id", m.call_id);
            d.field("peer call id", m.peer_call_id);
            d.field("result", format!("{} ({:?})", u8::from(m.result), m.result));
            d.field("error", format!("{} ({:?})", u8::from(m.error), m.error));
            d.field("cause", m.cause_code);
            d.field("speed", m.connect_speed);
            d.field("recv window", m.packet_recv_window_size);
            d.field("proc delay", m.packet_processing_delay);
            d.field("phys chan", m.physical_channel_id);
        }
        ControlRepr::Icrq(m) => {
            d.field("call id", m.call_id);
            d.field("serial", m.call_serial_number);
            d.field("bearer", m.call_bearer_type.0);
            d.field("phys chan", m.physical_channel_id);
            d.field("dialed", name_str(m.dialed_number));
            d.field("dialing", name_str(m.dialing_number));
        }
        ControlRepr::Icrp(m) => {
            d.field("call id", m.call_id);
            d.field("peer call id", m.peer_call_id);
            d.field("result", format!("{} ({:?})", u8::from(m.result), m.result));
            d.field("error", format!("{} ({:?})", u8::from(m.error), m.error));
            d.field("recv window", m.packet_recv_window_size);
            d.field("xmit delay", m.packet_transmit_delay);
        }
        ControlRepr::Iccn(m) => {
            d.field("peer call id", m.peer_call_id);
            d.field("speed", m.connect_speed);
            d.field("recv window", m.packet_recv_window_size);
            d.field("xmit delay", m.packet_transmit_delay);
            d.field("framing", m.framing_type.0);
        }
        ControlRepr::Ccrq(m) => d.field("call id", m.call_id),
        ControlRepr::Cdn(m) => {
            d.field("call id", m.call_id);
            d.field("result", format!("{} ({:?})", u8::from(m.result), m.result));
            d.field("error", format!("{} ({:?})", u8::from(m.error), m.error));
            d.field("cause", m.cause_code);
            d.field("stats", name_str(m.call_statistics));
        }
        ControlRepr::Wen(m) => {
            d.field("peer call id", m.peer_call_id);
            d.field("crc", m.crc_errors);
            d.field("framing", m.framing_errors);
            d.field("hw overruns", m.hardware_overruns);
            d.field("buf overruns", m.buffer_overruns);
            d.field("timeouts", m.timeout_errors);
            d.field("alignment", m.alignment_errors);
        }
        ControlRepr::Sli(m) => {
            d.field("peer call id", m.peer_call_id);
            d.field("send ACCM", format!("{:#010x}", m.send_accm));
            d.field("recv ACCM", format!("{:#010x}", m.receive_accm));
        }
    }
    Ok(d)
}

/// Decodes an enhanced GRE packet (RFC 2637 §4.1) and the PPP frame in it.
pub fn decode_gre(bytes: &[u8]) -> Result<Decoded, String> {
    let p = GrePacket::new_checked(bytes).map_err(|e| format!("GRE: {e}"))?;
    let mut d = Decoded::new("GRE");
    d.field("flags", format!("{:#06x}", p.flags_word()));
    d.field("ver", p.version());
    d.field("proto", format!("{:#06x}", p.protocol()));
    d.field("payload len", p.payload_len());
    d.field("call id", p.call_id());
    if let Some(s) = p.sequence() {
        d.field("seq", s);
    }
    if let Some(a) = p.ack() {
        d.field("ack", a);
    }
    if !p.payload().is_empty() {
        d.inner = Some(Box::new(
            decode_ppp(p.payload()).unwrap_or_else(|e| error_node("PPP", &e)),
        ));
    } else {
        d.field("", "(ack only)");
    }
    Ok(d)
}

fn error_node(title: &str, e: &str) -> Decoded {
    let mut d = Decoded::new(format!("{title} (undecodable)"));
    d.problem("error", e);
    d
}

/// The PIX's short protocol name.
pub fn protocol_name(p: u16) -> &'static str {
    match p {
        protocol::LCP => "LCP",
        protocol::PAP => "PAP",
        protocol::CHAP => "CHAP",
        protocol::IPCP => "IPCP",
        protocol::CCP => "CCP",
        protocol::IPV4 => "IP",
        protocol::COMPRESSED => "MPPE",
        protocol::IPV6CP => "IPV6CP",
        protocol::IPV6 => "IPV6",
        _ => "PPP",
    }
}

/// The PIX's short name of an LCP/NCP code.
pub fn code_name(code: u8) -> String {
    match Code::from(code) {
        Code::ConfigureRequest => "CONFREQ".into(),
        Code::ConfigureAck => "CONFACK".into(),
        Code::ConfigureNak => "CONFNAK".into(),
        Code::ConfigureReject => "CONFREJ".into(),
        Code::TerminateRequest => "TERMREQ".into(),
        Code::TerminateAck => "TERMACK".into(),
        Code::CodeReject => "CODEREJ".into(),
        Code::ProtocolReject => "PROTREJ".into(),
        Code::EchoRequest => "ECHOREQ".into(),
        Code::EchoReply => "ECHOREP".into(),
        Code::DiscardRequest => "DISCREQ".into(),
        Code::Identification => "IDENT".into(),
        Code::TimeRemaining => "TIMEREM".into(),
        Code::ResetRequest => "RESETREQ".into(),
        Code::ResetAck => "RESETACK".into(),
        _ => format!("CODE{code}"),
    }
}

/// Decodes a PPP frame (address/control optional, protocol compressed or
/// not).
pub fn decode_ppp(bytes: &[u8]) -> Result<Decoded, String> {
    let frame = Frame::parse(bytes, FieldCompression::BOTH).map_err(|e| format!("PPP: {e}"))?;
    Ok(decode_ppp_payload(frame.protocol, frame.information))
}

/// Decodes a PPP information field of protocol `proto`.
pub fn decode_ppp_payload(proto: u16, info: &[u8]) -> Decoded {
    match proto {
        protocol::LCP | protocol::IPCP | protocol::CCP => decode_control_protocol(proto, info)
            .unwrap_or_else(|e| error_node(protocol_name(proto), &e)),
        protocol::PAP => decode_pap(info).unwrap_or_else(|e| error_node("PAP", &e)),
        protocol::CHAP => decode_chap(info).unwrap_or_else(|e| error_node("CHAP", &e)),
        protocol::COMPRESSED => decode_mppe(info),
        protocol::IPV4 => decode_ipv4(info),
        other => {
            let mut d = Decoded::new(format!("PPP proto {other:#06x}"));
            d.field("len", info.len());
            d
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

fn be16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(..2)?.try_into().ok()?))
}

fn decode_control_protocol(proto: u16, info: &[u8]) -> Result<Decoded, String> {
    let p = Packet::new_checked(info).map_err(|e| e.to_string())?;
    let code = p.code_octet();
    let mut d = Decoded::new(format!("{} {}", protocol_name(proto), code_name(code)));
    d.field("id", p.identifier());
    d.field("len", p.length());
    let data = p.data();
    match Code::from(code) {
        Code::ConfigureRequest
        | Code::ConfigureAck
        | Code::ConfigureNak
        | Code::ConfigureReject => {
            if data.is_empty() {
                d.field("", "(no options)");
            }
            for opt in OptionIter::new(data) {
                match opt {
                    Ok(o) => d.field("", format!("({})", option_text(proto, o.kind, o.data))),
                    Err(e) => d.problem("bad option", e),
                }
            }
        }
        Code::TerminateRequest | Code::TerminateAck => {
            if !data.is_empty() {
                d.field("data", name_str(data));
            }
        }
        Code::EchoRequest | Code::EchoReply | Code::DiscardRequest => {
            if let Some(m) = be32(data) {
                d.field("magic", format!("{m:#010x}"));
            }
        }
        Code::Identification => {
            if let Some(m) = be32(data) {
                d.field("magic", format!("{m:#010x}"));
                d.field("message", name_str(&data[4..]));
            }
        }
        Code::TimeRemaining => {
            if let (Some(m), Some(s)) = (be32(data), data.get(4..).and_then(be32)) {
                d.field("magic", format!("{m:#010x}"));
                d.field("seconds", s);
            }
        }
        Code::ProtocolReject => {
            if let Some(rp) = be16(data) {
                d.field(
                    "rejected proto",
                    format!("{rp:#06x} ({})", protocol_name(rp)),
                );
            }
        }
        Code::CodeReject => {
            if let Some(c) = data.first() {
                d.field("rejected code", c);
            }
        }
        _ => {
            if !data.is_empty() {
                d.field("data", hex(data));
            }
        }
    }
    Ok(d)
}

/// One configuration option as the PIX prints it, e.g. `MAGICNUMBER
/// 0x1234abcd` or `AUTHTYPE MS-CHAP-V2`.
pub fn option_text(proto: u16, kind: u8, data: &[u8]) -> String {
    match (proto, kind) {
        (protocol::LCP, 1) => be16(data).map_or("MRU ?".into(), |v| format!("MRU {v}")),
        (protocol::LCP, 2) => be32(data).map_or("ACCM ?".into(), |v| format!("ACCM {v:#010x}")),
        (protocol::LCP, 3) => match (be16(data), data.get(2)) {
            (Some(0xc023), _) => "AUTHTYPE PAP".into(),
            (Some(0xc223), Some(5)) => "AUTHTYPE CHAP-MD5".into(),
            (Some(0xc223), Some(0x80)) => "AUTHTYPE MS-CHAP".into(),
            (Some(0xc223), Some(0x81)) => "AUTHTYPE MS-CHAP-V2".into(),
            _ => format!("AUTHTYPE {}", hex(data)),
        },
        (protocol::LCP, 4) => format!("QUALITY {}", hex(data)),
        (protocol::LCP, 5) => {
            be32(data).map_or("MAGICNUMBER ?".into(), |v| format!("MAGICNUMBER {v:#010x}"))
        }
        (protocol::LCP, 7) => "PFC".into(),
        (protocol::LCP, 8) => "ACFC".into(),
        (protocol::LCP, 13) => format!("CALLBACK {}", hex(data)),
        (protocol::LCP, 17) => be16(data).map_or("MRRU ?".into(), |v| format!("MRRU {v}")),
        (protocol::LCP, 19) => format!("ENDPOINT {}", hex(data)),
        (protocol::IPCP, 2) => format!("IPCOMPRESSION {}", hex(data)),
        (protocol::IPCP, 3 | 129 | 130 | 131 | 132) => {
            let name = match kind {
                3 => "ADDRESS",
                129 => "PRIMARYDNS",
                130 => "PRIMARYWINS",
                131 => "SECONDARYDNS",
                _ => "SECONDARYWINS",
            };
            match data {
                [a, b, c, e] => format!("{name} {a}.{b}.{c}.{e}"),
                _ => format!("{name} {}", hex(data)),
            }
        }
        (protocol::CCP, 18) => match mppe::SupportedBits::parse(data) {
            Ok(bits) => {
                let s = bits.strengths();
                let mut names = Vec::new();
                for (k, n) in [
                    (mppe::KeyStrength::Bits40, "40"),
                    (mppe::KeyStrength::Bits56, "56"),
                    (mppe::KeyStrength::Bits128, "128"),
                ] {
                    if s.contains(k) {
                        names.push(n);
                    }
                }
                format!(
                    "MPPE {:#010x} {}{}",
                    bits.0,
                    if bits.stateless() {
                        "stateless"
                    } else {
                        "stateful"
                    },
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(" {}-bit", names.join("/"))
                    }
                )
            }
            Err(e) => format!("MPPE bad: {e}"),
        },
        (protocol::CCP, 17) => format!("STAC-LZS {}", hex(data)),
        (protocol::CCP, 0) => format!("OUI {}", hex(data)),
        _ => format!("TYPE{kind} {}", hex(data)),
    }
}

fn decode_pap(info: &[u8]) -> Result<Decoded, String> {
    let p = Packet::new_checked(info).map_err(|e| e.to_string())?;
    let (code, data) = (p.code_octet(), p.data());
    let name = match code {
        1 => "AUTH-REQ",
        2 => "AUTH-ACK",
        3 => "AUTH-NAK",
        _ => "?",
    };
    let mut d = Decoded::new(format!("PAP {name}"));
    d.field("id", p.identifier());
    d.field("len", p.length());
    match code {
        1 => {
            let ulen = *data.first().ok_or("truncated")? as usize;
            let user = data.get(1..1 + ulen).ok_or("user truncated")?;
            let plen = *data.get(1 + ulen).ok_or("truncated")? as usize;
            data.get(2 + ulen..2 + ulen + plen)
                .ok_or("password truncated")?;
            d.field("peer-id", name_str(user));
            d.field("password", format!("<{plen} octets hidden>"));
        }
        2 | 3 => {
            let mlen = data.first().copied().unwrap_or(0) as usize;
            d.field("message", name_str(data.get(1..1 + mlen).unwrap_or(&[])));
        }
        _ => {}
    }
    Ok(d)
}

fn decode_chap(info: &[u8]) -> Result<Decoded, String> {
    let p = Packet::new_checked(info).map_err(|e| e.to_string())?;
    let (code, data) = (p.code_octet(), p.data());
    let name = match code {
        1 => "CHALLENGE",
        2 => "RESPONSE",
        3 => "SUCCESS",
        4 => "FAILURE",
        _ => "?",
    };
    let mut d = Decoded::new(format!("CHAP {name}"));
    d.field("id", p.identifier());
    d.field("len", p.length());
    match code {
        1 | 2 => {
            let vlen = *data.first().ok_or("truncated")? as usize;
            let value = data.get(1..1 + vlen).ok_or("value truncated")?;
            let peer_name = &data[1 + vlen..];
            d.field("value size", vlen);
            match (code, vlen) {
                (1, _) => d.field("challenge", hex(value)),
                (2, 16) => d.field("response (MD5)", hex(value)),
                (2, 49)
                    if value[16..24].iter().all(|&b| b == 0)
                        && value[..16].iter().any(|&b| b != 0) =>
                {
                    d.field("peer-challenge (MS-CHAPv2)", hex(&value[..16]));
                    d.field("nt-response", hex(&value[24..48]));
                    d.field("flags", value[48]);
                }
                (2, 49) => {
                    d.field("lm-response (MS-CHAPv1)", hex(&value[..24]));
                    d.field("nt-response", hex(&value[24..48]));
                    d.field("use-nt flag", value[48]);
                }
                _ => d.field("value", hex(value)),
            }
            d.field("name", name_str(peer_name));
        }
        3 | 4 => d.field("message", name_str(data)),
        _ => {}
    }
    Ok(d)
}

fn decode_mppe(info: &[u8]) -> Decoded {
    let mut d = Decoded::new("MPPE");
    match be16(info) {
        Some(h) => {
            let mut flags = Vec::new();
            for (bit, n) in [
                (0x8000, "A(flushed)"),
                (0x4000, "B"),
                (0x2000, "C"),
                (0x1000, "D(encrypted)"),
            ] {
                if h & bit != 0 {
                    flags.push(n);
                }
            }
            d.field("header", format!("{h:#06x}"));
            d.field("flags", flags.join(" "));
            d.field("coherency count", h & 0x0fff);
            d.field("encrypted len", info.len() - 2);
        }
        None => d.problem("error", "truncated MPPE header"),
    }
    d
}

/// Decodes an IPv4 header and an ICMP echo inside it.
pub fn decode_ipv4(p: &[u8]) -> Decoded {
    let mut d = Decoded::new("IPv4");
    if p.len() < 20 || p[0] >> 4 != 4 {
        d.problem("error", "not an IPv4 header");
        return d;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < 20 || total < ihl {
        d.problem(
            "error",
            format!("header length {ihl}, total length {total}"),
        );
        return d;
    }
    if total > p.len() {
        // RFC 791 §3.1: Total Length counts the header and the data.
        d.problem(
            "error",
            format!(
                "truncated: total length {total}, {} octets present",
                p.len()
            ),
        );
    }
    d.field("src", std::net::Ipv4Addr::new(p[12], p[13], p[14], p[15]));
    d.field("dst", std::net::Ipv4Addr::new(p[16], p[17], p[18], p[19]));
    d.field("len", u16::from_be_bytes([p[2], p[3]]));
    d.field("ttl", p[8]);
    d.field("proto", p[9]);
    let sum_ok = crate::pcap::internet_checksum(&p[..ihl.min(p.len())]) == 0;
    d.field("hdr cksum", if sum_ok { "ok" } else { "BAD" });
    if p[9] == 1 && p.len() < ihl + 8 && total >= ihl + 8 {
        d.problem("error", "truncated ICMP header");
    }
    if p[9] == 1 && p.len() >= ihl + 8 {
        let icmp = &p[ihl..];
        let kind = match icmp[0] {
            0 => "echo-reply",
            8 => "echo-request",
            _ => "icmp",
        };
        let mut i = Decoded::new(format!("ICMP {kind}"));
        i.field("id", u16::from_be_bytes([icmp[4], icmp[5]]));
        i.field("seq", u16::from_be_bytes([icmp[6], icmp[7]]));
        i.field(
            "cksum",
            if crate::pcap::internet_checksum(icmp) == 0 {
                "ok"
            } else {
                "BAD"
            },
        );
        i.field("data len", icmp.len() - 8);
        d.inner = Some(Box::new(i));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcp_confreq_with_options() {
        let f = [
            0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x0c, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78,
            0x07, 0x02,
        ];
        let (kind, d) = decode_auto(&f).unwrap();
        assert_eq!(kind, Kind::Ppp);
        assert_eq!(d.title, "LCP CONFREQ");
        assert!(
            d.one_line().contains("(MAGICNUMBER 0x12345678), (PFC)"),
            "{}",
            d.one_line()
        );
        assert_eq!(d.pix_fields(), " id 1 len 12 (MAGICNUMBER 0x12345678)(PFC)");
    }

    #[test]
    fn hdlc_framed_lcp_decodes_and_a_bad_fcs_is_an_error() {
        use ppp_core::wire::hdlc::Encoder;
        let frame = [
            0xff, 0x03, 0xc0, 0x21, 0x09, 0x02, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78,
        ];
        let mut wire = [0u8; 64];
        let n = Encoder::new(0xffff_ffff).encode(&frame, &mut wire).unwrap();
        let (kind, d) = decode_auto(&wire[..n]).unwrap();
        assert_eq!(kind, Kind::Hdlc);
        assert_eq!(d.inner.as_ref().unwrap().title, "LCP ECHOREQ");
        // Flip an octet inside the frame: the FCS no longer matches.
        let mut bad = wire[..n].to_vec();
        bad[6] ^= 0x01;
        assert!(decode_auto(&bad).unwrap_err().contains("HDLC"));
        assert!(decode_auto(&[0x7e, 0xff, 0x03]).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0xff],
            &[0xff, 0x03, 0xc0],
            &[0x30, 0x81, 0x88, 0x0b, 0, 0],
        ] {
            let _ = decode_auto(bad);
        }
        assert!(decode_auto(&[0x00, 0x10, 0x00, 0x01, 0x1a, 0x2b, 0x3c, 0x4d]).is_err());
    }
}
