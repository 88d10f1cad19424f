//! Secrets and the bounded local user store.
//!
//! The store plays the part of the PIX's `vpdn username NAME password PW`
//! lines: a fixed-capacity table of users, each with either a cleartext
//! password or only its NT password hash (MD4 of the UTF-16LE password).
//! Secrets are wiped from memory when dropped and never printed by
//! `Debug`.
//!
//! A hash-only user can authenticate with MS-CHAPv1 and MS-CHAPv2 only:
//! PAP compares the cleartext and CHAP-MD5 hashes it, so both need the
//! password itself ([`SecretError::CleartextRequired`]). It may also be
//! given its LM hash ([`CredentialStore::set_lm_hash`]) for MS-CHAPv1's
//! LM-based 40/56-bit MPPE keys, which a cleartext password yields by
//! itself.
//!
//! ## "DOMAIN\user" names
//!
//! Windows 98 sends MS-CHAP user names as `DOMAIN\user`; the PIX compared
//! names exactly and answered error 691 (see the origin document). The
//! store applies a [`DomainRule`]; the default,
//! [`DomainRule::ExactThenStripped`], first looks for the name as sent and
//! then for the part after the last backslash, so both configurations of
//! the origin document's workaround (configure `user`, or also
//! `DOMAIN\user`) work. The password still has to match; MS-CHAPv2 itself
//! hashes only the part after the backslash (RFC 2759 §8.2).

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{crypto, MsChapV1Keys, Name, MAX_NAME_LEN};

/// Longest password the store and the peer machines keep, in octets.
/// PAP carries at most 255 (one-octet Passwd-Length, RFC 1334 §2.2.1).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Errors from building secrets and from the store.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CredentialError {
    /// The user name is empty or longer than [`MAX_NAME_LEN`].
    BadNameLength {
        /// Its length.
        length: usize,
    },
    /// The password is longer than [`MAX_PASSWORD_LEN`].
    PasswordTooLong {
        /// Its length.
        length: usize,
    },
    /// An NT hash is not 16 octets.
    BadHashLength {
        /// Its length.
        length: usize,
    },
    /// The store is full.
    StoreFull {
        /// Its capacity.
        capacity: usize,
    },
    /// An LM hash given to a store that refuses them
    /// ([`CredentialStore::refuse_lm_hashes`]).
    LmHashRefused,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::BadNameLength { length } => {
                write!(f, "user name length {length} not in 1..={MAX_NAME_LEN}")
            }
            CredentialError::PasswordTooLong { length } => {
                write!(f, "password of {length} octets, at most {MAX_PASSWORD_LEN}")
            }
            CredentialError::BadHashLength { length } => {
                write!(f, "NT hash of {length} octets, expected 16")
            }
            CredentialError::StoreFull { capacity } => {
                write!(f, "credential store full ({capacity} users)")
            }
            CredentialError::LmHashRefused => {
                write!(f, "LM hash given, but the store refuses LM hashes")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CredentialError {}

/// Why a secret cannot serve a method.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SecretError {
    /// PAP and CHAP-MD5 need the cleartext password; only the NT hash is
    /// stored.
    CleartextRequired,
    /// The NT hash cannot be computed from the stored password.
    Unhashable(crypto::Error),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::CleartextRequired => {
                write!(
                    f,
                    "method needs the cleartext password, only the NT hash is known"
                )
            }
            SecretError::Unhashable(e) => write!(f, "cannot compute the NT hash: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SecretError {}

/// A cleartext password (at most [`MAX_PASSWORD_LEN`] octets), wiped on
/// drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password {
    bytes: [u8; MAX_PASSWORD_LEN],
    len: usize,
}

impl Password {
    /// Copies a password (octets as typed, UTF-8 for MS-CHAP).
    pub fn new(password: &[u8]) -> Result<Self, CredentialError> {
        let mut bytes = [0u8; MAX_PASSWORD_LEN];
        let dst = bytes
            .get_mut(..password.len())
            .ok_or(CredentialError::PasswordTooLong {
                length: password.len(),
            })?;
        dst.copy_from_slice(password);
        Ok(Password {
            bytes,
            len: password.len(),
        })
    }

    /// The password octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// Compares with `other` in time independent of the contents.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        bool::from(self.as_bytes().ct_eq(other))
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.as_bytes())
    }
}

