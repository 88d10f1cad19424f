//! `pptp-client --stdio`: the PPP link alone, as RFC 1662 async HDLC on a
//! bidirectional fd 0, for `pptp HOST --nolaunchpppd` (pptp-linux does
//! the PPTP control connection and GRE; we do LCP, authentication, IPCP,
//! CCP/MPPE and the TUN device). pptp-linux and pptpd escape every
//! control character whatever the ACCM (lab README); the decoder accepts
//! that and the encoder keeps the default ACCM (escape all of 0x00-0x1f),
//! which every peer accepts (RFC 1662 §7.1).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration as StdDuration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppp_core::link::{EndReason, Link, LinkEvent};
use ppp_core::wire::hdlc::{Decoder, Encoder};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use super::{configure_tun, link_config, ClientConfig};
use crate::host::{entropy, Clock};
use crate::net::tun::Tun;

const PPP: Token = Token(0);
const TUN: Token = Token(1);
const SIGNALS: Token = Token(2);

macro_rules! log {
    ($($arg:tt)*) => {{
        eprintln!("pptp-client: {}", format_args!($($arg)*));
    }};
}

/// Runs one PPP session over fd 0; returns when it ends.
pub fn run_stdio(config: &ClientConfig) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("pptp-client --stdio needs root for its TUN device (CAP_NET_ADMIN)".into());
    }
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("fd 0: {e}"))?;
    let wire = UnixStream::from(fd);
    wire.set_nonblocking(true).map_err(|e| {
        format!("fd 0 must be a socket (pptp --nolaunchpppd through a socketpair): {e}")
    })?;
    let tun = Tun::open(&config.tun_name).map_err(|e| format!("TUN device: {e}"))?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signals: {e}"))?;
    let mut poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
    poll.registry()
        .register(
            &mut SourceFd(&wire.as_raw_fd()),
            PPP,
            Interest::READABLE | Interest::WRITABLE,
        )
        .and_then(|()| {
            poll.registry()
                .register(&mut SourceFd(&tun.as_raw_fd()), TUN, Interest::READABLE)
        })
        .and_then(|()| {
            poll.registry()
                .register(&mut signals, SIGNALS, Interest::READABLE)
        })
        .map_err(|e| format!("register: {e}"))?;

    let clock = Clock::start();
    let mut link = Link::new(link_config(config)?, entropy());
    link.open(ppp_core::Instant::from_millis(clock.ms()));
    let mut decoder: Box<Decoder<4096>> = Box::default();
    let encoder = Encoder::default();
    let mut out: Vec<u8> = Vec::new();
    let mut events = Events::with_capacity(8);
    let mut buf = vec![0u8; 65_536];
    let mut frame = vec![0u8; 4096];
    let mut encoded = vec![0u8; 9000];
    let mut result: Option<Result<(), String>> = None;
    let mut user_close = false;
    let mut close_deadline: Option<u64> = None;
    loop {
        let now = clock.ms();
        let mut deadline = link.poll_timeout().map(|i| i.as_millis());
        if let Some(c) = close_deadline {
            deadline = Some(deadline.map_or(c, |d| d.min(c)));
        }
        let timeout = deadline.map(|d| StdDuration::from_millis(d.saturating_sub(now)));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
        }
        let lnow = ppp_core::Instant::from_millis(clock.ms());
        for event in events.iter() {
            match event.token() {
                PPP => loop {
                    match (&wire).read(&mut buf) {
                        Ok(0) => {
                            log!("fd 0 closed by the PPTP side");
                            link.lower_down(lnow);
                            result.get_or_insert(Err("the PPTP side closed fd 0".into()));
                            break;
                        }
                        Ok(n) => {
                            let mut offset = 0;
                            while offset < n {
                                let decoded = decoder.decode(&buf[offset..n]);
                                offset += decoded.consumed;
                                if decoded.consumed == 0 {
                                    break;
                                }
                                if let Some(Ok(f)) = decoded.frame {
                                    let len = f.len().min(frame.len());
                                    frame[..len].copy_from_slice(&f[..len]);
                                    if let Ok(Some(d)) = link.handle_frame(lnow, &mut frame[..len])
                                    {
                                        let _ = tun.send(&frame[d.range()]);
                                    }
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            link.lower_down(lnow);
                            result.get_or_insert(Err(format!("fd 0: {e}")));
                            break;
                        }
                    }
                },
                TUN => loop {
                    match tun.recv(&mut buf) {
                        Ok(n) => {
                            if let Ok(len) = link.send_ip(lnow, &buf[..n], &mut frame) {
                                if let Ok(m) = encoder.encode(&frame[..len], &mut encoded) {
                                    out.extend_from_slice(&encoded[..m]);
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                },
                SIGNALS if signals.pending().next().is_some() && !user_close => {
                    log!("disconnecting");
                    user_close = true;
                    link.close(lnow, EndReason::AdminClose);
                    close_deadline = Some(clock.ms() + 5_000);
                }
                _ => {}
            }
        }
        let lnow = ppp_core::Instant::from_millis(clock.ms());
        if link
            .poll_timeout()
            .is_some_and(|d| d.as_millis() <= clock.ms())
        {
            link.handle_timeout(lnow);
        }
        while let Some(event) = link.poll_event() {
            match event {
                LinkEvent::Authenticated { method, .. } => log!("authenticated with {method}"),
                LinkEvent::AuthFailed { method, reason, .. } => {
                    log!("{method} authentication failed: {reason}");
                }
                LinkEvent::CcpUp(info) => {
                    log!("CCP up: {}", crate::events::mppe_text(info.as_ref()))
                }
                LinkEvent::IpcpUp(n) => {
                    if let (Some(local), Some(peer)) = (n.local_address, n.peer_address) {
                        if let Err(e) =
                            configure_tun(&tun, local, peer, link.max_ip_len(), &config.routes)
                        {
                            log!("configuring {}: {e}", tun.name());
                        }
                        let dns = crate::events::addresses_text(&n.dns);
                        log!("IPCP up: local address {local} peer {peer} dns {dns}");
                    }
                }
                LinkEvent::DataReady => log!("data ready"),
                LinkEvent::Down(reason) => {
                    log!("PPP down: {reason:?}");
                    if user_close {
                        log!("disconnected");
                        result.get_or_insert(Ok(()));
                    } else {
                        result.get_or_insert(Err(format!("PPP down: {reason:?}")));
                    }
                }
                _ => {}
            }
        }
        while let Some(tx) = link.poll_transmit(lnow, &mut frame) {
            if let Ok(m) = encoder.encode(&frame[..tx.len], &mut encoded) {
                out.extend_from_slice(&encoded[..m]);
            }
        }
        while !out.is_empty() {
            match (&wire).write(&out) {
                Ok(n) => {
                    out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    out.clear();
                }
            }
        }
        if let Some(r) = result.take() {
            return r;
        }
        if close_deadline.is_some_and(|d| clock.ms() >= d) {
            return Err("no LCP Terminate-Ack in time".into());
        }
    }
}
