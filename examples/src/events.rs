//! The endpoint's events as one human log line each, for the std hosts:
//! what an operator reads (user, address, MPPE, why a session ended and
//! the Windows error number its user saw), with no `Debug` structures.

use std::net::Ipv4Addr;

use ppp_core::auth::Verifier;
use pptp_core::endpoint::{Endpoint, Event, Memory, Random};
use pptp_core::time::Instant;

/// One line for `event`. `endpoint` supplies what the event does not
/// carry (the peer's address, the user of a session coming up); `now`
/// gives a session's age when it ends.
pub fn describe<M: Memory, R: Random, V: Verifier>(
    endpoint: &Endpoint<M, R, V>,
    now: Instant,
    event: &Event,
) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match event {
        Event::TunnelUp {
            connection,
            host_name,
            vendor,
        } => {
            let peer = endpoint
                .sessions()
                .find(|v| v.connection == *connection)
                .map(|v| v.peer);
            format!(
                "tunnel {} up from {}: host \"{}\", vendor \"{}\"",
                connection.0,
                peer.unwrap_or(Ipv4Addr::UNSPECIFIED),
                text(host_name),
                text(vendor)
            )
        }
        Event::CallUp {
            session,
            local_call_id,
            peer_call_id,
        } => format!(
            "session {}: call up, call IDs {local_call_id} (ours) and {peer_call_id} (peer's)",
            session.0
        ),
        Event::AuthRequest { session } => {
            format!("session {}: login waits for the AAA server", session.0)
        }
        Event::Authenticated {
            session,
            method,
            user,
            matched,
        } => format!(
            "session {}: {} authenticated with {method}",
            session.0,
            user_text(user, matched.as_deref())
        ),
        Event::Reauthenticated { session, method } => {
            format!("session {}: re-authenticated with {method}", session.0)
        }
        Event::PeerIdentification { session, message } => format!(
            "session {}: peer identifies itself as \"{}\"",
            session.0,
            text(message)
        ),
        Event::PasswordChanged {
            session,
            user,
            stored,
            ..
        } => format!(
            "session {}: user \"{}\" changed an expired password{}",
            session.0,
            text(user),
            if *stored {
                " (new hash kept in memory)"
            } else {
                " (not stored: no local user store)"
            }
        ),
        Event::AuthFailed {
            session,
            method,
            reason,
            user,
        } => format!(
            "session {}: user \"{}\" failed {method}: {reason} (Windows error {})",
            session.0,
            text(user),
            reason.windows_error()
        ),
        Event::SessionUp {
            session,
            address,
            mppe,
            mtu,
            ..
        } => {
            let user = endpoint.session(*session).map_or_else(
                || user_text(b"", None),
                |v| user_text(v.user, v.matched_user),
            );
            format!(
                "session {} up: {user}, address {}, {}, MTU {mtu}",
                session.0,
                address.map_or("none".into(), |a| a.to_string()),
                mppe.map_or("no MPPE".into(), |m| mppe_name(&m.send, &m.receive)),
            )
        }
        Event::MsChapV1KeysDecided {
            session,
            keys,
            proven,
            packets,
        } => format!(
            "session {}: {}",
            session.0,
            mschapv1_keys_text(*keys, *proven, *packets)
        ),
        // SessionEnd's Display names the layer and, for PPP ends, carries
        // the Windows error ("PPP: error 691: authentication failed").
        Event::SessionDown {
            session,
            reason,
            counters,
            since,
        } => format!(
            "session {} down after {} s: {reason}; {} octets in, {} out",
            session.0,
            now.saturating_duration_since(*since).as_secs(),
            counters.octets_in,
            counters.octets_out
        ),
        Event::ConnectionClosed { connection } => {
            format!("connection {} closed", connection.0)
        }
    }
}

/// `user "DOMAIN\bob"`, and `(matched "bob")` when the local store's
/// entry that accepted it is another name: what the operator needs to
/// find the entry and what the peer typed.
pub fn user_text(user: &[u8], matched: Option<&[u8]>) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match matched {
        Some(entry) => format!("user \"{}\" (matched \"{}\")", text(user), text(entry)),
        None => format!("user \"{}\"", text(user)),
    }
}

/// Which MS-CHAPv1 start key an `auto` link found its peer using, for
/// the one log line of `Event::MsChapV1KeysDecided`.
pub fn mschapv1_keys_text(keys: ppp_core::auth::MsChapV1Keys, proven: bool, packets: u8) -> String {
    match (keys, proven) {
        (ppp_core::auth::MsChapV1Keys::Lm, _) => format!(
            "MS-CHAPv1 MPPE keys: LM-based (RFC 3079 2.1, as Windows), after {packets} packet(s)"
        ),
        (_, true) => {
            format!("MS-CHAPv1 MPPE keys: NT-based (as pppd), after {packets} packet(s)")
        }
        (_, false) => format!(
            "MS-CHAPv1 MPPE keys: none of {packets} packets decrypted under the LM- or NT-based \
             key; keeping the NT-based one"
        ),
    }
}