impl Eq for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An NT password hash (RFC 2759 §8.3), wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct NtHash([u8; 16]);

impl NtHash {
    /// Wraps 16 hash octets.
    pub const fn from_bytes(hash: [u8; 16]) -> Self {
        NtHash(hash)
    }

    /// Wraps a 16-octet slice.
    pub fn from_slice(hash: &[u8]) -> Result<Self, CredentialError> {
        let hash: [u8; 16] = hash
            .try_into()
            .map_err(|_| CredentialError::BadHashLength { length: hash.len() })?;
        Ok(NtHash(hash))
    }

    /// Computes the hash of a UTF-8 password.
    pub fn from_password(password: &[u8]) -> Result<Self, crypto::Error> {
        crypto::nt_password_hash(password).map(NtHash)
    }

    /// The hash octets.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// HashNtPasswordHash (RFC 2759 §8.4): MD4 of this hash.
    pub fn hash_hash(&self) -> [u8; 16] {
        crypto::hash_nt_password_hash(&self.0)
    }
}

impl PartialEq for NtHash {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for NtHash {}

impl fmt::Debug for NtHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NtHash(<redacted>)")
    }
}

/// An LM password hash (RFC 2433 §A.2), wiped on drop: what a hash-only
/// user needs besides its NT hash for MS-CHAPv1's LM-based 40/56-bit MPPE
/// keys (RFC 3079 §2.1).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LmHash([u8; 16]);

impl LmHash {
    /// Wraps 16 hash octets.
    pub const fn from_bytes(hash: [u8; 16]) -> Self {
        LmHash(hash)
    }

    /// Wraps a 16-octet slice.
    pub fn from_slice(hash: &[u8]) -> Result<Self, CredentialError> {
        let hash: [u8; 16] = hash
            .try_into()
            .map_err(|_| CredentialError::BadHashLength { length: hash.len() })?;
        Ok(LmHash(hash))
    }

    /// Computes the hash of a password (RFC 2433 §A.2).
    pub fn from_password(password: &[u8]) -> Self {
        LmHash(crypto::lm_password_hash(password))
    }

    /// The first 8 octets, the input of RFC 3079 §2.1's keys.
    pub fn prefix(&self) -> [u8; 8] {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&self.0[..8]);
        prefix
    }
}

impl PartialEq for LmHash {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for LmHash {}

impl fmt::Debug for LmHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LmHash(<redacted>)")
    }
}

/// What is known about a user's password.
// No allocator (no_std, no alloc): variants are stored inline, by design.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Secret {
    /// The cleartext password: every method works.
    Password(Password),
    /// Only the NT hash: MS-CHAPv1 (NT response) and MS-CHAPv2 only.
    NtHash(NtHash),
}

impl Secret {
    /// A cleartext password secret.
    pub fn password(password: &[u8]) -> Result<Self, CredentialError> {
        Password::new(password).map(Secret::Password)
    }

    /// A hash-only secret from 16 octets.
    pub fn nt_hash(hash: &[u8]) -> Result<Self, CredentialError> {
        NtHash::from_slice(hash).map(Secret::NtHash)
    }

    /// The cleartext password, for PAP and CHAP-MD5.
    pub fn cleartext(&self) -> Result<&Password, SecretError> {
        match self {
            Secret::Password(p) => Ok(p),
            Secret::NtHash(_) => Err(SecretError::CleartextRequired),
        }
    }

    /// The NT hash (computed from the password if need be).
    pub fn to_nt_hash(&self) -> Result<NtHash, SecretError> {
        match self {
            Secret::Password(p) => {
                NtHash::from_password(p.as_bytes()).map_err(SecretError::Unhashable)
            }
            Secret::NtHash(h) => Ok(h.clone()),
        }
    }

    /// The LM password hash (RFC 2433 §A.2), available only from the
    /// cleartext password.
    pub fn lm_hash(&self) -> Option<[u8; 16]> {
        match self {
            Secret::Password(p) => Some(crypto::lm_password_hash(p.as_bytes())),
            Secret::NtHash(_) => None,
        }
    }

