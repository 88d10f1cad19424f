//! `pptp-load`: N concurrent PPTP clients (MS-CHAPv2 + MPPE-128) against a
//! running `pptp-server`; prints sessions established per second, failures,
//! optionally checks one IP packet per session end to end, holds the
//! sessions until SIGINT/SIGTERM (or `--hold`), then closes them in order.
//! Needs root (raw GRE socket). See `scripts/scale.sh`.
//!
//! ```text
//! sudo pptp-load --server 10.0.2.1:1723 -n 1000 --concurrency 200 --data --hold 5
//! # 100 sessions, MPPE-128 stateful, 10 s of 1400-octet Echoes at 20,000/s
//! # in all (scripts/throughput.sh):
//! sudo pptp-load -n 100 --mppe 128 --mppe-mode stateful \
//!     --traffic-secs 10 --traffic-rate 20000 --traffic-size 1400 --hold 0
//! ```

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pptp_vpn::config::{parse_mppe_mode, parse_mppe_strength, MppeSettings, MppeStrength};
use pptp_vpn::load::{self, LoadConfig, TrafficConfig};

#[derive(Parser)]
#[command(
    about = "PPTP load generator: N sessions (MS-CHAPv2 + MPPE-128) against pptp-server; needs root"
)]
struct Args {
    /// The server's PPTP address.
    #[arg(long, default_value = "10.0.2.1:1723")]
    server: SocketAddrV4,
    /// Sessions to establish.
    #[arg(short = 'n', long, default_value_t = 1000)]
    sessions: usize,
    /// Handshakes in flight at most.
    #[arg(short = 'k', long, default_value_t = 200)]
    concurrency: usize,
    /// New TCP connections per second at most (0: no limit).
    #[arg(long, default_value_t = 0)]
    ramp: u64,
    /// User name.
    #[arg(long, default_value = "load")]
    user: String,
    /// Password.
    #[arg(long, default_value = "loadpass")]
    password: String,
    /// Seconds a session may take from TCP connect to IPCP+CCP opened.
    #[arg(long, default_value_t = 30)]
    handshake_timeout: u64,
    /// Send one ICMP Echo Request per session through the tunnel to the
    /// server's tunnel address and require the reply.
    #[arg(long)]
    data: bool,
    /// MPPE strength to ask of the server: none, 40, 128, auto (required
    /// unless none).
    #[arg(long, default_value = "128")]
    mppe: String,
    /// MPPE mode: stateless, stateful, prefer-stateless, prefer-stateful.
    #[arg(long, default_value = "stateless")]
    mppe_mode: String,
    /// After the data check: this many seconds of ICMP Echo Requests on
    /// every session, round robin, to the server's tunnel address
    /// (prints `TRAFFIC ...`).
    #[arg(long)]
    traffic_secs: Option<u64>,
    /// Echo Requests per second in the traffic phase, all sessions together.
    #[arg(long, default_value_t = 10_000)]
    traffic_rate: u64,
    /// IP packet size of the traffic phase's Echo Requests (28 up to the
    /// session's MTU).
    #[arg(long, default_value_t = 1400)]
    traffic_size: usize,
    /// Hold the sessions this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long)]
    hold: Option<u64>,
    /// Seconds the orderly close may take.
    #[arg(long, default_value_t = 20)]
    close_timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match pptp_vpn::host::raise_fd_limit() {
        Ok(n) if (n as usize) < args.sessions + 64 => eprintln!(
            "pptp-load: warning: open-file limit {n} is below {} sessions + 64",
            args.sessions
        ),
        Ok(_) => {}
        Err(e) => eprintln!("pptp-load: warning: cannot raise the open-file limit: {e}"),
    }
    let mppe = match (
        parse_mppe_strength(&args.mppe),
        parse_mppe_mode(&args.mppe_mode),
    ) {
        (Ok(strength), Ok(mode)) => MppeSettings {
            strength,
            required: strength != MppeStrength::None,
            mode,
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("pptp-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = LoadConfig {
        server: args.server,
        sessions: args.sessions,
        concurrency: args.concurrency.max(1),
        ramp_per_sec: args.ramp,
        user: args.user,
        password: args.password,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        data: args.data,
        mppe,
        traffic: args.traffic_secs.map(|secs| TrafficConfig {
            duration: Duration::from_secs(secs),
            rate: args.traffic_rate,
            size: args.traffic_size,
        }),
        hold: args.hold.map(Duration::from_secs),
        close_timeout: Duration::from_secs(args.close_timeout),
    };
    match load::run(&config) {
        Ok(report) => {
            let data_ok = !config.data || report.data_replied == Some(report.established);
            // Zero replies in a traffic phase means no data path at all.
            let traffic_ok = report.traffic.is_none_or(|t| t.replied > 0);
            if report.failed == 0 && report.lost == 0 && data_ok && traffic_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("pptp-load: {e}");
            ExitCode::FAILURE
        }
    }
}
