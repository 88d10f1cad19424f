//! TOML configuration of `pptp-server` and `pptp-client`.
//!
//! The server's knobs mirror the PIX 6.3 configuration of the origin
//! document (`vpdn username`, `ip local pool`, `vpdn group N client
//! configuration dns/wins`, `vpdn group N ppp authentication ...`,
//! `vpdn group N ppp encryption mppe 40|128|auto [required]`,
//! `vpdn group N pptp echo`, the listen address of `vpdn enable outside`)
//! plus what a Linux host needs (TUN name, control socket), and the AAA
//! server group of `aaa-server TAG protocol radius|tacacs+`, `aaa-server
//! TAG (outside) host A.B.C.D KEY timeout 5` and `vpdn group 1 client
//! authentication aaa TAG` (`aaa = "radius" | "tacacs"` with a `[radius]`
//! or `[tacacs]` section; `aaa = "local"`, the default, uses `[[users]]`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ppp_core::auth::throttle::ThrottleConfig;
use ppp_core::auth::{DomainRule, LmHash, MsChapV1Keys, NtHash};
use ppp_core::time::Duration;
use ppp_core::wire::lcp::AuthMethod;
use serde::Deserialize;

/// Why a configuration was refused.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// `mppe 40|128|auto` (the PIX knob), plus `none` for no `mppe` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MppeStrength {
    /// No encryption offered (CCP rejected).
    None,
    /// 40-bit only.
    Bits40,
    /// 128-bit only.
    Bits128,
    /// 40 or 128, whatever the peer takes (128 preferred).
    Auto,
}

/// Stateless/stateful preference (RFC 3078 §2, the H bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MppeMode {
    /// Only stateless (pppd's and Windows' default).
    Stateless,
    /// Only stateful.
    Stateful,
    /// Request stateless, accept stateful.
    PreferStateless,
    /// Request stateful, accept stateless.
    PreferStateful,
}

/// MPPE settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MppeSettings {
    /// Strengths.
    pub strength: MppeStrength,
    /// `required`: end the link when MPPE is not agreed.
    pub required: bool,
    /// Stateless/stateful.
    pub mode: MppeMode,
}

impl std::fmt::Display for MppeSettings {
    /// The settings as the configuration spells them: "128 required,
    /// stateless", "auto, prefer-stateful", "none".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let strength = match self.strength {
            MppeStrength::None => return f.write_str("none"),
            MppeStrength::Bits40 => "40",
            MppeStrength::Bits128 => "128",
            MppeStrength::Auto => "auto",
        };
        let mode = match self.mode {
            MppeMode::Stateless => "stateless",
            MppeMode::Stateful => "stateful",
            MppeMode::PreferStateless => "prefer-stateless",
            MppeMode::PreferStateful => "prefer-stateful",
        };
        let required = if self.required { " required" } else { "" };
        write!(f, "{strength}{required}, {mode}")
    }
}

impl MppeSettings {
    /// The `mppe` crate policy for these settings.
    pub fn policy(&self) -> mppe::Policy {
        use mppe::{KeyStrength, ModePreference, PixEncryption, Policy, Strengths};
        let mut policy = match self.strength {
            MppeStrength::None => return Policy::disabled(),
            MppeStrength::Bits40 => Policy::pix(PixEncryption::Bits40, self.required),
            MppeStrength::Bits128 => Policy::pix(PixEncryption::Bits128, self.required),
            MppeStrength::Auto => Policy::pix(PixEncryption::Auto, self.required),
        };
        if self.strength == MppeStrength::Bits128 {
            policy.strengths = Strengths::only(KeyStrength::Bits128);
        }
        policy.mode = match self.mode {
            MppeMode::Stateless => ModePreference::StatelessOnly,
            MppeMode::Stateful => ModePreference::StatefulOnly,
            MppeMode::PreferStateless => ModePreference::PreferStateless,
            MppeMode::PreferStateful => ModePreference::PreferStateful,
        };
        policy
    }
}

/// Parses `none|40|128|auto`.
pub fn parse_mppe_strength(s: &str) -> Result<MppeStrength, ConfigError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "none" | "off" | "no" => Ok(MppeStrength::None),
        "40" => Ok(MppeStrength::Bits40),
        "128" => Ok(MppeStrength::Bits128),
        "auto" => Ok(MppeStrength::Auto),
        other => err(format!("mppe: `{other}` is not one of none, 40, 128, auto")),
    }
}

/// Parses `stateless|stateful|prefer-stateless|prefer-stateful`.
pub fn parse_mppe_mode(s: &str) -> Result<MppeMode, ConfigError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "stateless" => Ok(MppeMode::Stateless),
        "stateful" => Ok(MppeMode::Stateful),
        "prefer-stateless" => Ok(MppeMode::PreferStateless),
        "prefer-stateful" => Ok(MppeMode::PreferStateful),
        other => err(format!(
            "mppe_mode: `{other}` is not one of stateless, stateful, prefer-stateless, prefer-stateful"
        )),
    }
}

/// Parses an authentication method name (pppd / PIX spelling).
pub fn parse_auth_method(s: &str) -> Result<AuthMethod, ConfigError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "pap" => Ok(AuthMethod::Pap),
        "chap" | "chap-md5" => Ok(AuthMethod::ChapMd5),
        "mschap" | "ms-chap" | "mschap-v1" | "ms-chap-v1" | "mschapv1" => Ok(AuthMethod::MsChapV1),
        "mschap-v2" | "ms-chap-v2" | "mschapv2" => Ok(AuthMethod::MsChapV2),
        other => err(format!(
            "auth: `{other}` is not one of pap, chap, mschap, mschap-v2"
        )),
    }
}

/// Parses a list of methods; at least one, no duplicates.
pub fn parse_auth_list<S: AsRef<str>>(list: &[S]) -> Result<Vec<AuthMethod>, ConfigError> {
    let mut methods = Vec::new();
    for name in list {
        let m = parse_auth_method(name.as_ref())?;
        if methods.contains(&m) {
            return err(format!("auth: `{}` listed twice", name.as_ref()));
        }
        methods.push(m);
    }
    if methods.is_empty() {
        return err("auth: at least one method is needed");
    }
    if methods.len() > ppp_core::lcp::MAX_AUTH_METHODS {
        return err("auth: too many methods");
    }
    Ok(methods)
}

/// `strip_domain = "never" | "on-miss" | "always"`: how a `DOMAIN\user`
/// login finds its `[[users]]` entry. "never" compares the name as sent
/// (the PIX: `DOMAIN\bob` does not find `bob`, error 691); "on-miss", the
/// default, tries the name as sent, then without the domain; "always"
/// drops the domain first (then an entry that has one never matches).
pub fn parse_strip_domain(s: &str) -> Result<DomainRule, ConfigError> {
    match s {
        "never" => Ok(DomainRule::Exact),
        "on-miss" => Ok(DomainRule::ExactThenStripped),
        "always" => Ok(DomainRule::StripDomain),
        other => err(format!(
            "strip_domain = \"{other}\": expected \"never\", \"on-miss\" or \"always\""
        )),
    }
}

