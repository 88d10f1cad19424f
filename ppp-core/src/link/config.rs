//! What the host configures: role, credentials, settings and randomness.

use core::net::Ipv4Addr;

#[cfg(doc)]
use super::Link;
#[cfg(feature = "mppe")]
use crate::auth::MsChapV1Keys;
use crate::auth::{self, AuthenticatorConfig, Method, Name, PeerConfig, Secret};
use crate::fsm;
use crate::ipcp::IpcpConfig;
use crate::lcp::LcpConfig;

/// Which end of the PPP link this is: the one role of ppp-core, used by
/// the link and by IPCP ([`crate::ipcp::Role`] is this type).
///
/// PPP itself (RFC 1661) is symmetric; the roles are those of a dial-in
/// server and its client: who authenticates whom (RFC 1661 §3.5) and who
/// assigns the addresses (RFC 1332 §3.3, RFC 1877). Over PPTP the PPP
/// server is the PPTP server, RFC 2637's PAC (`pptp_core::Role::Server`),
/// and the PPP client the PPTP client, the PNS; the two enums stay apart
/// because they answer different questions (who authenticates and assigns
/// addresses; who answers SCCRQ and Outgoing-Call-Request), and PPP runs
/// without PPTP too. `mppe::keys::Side` is the same end as this for
/// MS-CHAPv2's keys but lives in `mppe`, below this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// The dial-in server (over PPTP the PAC: the PIX, pptpd, RRAS):
    /// authenticates the peer, assigns its address and name servers.
    Server,
    /// The client (over PPTP the PNS: Windows, pptp-linux):
    /// authenticates itself, asks for its address and name servers.
    Client,
}

/// The client's identity.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// User name sent (PAP Peer-ID, CHAP Name).
    pub username: Name,
    /// Password or NT hash (wiped on drop).
    pub secret: Secret,
}

impl Credentials {
    /// Credentials from a user name and a cleartext password.
    pub fn password(
        username: &[u8],
        password: &[u8],
    ) -> Result<Self, auth::credentials::CredentialError> {
        let mut name = Name::new();
        name.extend_from_slice(username).map_err(|_| {
            auth::credentials::CredentialError::BadNameLength {
                length: username.len(),
            }
        })?;
        Ok(Credentials {
            username: name,
            secret: Secret::password(password)?,
        })
    }
}

/// Link settings.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Server or client.
    pub role: Role,
    /// LCP settings, including the authentication lists: the server asks
    /// for [`LcpConfig::auth_required`] in order, the client accepts
    /// [`LcpConfig::auth_allowed`].
    pub lcp: LcpConfig,
    /// Server: the authenticator's timers, name, retries.
    pub authenticator: AuthenticatorConfig,
    /// Client: the peer's timers.
    pub peer: PeerConfig,
    /// Client: who we are. Without it the client refuses to authenticate.
    pub credentials: Option<Credentials>,
    /// Client: on an MS-CHAP Failure that allows a retry ("E=691 R=1"),
    /// keep the link and let the host answer with [`Link::retry_auth`]
    /// (Windows asks the user again). `false`: end at once with 691.
    pub auth_retry: bool,
    /// IPCP settings.
    pub ipcp: IpcpConfig,
    /// Restart timer and counters of IPCP and CCP.
    pub ncp: fsm::Config,
    /// MPPE policy (CCP): `mppe 40|128|auto [required]`, 56-bit,
    /// stateless/stateful.
    #[cfg(feature = "mppe")]
    pub mppe: mppe::Policy,
    /// MS-CHAPv1 with 40/56-bit MPPE: which start key (RFC 3079 §2.1 LM
    /// or §2.4 NT based). Server: the default for every user (a local
    /// store's per-user setting, [`auth::Attributes::mschapv1_keys`],
    /// overrides it); [`MsChapV1Keys::Auto`] decides from the peer's
    /// first packets. Client: what we use ([`MsChapV1Keys::Auto`] is the
    /// NT-based key, as pppd).
    #[cfg(feature = "mppe")]
    pub mschapv1_keys: MsChapV1Keys,
}