/// What CCP agreed, for a log line: "MPPE-128 stateless" or "no MPPE".
pub fn mppe_text(info: Option<&ppp_core::link::MppeInfo>) -> String {
    info.map_or_else(|| "no MPPE".to_string(), |m| mppe_name(&m.send, &m.receive))
}

/// "10.0.0.1, 10.0.0.2", or "none".
pub fn addresses_text(list: &[Option<std::net::Ipv4Addr>]) -> String {
    let v: Vec<String> = list.iter().flatten().map(|a| a.to_string()).collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// "MPPE-128 stateless", or each direction when they differ.
pub fn mppe_name(send: &mppe::Config, receive: &mppe::Config) -> String {
    // "128-bit stateless" (mppe's Display) as "MPPE-128 stateless".
    let one = |c: &mppe::Config| format!("MPPE-{}", c.to_string().replacen("-bit", "", 1));
    let (out, into) = (one(send), one(receive));
    if out == into {
        out
    } else {
        format!("{out} out, {into} in")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp_core::auth::{CredentialStore, DomainRule, FailureReason, Method};
    use ppp_core::link::{Counters, EndReason, LinkConfig, MppeInfo};
    use pptp_core::control::CallDownReason;
    use pptp_core::endpoint::{ServerConfig, SessionEnd, SessionHandle};

    use crate::host::{heap_memory, HeapMemory, OsRandom};

    fn server() -> Endpoint<HeapMemory, OsRandom, CredentialStore<1>> {
        let link = LinkConfig::server(Ipv4Addr::new(10, 0, 0, 1), [None, None]);
        let config =
            ServerConfig::new(link, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 9));
        let users = CredentialStore::new(DomainRule::default());
        Endpoint::server(config, heap_memory(2, 2), OsRandom, Some(users)).unwrap()
    }

    #[test]
    fn lines_name_the_user_the_reason_and_the_windows_error() {
        let ep = server();
        let (s, now) = (SessionHandle(7), Instant::from_millis(65_000));
        let failed = Event::AuthFailed {
            session: s,
            method: Method::MsChapV2,
            reason: FailureReason::WrongPassword,
            user: b"alice".iter().copied().collect(),
        };
        assert_eq!(
            describe(&ep, now, &failed),
            "session 7: user \"alice\" failed MS-CHAPv2: wrong password (Windows error 691)"
        );
        let name = |b: &[u8]| b.iter().copied().collect();
        let authenticated = |matched| Event::Authenticated {
            session: s,
            method: Method::MsChapV2,
            user: name(b"CORP\\bob"),
            matched,
        };
        assert_eq!(
            describe(&ep, now, &authenticated(Some(name(b"bob")))),
            "session 7: user \"CORP\\bob\" (matched \"bob\") authenticated with MS-CHAPv2"
        );
        assert_eq!(
            describe(&ep, now, &authenticated(None)),
            "session 7: user \"CORP\\bob\" authenticated with MS-CHAPv2"
        );
        let down = Event::SessionDown {
            session: s,
            reason: SessionEnd::Link(EndReason::AuthFailed(FailureReason::WrongPassword)),
            counters: Counters::default(),
            since: Instant::from_millis(5_000),
        };
        assert_eq!(
            describe(&ep, now, &down),
            "session 7 down after 60 s: PPP: error 691: authentication failed; 0 octets in, 0 out"
        );
        let hung_up = Event::SessionDown {
            session: s,
            reason: SessionEnd::Call(CallDownReason::ClearRequested),
            counters: Counters::default(),
            since: now,
        };
        assert!(describe(&ep, now, &hung_up).contains("PPTP call: peer sent Call-Clear-Request"));
    }

    #[test]
    fn session_up_shows_address_and_mppe_per_direction() {
        let ep = server();
        let config = |strength, mode| mppe::Config::new(strength, mode);
        let strong = config(mppe::KeyStrength::Bits128, mppe::Mode::Stateless);
        let up = |send, receive| Event::SessionUp {
            session: SessionHandle(3),
            address: Some(Ipv4Addr::new(10, 0, 0, 2)),
            peer_address: None,
            mppe: Some(MppeInfo { send, receive }),
            mtu: 1400,
        };
        let line = describe(&ep, Instant::ZERO, &up(strong, strong));
        assert_eq!(
            line,
            "session 3 up: user \"\", address 10.0.0.2, MPPE-128 stateless, MTU 1400"
        );
        let weak = config(mppe::KeyStrength::Bits40, mppe::Mode::Stateful);
        let line = describe(&ep, Instant::ZERO, &up(strong, weak));
        assert!(
            line.contains("MPPE-128 stateless out, MPPE-40 stateful in"),
            "{line}"
        );
        assert!(!line.contains('{'), "no Debug structures: {line}");
    }
}