    /// The first 8 octets of the LM hash, the input of RFC 3079 §2.1
    /// 40/56-bit MPPE keys; the rest of the hash is wiped.
    pub fn lm_hash_prefix(&self) -> Option<[u8; 8]> {
        let mut lm = self.lm_hash()?;
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&lm[..8]);
        lm.zeroize();
        Some(prefix)
    }
}

/// How the store matches a received user name against configured names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DomainRule {
    /// Compare the name as received, octet for octet (what the PIX did:
    /// `DOMAIN\cisco` does not find `cisco`, error 691).
    Exact,
    /// Remove a `DOMAIN\` prefix (up to the last backslash) from the
    /// received name, then compare exactly.
    StripDomain,
    /// The default: try the name as received, then without the domain.
    #[default]
    ExactThenStripped,
}

/// Which form of the received user name found its entry in a
/// [`CredentialStore`] (under its [`DomainRule`]). An operator sees both:
/// the name the peer sent and the entry that let it in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NameMatch {
    /// The entry is the name as the peer sent it. Also what an external
    /// AAA decision reports: it decides on the name as sent.
    #[default]
    AsSent,
    /// The entry is the name without its `DOMAIN\` prefix (up to the
    /// last backslash), as Windows 98 sends MS-CHAP names.
    DomainStripped,
}

impl NameMatch {
    /// The entry's name, given the name as sent.
    pub fn entry(self, sent: &[u8]) -> &[u8] {
        match self {
            NameMatch::AsSent => sent,
            NameMatch::DomainStripped => crypto::strip_domain(sent),
        }
    }
}

/// One configured user.
#[derive(Clone, Debug)]
pub struct User {
    name: Name,
    secret: Secret,
    mschapv1_keys: Option<MsChapV1Keys>,
    /// The password has expired: a correct MS-CHAP Response is refused
    /// with `E=648` and the peer may change it (RFC 2759 §6, §7; RFC 2433
    /// Change Password packets).
    expired: bool,
    /// A hash-only user's LM hash, if the operator gave it
    /// ([`CredentialStore::set_lm_hash`]).
    lm_hash: Option<LmHash>,
}

impl User {
    /// Whether the password has expired ([`CredentialStore::set_expired`]).
    pub fn expired(&self) -> bool {
        self.expired
    }

    /// The configured name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// This user's MS-CHAPv1 40/56-bit key variant, if set
    /// ([`CredentialStore::set_mschapv1_keys`]).
    pub fn mschapv1_keys(&self) -> Option<MsChapV1Keys> {
        self.mschapv1_keys
    }

    /// The first 8 octets of the LM hash given with
    /// [`CredentialStore::set_lm_hash`] (a cleartext password's own LM hash
    /// is [`Secret::lm_hash_prefix`]).
    pub fn lm_hash_prefix(&self) -> Option<[u8; 8]> {
        self.lm_hash.as_ref().map(LmHash::prefix)
    }
}

/// A bounded local user store: at most `N` users. Names are compared
/// case-sensitively (as pppd does), under the store's [`DomainRule`].
#[derive(Clone, Debug, Default)]
pub struct CredentialStore<const N: usize> {
    users: heapless::Vec<User, N>,
    rule: DomainRule,
    /// No LM hash leaves the store (see [`CredentialStore::refuse_lm_hashes`]).
    lm_hashes_refused: bool,
}

impl<const N: usize> CredentialStore<N> {
    /// An empty store with the given name rule.
    pub const fn new(rule: DomainRule) -> Self {
        CredentialStore {
            users: heapless::Vec::new(),
            rule,
            lm_hashes_refused: false,
        }
    }

    /// `true`: the store's verdicts never carry an LM hash, so MS-CHAPv1
    /// 40/56-bit MPPE uses the NT-based key whatever the link's setting
    /// (an `Lm` setting then cannot start MPPE). The LM hash is weak (RFC
    /// 2433 §12: upper-cased, two independent 7-octet halves); a site
    /// without Windows 9x/NT clients keeps it out of the key path.
    pub fn refuse_lm_hashes(&mut self, refuse: bool) {
        self.lm_hashes_refused = refuse;
    }

