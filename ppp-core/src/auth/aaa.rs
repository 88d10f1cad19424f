//! The verdict interface between an authenticator and whoever decides:
//! the local [`CredentialStore`] or an external AAA server (RADIUS,
//! TACACS+) the host talks to.
//!
//! An [`AuthRequest`] carries what such a server needs for each method
//! (RFC 2865 User-Password for PAP, CHAP-Password/CHAP-Challenge for
//! CHAP-MD5, RFC 2548 MS-CHAP-Challenge/MS-CHAP-Response and
//! MS-CHAP2-Response for MS-CHAP); the answer is a [`Verdict`].

use core::fmt;
use core::net::Ipv4Addr;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::credentials::{CredentialStore, NameMatch, NtHash, Password, Secret, SecretError};
use super::{crypto, Challenge, FailureReason, Message, Method, MppeKeyMaterial, Name};
use crate::wire::auth::{self as wire, MsChapV1Response, MsChapV2ChangePassword, MsChapV2Response};

/// The peer's proof, per method.
// No allocator (no_std, no alloc): variants are stored inline, by design;
// the Change-Password one carries its 516-octet encrypted password.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq)]
pub enum AuthResponse {
    /// PAP: the cleartext password (RFC 1334).
    Pap {
        /// The password the peer sent (wiped on drop, never printed).
        password: Password,
    },
    /// CHAP-MD5: challenge sent and 16-octet response (RFC 1994).
    ChapMd5 {
        /// The challenge this authenticator sent.
        challenge: Challenge,
        /// MD5(Identifier | secret | challenge) as the peer computed it.
        response: [u8; 16],
    },
    /// MS-CHAPv1: 8-octet challenge and the 49-octet response (RFC 2433).
    MsChapV1 {
        /// The challenge this authenticator sent.
        challenge: [u8; 8],
        /// LM and NT responses and flags.
        response: MsChapV1Response,
    },
    /// MS-CHAPv2: authenticator challenge and the response (RFC 2759).
    MsChapV2 {
        /// The challenge this authenticator sent.
        authenticator_challenge: [u8; 16],
        /// Peer challenge, NT-Response and flags.
        response: MsChapV2Response,
    },
    /// MS-CHAPv2 Change-Password (RFC 2759 §7) after an `E=648` Failure:
    /// the user name is the one of the preceding Response.
    MsChapV2ChangePassword {
        /// The challenge of the `E=648` Failure (`C=`), which the
        /// NT-Response answers.
        authenticator_challenge: [u8; 16],
        /// The packet: encrypted new password and hash, NT-Response.
        packet: MsChapV2ChangePassword,
    },
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthResponse::Pap { .. } => f.write_str("Pap { password: <redacted> }"),
            AuthResponse::ChapMd5 {
                challenge,
                response,
            } => f
                .debug_struct("ChapMd5")
                .field("challenge", challenge)
                .field("response", response)
                .finish(),
            AuthResponse::MsChapV1 {
                challenge,
                response,
            } => f
                .debug_struct("MsChapV1")
                .field("challenge", challenge)
                .field("response", response)
                .finish(),
            AuthResponse::MsChapV2 {
                authenticator_challenge,
                response,
            } => f
                .debug_struct("MsChapV2")
                .field("authenticator_challenge", authenticator_challenge)
                .field("response", response)
                .finish(),
            AuthResponse::MsChapV2ChangePassword {
                authenticator_challenge,
                packet,
            } => f
                .debug_struct("MsChapV2ChangePassword")
                .field("authenticator_challenge", authenticator_challenge)
                .field("packet", packet)
                .finish(),
        }
    }
}

/// A request for a verdict, from the authenticator to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// The method.
    pub method: Method,
    /// The user name as the peer sent it (PAP Peer-ID, CHAP Name).
    pub username: Name,
    /// The Identifier of the peer's packet (CHAP-MD5 hashes it).
    pub identifier: u8,
    /// The proof.
    pub response: AuthResponse,
}

/// Attributes an AAA server may assign with an Accept (RADIUS
/// Framed-IP-Address, DNS and NBNS); the link hands them to IPCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Address for the peer.
    pub address: Option<Ipv4Addr>,
    /// Primary DNS server (RFC 1877).
    pub primary_dns: Option<Ipv4Addr>,
    /// Secondary DNS server (RFC 1877).
    pub secondary_dns: Option<Ipv4Addr>,
    /// Primary NBNS (WINS) server (RFC 1877; RADIUS
    /// MS-Primary-NBNS-Server, RFC 2548).
    pub primary_nbns: Option<Ipv4Addr>,
    /// Secondary NBNS server.
    pub secondary_nbns: Option<Ipv4Addr>,
    /// This user's MS-CHAPv1 40/56-bit key variant (a local store's
    /// per-user setting); `None`: the link's [`LinkConfig`] setting.
    ///
    /// [`LinkConfig`]: crate::link::LinkConfig
    pub mschapv1_keys: Option<super::MsChapV1Keys>,
}