/// Parses `mschapv1_keys`: which start key MS-CHAPv1 with 40/56-bit
/// MPPE uses: "auto" (decide from the client's first packet), "nt"
/// (pppd, Linux), "lm" (RFC 3079 §2.1: Windows 95/98/NT/2000).
pub fn parse_mschapv1_keys(s: &str) -> Result<MsChapV1Keys, ConfigError> {
    MsChapV1Keys::parse(s).ok_or_else(|| {
        ConfigError(format!(
            "mschapv1_keys = \"{s}\": expected \"auto\", \"nt\" or \"lm\""
        ))
    })
}

fn user_mschapv1_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<MsChapV1Keys>, D::Error> {
    let text = String::deserialize(d)?;
    parse_mschapv1_keys(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A 16-octet password hash written as 32 hex digits.
fn hash_hex<'de, D: serde::Deserializer<'de>, T>(
    d: D,
    make: fn(&[u8]) -> Result<T, ppp_core::auth::credentials::CredentialError>,
) -> Result<Option<T>, D::Error> {
    let text = zeroize::Zeroizing::new(String::deserialize(d)?);
    let octets = zeroize::Zeroizing::new(
        crate::keys::parse_hex_array::<16>(&text, "hash")
            .map_err(|_| serde::de::Error::custom("expected 32 hex digits"))?,
    );
    make(&octets[..])
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn user_nt_hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NtHash>, D::Error> {
    hash_hex(d, NtHash::from_slice)
}

fn user_lm_hash<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<LmHash>, D::Error> {
    hash_hex(d, LmHash::from_slice)
}

/// One `vpdn username NAME password SECRET`, or a user known by its
/// hashes only.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name.
    pub name: String,
    /// Cleartext password (every method); exactly one of this and
    /// `nt_hash`.
    #[serde(default)]
    pub password: Option<String>,
    /// The NT password hash (MD4 of the UTF-16LE password, 32 hex
    /// digits) instead of the password: MS-CHAPv1 and MS-CHAPv2 only.
    #[serde(default, deserialize_with = "user_nt_hash")]
    pub nt_hash: Option<NtHash>,
    /// With `nt_hash`: the LM password hash (32 hex digits), for
    /// MS-CHAPv1's LM-based 40/56-bit MPPE keys (RFC 3079 §2.1; a
    /// password's is computed from it). Refused with `lm_hashes = false`.
    #[serde(default, deserialize_with = "user_lm_hash")]
    pub lm_hash: Option<LmHash>,
    /// This user's MS-CHAPv1 40/56-bit start key
    /// ([`parse_mschapv1_keys`]); `None`: the server's `mschapv1_keys`.
    #[serde(default, deserialize_with = "user_mschapv1_keys")]
    pub mschapv1_keys: Option<MsChapV1Keys>,
    /// The password has expired: a right MS-CHAP login gets error 648
    /// and may change it in-band (RFC 2759 §7, RFC 2433 Change Password;
    /// Windows asks the user for a new one); PAP and CHAP-MD5 are refused
    /// with 648. Default false.
    #[serde(default)]
    pub expired: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    first: Ipv4Addr,
    last: Ipv4Addr,
}

/// `[limits]`: what a peer may hold before it authenticates, and per user
/// (pptp_core::endpoint::Limits; issue #14).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    setup_timeout_secs: Option<u64>,
    idle_connection_secs: Option<u64>,
    max_unauthenticated: Option<usize>,
    max_unauthenticated_per_source: Option<usize>,
    max_connections_per_source: Option<usize>,
    max_sessions_per_user: Option<usize>,
    calls_per_connection: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    local_address: Ipv4Addr,
    pool: RawPool,
    #[serde(default)]
    dns: Vec<Ipv4Addr>,
    #[serde(default)]
    wins: Vec<Ipv4Addr>,
    auth: Option<Vec<String>>,
    mppe: Option<String>,
    #[serde(default)]
    mppe_required: bool,
    mppe_mode: Option<String>,
    mschapv1_keys: Option<String>,
    lm_hashes: Option<bool>,
    max_sessions: Option<usize>,
    keepalive_secs: Option<u64>,
    chap_interval_secs: Option<u64>,
    tun_name: Option<String>,
    mtu: Option<u16>,
    mss_clamp: Option<bool>,
    receive_window: Option<u16>,
    honour_peer_window: Option<bool>,
    workers: Option<usize>,
    tun_offload: Option<bool>,
    host_name: Option<String>,
    control_socket: Option<PathBuf>,
    #[serde(default)]
    users: Vec<User>,
    strip_domain: Option<String>,
    #[serde(default)]
    limits: RawLimits,
    aaa: Option<String>,
    radius: Option<RawRadius>,
    tacacs: Option<RawTacacs>,
    login_throttle: Option<RawThrottle>,
}

/// `[login_throttle]`: failed logins per user name and per client
/// address (`ppp_core::auth::throttle`); `max_fail` is named after the
/// ASA's `aaa local authentication attempts max-fail` (the PIX 6.3 had no
/// such knob).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    enabled: Option<bool>,
    free_failures: Option<u16>,
    delay_base_ms: Option<u64>,
    delay_max_secs: Option<u64>,
    max_fail: Option<u16>,
    lockout_secs: Option<u64>,
    reset_secs: Option<u64>,
}

fn throttle_settings(raw: Option<RawThrottle>) -> Result<Option<ThrottleConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Some(ThrottleConfig::default()));
    };
    if raw.enabled == Some(false) {
        return Ok(None);
    }
    let d = ThrottleConfig::default();
    let c = ThrottleConfig {
        free_failures: raw.free_failures.unwrap_or(d.free_failures),
        delay_base: raw
            .delay_base_ms
            .map_or(d.delay_base, Duration::from_millis),
        delay_max: raw.delay_max_secs.map_or(d.delay_max, Duration::from_secs),
        block_after: raw.max_fail.unwrap_or(d.block_after),
        block_time: raw.lockout_secs.map_or(d.block_time, Duration::from_secs),
        forget_after: raw.reset_secs.map_or(d.forget_after, Duration::from_secs),
    };
    if c.block_after == 0 {
        return err("login_throttle: max_fail must be at least 1 (enabled = false turns it off)");
    }
    if c.forget_after < c.block_time {
        // A counter forgotten before its lockout ends would give a
        // guesser a fresh allowance after every lockout.
        return err("login_throttle: reset_secs must be at least lockout_secs");
    }
    Ok(Some(c))
}

