//! `pptp-client`: connect to a PPTP server, authenticate, bring up a TUN
//! device with the assigned address; reconnect with back-off; SIGINT or
//! SIGTERM disconnects gracefully (LCP Terminate, Call-Clear-Request,
//! Stop-Control-Connection-Request).
//!
//! ```text
//! sudo pptp-client --server 10.0.0.2 --user labuser --password labpass \
//!     --auth mschap-v2 --mppe 128 --mppe-required --route 10.99.0.0/24
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::process::ExitCode;

use clap::Parser;
use pptp_vpn::client::{run, ClientConfig};
use pptp_vpn::config::{parse_auth_list, parse_mppe_mode, parse_mppe_strength, MppeSettings};

#[derive(Parser)]
#[command(about = "PPTP client (RFC 2637) with PPP, MS-CHAP and MPPE; needs root")]
struct Args {
    /// Server: IPv4 address or host name (ignored with --stdio).
    #[arg(long)]
    server: Option<String>,
    /// PPP only, as async HDLC on fd 0 (a socket), for
    /// `pptp HOST --nolaunchpppd`: pptp-linux does PPTP and GRE.
    #[arg(long)]
    stdio: bool,
    /// Server TCP port.
    #[arg(long, default_value_t = 1723)]
    port: u16,
    /// User name.
    #[arg(long)]
    user: String,
    /// Password (default: the PPTP_PASSWORD environment variable, which
    /// keeps it out of the process list).
    #[arg(long)]
    password: Option<String>,
    /// When the server says the password has expired (error 648), change
    /// it to this one (MS-CHAPv2 Change-Password, or MS-CHAPv1 Change
    /// Password version 2; default: the PPTP_NEW_PASSWORD environment
    /// variable, if set).
    #[arg(long)]
    new_password: Option<String>,
    /// Accepted authentication methods, in order (pap, chap, mschap, mschap-v2).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mschap-v2,mschap,chap,pap"
    )]
    auth: Vec<String>,
    /// MPPE strengths accepted: none, 40, 128, auto.
    #[arg(long, default_value = "auto")]
    mppe: String,
    /// Hang up unless MPPE is agreed.
    #[arg(long)]
    mppe_required: bool,
    /// stateless, stateful, prefer-stateless, prefer-stateful.
    #[arg(long, default_value = "stateless")]
    mppe_mode: String,
    /// MS-CHAPv1 with --mppe 40: the LM-hash based start key (RFC 3079
    /// §2.1, as Windows) instead of the NT-based one (pppd). A server on
    /// `mschapv1_keys = "auto"` takes either.
    #[arg(long)]
    lm_keys: bool,
    /// TUN device name.
    #[arg(long, default_value = "pptpc0")]
    tun: String,
    /// Extra route into the tunnel once up (NET/PREFIX; repeatable).
    #[arg(long)]
    route: Vec<String>,
    /// Reconnect attempts after a lost or failed session (0: none).
    #[arg(long, default_value_t = 10)]
    retries: u32,
    /// Our GRE receive window, offered in the Outgoing-Call-Request (RFC
    /// 2637 §2.7; 1 to 65535). Windows offers 16 or 64, pptp-linux 3.
    #[arg(long, default_value_t = pptp_core::endpoint::DEFAULT_RECEIVE_WINDOW,
          value_parser = clap::value_parser!(u16).range(1..))]
    receive_window: u16,
    /// No TUN offloads: each packet read and written on its own (by
    /// default consecutive TCP segments of one flow are merged into one
    /// write, as Linux's GRO does, and TCP super-packets are read and cut
    /// into segments here, as a card with TSO does).
    #[arg(long)]
    no_tun_offload: bool,
}

fn parse_route(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (net, prefix) = s.split_once('/').unwrap_or((s, "32"));
    let net: Ipv4Addr = net.parse().map_err(|e| format!("route {s}: {e}"))?;
    let prefix: u8 = prefix.parse().map_err(|e| format!("route {s}: {e}"))?;
    if prefix > 32 {
        return Err(format!("route {s}: prefix above 32"));
    }
    Ok((net, prefix))
}

/// The first IPv4 address of `host` (PPTP's GRE runs over IPv4 only,
/// RFC 2637 §4).
fn resolve(host: &str, port: u16) -> Result<SocketAddrV4, String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("server {host}: {e}"))?;
    addrs
        .filter_map(|a| match a {
            SocketAddr::V4(v4) => Some(v4),
            SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| format!("server {host}: no IPv4 address"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = (|| -> Result<ClientConfig, String> {
        Ok(ClientConfig {
            server: match (&args.server, args.stdio) {
                (_, true) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, args.port),
                (Some(host), false) => resolve(host, args.port)?,
                (None, false) => return Err("--server is required (or --stdio)".to_string()),
            },
            user: args.user.clone(),
            password: match &args.password {
                Some(p) => p.clone(),
                None => std::env::var("PPTP_PASSWORD").map_err(|_| {
                    "no --password and no PPTP_PASSWORD in the environment".to_string()
                })?,
            },
            new_password: args
                .new_password
                .clone()
                .or_else(|| std::env::var("PPTP_NEW_PASSWORD").ok()),
            auth: parse_auth_list(&args.auth).map_err(|e| e.to_string())?,
            mppe: MppeSettings {
                strength: parse_mppe_strength(&args.mppe).map_err(|e| e.to_string())?,
                required: args.mppe_required,
                mode: parse_mppe_mode(&args.mppe_mode).map_err(|e| e.to_string())?,
            },
            lm_keys: args.lm_keys,
            tun_name: args.tun.clone(),
            routes: args
                .route
                .iter()
                .map(|r| parse_route(r))
                .collect::<Result<_, _>>()?,
            retries: args.retries,
            receive_window: args.receive_window,
            tun_offload: !args.no_tun_offload,
        })
    })();
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pptp-client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if args.stdio {
        pptp_vpn::client::run_stdio(&config)
    } else {
        run(&config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pptp-client: {e}");
            ExitCode::FAILURE
        }
    }
}
