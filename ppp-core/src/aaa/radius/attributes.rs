//! RADIUS attribute numbers and enumerated values used by a PPTP NAS.

/// User-Name (RFC 2865 §5.1).
pub const USER_NAME: u8 = 1;
/// User-Password (RFC 2865 §5.2), hidden with the shared secret.
pub const USER_PASSWORD: u8 = 2;
/// CHAP-Password (RFC 2865 §5.3): CHAP Ident + 16-octet response.
pub const CHAP_PASSWORD: u8 = 3;
/// NAS-IP-Address (RFC 2865 §5.4).
pub const NAS_IP_ADDRESS: u8 = 4;
/// NAS-Port (RFC 2865 §5.5).
pub const NAS_PORT: u8 = 5;
/// Service-Type (RFC 2865 §5.6).
pub const SERVICE_TYPE: u8 = 6;
/// Framed-Protocol (RFC 2865 §5.7).
pub const FRAMED_PROTOCOL: u8 = 7;
/// Framed-IP-Address (RFC 2865 §5.8).
pub const FRAMED_IP_ADDRESS: u8 = 8;
/// Reply-Message (RFC 2865 §5.18).
pub const REPLY_MESSAGE: u8 = 18;
/// Class (RFC 2865 §5.25), echoed in accounting.
pub const CLASS: u8 = 25;
/// Vendor-Specific (RFC 2865 §5.26).
pub const VENDOR_SPECIFIC: u8 = 26;
/// Session-Timeout (RFC 2865 §5.27).
pub const SESSION_TIMEOUT: u8 = 27;
/// Idle-Timeout (RFC 2865 §5.28).
pub const IDLE_TIMEOUT: u8 = 28;
/// Called-Station-Id (RFC 2865 §5.30).
pub const CALLED_STATION_ID: u8 = 30;
/// Calling-Station-Id (RFC 2865 §5.31): for PPTP the client's address.
pub const CALLING_STATION_ID: u8 = 31;
/// NAS-Identifier (RFC 2865 §5.32).
pub const NAS_IDENTIFIER: u8 = 32;
/// Acct-Status-Type (RFC 2866 §5.1).
pub const ACCT_STATUS_TYPE: u8 = 40;
/// Acct-Delay-Time (RFC 2866 §5.2).
pub const ACCT_DELAY_TIME: u8 = 41;
/// Acct-Input-Octets (RFC 2866 §5.3).
pub const ACCT_INPUT_OCTETS: u8 = 42;
/// Acct-Output-Octets (RFC 2866 §5.4).
pub const ACCT_OUTPUT_OCTETS: u8 = 43;
/// Acct-Session-Id (RFC 2866 §5.5).
pub const ACCT_SESSION_ID: u8 = 44;
/// Acct-Authentic (RFC 2866 §5.6).
pub const ACCT_AUTHENTIC: u8 = 45;
/// Acct-Session-Time (RFC 2866 §5.7).
pub const ACCT_SESSION_TIME: u8 = 46;
/// Acct-Input-Packets (RFC 2866 §5.8).
pub const ACCT_INPUT_PACKETS: u8 = 47;
/// Acct-Output-Packets (RFC 2866 §5.9).
pub const ACCT_OUTPUT_PACKETS: u8 = 48;
/// Acct-Terminate-Cause (RFC 2866 §5.10).
pub const ACCT_TERMINATE_CAUSE: u8 = 49;
/// Acct-Input-Gigawords (RFC 2869 §5.1).
pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
/// Acct-Output-Gigawords (RFC 2869 §5.2).
pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
/// Event-Timestamp (RFC 2869 §5.3).
pub const EVENT_TIMESTAMP: u8 = 55;
/// CHAP-Challenge (RFC 2865 §5.40).
pub const CHAP_CHALLENGE: u8 = 60;
/// NAS-Port-Type (RFC 2865 §5.41).
pub const NAS_PORT_TYPE: u8 = 61;
/// Tunnel-Type (RFC 2868 §3.1), tagged.
pub const TUNNEL_TYPE: u8 = 64;
/// Tunnel-Medium-Type (RFC 2868 §3.2), tagged.
pub const TUNNEL_MEDIUM_TYPE: u8 = 65;
/// Tunnel-Client-Endpoint (RFC 2868 §3.3), tagged.
pub const TUNNEL_CLIENT_ENDPOINT: u8 = 66;
/// Message-Authenticator (RFC 3579 §3.2): HMAC-MD5 over the packet.
pub const MESSAGE_AUTHENTICATOR: u8 = 80;

/// Service-Type Framed (RFC 2865 §5.6).
pub const SERVICE_TYPE_FRAMED: u32 = 2;
/// Framed-Protocol PPP (RFC 2865 §5.7).
pub const FRAMED_PROTOCOL_PPP: u32 = 1;
/// NAS-Port-Type Virtual (RFC 2865 §5.41): a tunnelled session.
pub const NAS_PORT_TYPE_VIRTUAL: u32 = 5;
/// Tunnel-Type PPTP (RFC 2868 §3.1).
pub const TUNNEL_TYPE_PPTP: u32 = 1;
/// Tunnel-Medium-Type IPv4 (RFC 2868 §3.2).
pub const TUNNEL_MEDIUM_IPV4: u32 = 1;
/// Acct-Authentic RADIUS (RFC 2866 §5.6).
pub const ACCT_AUTHENTIC_RADIUS: u32 = 1;

/// The 4-octet big-endian value of an integer attribute.
pub fn integer(value: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = value.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// The value of an IPv4 address attribute.
pub fn ipv4(value: &[u8]) -> Option<core::net::Ipv4Addr> {
    let bytes: [u8; 4] = value.try_into().ok()?;
    Some(core::net::Ipv4Addr::from(bytes))
}

/// An RFC 2868 tagged integer value: tag octet (0x01..=0x1f) followed by
/// a 3-octet value.
pub fn tagged_integer(tag: u8, value: u32) -> [u8; 4] {
    let v = value.to_be_bytes();
    [tag, v[1], v[2], v[3]]
}