/// The server's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// TCP listen address (default 0.0.0.0:1723).
    pub listen: SocketAddr,
    /// Our tunnel address, sent in IPCP and put on the TUN device.
    pub local_address: Ipv4Addr,
    /// `ip local pool NAME first-last`.
    pub pool_first: Ipv4Addr,
    /// Last address of the pool.
    pub pool_last: Ipv4Addr,
    /// DNS servers given to clients (at most 2).
    pub dns: [Option<Ipv4Addr>; 2],
    /// WINS (NBNS) servers given to clients (at most 2).
    pub wins: [Option<Ipv4Addr>; 2],
    /// Authentication methods asked for, in order.
    pub auth: Vec<AuthMethod>,
    /// MPPE.
    pub mppe: MppeSettings,
    /// MS-CHAPv1 with 40/56-bit MPPE: the start key for users without
    /// their own setting ([`parse_mschapv1_keys`]; default "auto").
    pub mschapv1_keys: MsChapV1Keys,
    /// `lm_hashes = false`: the local users' LM password hashes are never
    /// used (no LM-based MPPE key), whatever `mschapv1_keys` says.
    pub lm_hashes: bool,
    /// At most this many established calls.
    pub max_sessions: usize,
    /// PPTP Echo-Request interval (RFC 2637 §3.1.4).
    pub keepalive_secs: u64,
    /// CHAP re-authentication every this many seconds (RFC 1994 §3;
    /// pppd's `chap-interval`); `None`, the default, never.
    pub chap_interval_secs: Option<u64>,
    /// TUN device name.
    pub tun_name: String,
    /// TUN device MTU.
    pub mtu: u16,
    /// Clamp the MSS of TCP SYNs to what each session carries (default
    /// on; `pptp_core::endpoint::ServerConfig::mss_clamp`).
    pub mss_clamp: bool,
    /// Packet Receive Window Size we advertise (RFC 2637 §2.8; default
    /// `pptp_core::endpoint::DEFAULT_RECEIVE_WINDOW`).
    pub receive_window: u16,
    /// Keep to the window each peer advertised (default on; off sends
    /// as the Linux kernel driver does, see
    /// `pptp_core::endpoint::ServerConfig::honour_peer_window`).
    pub honour_peer_window: bool,
    /// Worker threads, each with its own endpoint, raw GRE socket, TUN
    /// device and slice of the pool (`pptp_core::endpoint::ServerConfig::
    /// worker`). Default 1; `0` in the file means one per core.
    pub workers: usize,
    /// TUN offloads (`IFF_VNET_HDR`; default on; `crate::net::tun_offload`):
    /// the TCP segments of one flow from a GRE batch merged into one write
    /// (as Linux's GRO), and TCP super-packets read (TSO) and cut into
    /// segments here.
    pub tun_offload: bool,
    /// Host Name in SCCRP and CHAP Challenges.
    pub host_name: String,
    /// Unix socket for `status` / `clear`.
    pub control_socket: PathBuf,
    /// Local users.
    pub users: Vec<User>,
    /// How a `DOMAIN\user` login finds its entry in `users`
    /// ([`parse_strip_domain`]).
    pub strip_domain: DomainRule,
    /// `[limits]`: pre-authentication and per-user limits.
    pub limits: pptp_core::endpoint::Limits,
    /// `[limits] calls_per_connection`: calls one control connection may
    /// carry (1 to 4; Windows and the PIX place one, pptp-linux several).
    pub calls_per_connection: usize,
    /// Who decides authentication: local users, RADIUS or TACACS+.
    pub aaa: AaaSettings,
    /// Login throttling (`[login_throttle]`, on by default), `None` when
    /// off.
    pub login_throttle: Option<ThrottleConfig>,
}

/// The `[limits]` table over the endpoint's defaults (a count of 0 means
/// "no limit"; `max_unauthenticated = 0`, half of `max_sessions`).
fn limits(raw: &RawLimits) -> Result<pptp_core::endpoint::Limits, ConfigError> {
    let mut l = pptp_core::endpoint::Limits::default();
    let secs = |v: Option<u64>, default: pptp_core::time::Duration, what: &str| match v {
        Some(0) => err(format!("limits: {what} must be at least 1")),
        Some(s) => Ok(pptp_core::time::Duration::from_secs(s)),
        None => Ok(default),
    };
    l.setup_timeout = secs(
        raw.setup_timeout_secs,
        l.setup_timeout,
        "setup_timeout_secs",
    )?;
    l.idle_connection_timeout = secs(
        raw.idle_connection_secs,
        l.idle_connection_timeout,
        "idle_connection_secs",
    )?;
    l.max_unauthenticated = raw.max_unauthenticated.unwrap_or(l.max_unauthenticated);
    l.max_unauthenticated_per_source = raw
        .max_unauthenticated_per_source
        .unwrap_or(l.max_unauthenticated_per_source);
    l.max_connections_per_source = raw
        .max_connections_per_source
        .unwrap_or(l.max_connections_per_source);
    l.max_sessions_per_user = raw.max_sessions_per_user.unwrap_or(l.max_sessions_per_user);
    Ok(l)
}

fn two(list: &[Ipv4Addr], what: &str) -> Result<[Option<Ipv4Addr>; 2], ConfigError> {
    if list.len() > 2 {
        return err(format!("{what}: at most two servers"));
    }
    Ok([list.first().copied(), list.get(1).copied()])
}