/// An acceptance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    /// Message for the Success/Ack (empty: the authenticator's default).
    pub message: Message,
    /// MS-CHAPv2: the 20-octet authenticator response (required).
    pub authenticator_response: Option<[u8; 20]>,
    /// MPPE inputs or keys.
    pub key_material: Option<MppeKeyMaterial>,
    /// Assigned attributes.
    pub attributes: Attributes,
    /// Which form of the user name found the local store's entry
    /// ([`CredentialStore`]'s verdicts set it; external AAA decides on
    /// the name as sent).
    pub name_match: NameMatch,
    /// After an accepted MS-CHAPv2 Change-Password verified locally: the
    /// new NT hash, which the authenticator hands to the host
    /// ([`crate::auth::Event::PasswordChanged`]) to store. `None` from an
    /// AAA server, which stores the new password itself.
    pub new_nt_hash: Option<NtHash>,
}

impl Accept {
    /// Sets the authenticator response from its `S=<40 hex>` text, as
    /// found in RADIUS MS-CHAP2-Success after the Ident octet.
    pub fn with_authenticator_response_text(mut self, text: &[u8]) -> Result<Self, wire::Error> {
        self.authenticator_response = Some(wire::parse_authenticator_response(text)?);
        Ok(self)
    }
}

/// A rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Why (reported in the authenticator's Failure event).
    pub reason: FailureReason,
    /// MS-CHAP "E=" code; 691 permits retries.
    pub error_code: u32,
    /// Message for the Failure/Nak (empty: the authenticator's default).
    pub message: Message,
}

impl Reject {
    /// A rejection for `reason` with its usual error code and no message.
    pub fn new(reason: FailureReason) -> Self {
        Reject {
            reason,
            error_code: reason.windows_error(),
            message: Message::new(),
        }
    }
}

/// The answer to an [`AuthRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the peer in.
    Accept(Accept),
    /// Keep the peer out.
    Reject(Reject),
}

impl Verdict {
    /// A rejection for `reason`.
    pub fn reject(reason: FailureReason) -> Self {
        Verdict::Reject(Reject::new(reason))
    }
}

/// Decides requests at once (local authentication).
pub trait Verifier {
    /// The verdict for `request`.
    fn decide(&self, request: &AuthRequest) -> Verdict;

    /// Keeps the new hash of a password changed with MS-CHAPv2
    /// Change-Password (RFC 2759 §7) that this verifier accepted
    /// ([`crate::auth::Event::PasswordChanged`]); returns whether it was
    /// stored. The default stores nothing (a verifier without a store of
    /// its own, or one lent by reference).
    fn store_password_change(&mut self, change: &crate::auth::PasswordChange) -> bool {
        let _ = change;
        false
    }
}

impl<T: Verifier + ?Sized> Verifier for &T {
    fn decide(&self, request: &AuthRequest) -> Verdict {
        (**self).decide(request)
    }
}

impl<const N: usize> Verifier for CredentialStore<N> {
    fn store_password_change(&mut self, change: &crate::auth::PasswordChange) -> bool {
        let entry = change.name_match.entry(&change.username);
        self.change_nt_hash(entry, change.new_nt_hash.clone())
    }

    fn decide(&self, request: &AuthRequest) -> Verdict {
        match self.lookup_match(&request.username) {
            Some((user, name_match)) => match verify_with_secret(request, user.secret()) {
                // Only a peer that knows the password learns that it has
                // expired (a guesser sees 691), as with a Windows server;
                // the Change-Password itself is what lifts the expiry.
                Verdict::Accept(_)
                    if user.expired()
                        && !matches!(
                            request.response,
                            AuthResponse::MsChapV2ChangePassword { .. }
                        ) =>
                {
                    Verdict::reject(FailureReason::PasswordExpired)
                }
                Verdict::Accept(mut accept) => {
                    if !self.lm_hash_allowed(user) {
                        if let Some(MppeKeyMaterial::MsChapV1 { lm_hash_prefix, .. }) =
                            accept.key_material.as_mut()
                        {
                            // Wipes the octets and leaves `None`.
                            lm_hash_prefix.zeroize();
                        }
                    }
                    accept.attributes.mschapv1_keys = user.mschapv1_keys();
                    Verdict::Accept(Accept {
                        name_match,
                        ..accept
                    })
                }
                reject => reject,
            },
            None => Verdict::reject(FailureReason::UnknownUser),
        }
    }
}

fn secret_failure(e: SecretError) -> Verdict {
    Verdict::reject(match e {
        SecretError::CleartextRequired => FailureReason::CleartextRequired,
        SecretError::Unhashable(e) => FailureReason::StoredSecretUnusable(e),
    })
}

