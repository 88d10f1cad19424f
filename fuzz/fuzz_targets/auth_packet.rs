//! PAP/CHAP packets and MS-CHAP messages: parse arbitrary bytes; whatever
//! parses re-emits and re-parses equal. Then arbitrary packets drive an
//! authenticator (local and external verdict) and a peer of the method the
//! first octet picks (the local authenticator and the peer also talk to
//! each other): no panic, every packet they emit fits the buffer and
//! parses, and the event queues stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp_core::auth::{
    Accept, Authenticator, AuthenticatorConfig, CredentialStore, DomainRule, Event, FailureReason,
    Method, Peer, PeerConfig, Secret, Verdict, EVENT_QUEUE_LEN,
};
use ppp_core::time::{Duration, Instant};
use ppp_core::wire::auth::{
    ChapRepr, MsChapFailure, MsChapV1ChangePassword, MsChapV1ChangePasswordV1, MsChapV1Response,
    MsChapV2ChangePassword, MsChapV2Response, MsChapV2Success, PapRepr,
};

fn roundtrip(data: &[u8]) {
    if let Ok(repr) = PapRepr::parse_bytes(data) {
        let mut buf = vec![0u8; repr.buffer_len()];
        let len = repr.emit(&mut buf).expect("a parsed PAP packet re-emits");
        assert_eq!(PapRepr::parse_bytes(&buf[..len]), Ok(repr));
    }
    if let Ok(repr) = ChapRepr::parse_bytes(data) {
        let mut buf = vec![0u8; repr.buffer_len()];
        let len = repr.emit(&mut buf).expect("a parsed CHAP packet re-emits");
        assert_eq!(ChapRepr::parse_bytes(&buf[..len]), Ok(repr));
        match repr {
            ChapRepr::Response { value, .. } => {
                if let Ok(v1) = MsChapV1Response::parse(value) {
                    assert_eq!(MsChapV1Response::parse(&v1.to_bytes()), Ok(v1));
                }
                if let Ok(v2) = MsChapV2Response::parse(value) {
                    assert_eq!(MsChapV2Response::parse(&v2.to_bytes()), Ok(v2));
                }
            }
            ChapRepr::Success { message, .. } | ChapRepr::Failure { message, .. } => {
                messages(message)
            }
            ChapRepr::Challenge { .. } => {}
        }
    }
    if let Ok(change) = MsChapV2ChangePassword::parse_bytes(data) {
        let mut buf = [0u8; 586];
        let len = change
            .emit(&mut buf)
            .expect("a parsed Change-Password re-emits");
        assert_eq!(MsChapV2ChangePassword::parse_bytes(&buf[..len]), Ok(change));
    }
    // RFC 2433 code 6: the LM fields are not kept, so the re-emitted
    // packet parses equal (its LM fields zero).
    if let Ok(change) = MsChapV1ChangePassword::parse_bytes(data) {
        let mut buf = [0u8; 1118];
        let len = change
            .emit(&mut buf)
            .expect("a parsed Change Password re-emits");
        assert_eq!(MsChapV1ChangePassword::parse_bytes(&buf[..len]), Ok(change));
    }
    if let Ok(change) = MsChapV1ChangePasswordV1::parse_bytes(data) {
        let mut buf = [0u8; 72];
        let len = change
            .emit(&mut buf)
            .expect("a parsed Change Password re-emits");
        assert_eq!(
            MsChapV1ChangePasswordV1::parse_bytes(&buf[..len]),
            Ok(change)
        );
    }
    messages(data);
}

fn messages(text: &[u8]) {
    if let Ok(success) = MsChapV2Success::parse(text) {
        let mut buf = vec![0u8; success.buffer_len()];
        let len = success.emit(&mut buf).expect("a parsed Success re-emits");
        assert_eq!(MsChapV2Success::parse(&buf[..len]), Ok(success));
    }
    if let Ok(failure) = MsChapFailure::parse(text) {
        let mut buf = vec![0u8; failure.buffer_len()];
        let len = failure.emit(&mut buf).expect("a parsed Failure re-emits");
        assert_eq!(MsChapFailure::parse(&buf[..len]), Ok(failure));
    }
}

