//! The session table on a fake clock: accounting sequences, the two AAA
//! timeouts, Class echo, causes, capacity and a clock going backwards.

extern crate std;

use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use crate::auth::{Accept, Attributes, MppeKeyMaterial, Verdict};
use crate::link::EndReason;

const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const KEY: u32 = 42;

fn t(secs: u64) -> Instant {
    Instant::from_millis(secs * 1000)
}

fn config(interim: Option<u64>) -> Config {
    Config {
        protocol: Protocol::Radius,
        accounting: true,
        interim: interim.map(Duration::from_secs),
        mppe_enabled: true,
    }
}

fn table(config: Config, slots: usize) -> Sessions<Vec<Slot>> {
    Sessions::new(config, std::vec![Slot::new(); slots])
}

fn accept_with_keys() -> Verdict {
    Verdict::Accept(Accept {
        key_material: Some(MppeKeyMaterial::External {
            send_key: [1; 16],
            recv_key: [2; 16],
        }),
        ..Accept::default()
    })
}

fn counters(octets_in: u64, ip: u64) -> Counters {
    Counters {
        frames_in: ip + 3,
        octets_in,
        frames_out: ip + 4,
        octets_out: octets_in * 2,
        ip_in: ip,
        ip_out: ip,
        ..Counters::default()
    }
}

/// A session logged in at `t(0)` with `info`, table of 4 slots.
fn logged_in(config: Config, info: &VerdictInfo) -> Result<(Sessions<Vec<Slot>>, Decision), Error> {
    let mut s = table(config, 4);
    s.call_up(KEY, 7, PEER, 0xDEAD_BEEF)?;
    s.auth_started(KEY, b"labuser")?;
    let d = s.verdict(t(0), KEY, accept_with_keys(), info, |_| AddressUse::InPool)?;
    Ok((s, d))
}

fn lines(d: &Decision) -> Vec<String> {
    d.lines().map(|l| l.to_string()).collect()
}

#[test]
fn accounting_start_interim_stop() {
    let mut info = VerdictInfo::default();
    info.class.extend_from_slice(b"class-7").unwrap();
    let (mut s, d) = logged_in(config(Some(60)), &info).unwrap();
    assert!(matches!(d.verdict, Verdict::Accept(_)));
    let addr = Some(Ipv4Addr::new(10, 0, 0, 5));

    let start = s.session_up(t(1), KEY, &counters(0, 0), addr).unwrap();
    assert_eq!(start.phase, Phase::Start);
    assert_eq!(start.session_id.as_str(), "DEADBEEF0007");
    assert_eq!(start.session_secs(), 0);
    assert_eq!(start.address, addr);
    assert_eq!(start.calling_station.as_str(), "198.51.100.7");
    assert_eq!(&start.class[..], b"class-7");
    assert!(s.get(KEY).unwrap().accounting_started());
    // Once per session.
    assert!(s.session_up(t(2), KEY, &counters(0, 0), addr).is_none());

    assert_eq!(s.deadline(KEY), Some(t(61)));
    let early = s.handle_timeout(Instant::from_millis(60_999), KEY, &counters(10, 1));
    assert!(early.interim.is_none() && early.close.is_none());
    let interim = s
        .handle_timeout(t(61), KEY, &counters(10, 1))
        .interim
        .unwrap();
    assert_eq!(interim.phase, Phase::Interim);
    assert_eq!(interim.session_secs(), 60);
    assert_eq!(interim.octets_in, 10);
    assert_eq!(interim.session_id, start.session_id);
    assert_eq!(s.deadline(KEY), Some(t(121)));

    let down = s
        .session_down(
            t(91),
            KEY,
            TerminateCause::UserRequest,
            &counters(5_000_000_000, 9),
        )
        .unwrap();
    let stop = down.stop.unwrap();
    assert_eq!(stop.phase, Phase::Stop);
    assert_eq!(stop.session_secs(), 90);
    assert_eq!(stop.cause, Some(TerminateCause::UserRequest));
    assert_eq!(
        &stop.class[..],
        b"class-7",
        "RFC 2865 §5.25: Class in every record"
    );
    let r = stop.radius();
    assert_eq!(r.status, crate::aaa::radius::AccountingStatus::Stop);
    assert_eq!(
        r.input_octets, 5_000_000_000,
        "64 bits: the client writes Gigawords"
    );
    assert_eq!(r.class, Some(&b"class-7"[..]));
    assert_eq!(r.terminate_cause.map(TerminateCause::value), Some(1));
    let tac = stop.tacacs();
    assert_eq!(tac.kind, crate::aaa::tacacs::AccountingKind::Stop);
    assert_eq!(tac.task_id, b"DEADBEEF0007");
    assert_eq!(tac.elapsed_time, 90);
    assert!(s.is_empty() && s.get(KEY).is_none());
    assert!(!down.cancel_auth && down.remove_route.is_none());
}

