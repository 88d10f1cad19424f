//! IPCP, the IP Control Protocol (RFC 1332), with RFC 1877 DNS/NBNS
//! options, and the server's address pool.
//!
//! [`IpcpOptions`] is the [`OptionHandler`] the link plugs into the shared
//! [`crate::fsm`] automaton, in one of two roles:
//!
//! - **Server** (the PIX): requests its own IP-Address; gives the peer the
//!   address the host allocated from its [`AddressPool`] (set with
//!   [`IpcpOptions::set_peer_address`]) by Nak'ing 0.0.0.0 or any other
//!   value; Naks the RFC 1877 DNS (129, 131) and NBNS (130, 132) options
//!   with the configured servers and Rejects those not configured (as the
//!   PIX did in the origin document's trace); Rejects IP-Compression-
//!   Protocol (2, Van Jacobson) and the deprecated IP-Addresses (1).
//! - **Client** (Windows, pppd): requests 0.0.0.0 (or a configured
//!   address) and, optionally, DNS/NBNS as 0.0.0.0; takes the values the
//!   server Naks; drops options the server Rejects; accepts the server's
//!   own non-zero IP-Address.
//!
//! The negotiated addresses are in [`IpcpOptions::negotiated`] once the
//! layer is up.

use core::net::Ipv4Addr;

use crate::fsm::{OptionHandler, Options, Progress, ResponseBuilder, Verdict};
use crate::wire::frame::protocol;
use crate::wire::packet::{OptionWriter, RawOption};
use crate::wire::Error as WireError;

pub mod pool;

pub use pool::{AddressPool, PoolError};

/// IPCP option types.
pub mod option_type {
    /// IP-Addresses (RFC 1172, deprecated by RFC 1332 §3.1).
    pub const IP_ADDRESSES: u8 = 1;
    /// IP-Compression-Protocol (RFC 1332 §3.2; Van Jacobson).
    pub const IP_COMPRESSION_PROTOCOL: u8 = 2;
    /// IP-Address (RFC 1332 §3.3).
    pub const IP_ADDRESS: u8 = 3;
    /// Primary-DNS-Server-Address (RFC 1877 §1.1).
    pub const PRIMARY_DNS: u8 = 129;
    /// Primary-NBNS-Server-Address (RFC 1877 §1.2).
    pub const PRIMARY_NBNS: u8 = 130;
    /// Secondary-DNS-Server-Address (RFC 1877 §1.3).
    pub const SECONDARY_DNS: u8 = 131;
    /// Secondary-NBNS-Server-Address (RFC 1877 §1.4).
    pub const SECONDARY_NBNS: u8 = 132;
}

use option_type::*;

/// Which end of IPCP this is: the link's role (the server assigns the
/// peer's address and name servers, the client asks for them), one enum
/// for both.
pub use crate::link::Role;

/// IPCP settings.
// No defmt::Format: core::net::Ipv4Addr has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcpConfig {
    /// Our own IP-Address to request. Server: its tunnel address (the PIX
    /// sent its outside address 99.99.99.2). Client: `None` requests
    /// 0.0.0.0 (the server assigns).
    pub local_address: Option<Ipv4Addr>,
    /// Server: primary and secondary DNS given to clients (RFC 1877);
    /// `None` rejects the option. Client: ignored.
    pub dns: [Option<Ipv4Addr>; 2],
    /// Server: primary and secondary NBNS (WINS) given to clients.
    pub nbns: [Option<Ipv4Addr>; 2],
    /// Client: ask for primary and secondary DNS.
    pub request_dns: bool,
    /// Client: ask for primary and secondary NBNS.
    pub request_nbns: bool,
}

impl IpcpConfig {
    /// Server settings with our address and DNS servers.
    pub fn server(local_address: Ipv4Addr, dns: [Option<Ipv4Addr>; 2]) -> Self {
        IpcpConfig {
            local_address: Some(local_address),
            dns,
            ..IpcpConfig::default()
        }
    }