impl ServerConfig {
    /// Parses and checks a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawServer = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        if u32::from(raw.pool.first) > u32::from(raw.pool.last) {
            return err("pool: first is after last");
        }
        let pool_size = u32::from(raw.pool.last) - u32::from(raw.pool.first) + 1;
        if pool_size > pptp_core::endpoint::POOL_CAPACITY {
            return err(format!(
                "pool: {pool_size} addresses, at most {} supported",
                pptp_core::endpoint::POOL_CAPACITY
            ));
        }
        let in_pool = |a: Ipv4Addr| {
            (u32::from(raw.pool.first)..=u32::from(raw.pool.last)).contains(&u32::from(a))
        };
        if in_pool(raw.local_address) {
            return err("local_address lies inside the pool");
        }
        let auth = match &raw.auth {
            Some(list) => parse_auth_list(list)?,
            None => vec![AuthMethod::MsChapV2, AuthMethod::MsChapV1],
        };
        let strength = parse_mppe_strength(raw.mppe.as_deref().unwrap_or("auto"))?;
        let mode = parse_mppe_mode(raw.mppe_mode.as_deref().unwrap_or("stateless"))?;
        if strength != MppeStrength::None
            && !auth
                .iter()
                .any(|m| matches!(m, AuthMethod::MsChapV1 | AuthMethod::MsChapV2))
            && raw.mppe_required
        {
            return err("mppe required needs MS-CHAP (v1 or v2): MPPE keys come from it");
        }
        let aaa = aaa_settings(
            raw.aaa.as_deref(),
            raw.radius,
            raw.tacacs,
            raw.mppe_required && strength != MppeStrength::None,
        )?;
        if raw.users.is_empty() && aaa == AaaSettings::Local {
            return err("no [[users]] (and aaa = \"local\")");
        }
        let lm_hashes = raw.lm_hashes.unwrap_or(true);
        for u in &raw.users {
            if u.name.is_empty() || u.name.len() > 255 {
                return err(format!("user `{}`: bad name length", u.name));
            }
            if u.password.is_some() == u.nt_hash.is_some() {
                return err(format!(
                    "user `{}`: give exactly one of password and nt_hash",
                    u.name
                ));
            }
            if u.lm_hash.is_some() && u.nt_hash.is_none() {
                return err(format!(
                    "user `{}`: lm_hash goes with nt_hash (a password's is computed)",
                    u.name
                ));
            }
            if u.lm_hash.is_some() && !lm_hashes {
                return err(format!(
                    "user `{}`: lm_hash given, but lm_hashes = false",
                    u.name
                ));
            }
        }
        let max_sessions = raw.max_sessions.unwrap_or(256);
        if max_sessions == 0 {
            return err("max_sessions must be at least 1");
        }
        let max_workers = usize::from(pptp_core::endpoint::MAX_WORKERS);
        let workers = match raw.workers.unwrap_or(1) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(max_workers)),
            n if n > max_workers => return err("workers: 1 to 64, or 0 for one per core"),
            n => n,
        };
        let tun_name = raw.tun_name.unwrap_or_else(|| "pptp0".into());
        if workers > 1 && tun_name.len() > 12 {
            // Worker k's device is `{tun_name}-{k}` (k < 64).
            return err("tun_name: at most 12 characters with several workers");
        }
        if tun_name.is_empty() || tun_name.len() > 15 {
            return err("tun_name: 1 to 15 characters");
        }
        let host_name = raw.host_name.unwrap_or_else(|| "pptp-server".into());
        if host_name.len() > 64 {
            return err("host_name: at most 64 octets");
        }
        Ok(ServerConfig {
            listen: raw.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 1723))),
            local_address: raw.local_address,
            pool_first: raw.pool.first,
            pool_last: raw.pool.last,
            dns: two(&raw.dns, "dns")?,
            wins: two(&raw.wins, "wins")?,
            auth,
            mppe: MppeSettings {
                strength,
                required: raw.mppe_required,
                mode,
            },
            mschapv1_keys: parse_mschapv1_keys(raw.mschapv1_keys.as_deref().unwrap_or("auto"))?,
            lm_hashes,
            max_sessions,
            keepalive_secs: raw.keepalive_secs.unwrap_or(60).max(1),
            chap_interval_secs: match raw.chap_interval_secs {
                Some(0) => return err("chap_interval_secs: at least 1 (leave it out for never)"),
                n => n,
            },
            tun_name,
            mtu: raw.mtu.unwrap_or(1396),
            mss_clamp: raw.mss_clamp.unwrap_or(true),
            receive_window: raw
                .receive_window
                .unwrap_or(pptp_core::endpoint::DEFAULT_RECEIVE_WINDOW)
                .max(1),
            honour_peer_window: raw.honour_peer_window.unwrap_or(true),
            workers,
            tun_offload: raw.tun_offload.unwrap_or(true),
            host_name,
            control_socket: raw
                .control_socket
                .unwrap_or_else(|| PathBuf::from("/run/pptp-server.sock")),
            users: raw.users,
            strip_domain: parse_strip_domain(raw.strip_domain.as_deref().unwrap_or("on-miss"))?,
            limits: limits(&raw.limits)?,
            calls_per_connection: match raw.limits.calls_per_connection.unwrap_or(4) {
                n @ 1..=4 => n,
                n => return err(format!("limits: calls_per_connection = {n}: 1 to 4")),
            },
            aaa,
            login_throttle: throttle_settings(raw.login_throttle)?,
        })
    }
}

/// Default RADIUS authentication port (RFC 2865 §3).
pub const RADIUS_AUTH_PORT: u16 = 1812;
/// Default RADIUS accounting port (RFC 2866 §3).
pub const RADIUS_ACCT_PORT: u16 = 1813;
/// Default TACACS+ port (RFC 8907 §4).
pub const TACACS_PORT: u16 = 49;
/// RADIUS or TACACS+ servers per group (tried in order).
pub const MAX_AAA_SERVERS: usize = 4;

/// The origin document's reason for refusing TACACS+ with required MPPE.
pub const TACACS_MPPE_REFUSAL: &str = "aaa = \"tacacs\" with mppe_required = true: TACACS+ cannot \
     carry MPPE keys (only RADIUS can, with the Microsoft vendor attributes of RFC 2548), so no \
     session could ever be encrypted; the origin document (Cisco PIX 6.3 PPTP guide): \"TACACS+ \
     cannot be combined with encryption\". Use aaa = \"radius\", or mppe_required = false \
     (sessions then run unencrypted)";

/// One RADIUS server (`aaa-server TAG (outside) host A.B.C.D KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct RadiusServer {
    /// Where Access-Requests go.
    pub auth: SocketAddr,
    /// Where Accounting-Requests go.
    pub acct: SocketAddr,
    /// The shared secret (RFC 2865 §3), 1 to 128 octets.
    pub secret: String,
}

impl std::fmt::Debug for RadiusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusServer")
            .field("auth", &self.auth)
            .field("acct", &self.acct)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The `[radius]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RadiusSettings {
    /// Servers, primary first (failover after `retries` transmissions).
    pub servers: Vec<RadiusServer>,
    /// First retransmission timeout in seconds (doubled per retry, at
    /// most 4 times the first): the PIX's `timeout 5`.
    pub timeout_secs: u64,
    /// Transmissions per server before the next one (at least 1).
    pub retries: u8,
    /// NAS-Identifier (RFC 2865 §5.32).
    pub nas_identifier: String,
    /// NAS-IP-Address (RFC 2865 §5.4).
    pub nas_ip: Option<Ipv4Addr>,
    /// Accounting (RFC 2866): Start when IPCP opens, Stop at the end.
    pub accounting: bool,
    /// Interim-Update interval in seconds (0: none).
    pub interim_interval_secs: u64,
}

/// One TACACS+ server.
#[derive(Clone, PartialEq, Eq)]
pub struct TacacsServer {
    /// Its address.
    pub address: SocketAddr,
    /// The obfuscation key (RFC 8907 §4.5), 1 to 128 octets.
    pub key: String,
}

impl std::fmt::Debug for TacacsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TacacsServer")
            .field("address", &self.address)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The `[tacacs]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TacacsSettings {
    /// Servers, primary first (the next one after a timeout or a refused
    /// connection).
    pub servers: Vec<TacacsServer>,
    /// Seconds to wait for each reply (including the TCP connect).
    pub timeout_secs: u64,
    /// Ask for single-connection mode (RFC 8907 §4.3): one TCP connection
    /// carries every session while the server agrees.
    pub single_connection: bool,
    /// Authorize `service=ppp protocol=ip` after authentication (RFC 8907
    /// §6; `addr=` and `dns-servers=` reach IPCP).
    pub authorization: bool,
    /// Accounting START/WATCHDOG/STOP (RFC 8907 §7).
    pub accounting: bool,
    /// WATCHDOG interval in seconds (0: none).
    pub interim_interval_secs: u64,
}

