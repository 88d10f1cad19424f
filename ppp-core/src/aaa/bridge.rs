//! From the authenticator's [`AuthRequest`] to AAA requests, and from AAA
//! answers back to a [`Verdict`].
//!
//! RADIUS: the request becomes an Access-Request's attributes (User-Name,
//! User-Password / CHAP-Password + CHAP-Challenge / MS-CHAP-Challenge +
//! MS-CHAP-Response or MS-CHAP2-Response, and the NAS attributes a PPTP
//! NAS sends); the answer's MS-CHAP2-Success, MPPE keys, Framed-IP-Address
//! and DNS servers fill the [`Accept`](crate::auth::Accept).
//!
//! The origin document's PIX refuses a session when encryption is
//! required and the AAA server sent no MPPE keys: it logs "%PIX-3-403110
//! ... missing MPPE key from aaa server" and the Windows client sees error
//! 691. [`MppePolicy::Required`] reproduces that.

use core::net::Ipv4Addr;

use crate::auth::{
    message_from, AuthRequest, AuthResponse, FailureReason, Method, Reject, Verdict,
};

/// The PIX's reason text for syslog 403110.
pub const MISSING_MPPE_KEY_MESSAGE: &[u8] = b"missing MPPE key from aaa server";
/// The PIX syslog message number for a missing MPPE key.
pub const SYSLOG_MISSING_MPPE_KEY: u32 = 403_110;

/// Whether the link requires MPPE (the PIX's `vpdn group … ppp encryption
/// mppe 128 required` versus `auto`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MppePolicy {
    /// MPPE is used if keys exist; a session without keys runs unencrypted.
    #[default]
    Auto,
    /// A session without MPPE keys is refused (error 691, syslog 403110).
    Required,
}

/// Why a verdict is not simply what the server said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Note {
    /// The server accepted but sent no MPPE keys while MPPE is required:
    /// turned into a rejection (PIX syslog 403110).
    MissingMppeKeys,
    /// The server answered with Access-Challenge, which PPP cannot relay:
    /// treated as a rejection.
    Challenge,
    /// The Accept carried a malformed attribute: treated as a rejection.
    #[cfg(feature = "radius")]
    MalformedAccept(crate::aaa::radius::Error),
    /// The server answered with an error or a status this client does
    /// not act on (TACACS+ ERROR, FOLLOW, RESTART, GETDATA, GETUSER):
    /// treated as a rejection.
    ServerError,
    /// The session has no MPPE keys and runs unencrypted (policy `auto`,
    /// or TACACS+, which cannot carry keys).
    Unencrypted,
}

/// Longest Class value (RFC 2865 §5: an attribute carries at most 253
/// octets).
pub const MAX_CLASS_LEN: usize = 253;

/// What else the server said, beyond the [`Verdict`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerdictInfo {
    /// Why the verdict differs from the server's answer, if it does.
    pub note: Option<Note>,
    /// Primary NBNS (WINS) server (RFC 1877), for IPCP.
    pub primary_nbns: Option<Ipv4Addr>,
    /// Secondary NBNS server.
    pub secondary_nbns: Option<Ipv4Addr>,
    /// Session-Timeout in seconds.
    pub session_timeout: Option<u32>,
    /// Idle-Timeout in seconds.
    pub idle_timeout: Option<u32>,
    /// MS-MPPE-Encryption-Policy (1 allowed, 2 required).
    pub encryption_policy: Option<u32>,
    /// MS-MPPE-Encryption-Types bits.
    pub encryption_types: Option<u32>,
    /// RADIUS Class from the Access-Accept (empty if none): RFC 2865
    /// §5.25 has the NAS send it unmodified in the session's
    /// Accounting-Requests.
    pub class: heapless::Vec<u8, MAX_CLASS_LEN>,
}

/// What the answer's interpretation needs to remember of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// The method.
    pub method: Method,
    /// The MS-CHAPv1 challenge (for [`MppeKeyMaterial::MsChapV1`](crate::auth::MppeKeyMaterial::MsChapV1)).
    pub ms_chap_v1_challenge: [u8; 8],
}