impl LinkConfig {
    /// A server offering MS-CHAPv2 then MS-CHAPv1, MPPE 40/128 stateless
    /// (`mppe auto`, not required), our address `local`, DNS `dns`.
    pub fn server(local: Ipv4Addr, dns: [Option<Ipv4Addr>; 2]) -> Self {
        let lcp = LcpConfig::default().with_auth_required(&[Method::MsChapV2, Method::MsChapV1]);
        let authenticator = AuthenticatorConfig {
            max_retries: 0,
            ..AuthenticatorConfig::default()
        };
        LinkConfig {
            role: Role::Server,
            lcp,
            authenticator,
            peer: PeerConfig::default(),
            credentials: None,
            auth_retry: false,
            ipcp: IpcpConfig::server(local, dns),
            ncp: fsm::Config::default(),
            #[cfg(feature = "mppe")]
            mppe: mppe::Policy::pix(mppe::PixEncryption::Auto, false),
            #[cfg(feature = "mppe")]
            mschapv1_keys: MsChapV1Keys::Auto,
        }
    }

    /// The PIX 6.3 dial-in server of the origin document: MS-CHAPv1 only,
    /// the client's ACCM rejected ([`LcpConfig::pix_server`]), our address
    /// `local`, no DNS/NBNS (rejected, as in trace 1), and the PIX's
    /// `vpdn group N ppp encryption mppe 40|128|auto [required]` knob
    /// (`None`: no `mppe` line, CCP answered as in trace 1).
    #[cfg(feature = "mppe")]
    pub fn pix_server(local: Ipv4Addr, encryption: Option<(mppe::PixEncryption, bool)>) -> Self {
        let mut config = LinkConfig::server(local, [None, None]);
        config.lcp = LcpConfig::pix_server();
        config.mppe = match encryption {
            Some((strength, required)) => mppe::Policy::pix(strength, required),
            None => mppe::Policy::disabled(),
        };
        config
    }

    /// A client allowing MS-CHAPv2, MS-CHAPv1, CHAP-MD5 and PAP (in that
    /// order of preference), asking for an address and DNS, accepting
    /// MPPE 40/56/128 stateless (not required).
    pub fn client(credentials: Credentials) -> Self {
        let lcp = LcpConfig::default().with_auth_allowed(&[
            Method::MsChapV2,
            Method::MsChapV1,
            Method::ChapMd5,
            Method::Pap,
        ]);
        LinkConfig {
            role: Role::Client,
            lcp,
            authenticator: AuthenticatorConfig::default(),
            peer: PeerConfig::default(),
            credentials: Some(credentials),
            auth_retry: false,
            ipcp: IpcpConfig::client(),
            ncp: fsm::Config::default(),
            #[cfg(feature = "mppe")]
            mppe: mppe::Policy {
                strengths: mppe::Strengths::ALL,
                ..mppe::Policy::disabled()
            },
            #[cfg(feature = "mppe")]
            mschapv1_keys: MsChapV1Keys::Auto,
        }
    }
}

/// Host randomness the link needs (Sans-IO: the crate has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entropy {
    /// LCP Magic-Number (RFC 1661 §6.4).
    pub magic: u32,
    /// Server: the CHAP challenge (first 8 octets for MS-CHAPv1, all 16
    /// for MS-CHAPv2 and CHAP-MD5). Client: the MS-CHAPv2 Peer-Challenge.
    pub challenge: [u8; 16],
    /// Server: the Identifier of the CHAP Challenge (RFC 1994 §4.1). A
    /// random one, as pppd and Windows use, so that a Response replayed
    /// from another session or an earlier Challenge rarely matches it;
    /// each re-authentication ([`Link::reauthenticate`]) takes a fresh one.
    pub identifier: u8,
}
