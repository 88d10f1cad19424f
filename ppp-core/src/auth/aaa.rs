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
use crate::wire::auth::{
    self as wire, MsChapV1ChangePassword, MsChapV1ChangePasswordV1, MsChapV1Response,
    MsChapV2ChangePassword, MsChapV2Response, CHANGE_PASSWORD_FLAG_USE_NT,
};

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
    /// MS-CHAPv1 Change Password version 2 (RFC 2433, code 6) after an
    /// `E=648` Failure: the user name is the one of the preceding Response.
    MsChapV1ChangePassword {
        /// The challenge of the `E=648` Failure (`C=`), which the
        /// NT-Response answers.
        challenge: [u8; 8],
        /// The packet: encrypted new password and hash, NT-Response.
        packet: MsChapV1ChangePassword,
    },
    /// MS-CHAPv1 Change Password version 1 (RFC 2433, code 5), from a peer
    /// told `V=1` or nothing: the hashes only, no Response.
    MsChapV1ChangePasswordV1 {
        /// The challenge of the `E=648` Failure: the MPPE keys' (RFC 3079
        /// §2) once the change is accepted.
        challenge: [u8; 8],
        /// The packet: old and new hashes, each under the other.
        packet: MsChapV1ChangePasswordV1,
    },
}

impl AuthResponse {
    /// Whether this is a Change-Password (any version) rather than a
    /// login: what lifts an expiry instead of being refused for it.
    pub fn is_password_change(&self) -> bool {
        matches!(
            self,
            AuthResponse::MsChapV2ChangePassword { .. }
                | AuthResponse::MsChapV1ChangePassword { .. }
                | AuthResponse::MsChapV1ChangePasswordV1 { .. }
        )
    }
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
            AuthResponse::MsChapV1ChangePassword { challenge, packet } => f
                .debug_struct("MsChapV1ChangePassword")
                .field("challenge", challenge)
                .field("packet", packet)
                .finish(),
            AuthResponse::MsChapV1ChangePasswordV1 { challenge, packet } => f
                .debug_struct("MsChapV1ChangePasswordV1")
                .field("challenge", challenge)
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
    /// After an accepted MS-CHAP Change-Password verified locally: the
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