#[test]
fn packet_counts_saturate_in_radius() {
    let (mut s, _) = logged_in(config(None), &VerdictInfo::default()).unwrap();
    let huge = Counters {
        frames_in: u64::MAX,
        ..Counters::default()
    };
    let start = s.session_up(t(0), KEY, &huge, None).unwrap();
    assert_eq!(start.radius().input_packets, u32::MAX);
    assert_eq!(s.deadline(KEY), None, "no interim, no timeouts");
}

#[test]
fn session_timeout_closes_and_is_the_stop_cause() {
    let info = VerdictInfo {
        session_timeout: Some(10),
        ..VerdictInfo::default()
    };
    let (mut s, d) = logged_in(config(None), &info).unwrap();
    assert!(lines(&d).contains(&"Session-Timeout 10 s from RADIUS".to_string()));
    s.session_up(t(1), KEY, &counters(0, 0), None).unwrap();
    assert_eq!(s.deadline(KEY), Some(t(10)));
    // Traffic does not matter to Session-Timeout.
    let a = s.handle_timeout(t(10), KEY, &counters(100, 50));
    assert_eq!(a.close, Some(TerminateCause::SessionTimeout));
    assert_eq!(s.deadline(KEY), None, "fires once");
    // The host closes the link, which ends with Admin-Reset: the Stop
    // still says why the NAS closed it.
    let stop = s
        .session_down(t(11), KEY, TerminateCause::AdminReset, &counters(100, 50))
        .unwrap()
        .stop
        .unwrap();
    assert_eq!(stop.cause, Some(TerminateCause::SessionTimeout));
}

#[test]
fn idle_timeout_waits_for_silence() {
    let info = VerdictInfo {
        idle_timeout: Some(30),
        ..VerdictInfo::default()
    };
    let (mut s, d) = logged_in(config(None), &info).unwrap();
    assert!(lines(&d).contains(&"Idle-Timeout 30 s from RADIUS".to_string()));
    s.session_up(t(1), KEY, &counters(0, 0), None).unwrap();
    assert_eq!(s.deadline(KEY), Some(t(30)));
    // IP traffic since the last look: another period.
    let a = s.handle_timeout(t(30), KEY, &counters(500, 4));
    assert!(a.close.is_none());
    assert_eq!(s.deadline(KEY), Some(t(60)));
    // Only non-IP frames (LCP echoes) since: idle.
    let mut echoes = counters(500, 4);
    echoes.frames_in += 10;
    let a = s.handle_timeout(t(60), KEY, &echoes);
    assert_eq!(a.close, Some(TerminateCause::IdleTimeout));
    let stop = s
        .session_down(t(60), KEY, TerminateCause::AdminReset, &echoes)
        .unwrap()
        .stop
        .unwrap();
    assert_eq!(stop.cause, Some(TerminateCause::IdleTimeout));
}

#[test]
fn idle_timeout_without_any_traffic() {
    let info = VerdictInfo {
        idle_timeout: Some(5),
        ..VerdictInfo::default()
    };
    let (mut s, _) = logged_in(config(None), &info).unwrap();
    s.session_up(t(0), KEY, &counters(0, 0), None).unwrap();
    let due: Vec<u32> = s.due(t(5)).collect();
    assert_eq!(due, std::vec![KEY]);
    assert_eq!(s.poll_timeout(), Some(t(5)));
    let a = s.handle_timeout(t(5), KEY, &counters(0, 0));
    assert_eq!(a.close, Some(TerminateCause::IdleTimeout));
}

#[test]
fn causes_follow_the_link_and_the_shutdown() {
    let c = |r: EndReason| TerminateCause::from(&r);
    assert_eq!(c(EndReason::PeerTerminated), TerminateCause::UserRequest);
    assert_eq!(c(EndReason::AdminClose), TerminateCause::AdminReset);
    assert_eq!(c(EndReason::KeepaliveLost), TerminateCause::LostCarrier);
    assert_eq!(
        c(EndReason::EncryptionRefused),
        TerminateCause::ServiceUnavailable
    );
    assert_eq!(c(EndReason::IpcpFailed), TerminateCause::PortError);
    let (mut s, _) = logged_in(config(None), &VerdictInfo::default()).unwrap();
    s.session_up(t(0), KEY, &counters(0, 0), None).unwrap();
    s.shutting_down();
    let stop = s
        .session_down(t(3), KEY, TerminateCause::AdminReset, &counters(0, 0))
        .unwrap()
        .stop
        .unwrap();
    assert_eq!(
        stop.cause,
        Some(TerminateCause::AdminReboot),
        "RFC 2866 §5.10"
    );
}