/// `vpdn group 1 client authentication local | aaa TAG`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AaaSettings {
    /// The `[[users]]` list decides.
    #[default]
    Local,
    /// A RADIUS server group decides (MPPE keys from RFC 2548 attributes).
    Radius(RadiusSettings),
    /// A TACACS+ server group decides (no MPPE keys).
    Tacacs(TacacsSettings),
}

impl AaaSettings {
    /// `local`, `radius` or `tacacs`.
    pub fn name(&self) -> &'static str {
        match self {
            AaaSettings::Local => "local",
            AaaSettings::Radius(_) => "radius",
            AaaSettings::Tacacs(_) => "tacacs",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadiusServer {
    address: String,
    acct_port: Option<u16>,
    secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadius {
    #[serde(default)]
    servers: Vec<RawRadiusServer>,
    secret: Option<String>,
    auth_port: Option<u16>,
    acct_port: Option<u16>,
    timeout_secs: Option<u64>,
    retries: Option<u8>,
    nas_identifier: Option<String>,
    nas_ip: Option<Ipv4Addr>,
    accounting: Option<bool>,
    interim_interval_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTacacsServer {
    address: String,
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTacacs {
    #[serde(default)]
    servers: Vec<RawTacacsServer>,
    key: Option<String>,
    timeout_secs: Option<u64>,
    single_connection: Option<bool>,
    authorization: Option<bool>,
    accounting: Option<bool>,
    interim_interval_secs: Option<u64>,
}

/// `A.B.C.D` or `A.B.C.D:PORT` (IPv4: the NAS speaks to its AAA servers
/// over IPv4 like the PIX).
fn server_address(text: &str, default_port: u16, what: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(SocketAddr::from((ip, default_port)));
    }
    match text.parse::<SocketAddr>() {
        Ok(a) if a.is_ipv4() && a.port() != 0 => Ok(a),
        _ => err(format!(
            "{what}: address `{text}` is not A.B.C.D or A.B.C.D:PORT"
        )),
    }
}

fn secret_ok(secret: Option<String>, what: &str, field: &str) -> Result<String, ConfigError> {
    match secret {
        None => err(format!(
            "{what}: no {field} (set it on the server or in the section)"
        )),
        Some(s) if s.is_empty() => err(format!("{what}: empty {field}")),
        Some(s) if s.len() > 128 => err(format!("{what}: {field} longer than 128 octets")),
        Some(s) => Ok(s),
    }
}

fn radius_settings(raw: RawRadius) -> Result<RadiusSettings, ConfigError> {
    if raw.servers.is_empty() {
        return err("[radius]: servers is empty (at least one `{ address, secret }`)");
    }
    if raw.servers.len() > MAX_AAA_SERVERS {
        return err(format!("[radius]: at most {MAX_AAA_SERVERS} servers"));
    }
    let auth_port = raw.auth_port.unwrap_or(RADIUS_AUTH_PORT);
    let acct_port = raw.acct_port.unwrap_or(RADIUS_ACCT_PORT);
    let mut servers = Vec::new();
    for (i, s) in raw.servers.into_iter().enumerate() {
        let what = format!("[radius] server {} ({})", i + 1, s.address);
        let auth = server_address(&s.address, auth_port, &what)?;
        let acct = SocketAddr::from((auth.ip(), s.acct_port.unwrap_or(acct_port)));
        let secret = secret_ok(s.secret.or_else(|| raw.secret.clone()), &what, "secret")?;
        servers.push(RadiusServer { auth, acct, secret });
    }
    let timeout_secs = raw.timeout_secs.unwrap_or(5);
    if timeout_secs == 0 || timeout_secs > 60 {
        return err("[radius]: timeout_secs must be 1 to 60");
    }
    let retries = raw.retries.unwrap_or(3);
    if retries == 0 {
        return err("[radius]: retries must be at least 1");
    }
    let nas_identifier = raw.nas_identifier.unwrap_or_else(|| "pptp-server".into());
    if nas_identifier.is_empty() || nas_identifier.len() > 64 {
        return err("[radius]: nas_identifier must be 1 to 64 octets");
    }
    Ok(RadiusSettings {
        servers,
        timeout_secs,
        retries,
        nas_identifier,
        nas_ip: raw.nas_ip,
        accounting: raw.accounting.unwrap_or(true),
        interim_interval_secs: raw.interim_interval_secs.unwrap_or(0),
    })
}

fn tacacs_settings(raw: RawTacacs) -> Result<TacacsSettings, ConfigError> {
    if raw.servers.is_empty() {
        return err("[tacacs]: servers is empty (at least one `{ address, key }`)");
    }
    if raw.servers.len() > MAX_AAA_SERVERS {
        return err(format!("[tacacs]: at most {MAX_AAA_SERVERS} servers"));
    }
    let mut servers = Vec::new();
    for (i, s) in raw.servers.into_iter().enumerate() {
        let what = format!("[tacacs] server {} ({})", i + 1, s.address);
        let address = server_address(&s.address, TACACS_PORT, &what)?;
        let key = secret_ok(s.key.or_else(|| raw.key.clone()), &what, "key")?;
        servers.push(TacacsServer { address, key });
    }
    let timeout_secs = raw.timeout_secs.unwrap_or(5);
    if timeout_secs == 0 || timeout_secs > 60 {
        return err("[tacacs]: timeout_secs must be 1 to 60");
    }
    Ok(TacacsSettings {
        servers,
        timeout_secs,
        single_connection: raw.single_connection.unwrap_or(false),
        authorization: raw.authorization.unwrap_or(true),
        accounting: raw.accounting.unwrap_or(true),
        interim_interval_secs: raw.interim_interval_secs.unwrap_or(0),
    })
}

fn aaa_settings(
    aaa: Option<&str>,
    radius: Option<RawRadius>,
    tacacs: Option<RawTacacs>,
    mppe_required: bool,
) -> Result<AaaSettings, ConfigError> {
    match aaa.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("local") => Ok(AaaSettings::Local),
        Some("radius") => match radius {
            Some(r) => Ok(AaaSettings::Radius(radius_settings(r)?)),
            None => err("aaa = \"radius\" needs a [radius] section with servers"),
        },
        Some("tacacs") | Some("tacacs+") => {
            if mppe_required {
                return err(TACACS_MPPE_REFUSAL);
            }
            match tacacs {
                Some(t) => Ok(AaaSettings::Tacacs(tacacs_settings(t)?)),
                None => err("aaa = \"tacacs\" needs a [tacacs] section with servers"),
            }
        }
        Some(other) => err(format!(
            "aaa: `{other}` is not one of local, radius, tacacs"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../pptp-server.toml");

    #[test]
    fn example_file_parses() {
        let c = ServerConfig::from_toml(EXAMPLE).unwrap();
        assert_eq!(c.listen, "0.0.0.0:1723".parse().unwrap());
        assert_eq!(c.pool_first, Ipv4Addr::new(10, 99, 0, 10));
        assert_eq!(c.pool_last, Ipv4Addr::new(10, 99, 0, 19));
        assert_eq!(c.auth, vec![AuthMethod::MsChapV2, AuthMethod::MsChapV1]);
        assert_eq!(c.mppe.strength, MppeStrength::Auto);
        assert_eq!(c.users[0].name, "labuser");
        assert!(!c.users[0].expired);
    }

    #[test]
    fn a_user_can_be_marked_expired() {
        let text = minimal("").replace("password = \"p\"\n", "password = \"p\"\nexpired = true\n");
        let c = ServerConfig::from_toml(&text).unwrap();
        assert!(c.users[0].expired);
        let text = minimal("").replace("password = \"p\"\n", "password = \"p\"\nexpired = 1\n");
        assert!(ServerConfig::from_toml(&text).is_err(), "a boolean");
    }

    #[test]
    fn a_user_may_be_given_by_its_hashes() {
        let nt = "44EBBA8D5312B8D611474411F56989AE";
        let lm = "75ba30198e6d1975aad3b435b51404ee";
        let hashed = |extra: &str| {
            minimal(extra).replace(
                "password = \"p\"\n",
                &format!("nt_hash = \"{nt}\"\nlm_hash = \"{lm}\"\n"),
            )
        };
        let c = ServerConfig::from_toml(&hashed("")).unwrap();
        assert_eq!(c.users[0].password, None);
        assert_eq!(
            c.users[0].nt_hash,
            Some(NtHash::from_password(b"clientPass").unwrap())
        );
        assert_eq!(c.users[0].lm_hash, Some(LmHash::from_password(b"MyPw")));
        // lm_hashes = false refuses an LM hash outright.
        let e = ServerConfig::from_toml(&hashed("lm_hashes = false")).unwrap_err();
        assert!(e.to_string().contains("lm_hashes = false"), "{e}");
        // Exactly one of password and nt_hash; lm_hash only with nt_hash.
        let both = minimal("").replace(
            "password = \"p\"\n",
            &format!("password = \"p\"\nnt_hash = \"{nt}\"\n"),
        );
        assert!(ServerConfig::from_toml(&both).is_err());
        let neither = minimal("").replace("password = \"p\"\n", "");
        assert!(ServerConfig::from_toml(&neither).is_err());
        let lm_with_password = minimal("").replace(
            "password = \"p\"\n",
            &format!("password = \"p\"\nlm_hash = \"{lm}\"\n"),
        );
        assert!(ServerConfig::from_toml(&lm_with_password).is_err());
        for bad in ["44eb", "zz", &format!("{nt}00")] {
            let text = minimal("").replace("password = \"p\"\n", &format!("nt_hash = \"{bad}\"\n"));
            assert!(ServerConfig::from_toml(&text).is_err(), "{bad}");
        }
    }

    fn minimal(extra: &str) -> String {
        format!(
            "local_address = \"10.99.0.1\"\npool = {{ first = \"10.99.0.10\", last = \"10.99.0.20\" }}\n{extra}\n[[users]]\nname = \"u\"\npassword = \"p\"\n"
        )
    }

    #[test]
    fn defaults() {
        let c = ServerConfig::from_toml(&minimal("")).unwrap();
        assert_eq!(c.max_sessions, 256);
        assert_eq!(c.keepalive_secs, 60);
        assert_eq!(c.chap_interval_secs, None);
        let every = ServerConfig::from_toml(&minimal("chap_interval_secs = 600")).unwrap();
        assert_eq!(every.chap_interval_secs, Some(600));
        assert!(ServerConfig::from_toml(&minimal("chap_interval_secs = 0")).is_err());
        assert_eq!(c.tun_name, "pptp0");
        assert!(c.mss_clamp);
        assert!(
            !ServerConfig::from_toml(&minimal("mss_clamp = false"))
                .unwrap()
                .mss_clamp
        );
        assert_eq!(c.receive_window, 512);
        assert!(c.honour_peer_window);
        assert_eq!(c.workers, 1);
        assert!(c.tun_offload);
        let plain = ServerConfig::from_toml(&minimal("tun_offload = false")).unwrap();
        assert!(!plain.tun_offload);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(64));
        let auto = ServerConfig::from_toml(&minimal("workers = 0")).unwrap();
        assert_eq!(auto.workers, cores);
        assert_eq!(
            ServerConfig::from_toml(&minimal("workers = 4"))
                .unwrap()
                .workers,
            4
        );
        let c2 = ServerConfig::from_toml(&minimal(
            "receive_window = 2048\nhonour_peer_window = false",
        ))
        .unwrap();
        assert_eq!((c2.receive_window, c2.honour_peer_window), (2048, false));
        assert_eq!(c.dns, [None, None]);
        assert_eq!(c.mppe.mode, MppeMode::Stateless);
        assert!(!c.mppe.required);
        assert_eq!(c.login_throttle, Some(ThrottleConfig::default()));
    }

    #[test]
    fn login_throttle_knobs() {
        let c = ServerConfig::from_toml(&minimal(
            "[login_throttle]\nfree_failures = 2\ndelay_base_ms = 500\ndelay_max_secs = 8\nmax_fail = 5\nlockout_secs = 60\nreset_secs = 600",
        ))
        .unwrap();
        let t = c.login_throttle.unwrap();
        assert_eq!((t.free_failures, t.block_after), (2, 5));
        assert_eq!(t.delay_base, Duration::from_millis(500));
        assert_eq!(t.delay_max, Duration::from_secs(8));
        assert_eq!(t.block_time, Duration::from_secs(60));
        assert_eq!(t.forget_after, Duration::from_secs(600));
        let off = ServerConfig::from_toml(&minimal("[login_throttle]\nenabled = false")).unwrap();
        assert_eq!(off.login_throttle, None);
        for (extra, needle) in [
            ("[login_throttle]\nmax_fail = 0", "max_fail"),
            (
                "[login_throttle]\nlockout_secs = 900\nreset_secs = 600",
                "reset_secs",
            ),
            ("[login_throttle]\nmaxfail = 3", "maxfail"),
        ] {
            let e = ServerConfig::from_toml(&minimal(extra)).unwrap_err();
            assert!(e.0.contains(needle), "{extra}: {e}");
        }
    }

    #[test]
    fn knobs() {
        let c = ServerConfig::from_toml(&minimal(
            "auth = [\"pap\", \"chap\", \"mschap\", \"mschap-v2\"]\nmppe = \"128\"\nmppe_required = true\nmppe_mode = \"stateful\"\ndns = [\"1.1.1.1\", \"8.8.8.8\"]\nwins = [\"10.0.0.5\"]",
        ))
        .unwrap();
        assert_eq!(
            c.auth,
            vec![
                AuthMethod::Pap,
                AuthMethod::ChapMd5,
                AuthMethod::MsChapV1,
                AuthMethod::MsChapV2
            ]
        );
        let p = c.mppe.policy();
        assert!(p.required);
        assert!(p.strengths.bits128 && !p.strengths.bits40 && !p.strengths.bits56);
        assert_eq!(p.mode, mppe::ModePreference::StatefulOnly);
        assert_eq!(c.mppe.to_string(), "128 required, stateful");
        assert_eq!(c.dns[1], Some(Ipv4Addr::new(8, 8, 8, 8)));
        assert_eq!(c.wins, [Some(Ipv4Addr::new(10, 0, 0, 5)), None]);
    }

    #[test]
    fn limits_table_sets_the_endpoint_limits() {
        let c = ServerConfig::from_toml(&minimal("")).unwrap();
        assert_eq!(c.limits, pptp_core::endpoint::Limits::default());
        assert_eq!(c.calls_per_connection, 4);
        let text = minimal("").replace(
            "[[users]]",
            "[limits]\nsetup_timeout_secs = 10\nmax_sessions_per_user = 0\n\
             max_connections_per_source = 2\ncalls_per_connection = 1\n\n[[users]]",
        );
        let c = ServerConfig::from_toml(&text).unwrap();
        assert_eq!(
            c.limits.setup_timeout,
            pptp_core::time::Duration::from_secs(10)
        );
        assert_eq!(c.limits.max_sessions_per_user, 0);
        assert_eq!(c.limits.max_connections_per_source, 2);
        assert_eq!(c.limits.max_unauthenticated_per_source, 8, "default kept");
        assert_eq!(c.calls_per_connection, 1);
        for bad in [
            "calls_per_connection = 5",
            "setup_timeout_secs = 0",
            "nonsense = 1",
        ] {
            let text = minimal("").replace("[[users]]", &format!("[limits]\n{bad}\n\n[[users]]"));
            assert!(ServerConfig::from_toml(&text).is_err(), "{bad}");
        }
        let example = ServerConfig::from_toml(include_str!("../pptp-server.toml")).unwrap();
        assert_eq!(example.limits, pptp_core::endpoint::Limits::default());
    }

    #[test]
    fn strip_domain_knob_maps_to_the_store_rule() {
        let rule = |extra: &str| ServerConfig::from_toml(&minimal(extra)).map(|c| c.strip_domain);
        assert_eq!(
            rule("").unwrap(),
            DomainRule::ExactThenStripped,
            "default: on-miss"
        );
        assert_eq!(rule("strip_domain = \"never\"").unwrap(), DomainRule::Exact);
        let on_miss = rule("strip_domain = \"on-miss\"").unwrap();
        assert_eq!(on_miss, DomainRule::ExactThenStripped);
        assert_eq!(
            rule("strip_domain = \"always\"").unwrap(),
            DomainRule::StripDomain
        );
        let e = rule("strip_domain = \"sometimes\"").unwrap_err();
        assert!(e.0.contains("sometimes") && e.0.contains("on-miss"), "{e}");
        let example = ServerConfig::from_toml(EXAMPLE).unwrap();
        assert_eq!(example.strip_domain, DomainRule::ExactThenStripped);
    }

    #[test]
    fn mschapv1_keys_server_wide_and_per_user() {
        let c = ServerConfig::from_toml(&minimal("")).unwrap();
        assert_eq!(c.mschapv1_keys, MsChapV1Keys::Auto);
        assert!(c.lm_hashes);
        assert_eq!(c.users[0].mschapv1_keys, None);
        let text =
            minimal("mschapv1_keys = \"nt\"\nlm_hashes = false") + "mschapv1_keys = \"lm\"\n";
        let c = ServerConfig::from_toml(&text).unwrap();
        assert_eq!(c.mschapv1_keys, MsChapV1Keys::Nt);
        assert!(!c.lm_hashes);
        assert_eq!(c.users[0].mschapv1_keys, Some(MsChapV1Keys::Lm));
        for bad in [
            minimal("mschapv1_keys = \"ntlm\""),
            minimal("") + "mschapv1_keys = \"LM\"\n",
        ] {
            let e = ServerConfig::from_toml(&bad).unwrap_err();
            assert!(e.0.contains("expected \"auto\", \"nt\" or \"lm\""), "{e}");
        }
    }

    #[test]
    fn mppe_none_is_disabled() {
        let c = ServerConfig::from_toml(&minimal("mppe = \"none\"")).unwrap();
        assert!(!c.mppe.policy().enabled());
    }

    #[test]
    fn refusals() {
        for (extra, needle) in [
            ("auth = []", "at least one"),
            ("auth = [\"pap\", \"pap\"]", "twice"),
            ("auth = [\"eap\"]", "eap"),
            ("mppe = \"56\"", "56"),
            ("mppe_mode = \"sometimes\"", "sometimes"),
            ("auth = [\"pap\"]\nmppe_required = true", "MS-CHAP"),
            (
                "dns = [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\"]",
                "at most two",
            ),
            ("max_sessions = 0", "at least 1"),
            ("tun_name = \"a-name-that-is-too-long\"", "tun_name"),
            ("workers = 65", "workers"),
            ("workers = 2\ntun_name = \"thirteen-char\"", "tun_name"),
            ("bogus = 1", "bogus"),
        ] {
            let e = ServerConfig::from_toml(&minimal(extra)).unwrap_err();
            assert!(e.0.contains(needle), "{extra}: {e}");
        }
        let e = ServerConfig::from_toml(
            "local_address = \"10.99.0.15\"\npool = { first = \"10.99.0.10\", last = \"10.99.0.20\" }\n[[users]]\nname = \"u\"\npassword = \"p\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("inside the pool"), "{e}");
        let e = ServerConfig::from_toml(
            "local_address = \"10.99.0.1\"\npool = { first = \"10.99.0.30\", last = \"10.99.0.20\" }\n[[users]]\nname = \"u\"\npassword = \"p\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("first is after last"), "{e}");
        let e = ServerConfig::from_toml(
            "local_address = \"10.99.0.1\"\npool = { first = \"10.99.0.10\", last = \"10.99.0.20\" }\n",
        )
        .unwrap_err();
        assert!(e.0.contains("users"), "{e}");
    }

    fn aaa_only(extra: &str) -> String {
        format!(
            "local_address = \"10.99.0.1\"\npool = {{ first = \"10.99.0.10\", last = \"10.99.0.20\" }}\n{extra}\n"
        )
    }

    #[test]
    fn local_is_the_default_aaa() {
        let c = ServerConfig::from_toml(&minimal("")).unwrap();
        assert_eq!(c.aaa, AaaSettings::Local);
        assert_eq!(c.aaa.name(), "local");
        let c = ServerConfig::from_toml(&minimal("aaa = \"local\"")).unwrap();
        assert_eq!(c.aaa, AaaSettings::Local);
    }

    #[test]
    fn radius_section() {
        let c = ServerConfig::from_toml(&aaa_only(
            "aaa = \"radius\"\nmppe = \"128\"\nmppe_required = true\n[radius]\nsecret = \"shared\"\nacct_port = 1646\nservers = [\n  { address = \"192.0.2.1\" },\n  { address = \"192.0.2.2:11812\", acct_port = 11813, secret = \"other\" },\n]\ntimeout_secs = 2\nretries = 2\nnas_identifier = \"pix\"\nnas_ip = \"10.0.0.1\"\naccounting = true\ninterim_interval_secs = 60",
        ))
        .unwrap();
        let AaaSettings::Radius(r) = &c.aaa else {
            panic!("{:?}", c.aaa)
        };
        assert!(c.users.is_empty(), "no local users needed with AAA");
        assert_eq!(r.servers.len(), 2);
        assert_eq!(r.servers[0].auth, "192.0.2.1:1812".parse().unwrap());
        assert_eq!(r.servers[0].acct, "192.0.2.1:1646".parse().unwrap());
        assert_eq!(r.servers[0].secret, "shared");
        assert_eq!(r.servers[1].auth, "192.0.2.2:11812".parse().unwrap());
        assert_eq!(r.servers[1].acct, "192.0.2.2:11813".parse().unwrap());
        assert_eq!(r.servers[1].secret, "other");
        assert_eq!((r.timeout_secs, r.retries), (2, 2));
        assert_eq!(r.nas_identifier, "pix");
        assert_eq!(r.nas_ip, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(r.accounting);
        assert_eq!(r.interim_interval_secs, 60);
        // Secrets never reach Debug output (logs).
        assert!(!format!("{:?}", c.aaa).contains("shared"));
        // Defaults.
        let c = ServerConfig::from_toml(&aaa_only(
            "aaa = \"radius\"\n[radius]\nservers = [{ address = \"127.0.0.1\", secret = \"s\" }]",
        ))
        .unwrap();
        let AaaSettings::Radius(r) = &c.aaa else {
            panic!()
        };
        assert_eq!(r.servers[0].auth.port(), RADIUS_AUTH_PORT);
        assert_eq!(r.servers[0].acct.port(), RADIUS_ACCT_PORT);
        assert_eq!((r.timeout_secs, r.retries), (5, 3));
        assert!(r.accounting);
        assert_eq!(r.interim_interval_secs, 0);
    }

    #[test]
    fn tacacs_section() {
        let c = ServerConfig::from_toml(&aaa_only(
            "aaa = \"tacacs\"\nmppe = \"auto\"\n[tacacs]\nkey = \"k\"\nservers = [{ address = \"192.0.2.9\" }, { address = \"192.0.2.10:4949\", key = \"k2\" }]\ntimeout_secs = 3\nsingle_connection = true",
        ))
        .unwrap();
        let AaaSettings::Tacacs(t) = &c.aaa else {
            panic!("{:?}", c.aaa)
        };
        assert_eq!(t.servers[0].address, "192.0.2.9:49".parse().unwrap());
        assert_eq!(t.servers[0].key, "k");
        assert_eq!(t.servers[1].address, "192.0.2.10:4949".parse().unwrap());
        assert_eq!(t.servers[1].key, "k2");
        assert!(t.single_connection && t.authorization && t.accounting);
        assert_eq!(t.timeout_secs, 3);
        assert!(!format!("{:?}", c.aaa).contains("k2"));
    }

    #[test]
    fn tacacs_with_required_mppe_is_refused_citing_the_origin() {
        let e = ServerConfig::from_toml(&aaa_only(
            "aaa = \"tacacs\"\nmppe = \"128\"\nmppe_required = true\n[tacacs]\nservers = [{ address = \"192.0.2.9\", key = \"k\" }]",
        ))
        .unwrap_err();
        assert!(e.0.contains("TACACS+ cannot carry MPPE keys"), "{e}");
        assert!(e.0.contains("PIX"), "{e}");
        // mppe = "none" makes `required` moot: accepted.
        ServerConfig::from_toml(&aaa_only(
            "aaa = \"tacacs\"\nmppe = \"none\"\nmppe_required = true\n[tacacs]\nservers = [{ address = \"192.0.2.9\", key = \"k\" }]",
        ))
        .unwrap();
    }

    #[test]
    fn aaa_refusals() {
        for (extra, needle) in [
            ("aaa = \"ldap\"", "ldap"),
            ("aaa = \"radius\"", "needs a [radius] section"),
            ("aaa = \"tacacs\"", "needs a [tacacs] section"),
            ("aaa = \"radius\"\n[radius]\nsecret = \"s\"", "servers is empty"),
            ("aaa = \"radius\"\n[radius]\nservers = []", "servers is empty"),
            (
                "aaa = \"radius\"\n[radius]\nservers = [{ address = \"127.0.0.1\" }]",
                "no secret",
            ),
            (
                "aaa = \"radius\"\n[radius]\nservers = [{ address = \"127.0.0.1\", secret = \"\" }]",
                "empty secret",
            ),
            (
                "aaa = \"radius\"\n[radius]\nservers = [{ address = \"radius.example\", secret = \"s\" }]",
                "radius.example",
            ),
            (
                "aaa = \"radius\"\n[radius]\nretries = 0\nservers = [{ address = \"127.0.0.1\", secret = \"s\" }]",
                "retries",
            ),
            (
                "aaa = \"radius\"\n[radius]\ntimeout_secs = 0\nservers = [{ address = \"127.0.0.1\", secret = \"s\" }]",
                "timeout_secs",
            ),
            (
                "aaa = \"radius\"\n[radius]\nbogus = 1\nservers = [{ address = \"127.0.0.1\", secret = \"s\" }]",
                "bogus",
            ),
            ("aaa = \"tacacs\"\n[tacacs]\nservers = []", "servers is empty"),
            (
                "aaa = \"tacacs\"\n[tacacs]\nservers = [{ address = \"127.0.0.1\" }]",
                "no key",
            ),
            (
                "aaa = \"radius\"\n[radius]\nservers = [{ address = \"1.1.1.1\", secret = \"s\" }, { address = \"1.1.1.2\", secret = \"s\" }, { address = \"1.1.1.3\", secret = \"s\" }, { address = \"1.1.1.4\", secret = \"s\" }, { address = \"1.1.1.5\", secret = \"s\" }]",
                "at most 4",
            ),
            ("", "no [[users]]"),
        ] {
            let e = ServerConfig::from_toml(&aaa_only(extra)).unwrap_err();
            assert!(e.0.contains(needle), "{extra}: {e}");
        }
    }
}