    /// Client settings asking for an address and the DNS servers.
    pub fn client() -> Self {
        IpcpConfig {
            request_dns: true,
            ..IpcpConfig::default()
        }
    }
}

/// What IPCP agreed.
// No defmt::Format: core::net::Ipv4Addr has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcpNegotiated {
    /// Our address (the peer acknowledged it).
    pub local_address: Option<Ipv4Addr>,
    /// The peer's address (we acknowledged it).
    pub peer_address: Option<Ipv4Addr>,
    /// Client: primary and secondary DNS the server gave. Server: the
    /// values the client acknowledged asking for.
    pub dns: [Option<Ipv4Addr>; 2],
    /// NBNS likewise.
    pub nbns: [Option<Ipv4Addr>; 2],
}

impl IpcpNegotiated {
    const EMPTY: IpcpNegotiated = IpcpNegotiated {
        local_address: None,
        peer_address: None,
        dns: [None, None],
        nbns: [None, None],
    };
}

const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// The name-server options, in request order, with their slot.
const NAME_SERVERS: [(u8, bool, usize); 4] = [
    (PRIMARY_DNS, true, 0),
    (PRIMARY_NBNS, false, 0),
    (SECONDARY_DNS, true, 1),
    (SECONDARY_NBNS, false, 1),
];

fn name_server_slot(kind: u8) -> Option<(bool, usize)> {
    NAME_SERVERS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, dns, slot)| (*dns, *slot))
}

fn addr(data: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = data.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// What a parked link keeps of an Opened IPCP handler (see
/// [`crate::link::ParkedLink`]): the settings (DNS and NBNS may have come
/// from AAA), the assigned address and what was agreed. The wishes are
/// not kept: a Configure-Request from Opened starts from the settings
/// again (RFC 1661 §4.1, scr after tld).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParkedIpcp {
    role: Role,
    config: IpcpConfig,
    assigned_peer: Option<Ipv4Addr>,
    negotiated: IpcpNegotiated,
    acked_peer: IpcpNegotiated,
}

impl ParkedIpcp {
    /// What was agreed.
    pub(crate) fn negotiated(&self) -> &IpcpNegotiated {
        &self.negotiated
    }

    /// Server: the address assigned to the peer.
    pub(crate) fn assigned_peer_address(&self) -> Option<Ipv4Addr> {
        self.assigned_peer
    }
}

/// The IPCP option handler (both roles).
#[derive(Clone, Debug)]
pub struct IpcpOptions {
    role: Role,
    config: IpcpConfig,
    /// Server: the address the host assigned to the peer.
    assigned_peer: Option<Ipv4Addr>,
    /// Our request as it stands: `None` = option dropped (rejected).
    want_address: Option<Ipv4Addr>,
    want_dns: [Option<Ipv4Addr>; 2],
    want_nbns: [Option<Ipv4Addr>; 2],
    negotiated: IpcpNegotiated,
    /// Peer values of the request being judged (committed on Ack).
    pending_peer: IpcpNegotiated,
    /// Peer values of the last request we Acked. Kept apart from
    /// `negotiated` because RFC 1661 §4.1 runs `tld` *after* judging a
    /// Configure-Request that arrives in Opened (renegotiation): the
    /// values Acked there must survive that layer-down and come back at
    /// `tlu`.
    acked_peer: IpcpNegotiated,
}

impl IpcpOptions {
    fn commit_acked_peer(&mut self) {
        self.negotiated.peer_address = self.acked_peer.peer_address;
        if self.role == Role::Server {
            self.negotiated.dns = self.acked_peer.dns;
            self.negotiated.nbns = self.acked_peer.nbns;
        }
    }