    /// Whether [`CredentialStore::refuse_lm_hashes`] is on.
    pub fn lm_hashes_refused(&self) -> bool {
        self.lm_hashes_refused
    }

    /// Sets the MS-CHAPv1 40/56-bit key variant of the user named
    /// exactly `name` (`None`: the link's setting); false if there is no
    /// such user. A user on [`MsChapV1Keys::Nt`] gets no LM hash in its
    /// verdicts.
    pub fn set_mschapv1_keys(&mut self, name: &[u8], keys: Option<MsChapV1Keys>) -> bool {
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(user) => {
                user.mschapv1_keys = keys;
                true
            }
            None => false,
        }
    }

    /// Gives the user named exactly `name` an LM hash (`None` removes
    /// it), for a hash-only user that must use MS-CHAPv1's LM-based
    /// 40/56-bit MPPE keys (RFC 3079 §2.1; a cleartext password yields its
    /// own). `Ok(false)` if there is no such user;
    /// [`CredentialError::LmHashRefused`] if the store refuses LM hashes
    /// ([`CredentialStore::refuse_lm_hashes`]). A new secret or a password
    /// change drops it: it would no longer match.
    pub fn set_lm_hash(
        &mut self,
        name: &[u8],
        lm_hash: Option<LmHash>,
    ) -> Result<bool, CredentialError> {
        if lm_hash.is_some() && self.lm_hashes_refused {
            return Err(CredentialError::LmHashRefused);
        }
        Ok(match self.users.iter_mut().find(|u| u.name == name) {
            Some(user) => {
                user.lm_hash = lm_hash;
                true
            }
            None => false,
        })
    }

    /// Whether a verdict for `user` may carry the LM hash.
    pub(super) fn lm_hash_allowed(&self, user: &User) -> bool {
        !self.lm_hashes_refused && user.mschapv1_keys != Some(MsChapV1Keys::Nt)
    }

    /// The name rule.
    pub fn rule(&self) -> DomainRule {
        self.rule
    }

    /// Changes the name rule.
    pub fn set_rule(&mut self, rule: DomainRule) {
        self.rule = rule;
    }

    /// Adds a user, or replaces the secret of an existing user with the
    /// same name.
    pub fn insert(&mut self, name: &[u8], secret: Secret) -> Result<(), CredentialError> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(CredentialError::BadNameLength { length: name.len() });
        }
        if let Some(user) = self.users.iter_mut().find(|u| u.name == name) {
            user.secret = secret;
            user.lm_hash = None;
            return Ok(());
        }
        let name = Name::from_slice(name)
            .map_err(|_| CredentialError::BadNameLength { length: name.len() })?;
        self.users
            .push(User {
                name,
                secret,
                mschapv1_keys: None,
                expired: false,
                lm_hash: None,
            })
            .map_err(|_| CredentialError::StoreFull { capacity: N })
    }

    /// Adds a user with a cleartext password.
    pub fn insert_password(&mut self, name: &[u8], password: &[u8]) -> Result<(), CredentialError> {
        self.insert(name, Secret::password(password)?)
    }

    /// Marks the password of the user named exactly `name` expired (or
    /// not); returns whether the user exists. An expired user who answers
    /// an MS-CHAP Challenge correctly gets `E=648` and may send
    /// Change-Password (RFC 2759 §7; MS-CHAPv1: RFC 2433's Change
    /// Password packets); PAP and CHAP-MD5 refuse the user with 648 too,
    /// as a Windows server does.
    pub fn set_expired(&mut self, name: &[u8], expired: bool) -> bool {
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(user) => {
                user.expired = expired;
                true
            }
            None => false,
        }
    }

    /// Stores the NT hash a successful Change-Password produced (the
    /// host calls this on [`crate::auth::Event::PasswordChanged`], with
    /// the entry's name) and clears the expired flag. The cleartext
    /// password is never learnt, so the entry becomes hash-only: PAP and
    /// CHAP-MD5 no longer work for it. Returns whether the user exists.
    pub fn change_nt_hash(&mut self, name: &[u8], new_hash: NtHash) -> bool {
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(user) => {
                user.secret = Secret::NtHash(new_hash);
                user.lm_hash = None;
                user.expired = false;
                true
            }
            None => false,
        }
    }

    /// Removes a user by exact name; returns whether one was removed.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        match self.users.iter().position(|u| u.name == name) {
            Some(i) => {
                self.users.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the store has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn exact(&self, name: &[u8]) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Finds the user for a received name under the store's rule.
    pub fn lookup(&self, received: &[u8]) -> Option<&User> {
        self.lookup_match(received).map(|(user, _)| user)
    }

    /// As [`CredentialStore::lookup`], saying which form of the name
    /// found the entry.
    pub fn lookup_match(&self, received: &[u8]) -> Option<(&User, NameMatch)> {
        let exact = || self.exact(received).map(|u| (u, NameMatch::AsSent));
        let stripped = || {
            let name = crypto::strip_domain(received);
            // A name without a backslash is found as sent.
            let how = if name.len() == received.len() {
                NameMatch::AsSent
            } else {
                NameMatch::DomainStripped
            };
            self.exact(name).map(|u| (u, how))
        };
        match self.rule {
            DomainRule::Exact => exact(),
            DomainRule::StripDomain => stripped(),
            DomainRule::ExactThenStripped => exact().or_else(stripped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(rule: DomainRule) -> CredentialStore<4> {
        let mut s = CredentialStore::new(rule);
        s.insert_password(b"cisco", b"cisco").unwrap();
        s.insert_password(b"OTHER\\bob", b"pw").unwrap();
        s
    }

    #[test]
    fn domain_rules() {
        let exact = store(DomainRule::Exact);
        assert_eq!(exact.lookup(b"cisco").unwrap().name(), b"cisco");
        assert!(exact.lookup(b"DOMAIN\\cisco").is_none());
        assert_eq!(exact.lookup(b"OTHER\\bob").unwrap().name(), b"OTHER\\bob");

        let strip = store(DomainRule::StripDomain);
        assert_eq!(strip.lookup(b"DOMAIN\\cisco").unwrap().name(), b"cisco");
        assert_eq!(strip.lookup(b"cisco").unwrap().name(), b"cisco");
        // A configured name with a domain can never match once stripped.
        assert!(strip.lookup(b"OTHER\\bob").is_none());

        let either = store(DomainRule::ExactThenStripped);
        assert_eq!(either.lookup(b"DOMAIN\\cisco").unwrap().name(), b"cisco");
        assert_eq!(either.lookup(b"OTHER\\bob").unwrap().name(), b"OTHER\\bob");
        assert!(either.lookup(b"bob").is_none());
        assert!(
            either.lookup(b"Cisco").is_none(),
            "names are case-sensitive"
        );
        assert_eq!(DomainRule::default(), DomainRule::ExactThenStripped);
    }

    #[test]
    fn lookup_match_says_which_form_of_the_name_found_the_entry() {
        let how = |rule, name: &[u8]| {
            store(rule)
                .lookup_match(name)
                .map(|(u, m)| (u.name().to_vec(), m))
        };
        let found = |entry: &[u8], m| Some((entry.to_vec(), m));
        let either = DomainRule::ExactThenStripped;
        assert_eq!(how(either, b"cisco"), found(b"cisco", NameMatch::AsSent));
        assert_eq!(
            how(either, b"D\\cisco"),
            found(b"cisco", NameMatch::DomainStripped)
        );
        assert_eq!(
            how(either, b"OTHER\\bob"),
            found(b"OTHER\\bob", NameMatch::AsSent)
        );
        let strip = DomainRule::StripDomain;
        assert_eq!(how(strip, b"cisco"), found(b"cisco", NameMatch::AsSent));
        assert_eq!(
            how(strip, b"D\\cisco"),
            found(b"cisco", NameMatch::DomainStripped)
        );
        assert_eq!(how(DomainRule::Exact, b"D\\cisco"), None);
        assert_eq!(NameMatch::DomainStripped.entry(b"D\\cisco"), b"cisco");
        assert_eq!(NameMatch::AsSent.entry(b"D\\cisco"), b"D\\cisco");
    }

    #[test]
    fn store_bounds_and_replacement() {
        let mut s: CredentialStore<2> = CredentialStore::new(DomainRule::Exact);
        s.insert_password(b"a", b"1").unwrap();
        s.insert_password(b"b", b"2").unwrap();
        assert_eq!(
            s.insert_password(b"c", b"3"),
            Err(CredentialError::StoreFull { capacity: 2 })
        );
        // Replacing an existing user does not need room.
        s.insert(b"a", Secret::nt_hash(&[7; 16]).unwrap()).unwrap();
        assert_eq!(
            s.lookup(b"a").unwrap().secret(),
            &Secret::NtHash(NtHash::from_bytes([7; 16]))
        );
        assert_eq!(s.len(), 2);
        assert!(s.remove(b"a"));
        assert!(!s.remove(b"a"));
        assert_eq!(
            s.insert_password(b"", b"x"),
            Err(CredentialError::BadNameLength { length: 0 })
        );
        assert_eq!(
            s.insert_password(&[b'n'; 256], b"x"),
            Err(CredentialError::BadNameLength { length: 256 })
        );
        assert_eq!(
            Secret::password(&[0; 257]),
            Err(CredentialError::PasswordTooLong { length: 257 })
        );
        assert_eq!(
            Secret::nt_hash(&[0; 15]),
            Err(CredentialError::BadHashLength { length: 15 })
        );
    }

    #[test]
    fn hash_only_secret_refuses_cleartext_methods() {
        let secret = Secret::NtHash(NtHash::from_password(b"cisco").unwrap());
        assert_eq!(
            secret.cleartext().err(),
            Some(SecretError::CleartextRequired)
        );
        assert!(secret.lm_hash().is_none());
        assert_eq!(
            secret.to_nt_hash().unwrap(),
            Secret::password(b"cisco").unwrap().to_nt_hash().unwrap()
        );
        let bad = Secret::password(&[0xff]).unwrap();
        assert_eq!(
            bad.to_nt_hash().err(),
            Some(SecretError::Unhashable(crypto::Error::PasswordNotUtf8))
        );
    }

    #[test]
    fn lm_hash_of_a_hash_only_user_is_kept_refused_and_dropped() {
        let mut s: CredentialStore<2> = CredentialStore::new(DomainRule::Exact);
        s.insert(b"h", Secret::nt_hash(&[7; 16]).unwrap()).unwrap();
        let lm = LmHash::from_password(b"pw");
        assert_eq!(s.set_lm_hash(b"h", Some(lm.clone())), Ok(true));
        assert_eq!(s.set_lm_hash(b"nobody", Some(lm.clone())), Ok(false));
        assert_eq!(s.lookup(b"h").unwrap().lm_hash_prefix(), Some(lm.prefix()));
        // A change or a new secret makes it stale: dropped.
        assert!(s.change_nt_hash(b"h", NtHash::from_bytes([8; 16])));
        assert_eq!(s.lookup(b"h").unwrap().lm_hash_prefix(), None);
        s.set_lm_hash(b"h", Some(lm.clone())).unwrap();
        s.insert(b"h", Secret::nt_hash(&[9; 16]).unwrap()).unwrap();
        assert_eq!(s.lookup(b"h").unwrap().lm_hash_prefix(), None);
        // A store that refuses LM hashes refuses to take one.
        s.refuse_lm_hashes(true);
        assert_eq!(
            s.set_lm_hash(b"h", Some(lm)),
            Err(CredentialError::LmHashRefused)
        );
        assert_eq!(s.set_lm_hash(b"h", None), Ok(true));
        assert_eq!(
            LmHash::from_slice(&[0; 15]),
            Err(CredentialError::BadHashLength { length: 15 })
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        extern crate std;
        use std::format;
        let s = format!("{:?}", Secret::password(b"hunter2").unwrap());
        assert!(!s.contains("hunter2") && !s.contains("104"), "{s}");
        let h = format!("{:?}", Secret::nt_hash(&[0xab; 16]).unwrap());
        assert!(!h.contains("171") && !h.contains("ab"), "{h}");
    }
}