impl RequestContext {
    /// The context of `request`.
    pub fn of(request: &AuthRequest) -> Self {
        let ms_chap_v1_challenge = match &request.response {
            AuthResponse::MsChapV1 { challenge, .. }
            | AuthResponse::MsChapV1ChangePassword { challenge, .. }
            | AuthResponse::MsChapV1ChangePasswordV1 { challenge, .. } => *challenge,
            _ => [0; 8],
        };
        RequestContext {
            method: request.method,
            ms_chap_v1_challenge,
        }
    }
}

/// A rejection with `code` as the MS-CHAP error (691 by default).
pub fn rejection(code: u32) -> Verdict {
    Verdict::Reject(Reject {
        reason: FailureReason::Rejected { error_code: code },
        error_code: code,
        message: Default::default(),
    })
}

/// Applies the MPPE policy to an accept: with [`MppePolicy::Required`]
/// an Accept without key material becomes the PIX's rejection.
pub fn apply_mppe_policy(verdict: Verdict, policy: MppePolicy, info: &mut VerdictInfo) -> Verdict {
    match verdict {
        Verdict::Accept(accept) if accept.key_material.is_none() => match policy {
            MppePolicy::Required => {
                info.note = Some(Note::MissingMppeKeys);
                Verdict::Reject(Reject {
                    reason: FailureReason::Rejected {
                        error_code: crate::wire::auth::ERROR_AUTHENTICATION_FAILURE,
                    },
                    error_code: crate::wire::auth::ERROR_AUTHENTICATION_FAILURE,
                    message: message_from(MISSING_MPPE_KEY_MESSAGE),
                })
            }
            MppePolicy::Auto => {
                info.note = Some(Note::Unencrypted);
                Verdict::Accept(accept)
            }
        },
        other => other,
    }
}

#[cfg(feature = "radius")]
pub use radius_bridge::*;

#[cfg(feature = "radius")]
mod radius_bridge {
    use super::*;
    use crate::aaa::radius::attributes as attr;
    use crate::aaa::radius::ms::{self, ResponseAttributes, VENDOR_MICROSOFT};
    use crate::aaa::radius::wire::{Code, Packet, PacketWriter};
    use crate::aaa::radius::Error;
    use crate::auth::{Accept, Attributes, MppeKeyMaterial};