    /// A handler for `role`.
    pub fn new(role: Role, config: IpcpConfig) -> Self {
        let mut h = IpcpOptions {
            role,
            config,
            assigned_peer: None,
            want_address: None,
            want_dns: [None, None],
            want_nbns: [None, None],
            negotiated: IpcpNegotiated::EMPTY,
            pending_peer: IpcpNegotiated::EMPTY,
            acked_peer: IpcpNegotiated::EMPTY,
        };
        h.restore_wishes();
        h
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &IpcpConfig {
        &self.config
    }

    /// Server: the address the peer must use (from the host's pool or an
    /// AAA Framed-IP-Address). `None`: no address to give; the peer's
    /// IP-Address option is then rejected.
    pub fn set_peer_address(&mut self, address: Option<Ipv4Addr>) {
        self.assigned_peer = address;
    }

    /// The parked form (see [`ParkedIpcp`]).
    pub(crate) fn park(&self) -> ParkedIpcp {
        ParkedIpcp {
            role: self.role,
            config: self.config,
            assigned_peer: self.assigned_peer,
            negotiated: self.negotiated,
            acked_peer: self.acked_peer,
        }
    }

    /// The handler rebuilt from its parked form.
    pub(crate) fn restore(parked: ParkedIpcp) -> Self {
        let mut handler = IpcpOptions::new(parked.role, parked.config);
        handler.assigned_peer = parked.assigned_peer;
        handler.negotiated = parked.negotiated;
        handler.acked_peer = parked.acked_peer;
        handler
    }

    /// Server: the address assigned with [`IpcpOptions::set_peer_address`].
    pub fn assigned_peer_address(&self) -> Option<Ipv4Addr> {
        self.assigned_peer
    }

    /// Server: overrides the DNS servers given to the peer (e.g. from an
    /// AAA Accept).
    pub fn set_dns(&mut self, dns: [Option<Ipv4Addr>; 2]) {
        self.config.dns = dns;
    }

    /// Server: overrides the NBNS (WINS) servers given to the peer (e.g.
    /// from an AAA Accept).
    pub fn set_nbns(&mut self, nbns: [Option<Ipv4Addr>; 2]) {
        self.config.nbns = nbns;
    }

    /// What has been agreed so far (complete once the layer is up).
    pub fn negotiated(&self) -> &IpcpNegotiated {
        &self.negotiated
    }

    fn restore_wishes(&mut self) {
        self.want_address = Some(self.config.local_address.unwrap_or(ZERO));
        let dns = self.role == Role::Client && self.config.request_dns;
        let nbns = self.role == Role::Client && self.config.request_nbns;
        self.want_dns = if dns { [Some(ZERO); 2] } else { [None; 2] };
        self.want_nbns = if nbns { [Some(ZERO); 2] } else { [None; 2] };
    }

    fn want_slot(&mut self, kind: u8) -> Option<&mut Option<Ipv4Addr>> {
        let (dns, slot) = name_server_slot(kind)?;
        let list = if dns {
            &mut self.want_dns
        } else {
            &mut self.want_nbns
        };
        list.get_mut(slot)
    }

    fn judge_server(&mut self, opt: RawOption<'_>, response: &mut ResponseBuilder) {
        match opt.kind {
            IP_ADDRESS => match (addr(opt.data), self.assigned_peer) {
                (Some(a), Some(assigned)) if a == assigned => {
                    self.pending_peer.peer_address = Some(a)
                }
                // RFC 1332 §3.3: Nak 0.0.0.0 (or a wrong address) with the
                // address the peer must use (the PIX's pool address).
                (Some(_), Some(assigned)) => response.nak(opt, IP_ADDRESS, &assigned.octets()),
                _ => response.reject(opt),
            },
            kind => match (name_server_slot(kind), addr(opt.data)) {
                (Some((dns, slot)), Some(a)) => {
                    let list = if dns {
                        self.config.dns
                    } else {
                        self.config.nbns
                    };
                    match list.get(slot).copied().flatten() {
                        Some(ours) if ours == a => {
                            let pending = if dns {
                                &mut self.pending_peer.dns
                            } else {
                                &mut self.pending_peer.nbns
                            };
                            if let Some(p) = pending.get_mut(slot) {
                                *p = Some(a);
                            }
                        }
                        Some(ours) => response.nak(opt, kind, &ours.octets()),
                        // RFC 1877 §1: a server without the value rejects
                        // the option (the PIX rejected 129 and 130).
                        None => response.reject(opt),
                    }
                }
                // VJ compression (2), IP-Addresses (1), malformed lengths
                // and unknown options.
                _ => response.reject(opt),
            },
        }
    }

    fn judge_client(&mut self, opt: RawOption<'_>, response: &mut ResponseBuilder) {
        match (opt.kind, addr(opt.data)) {
            // The server's own address: accept any real one. A server
            // asking us to assign it one (0.0.0.0) gets a Reject: a client
            // has nothing to give.
            (IP_ADDRESS, Some(a)) if a != ZERO => self.pending_peer.peer_address = Some(a),
            _ => response.reject(opt),
        }
    }
}

impl OptionHandler for IpcpOptions {
    fn protocol(&self) -> u16 {
        protocol::IPCP
    }

