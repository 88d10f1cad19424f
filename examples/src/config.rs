//! TOML configuration of `pptp-server` and `pptp-client`.
//!
//! The server's knobs mirror the PIX 6.3 configuration of the origin
//! document (`vpdn username`, `ip local pool`, `vpdn group N client
//! configuration dns/wins`, `vpdn group N ppp authentication ...`,
//! `vpdn group N ppp encryption mppe 40|128|auto [required]`,
//! `vpdn group N pptp echo`, the listen address of `vpdn enable outside`)
//! plus what a Linux host needs (TUN name, control socket).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

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

/// One `vpdn username NAME password SECRET`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User name.
    pub name: String,
    /// Cleartext password (needed by CHAP and MS-CHAP).
    pub password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    first: Ipv4Addr,
    last: Ipv4Addr,
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
    max_sessions: Option<usize>,
    keepalive_secs: Option<u64>,
    tun_name: Option<String>,
    mtu: Option<u16>,
    host_name: Option<String>,
    control_socket: Option<PathBuf>,
    #[serde(default)]
    users: Vec<User>,
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
    /// At most this many established calls.
    pub max_sessions: usize,
    /// PPTP Echo-Request interval (RFC 2637 §3.1.4).
    pub keepalive_secs: u64,
    /// TUN device name.
    pub tun_name: String,
    /// TUN device MTU.
    pub mtu: u16,
    /// Host Name in SCCRP and CHAP Challenges.
    pub host_name: String,
    /// Unix socket for `status` / `clear`.
    pub control_socket: PathBuf,
    /// Local users.
    pub users: Vec<User>,
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
        if pool_size > crate::server::Pool::CAPACITY {
            return err(format!(
                "pool: {pool_size} addresses, at most {} supported",
                crate::server::Pool::CAPACITY
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
        if raw.users.is_empty() {
            return err("no [[users]]");
        }
        for u in &raw.users {
            if u.name.is_empty() || u.name.len() > 255 {
                return err(format!("user `{}`: bad name length", u.name));
            }
        }
        let max_sessions = raw.max_sessions.unwrap_or(256);
        if max_sessions == 0 {
            return err("max_sessions must be at least 1");
        }
        let tun_name = raw.tun_name.unwrap_or_else(|| "pptp0".into());
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
            max_sessions,
            keepalive_secs: raw.keepalive_secs.unwrap_or(60).max(1),
            tun_name,
            mtu: raw.mtu.unwrap_or(1396),
            host_name,
            control_socket: raw
                .control_socket
                .unwrap_or_else(|| PathBuf::from("/run/pptp-server.sock")),
            users: raw.users,
        })
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
        assert_eq!(c.tun_name, "pptp0");
        assert_eq!(c.dns, [None, None]);
        assert_eq!(c.mppe.mode, MppeMode::Stateless);
        assert!(!c.mppe.required);
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
        assert_eq!(c.dns[1], Some(Ipv4Addr::new(8, 8, 8, 8)));
        assert_eq!(c.wins, [Some(Ipv4Addr::new(10, 0, 0, 5)), None]);
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
}