fn check_output(method: Method, packet: &[u8]) {
    if method == Method::Pap {
        assert!(
            PapRepr::parse_bytes(packet).is_ok(),
            "own PAP output parses"
        );
    } else {
        assert!(
            ChapRepr::parse_bytes(packet).is_ok()
                || (method == Method::MsChapV2
                    && MsChapV2ChangePassword::parse_bytes(packet).is_ok())
                || (method == Method::MsChapV1
                    && MsChapV1ChangePassword::parse_bytes(packet).is_ok()),
            "own CHAP output parses"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip(data);

    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let method = [
        Method::Pap,
        Method::ChapMd5,
        Method::MsChapV1,
        Method::MsChapV2,
    ][usize::from(selector & 3)];
    let challenge: &[u8] = if method == Method::MsChapV1 {
        &[7; 8]
    } else {
        &[7; 16]
    };
    let mut store: CredentialStore<2> = CredentialStore::new(DomainRule::default());
    store.insert_password(b"user", b"pass").unwrap();
    // An expired password: right answers get E=648 and the
    // Change-Password path.
    store.set_expired(b"user", selector & 8 != 0);
    let config = AuthenticatorConfig {
        rechallenge_interval: (selector & 4 != 0).then(|| Duration::from_secs(5)),
        ..AuthenticatorConfig::default()
    };
    let mut now = Instant::ZERO;
    let mut local = Authenticator::new(method, config.clone(), now, 1, challenge).unwrap();
    let mut external = Authenticator::new(method, config, now, 1, challenge).unwrap();
    let mut peer = Peer::new(
        method,
        PeerConfig::default(),
        now,
        b"user",
        Secret::password(b"pass").unwrap(),
        1,
        Some([9; 16]),
    )
    .unwrap();

    let mut buf = [0u8; 600];
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (packet, tail) = tail.split_at(take);
        rest = tail;
        now += Duration::from_millis(u64::from(len) * 100);

        local.handle_packet_with(now, packet, &store);
        external.handle_packet(now, packet);
        peer.handle_packet(now, packet);
        for m in [&mut local, &mut external] {
            m.handle_timeout(now);
        }
        peer.handle_timeout(now);

        // The local authenticator and the peer are also wired to each
        // other, so real exchanges interleave with the arbitrary packets;
        // the external authenticator hears the peer too.
        for _ in 0..4 {
            if let Some(t) = local.poll_transmit(now, &mut buf) {
                assert!(t.len <= buf.len());
                check_output(method, &buf[..t.len]);
                peer.handle_packet(now, &buf[..t.len]);
            }
            if let Some(t) = external.poll_transmit(now, &mut buf) {
                assert!(t.len <= buf.len());
                check_output(method, &buf[..t.len]);
            }
            if let Some(t) = peer.poll_transmit(now, &mut buf) {
                assert!(t.len <= buf.len());
                check_output(method, &buf[..t.len]);
                local.handle_packet_with(now, &buf[..t.len], &store);
                external.handle_packet(now, &buf[..t.len]);
            }
        }

        let mut seen = 0;
        while let Some(event) = external.poll_event() {
            seen += 1;
            match event {
                Event::AuthRequest(_) => {
                    // Accept, reject, or "password expired" (E=648: the
                    // MS-CHAPv2 authenticator then waits for Change-Password).
                    let verdict = match len % 3 {
                        0 => Verdict::Accept(Accept {
                            authenticator_response: Some([len; 20]),
                            ..Accept::default()
                        }),
                        1 => Verdict::reject(FailureReason::WrongPassword),
                        _ => Verdict::reject(FailureReason::PasswordExpired),
                    };
                    external.verdict(now, verdict).expect("awaiting a verdict");
                }
                Event::ChallengeNeeded => {
                    let _ = external.feed_challenge(now, challenge);
                }
                _ => {}
            }
        }
        assert!(seen <= EVENT_QUEUE_LEN);
        let mut seen = 0;
        while let Some(event) = local.poll_event() {
            seen += 1;
            assert!(
                !matches!(event, Event::AuthRequest(_)),
                "local mode decides inline"
            );
            if event == Event::ChallengeNeeded {
                let _ = local.feed_challenge(now, challenge);
            }
        }
        assert!(seen <= EVENT_QUEUE_LEN);
        let mut seen = 0;
        while let Some(event) = peer.poll_event() {
            seen += 1;
            if let Event::Failure(f) = event {
                match f.reason {
                    FailureReason::RejectedByAuthenticator {
                        retry_allowed: true,
                        ..
                    } => peer.retry(now, None).expect("retry allowed"),
                    FailureReason::RejectedByAuthenticator {
                        error_code: Some(648),
                        ..
                    } => {
                        // Only MS-CHAPv2 with a usable C= is answerable.
                        let _ = peer.change_password(now, b"new", [len; 16], &[len; 512]);
                    }
                    _ => {}
                }
            }
        }
        assert!(seen <= EVENT_QUEUE_LEN);
    }
});