fn accept(
    matched: bool,
    authenticator_response: Option<[u8; 20]>,
    key: Option<MppeKeyMaterial>,
) -> Verdict {
    if matched {
        Verdict::Accept(Accept {
            authenticator_response,
            key_material: key,
            ..Accept::default()
        })
    } else {
        Verdict::reject(FailureReason::WrongPassword)
    }
}

/// Checks `request` against a known secret: the computation a local
/// store, or a host with its own user database, performs. All comparisons
/// are constant-time. On success for MS-CHAP, the Accept carries the MPPE
/// key material (and for MS-CHAPv2 the authenticator response).
pub fn verify_with_secret(request: &AuthRequest, secret: &Secret) -> Verdict {
    match &request.response {
        AuthResponse::Pap { password } => match secret.cleartext() {
            Ok(known) => accept(known.ct_eq(password.as_bytes()), None, None),
            Err(e) => secret_failure(e),
        },
        AuthResponse::ChapMd5 {
            challenge,
            response,
        } => match secret.cleartext() {
            Ok(known) => {
                let expected =
                    crypto::chap_md5_response(request.identifier, known.as_bytes(), challenge);
                accept(bool::from(expected.ct_eq(response)), None, None)
            }
            Err(e) => secret_failure(e),
        },
        AuthResponse::MsChapV1 {
            challenge,
            response,
        } => {
            // The LM response is the weak one (RFC 2433 §12); a peer that asks for
            // it alone (use-NT flag 0) is refused. Windows 9x and NT both
            // set the flag (seed trace: …01 before the name).
            if !response.use_nt() {
                return Verdict::reject(FailureReason::LmResponseRefused);
            }
            let hash = match secret.to_nt_hash() {
                Ok(hash) => hash,
                Err(e) => return secret_failure(e),
            };
            let expected = crypto::mschapv1_nt_response(challenge, hash.as_bytes());
            let key = MppeKeyMaterial::MsChapV1 {
                password_hash_hash: hash.hash_hash(),
                lm_hash_prefix: secret.lm_hash_prefix(),
                challenge: *challenge,
            };
            accept(
                bool::from(expected.ct_eq(&response.nt_response)),
                None,
                Some(key),
            )
        }
        AuthResponse::MsChapV2 {
            authenticator_challenge,
            response,
        } => match secret.to_nt_hash() {
            Ok(hash) => verify_mschapv2(request, authenticator_challenge, response, &hash),
            Err(e) => secret_failure(e),
        },
        AuthResponse::MsChapV2ChangePassword {
            authenticator_challenge,
            packet,
        } => {
            let old = match secret.to_nt_hash() {
                Ok(hash) => hash,
                Err(e) => return secret_failure(e),
            };
            // RFC 2759 §8.9/§8.10: the new password is under the old hash;
            // a block that does not decrypt to a sane length means the
            // peer does not know the old password.
            let new =
                match crypto::new_nt_hash_from_pw_block(&packet.encrypted_password, old.as_bytes())
                {
                    Ok(hash) => NtHash::from_bytes(hash),
                    Err(_) => return Verdict::reject(FailureReason::WrongPassword),
                };
            // §8.12: the old hash under the new one proves both.
            let expected = crypto::old_nt_hash_encrypted_with_new(old.as_bytes(), new.as_bytes());
            if !crypto::check_encrypted_hash(&expected, &packet.encrypted_hash) {
                return Verdict::reject(FailureReason::WrongPassword);
            }
            // §7: the NT-Response is checked as a Response's, with the
            // new password.
            match verify_mschapv2(request, authenticator_challenge, &packet.response(), &new) {
                Verdict::Accept(accept) => Verdict::Accept(Accept {
                    new_nt_hash: Some(new),
                    ..accept
                }),
                reject => reject,
            }
        }
    }
}

/// The MS-CHAPv2 check (RFC 2759 §8.1, §8.7) of `response` to
/// `authenticator_challenge` with the NT hash `hash`: a Response's, or a
/// Change-Password's with the new hash.
fn verify_mschapv2(
    request: &AuthRequest,
    authenticator_challenge: &[u8; 16],
    response: &MsChapV2Response,
    hash: &NtHash,
) -> Verdict {
    let expected = crypto::generate_nt_response(
        authenticator_challenge,
        &response.peer_challenge,
        &request.username,
        hash.as_bytes(),
    );
    let authenticator_response = crypto::generate_authenticator_response(
        hash.as_bytes(),
        &response.nt_response,
        &response.peer_challenge,
        authenticator_challenge,
        &request.username,
    );
    let key = MppeKeyMaterial::MsChapV2 {
        password_hash_hash: hash.hash_hash(),
        nt_response: response.nt_response,
    };
    accept(
        bool::from(expected.ct_eq(&response.nt_response)),
        Some(authenticator_response),
        Some(key),
    )
}