#[test]
fn no_accounting_without_aaa_login_or_when_off() {
    let mut s = table(config(Some(60)), 2);
    s.call_up(KEY, 1, PEER, 0).unwrap();
    assert!(
        s.session_up(t(0), KEY, &counters(0, 0), None).is_none(),
        "never authenticated here"
    );
    let down = s
        .session_down(t(1), KEY, TerminateCause::UserRequest, &counters(0, 0))
        .unwrap();
    assert!(down.stop.is_none());

    let mut off = config(Some(60));
    off.accounting = false;
    let (mut s, _) = logged_in(off, &VerdictInfo::default()).unwrap();
    assert!(s.session_up(t(0), KEY, &counters(0, 0), None).is_none());
    assert_eq!(s.deadline(KEY), None);
}

#[test]
fn verdict_notices_and_statistics() {
    // Accept with keys from MS-MPPE-Send/Recv-Key and an address outside
    // the pool.
    let mut s = table(config(None), 4);
    s.call_up(KEY, 7, PEER, 1).unwrap();
    s.auth_started(KEY, b"labuser").unwrap();
    let addr = Ipv4Addr::new(10, 9, 9, 9);
    let mut accept = accept_with_keys();
    if let Verdict::Accept(a) = &mut accept {
        a.attributes = Attributes {
            address: Some(addr),
            primary_dns: Some(Ipv4Addr::new(10, 0, 0, 53)),
            ..Attributes::default()
        };
    }
    let d = s
        .verdict(t(0), KEY, accept, &VerdictInfo::default(), |_| {
            AddressUse::OutsidePool
        })
        .unwrap();
    assert_eq!(d.add_route, Some(addr));
    assert_eq!(
        lines(&d),
        [
            "Framed-IP-Address 10.9.9.9 from RADIUS (instead of the pool; outside it, own route)",
            "MPPE keys from RADIUS (MS-MPPE-Send-Key/Recv-Key)",
            "DNS 10.0.0.53 from RADIUS",
            "%PIX-6-603103 user \"labuser\": AAA authentication succeeded (RADIUS)",
        ]
    );
    let session = s.get(KEY).unwrap();
    assert_eq!(session.key_source(), Some(KeySource::RadiusSendRecv));
    assert_eq!(session.address_from_aaa(), Some(addr));
    let down = s
        .session_down(t(1), KEY, TerminateCause::UserRequest, &counters(0, 0))
        .unwrap();
    assert_eq!(down.remove_route, Some(addr));

    // The same address already in use: refused.
    s.call_up(KEY, 7, PEER, 1).unwrap();
    s.auth_started(KEY, b"labuser").unwrap();
    let mut accept = accept_with_keys();
    if let Verdict::Accept(a) = &mut accept {
        a.attributes.address = Some(addr);
    }
    let d = s
        .verdict(t(0), KEY, accept, &VerdictInfo::default(), |_| {
            AddressUse::InUse
        })
        .unwrap();
    assert!(matches!(d.verdict, Verdict::Reject(ref r) if r.error_code == 691));
    assert_eq!(d.add_route, None);
    assert_eq!(d.notices()[0], Notice::AddressInUse(addr));

    // Required MPPE, no keys: the PIX's 403110.
    s.auth_started(KEY, b"labuser").unwrap();
    let mut info = VerdictInfo::default();
    let v = bridge::apply_mppe_policy(
        Verdict::Accept(Accept::default()),
        bridge::MppePolicy::Required,
        &mut info,
    );
    let d = s
        .verdict(t(0), KEY, v, &info, |_| AddressUse::InPool)
        .unwrap();
    let l = lines(&d);
    assert!(l[0].starts_with("%PIX-3-403110 user \"labuser\" missing MPPE key from aaa server"));
    assert!(l[1].contains("AAA authentication failed") && l[1].ends_with("error 691)"));
    assert_eq!(
        s.stats(),
        Stats {
            logins: 3,
            accepted: 1,
            rejected: 2,
            missing_keys: 1
        }
    );
    assert!(!s.get(KEY).unwrap().auth_pending());
}