    fn reset_request(&mut self) {
        self.restore_wishes();
    }

    fn build_request(&mut self, out: &mut OptionWriter<'_>) -> Result<(), WireError> {
        if let Some(a) = self.want_address {
            out.push(IP_ADDRESS, &a.octets())?;
        }
        for (kind, dns, slot) in NAME_SERVERS {
            let list = if dns { &self.want_dns } else { &self.want_nbns };
            if let Some(Some(a)) = list.get(slot) {
                out.push(kind, &a.octets())?;
            }
        }
        Ok(())
    }

    fn process_request(&mut self, options: Options<'_>, response: &mut ResponseBuilder) {
        self.pending_peer = IpcpNegotiated::EMPTY;
        let mut saw_address = false;
        for opt in options.iter() {
            saw_address |= opt.kind == IP_ADDRESS;
            match self.role {
                Role::Server => self.judge_server(opt, response),
                Role::Client => self.judge_client(opt, response),
            }
        }
        // RFC 1332 §3.3: a peer that does not ask for an address is
        // prompted with the one it must use.
        if self.role == Role::Server && !saw_address {
            if let Some(assigned) = self.assigned_peer {
                response.nak_unrequested(IP_ADDRESS, &assigned.octets());
            }
        }
        if response.verdict() == Verdict::Ack {
            self.acked_peer = self.pending_peer;
            self.commit_acked_peer();
        }
    }

    fn on_ack(&mut self, _options: Options<'_>) {
        self.negotiated.local_address = self.want_address.filter(|a| *a != ZERO);
        if self.role == Role::Client {
            self.negotiated.dns = self.want_dns.map(|a| a.filter(|a| *a != ZERO));
            self.negotiated.nbns = self.want_nbns.map(|a| a.filter(|a| *a != ZERO));
        }
    }

    fn on_nak(&mut self, options: Options<'_>) -> Progress {
        for opt in options.iter() {
            let Some(a) = addr(opt.data) else { continue };
            if a == ZERO {
                continue;
            }
            match opt.kind {
                // Take the address the peer assigns only when we asked to
                // be given one; a fixed address of ours stays.
                IP_ADDRESS if self.config.local_address.is_none() => self.want_address = Some(a),
                kind => {
                    // Name servers: only those we asked for.
                    if let Some(slot) = self.want_slot(kind) {
                        if slot.is_some() {
                            *slot = Some(a);
                        }
                    }
                }
            }
        }
        Progress::Continue
    }

    fn on_reject(&mut self, options: Options<'_>) -> Progress {
        for opt in options.iter() {
            if opt.kind == IP_ADDRESS {
                self.want_address = None;
            } else if let Some(slot) = self.want_slot(opt.kind) {
                *slot = None;
            }
        }
        Progress::Continue
    }

    fn this_layer_up(&mut self) {
        self.commit_acked_peer();
    }

    fn this_layer_down(&mut self) {
        let keep = self.negotiated;
        self.negotiated = IpcpNegotiated {
            local_address: None,
            peer_address: None,
            ..keep
        };
    }
}

#[cfg(test)]
mod tests;