    /// Keeps the new hash of a password changed with MS-CHAP
    /// Change-Password (RFC 2759 §7, RFC 2433 codes 5/6) that this
    /// verifier accepted
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
                Verdict::Accept(_) if user.expired() && !request.response.is_password_change() => {
                    Verdict::reject(FailureReason::PasswordExpired)
                }
                Verdict::Accept(mut accept) => {
                    if let Some(MppeKeyMaterial::MsChapV1 { lm_hash_prefix, .. }) =
                        accept.key_material.as_mut()
                    {
                        if !self.lm_hash_allowed(user) {
                            // Wipes the octets and leaves `None`.
                            lm_hash_prefix.zeroize();
                        } else if lm_hash_prefix.is_none() && !request.response.is_password_change()
                        {
                            // A hash-only user given its LM hash
                            // (`CredentialStore::set_lm_hash`); never
                            // after a change, which makes it stale.
                            *lm_hash_prefix = user.lm_hash_prefix();
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

fn secret_reason(e: SecretError) -> FailureReason {
    match e {
        SecretError::CleartextRequired => FailureReason::CleartextRequired,
        SecretError::Unhashable(e) => FailureReason::StoredSecretUnusable(e),
    }
}

fn secret_failure(e: SecretError) -> Verdict {
    Verdict::reject(secret_reason(e))
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
            verify_mschapv1(
                challenge,
                &response.nt_response,
                &hash,
                secret.lm_hash_prefix(),
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
            let new = match new_hash_from_block(
                secret,
                &packet.encrypted_password,
                &packet.encrypted_hash,
            ) {
                Ok(new) => new,
                Err(reason) => return Verdict::reject(reason),
            };
            // §7: the NT-Response is checked as a Response's, with the
            // new password.
            with_new_hash(
                verify_mschapv2(request, authenticator_challenge, &packet.response(), &new),
                new,
            )
        }
        AuthResponse::MsChapV1ChangePassword { challenge, packet } => {
            // RFC 2433: the LM fields are the weak ones (§12) and are
            // never used; a packet that asks for them alone is refused,
            // as a Response with use-NT clear is.
            if packet.flags & CHANGE_PASSWORD_FLAG_USE_NT == 0 {
                return Verdict::reject(FailureReason::LmResponseRefused);
            }
            // A.11 and A.14 are RFC 2759 §8.9 and §8.12: the same check.
            let new = match new_hash_from_block(
                secret,
                &packet.encrypted_password,
                &packet.encrypted_hash,
            ) {
                Ok(new) => new,
                Err(reason) => return Verdict::reject(reason),
            };
            // The NT-Response is a Response's, with the new password,
            // over the Failure's challenge. No LM hash for the keys: the
            // new one is not known.
            with_new_hash(
                verify_mschapv1(challenge, &packet.nt_response, &new, None),
                new,
            )
        }
        AuthResponse::MsChapV1ChangePasswordV1 { challenge, packet } => {
            if packet.flags & CHANGE_PASSWORD_FLAG_USE_NT == 0 {
                return Verdict::reject(FailureReason::LmResponseRefused);
            }
            let old = match secret.to_nt_hash() {
                Ok(hash) => hash,
                Err(e) => return secret_failure(e),
            };
            // The new NT hash is under the old one; the old under the new
            // proves the peer knew the old password (no Response here).
            let new = NtHash::from_bytes(crypto::password_hash_decrypted_with_block(
                &packet.encrypted_new_nt_hash,
                old.as_bytes(),
            ));
            let expected = crypto::old_nt_hash_encrypted_with_new(old.as_bytes(), new.as_bytes());
            let key = MppeKeyMaterial::MsChapV1 {
                password_hash_hash: new.hash_hash(),
                lm_hash_prefix: None,
                challenge: *challenge,
            };
            with_new_hash(
                accept(
                    crypto::check_encrypted_hash(&expected, &packet.encrypted_old_nt_hash),
                    None,
                    Some(key),
                ),
                new,
            )
        }
    }
}

/// The new NT hash of a Change-Password that carries the new password
/// under the old hash (RFC 2759 §8.9/§8.10, RFC 2433 A.11), checked
/// against the old hash under the new one (RFC 2759 §8.12, RFC 2433
/// A.14). A block that does not decrypt to a sane length, or a hash that
/// does not match, means the peer does not know the old password.
fn new_hash_from_block(
    secret: &Secret,
    encrypted_password: &[u8; crypto::PW_BLOCK_LEN],
    encrypted_hash: &[u8; 16],
) -> Result<NtHash, FailureReason> {
    let old = secret.to_nt_hash().map_err(secret_reason)?;
    let new = crypto::new_nt_hash_from_pw_block(encrypted_password, old.as_bytes())
        .map(NtHash::from_bytes)
        .map_err(|_| FailureReason::WrongPassword)?;
    let expected = crypto::old_nt_hash_encrypted_with_new(old.as_bytes(), new.as_bytes());
    if crypto::check_encrypted_hash(&expected, encrypted_hash) {
        Ok(new)
    } else {
        Err(FailureReason::WrongPassword)
    }
}

/// An accepted change carries the new hash for the host to store.
fn with_new_hash(verdict: Verdict, new: NtHash) -> Verdict {
    match verdict {
        Verdict::Accept(accept) => Verdict::Accept(Accept {
            new_nt_hash: Some(new),
            ..accept
        }),
        reject => reject,
    }
}

/// The MS-CHAPv1 check (RFC 2433 A.5) of `nt_response` to `challenge`
/// with the NT hash `hash`: a Response's, or a Change Password's with the
/// new hash. The key material is RFC 3079 §2's.
fn verify_mschapv1(
    challenge: &[u8; 8],
    nt_response: &[u8; 24],
    hash: &NtHash,
    lm_hash_prefix: Option<[u8; 8]>,
) -> Verdict {
    let expected = crypto::mschapv1_nt_response(challenge, hash.as_bytes());
    let key = MppeKeyMaterial::MsChapV1 {
        password_hash_hash: hash.hash_hash(),
        lm_hash_prefix,
        challenge: *challenge,
    };
    accept(bool::from(expected.ct_eq(nt_response)), None, Some(key))
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