#[test]
fn tacacs_sessions_run_unencrypted_and_say_so() {
    let mut c = config(None);
    c.protocol = Protocol::Tacacs;
    let mut s = table(c, 1);
    s.call_up(KEY, 7, PEER, 1).unwrap();
    s.auth_started(KEY, b"labuser").unwrap();
    let info = VerdictInfo {
        note: Some(Note::Unencrypted),
        ..VerdictInfo::default()
    };
    let d = s
        .verdict(t(0), KEY, Verdict::Accept(Accept::default()), &info, |_| {
            AddressUse::InPool
        })
        .unwrap();
    assert_eq!(
        lines(&d)[0],
        "TACACS+ sent no MPPE keys: this session runs unencrypted (mppe is not required)"
    );
    assert_eq!(
        KeySource::of(&accept_with_keys(), Protocol::Tacacs),
        Some(KeySource::RadiusSendRecv)
    );
}

#[test]
fn a_pending_login_is_cancelled_at_the_end() {
    let mut s = table(config(None), 1);
    s.call_up(KEY, 7, PEER, 1).unwrap();
    s.auth_started(KEY, b"labuser").unwrap();
    let down = s
        .session_down(t(1), KEY, TerminateCause::UserRequest, &counters(0, 0))
        .unwrap();
    assert!(down.cancel_auth && down.stop.is_none());
    assert!(s
        .session_down(t(1), KEY, TerminateCause::UserRequest, &counters(0, 0))
        .is_none());
    assert_eq!(
        s.verdict(
            t(1),
            KEY,
            accept_with_keys(),
            &VerdictInfo::default(),
            |_| AddressUse::InPool
        )
        .unwrap_err(),
        Error::UnknownSession { key: KEY }
    );
}

#[test]
fn a_full_table_refuses_and_frees() {
    let mut s = table(config(None), 3);
    for k in 0..3 {
        s.call_up(k, 1, PEER, 0).unwrap();
    }
    assert_eq!(
        s.call_up(3, 1, PEER, 0).unwrap_err(),
        Error::Full { capacity: 3 }
    );
    assert_eq!(
        s.auth_started(3, b"x").unwrap_err(),
        Error::UnknownSession { key: 3 }
    );
    // A key already held starts over instead of taking a slot.
    s.call_up(1, 9, PEER, 0).unwrap();
    assert_eq!(s.get(1).unwrap().nas_port(), 9);
    let _ = s.session_down(t(0), 0, TerminateCause::UserRequest, &Counters::default());
    s.call_up(3, 1, PEER, 0).unwrap();
    assert_eq!(s.len(), 3);

    let mut none = table(config(None), 0);
    assert_eq!(
        none.call_up(1, 1, PEER, 0).unwrap_err(),
        Error::Full { capacity: 0 }
    );
    assert!(none.get(1).is_none() && none.poll_timeout().is_none());
}

#[test]
fn lookups_survive_collisions_and_removals() {
    // Keys chosen in one probe run, removed in every order: each lookup
    // must still find every remaining key (backward-shift deletion).
    let n = 7;
    let mut state = 0x1234_5678u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for _ in 0..200 {
        let mut s = table(config(None), n);
        let mut held: Vec<u32> = Vec::new();
        for _ in 0..40 {
            let k = next() % 16;
            if held.contains(&k) && next() % 2 == 0 {
                assert!(s
                    .session_down(t(0), k, TerminateCause::UserRequest, &Counters::default())
                    .is_some());
                held.retain(|&h| h != k);
            } else if s.call_up(k, k, PEER, 0).is_ok() && !held.contains(&k) {
                held.push(k);
            }
            assert_eq!(s.len(), held.len());
            for k in 0..16 {
                assert_eq!(s.get(k).is_some(), held.contains(&k), "key {k}");
            }
        }
    }
}

#[test]
fn a_clock_going_backwards_fires_nothing_and_counts_no_negative_time() {
    let info = VerdictInfo {
        session_timeout: Some(100),
        idle_timeout: Some(50),
        ..VerdictInfo::default()
    };
    let (mut s, _) = logged_in(config(Some(60)), &info).unwrap();
    s.session_up(t(1000), KEY, &counters(0, 0), None).unwrap();
    let a = s.handle_timeout(t(10), KEY, &counters(0, 0));
    assert!(a.interim.is_none(), "interim due at 1060 s, not at 10 s");
    assert!(
        a.close.is_none(),
        "Session-Timeout was set at 0 s + 100 s: 10 s is earlier"
    );
    let stop = s
        .session_down(t(500), KEY, TerminateCause::UserRequest, &counters(0, 0))
        .unwrap()
        .stop
        .unwrap();
    assert_eq!(stop.session_secs(), 0, "saturates, never wraps");
}