    /// What the NAS says about itself and the session in an Access-Request.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct NasAttributes<'a> {
        /// NAS-IP-Address.
        pub nas_ip: Option<Ipv4Addr>,
        /// NAS-Identifier.
        pub nas_identifier: Option<&'a [u8]>,
        /// NAS-Port (the session's call id, for instance).
        pub nas_port: Option<u32>,
        /// Calling-Station-Id: the PPTP client's address as text.
        pub calling_station_id: Option<&'a [u8]>,
        /// Called-Station-Id: the address the client connected to.
        pub called_station_id: Option<&'a [u8]>,
        /// Acct-Session-Id, so accounting and authentication correlate.
        pub acct_session_id: Option<&'a [u8]>,
    }

    /// Writes the Access-Request attributes for `request` except
    /// User-Password and Message-Authenticator (which depend on the
    /// server's secret and are added per transmission).
    pub fn write_access_request(
        w: &mut PacketWriter<'_>,
        request: &AuthRequest,
        nas: &NasAttributes<'_>,
    ) -> Result<(), Error> {
        w.attribute(attr::USER_NAME, &request.username)?;
        match &request.response {
            // The password goes in per transmission (User-Password).
            AuthResponse::Pap { .. } => {}
            AuthResponse::ChapMd5 {
                challenge,
                response,
            } => {
                // RFC 2865 §5.3: CHAP Ident then the 16-octet response;
                // §5.40: the challenge in CHAP-Challenge.
                let mut value = [0u8; 17];
                value[0] = request.identifier;
                value[1..].copy_from_slice(response);
                w.attribute(attr::CHAP_PASSWORD, &value)?;
                w.attribute(attr::CHAP_CHALLENGE, challenge)?;
            }
            AuthResponse::MsChapV1 {
                challenge,
                response,
            } => {
                // RFC 2548: Ident, Flags, LM-Response, NT-Response
                // (the PPP Response has the flags last).
                w.vendor_attribute(VENDOR_MICROSOFT, ms::MS_CHAP_CHALLENGE, challenge)?;
                let mut value = [0u8; 50];
                value[0] = request.identifier;
                value[1] = response.flags;
                value[2..26].copy_from_slice(&response.lm_response);
                value[26..50].copy_from_slice(&response.nt_response);
                w.vendor_attribute(VENDOR_MICROSOFT, ms::MS_CHAP_RESPONSE, &value)?;
            }
            AuthResponse::MsChapV2 {
                authenticator_challenge,
                response,
            } => {
                // RFC 2548 (MS-CHAP2-Response): Ident, Flags,
                // Peer-Challenge, 8 reserved, Response.
                w.vendor_attribute(
                    VENDOR_MICROSOFT,
                    ms::MS_CHAP_CHALLENGE,
                    authenticator_challenge,
                )?;
                let mut value = [0u8; 50];
                value[0] = request.identifier;
                value[1] = response.flags;
                value[2..18].copy_from_slice(&response.peer_challenge);
                value[26..50].copy_from_slice(&response.nt_response);
                w.vendor_attribute(VENDOR_MICROSOFT, ms::MS_CHAP2_RESPONSE, &value)?;
            }
            AuthResponse::MsChapV2ChangePassword {
                authenticator_challenge,
                packet,
            } => write_change_password(w, request.identifier, authenticator_challenge, packet)?,
            AuthResponse::MsChapV1ChangePassword { challenge, packet } => {
                write_change_password_v1(w, request.identifier, challenge, packet)?
            }
            // RFC 2548 §2.1.1's MS-CHAP-CPW-1 is not written: this
            // authenticator asks for version 2 (`V=2`, RFC 2433 "Failure
            // Packet"), which Windows NT/9x send; a version 1 packet
            // through RADIUS is refused (the host answers 691).
            AuthResponse::MsChapV1ChangePasswordV1 { .. } => return Err(Error::UnsupportedRequest),
        }
        write_nas_attributes(w, nas)
    }

    /// An MS-CHAPv2 Change-Password as RFC 2548 carries it: the `E=648`
    /// Failure's challenge in MS-CHAP-Challenge; MS-CHAP2-CPW (Code 7,
    /// Ident, Encrypted-Hash, Peer-Challenge, 8 reserved, NT-Response,
    /// 2-octet Flags: the PPP packet's fields after its Encrypted-Password);
    /// and the 516-octet Encrypted-Password in MS-CHAP-NT-Enc-PW
    /// attributes (Code 6, Ident, 2-octet Sequence-Number from 1, then at
    /// most 243 octets so each attribute stays within 253: 243 + 243 + 30).
    fn write_change_password(
        w: &mut PacketWriter<'_>,
        identifier: u8,
        authenticator_challenge: &[u8; 16],
        packet: &crate::wire::auth::MsChapV2ChangePassword,
    ) -> Result<(), Error> {
        w.vendor_attribute(
            VENDOR_MICROSOFT,
            ms::MS_CHAP_CHALLENGE,
            authenticator_challenge,
        )?;
        let mut cpw = [0u8; ms::MS_CHAP2_CPW_LEN];
        cpw[0] = crate::wire::auth::chap_code::CHANGE_PASSWORD_V2;
        cpw[1] = identifier;
        cpw[2..18].copy_from_slice(&packet.encrypted_hash);
        cpw[18..34].copy_from_slice(&packet.peer_challenge);
        cpw[42..66].copy_from_slice(&packet.nt_response);
        cpw[66..68].copy_from_slice(&packet.flags.to_be_bytes());
        w.vendor_attribute(VENDOR_MICROSOFT, ms::MS_CHAP2_CPW, &cpw)?;
        write_nt_enc_pw(w, identifier, &packet.encrypted_password)
    }

    /// An MS-CHAPv1 Change Password version 2 (RFC 2433 code 6) as RFC
    /// 2548 §2.1.2 carries it: the `E=648` Failure's challenge in
    /// MS-CHAP-Challenge; MS-CHAP-CPW-2 (Code 6, Ident, Old-NT-Hash (the
    /// Encrypted-Hash), Old-LM-Hash, LM-Response, NT-Response, Flags); and
    /// the Encrypted-Password in MS-CHAP-NT-Enc-PW parts as for MS-CHAPv2.
    /// The LM fields are not kept ([`MsChapV1ChangePassword`]): zeros,
    /// with no MS-CHAP-LM-Enc-PW, and the Flags say the NT-Response is
    /// the one to use.
    ///
    /// [`MsChapV1ChangePassword`]: crate::wire::auth::MsChapV1ChangePassword
    fn write_change_password_v1(
        w: &mut PacketWriter<'_>,
        identifier: u8,
        challenge: &[u8; 8],
        packet: &crate::wire::auth::MsChapV1ChangePassword,
    ) -> Result<(), Error> {
        w.vendor_attribute(VENDOR_MICROSOFT, ms::MS_CHAP_CHALLENGE, challenge)?;
        let mut cpw = [0u8; ms::MS_CHAP_CPW_2_LEN];
        cpw[0] = crate::wire::auth::chap_code::CHANGE_PASSWORD_V1_2;
        cpw[1] = identifier;
        cpw[2..18].copy_from_slice(&packet.encrypted_hash);
        // Old-LM-Hash 18..34 and LM-Response 34..58: zeros.
        cpw[58..82].copy_from_slice(&packet.nt_response);
        cpw[82..84].copy_from_slice(&packet.flags.to_be_bytes());
        w.vendor_attribute(VENDOR_MICROSOFT, ms::MS_CHAP_CPW_2, &cpw)?;
        write_nt_enc_pw(w, identifier, &packet.encrypted_password)
    }

    /// The 516-octet Encrypted-Password in MS-CHAP-NT-Enc-PW attributes
    /// (RFC 2548: Code 6, Ident, 2-octet Sequence-Number from 1, then at
    /// most 243 octets so each attribute stays within 253: 243 + 243 + 30).
    fn write_nt_enc_pw(
        w: &mut PacketWriter<'_>,
        identifier: u8,
        encrypted_password: &[u8],
    ) -> Result<(), Error> {
        let mut part = [0u8; 4 + ms::MS_CHAP_ENC_PW_CHUNK];
        for (sequence, chunk) in (1u16..).zip(encrypted_password.chunks(ms::MS_CHAP_ENC_PW_CHUNK)) {
            part[0] = ms::MS_CHAP_NT_ENC_PW_CODE;
            part[1] = identifier;
            part[2..4].copy_from_slice(&sequence.to_be_bytes());
            part[4..4 + chunk.len()].copy_from_slice(chunk);
            w.vendor_attribute(
                VENDOR_MICROSOFT,
                ms::MS_CHAP_NT_ENC_PW,
                &part[..4 + chunk.len()],
            )?;
        }
        Ok(())
    }

    /// NAS-IP-Address, NAS-Identifier, NAS-Port, NAS-Port-Type Virtual,
    /// Service-Type Framed, Framed-Protocol PPP, Tunnel-Type PPTP,
    /// Tunnel-Medium-Type IPv4 and the station ids.
    pub fn write_nas_attributes(
        w: &mut PacketWriter<'_>,
        nas: &NasAttributes<'_>,
    ) -> Result<(), Error> {
        if let Some(ip) = nas.nas_ip {
            w.attribute(attr::NAS_IP_ADDRESS, &ip.octets())?;
        }
        if let Some(id) = nas.nas_identifier {
            w.attribute(attr::NAS_IDENTIFIER, id)?;
        }
        if let Some(port) = nas.nas_port {
            w.integer(attr::NAS_PORT, port)?;
        }
        w.integer(attr::NAS_PORT_TYPE, attr::NAS_PORT_TYPE_VIRTUAL)?;
        w.integer(attr::SERVICE_TYPE, attr::SERVICE_TYPE_FRAMED)?;
        w.integer(attr::FRAMED_PROTOCOL, attr::FRAMED_PROTOCOL_PPP)?;
        // RFC 2868 §3.1: tagged; tag 0 = not grouped with other tunnels.
        w.attribute(
            attr::TUNNEL_TYPE,
            &attr::tagged_integer(0, attr::TUNNEL_TYPE_PPTP),
        )?;
        w.attribute(
            attr::TUNNEL_MEDIUM_TYPE,
            &attr::tagged_integer(0, attr::TUNNEL_MEDIUM_IPV4),
        )?;
        if let Some(id) = nas.calling_station_id {
            w.attribute(attr::CALLING_STATION_ID, id)?;
        }
        if let Some(id) = nas.called_station_id {
            w.attribute(attr::CALLED_STATION_ID, id)?;
        }
        if let Some(id) = nas.acct_session_id {
            w.attribute(attr::ACCT_SESSION_ID, id)?;
        }
        Ok(())
    }

    /// The verdict for a verified Access-Accept/Reject/Challenge.
    pub fn radius_verdict(
        packet: &Packet<&[u8]>,
        secret: &[u8],
        request_authenticator: &[u8; 16],
        context: &RequestContext,
        policy: MppePolicy,
    ) -> (Verdict, VerdictInfo) {
        let mut info = VerdictInfo::default();
        let parsed = ResponseAttributes::parse(packet, secret, request_authenticator);
        match packet.code() {
            Some(Code::AccessAccept) => {}
            Some(Code::AccessChallenge) => {
                info.note = Some(Note::Challenge);
                return (rejection(691), info);
            }
            _ => {
                // RFC 2548: MS-CHAP-Error carries the code the peer
                // sees; 691 otherwise.
                let code = parsed
                    .ok()
                    .and_then(|a| a.ms_chap_error)
                    .unwrap_or(crate::wire::auth::ERROR_AUTHENTICATION_FAILURE);
                return (rejection(code), info);
            }
        }
        let attrs = match parsed {
            Ok(attrs) => attrs,
            Err(e) => {
                info.note = Some(Note::MalformedAccept(e));
                return (rejection(691), info);
            }
        };
        info.primary_nbns = attrs.primary_nbns;
        info.secondary_nbns = attrs.secondary_nbns;
        info.session_timeout = attrs.session_timeout;
        info.idle_timeout = attrs.idle_timeout;
        info.encryption_policy = attrs.encryption_policy;
        info.encryption_types = attrs.encryption_types;
        if let Some(class) = packet.attributes().find(attr::CLASS) {
            // At most 253 octets by the attribute's own length octet.
            info.class = heapless::Vec::from_slice(class).unwrap_or_default();
        }
        let external = match (attrs.mppe_send_key, attrs.mppe_recv_key) {
            (Some(send_key), Some(recv_key)) => {
                Some(MppeKeyMaterial::External { send_key, recv_key })
            }
            _ => None,
        };
        let key_material = match context.method {
            Method::MsChapV1 => external.or_else(|| {
                attrs
                    .ms_chap_mppe_keys
                    .map(|(lm, nt)| MppeKeyMaterial::MsChapV1 {
                        password_hash_hash: nt,
                        // FreeRADIUS sends an all-zero LM-Key: no LM hash known.
                        lm_hash_prefix: (lm != [0; 8]).then_some(lm),
                        challenge: context.ms_chap_v1_challenge,
                    })
            }),
            _ => external,
        };
        let mut accept = Accept {
            key_material,
            attributes: Attributes {
                address: attrs.framed_ip,
                primary_dns: attrs.primary_dns,
                secondary_dns: attrs.secondary_dns,
                primary_nbns: attrs.primary_nbns,
                secondary_nbns: attrs.secondary_nbns,
                // RADIUS names no key variant: the link's setting applies.
                mschapv1_keys: None,
            },
            ..Accept::default()
        };
        if context.method == Method::MsChapV2 {
            if let Some(text) = attrs.ms_chap2_success {
                match accept.with_authenticator_response_text(&text) {
                    Ok(a) => accept = a,
                    Err(_) => {
                        info.note = Some(Note::MalformedAccept(Error::BadAttributeValue {
                            attribute: ms::MS_CHAP2_SUCCESS,
                            length: text.len(),
                        }));
                        return (rejection(691), info);
                    }
                }
            }
            // Without MS-CHAP2-Success the authenticator itself fails the
            // exchange (FailureReason::MissingAuthenticatorResponse).
        }
        let verdict = apply_mppe_policy(Verdict::Accept(accept), policy, &mut info);
        (verdict, info)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::auth::{Accept, MppeKeyMaterial};

    #[test]
    fn required_policy_turns_keyless_accept_into_pix_rejection() {
        let mut info = VerdictInfo::default();
        let v = apply_mppe_policy(
            Verdict::Accept(Accept::default()),
            MppePolicy::Required,
            &mut info,
        );
        match v {
            Verdict::Reject(r) => {
                assert_eq!(r.error_code, 691);
                assert_eq!(&r.message[..], MISSING_MPPE_KEY_MESSAGE);
                assert_eq!(r.reason.windows_error(), 691);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(info.note, Some(Note::MissingMppeKeys));
        let mut info = VerdictInfo::default();
        let v = apply_mppe_policy(
            Verdict::Accept(Accept::default()),
            MppePolicy::Auto,
            &mut info,
        );
        assert!(matches!(v, Verdict::Accept(_)));
        assert_eq!(info.note, Some(Note::Unencrypted));
        // With keys, Required passes.
        let mut info = VerdictInfo::default();
        let keyed = Accept {
            key_material: Some(MppeKeyMaterial::External {
                send_key: [1; 16],
                recv_key: [2; 16],
            }),
            ..Accept::default()
        };
        let v = apply_mppe_policy(Verdict::Accept(keyed), MppePolicy::Required, &mut info);
        assert!(matches!(v, Verdict::Accept(_)));
        assert_eq!(info.note, None);
    }
    /// RFC 2548 MS-CHAP2-CPW and MS-CHAP-NT-Enc-PW, against the bytes
    /// computed independently (tests/data/mschapv2_change_password.py).
    #[cfg(feature = "radius")]
    #[test]
    fn change_password_goes_to_radius_as_ms_chap2_cpw_and_nt_enc_pw() {
        use crate::aaa::radius::wire::{Code, PacketWriter};
        use crate::auth::testdata::{hex, hex_n, vectors};
        use crate::wire::auth::MsChapV2ChangePassword;
        let file = include_str!("../../tests/data/mschapv2_change_password.toml");
        let mut seen = 0;
        for v in vectors(file, "mschapv2_change_password") {
            let packet = MsChapV2ChangePassword::parse_bytes(&hex(&v["packet"])).unwrap();
            let challenge: [u8; 16] = hex_n(&v["authenticator_challenge"]);
            let request = AuthRequest {
                method: Method::MsChapV2,
                username: heapless::Vec::from_slice(v["username"].as_str().unwrap().as_bytes())
                    .unwrap(),
                identifier: packet.identifier,
                response: AuthResponse::MsChapV2ChangePassword {
                    authenticator_challenge: challenge,
                    packet,
                },
            };
            let mut buf = [0u8; 4096];
            let mut w = PacketWriter::new(&mut buf, Code::AccessRequest, 1, &[0; 16]).unwrap();
            write_access_request(&mut w, &request, &NasAttributes::default()).unwrap();
            let len = w.len();
            let written = &buf[..len];
            let contains = |needle: &[u8]| written.windows(needle.len()).any(|w| w == needle);
            let cpw = hex(&v["radius_ms_chap2_cpw"]);
            let enc = hex(&v["radius_ms_chap_nt_enc_pw"]);
            assert!(contains(&cpw), "MS-CHAP2-CPW");
            // The three parts in sequence order, one after the other.
            assert!(contains(&enc), "MS-CHAP-NT-Enc-PW 1..3");
            let mut challenge_vsa = std::vec![26u8, 24, 0, 0, 1, 55, 11, 18];
            challenge_vsa.extend_from_slice(&challenge);
            assert!(contains(&challenge_vsa), "MS-CHAP-Challenge");
            // Not a Response: no MS-CHAP2-Response (vendor type 25).
            assert!(!contains(&[0, 0, 1, 55, 25, 52]));
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    /// RFC 2548 MS-CHAP-CPW-2 and MS-CHAP-NT-Enc-PW for an MS-CHAPv1
    /// Change Password version 2, against the bytes computed independently
    /// (tests/data/mschapv1_change_password.py); version 1 is refused.
    #[cfg(feature = "radius")]
    #[test]
    fn mschapv1_change_password_goes_to_radius_as_ms_chap_cpw_2_and_nt_enc_pw() {
        use crate::aaa::radius::wire::{Code, PacketWriter};
        use crate::aaa::radius::Error;
        use crate::auth::testdata::{hex, hex_n, vectors};
        use crate::wire::auth::{MsChapV1ChangePassword, MsChapV1ChangePasswordV1};
        let file = include_str!("../../tests/data/mschapv1_change_password.toml");
        let mut seen = 0;
        for v in vectors(file, "mschapv1_change_password_v2") {
            let Some(cpw) = v.get("radius_ms_chap_cpw_2") else {
                continue;
            };
            let packet = MsChapV1ChangePassword::parse_bytes(&hex(&v["packet"])).unwrap();
            let challenge: [u8; 8] = hex_n(&v["challenge"]);
            let request = AuthRequest {
                method: Method::MsChapV1,
                username: heapless::Vec::from_slice(v["username"].as_str().unwrap().as_bytes())
                    .unwrap(),
                identifier: packet.identifier,
                response: AuthResponse::MsChapV1ChangePassword { challenge, packet },
            };
            assert_eq!(
                RequestContext::of(&request).ms_chap_v1_challenge,
                challenge,
                "the Accept's MS-CHAP-MPPE-Keys go with the Failure's challenge"
            );
            let mut buf = [0u8; 4096];
            let mut w = PacketWriter::new(&mut buf, Code::AccessRequest, 1, &[0; 16]).unwrap();
            write_access_request(&mut w, &request, &NasAttributes::default()).unwrap();
            let len = w.len();
            let written = &buf[..len];
            let contains = |needle: &[u8]| written.windows(needle.len()).any(|w| w == needle);
            assert!(contains(&hex(cpw)), "MS-CHAP-CPW-2");
            assert!(
                contains(&hex(&v["radius_ms_chap_nt_enc_pw"])),
                "NT-Enc-PW 1..3"
            );
            let mut challenge_vsa = std::vec![26u8, 16, 0, 0, 1, 55, 11, 10];
            challenge_vsa.extend_from_slice(&challenge);
            assert!(contains(&challenge_vsa), "MS-CHAP-Challenge");
            // Not a Response (MS-CHAP-Response, vendor type 1).
            assert!(!contains(&[0, 0, 1, 55, 1, 52]));
            seen += 1;
        }
        assert_eq!(seen, 2);
        let v = &vectors(file, "mschapv1_change_password_v1")[0];
        let packet = MsChapV1ChangePasswordV1::parse_bytes(&hex(&v["packet"])).unwrap();
        let request = AuthRequest {
            method: Method::MsChapV1,
            username: heapless::Vec::from_slice(b"User").unwrap(),
            identifier: packet.identifier,
            response: AuthResponse::MsChapV1ChangePasswordV1 {
                challenge: hex_n(&v["challenge"]),
                packet,
            },
        };
        let mut buf = [0u8; 4096];
        let mut w = PacketWriter::new(&mut buf, Code::AccessRequest, 1, &[0; 16]).unwrap();
        assert_eq!(
            write_access_request(&mut w, &request, &NasAttributes::default()),
            Err(Error::UnsupportedRequest)
        );
    }
}
