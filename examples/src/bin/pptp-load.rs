//! `pptp-load`: N concurrent PPTP clients (MS-CHAPv2 + MPPE-128) against a
//! running `pptp-server`; prints sessions established per second, failures,
//! optionally checks one IP packet per session end to end, holds the
//! sessions until SIGINT/SIGTERM (or `--hold`), then closes them in order.
//! Needs root (raw GRE socket). See `scripts/scale.sh`.
//!
//! ```text
//! sudo pptp-load --server 10.0.2.1:1723 -n 1000 --concurrency 200 --data --hold 5
//! ```

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pptp_vpn::load::{self, LoadConfig};

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
    let config = LoadConfig {
        server: args.server,
        sessions: args.sessions,
        concurrency: args.concurrency.max(1),
        ramp_per_sec: args.ramp,
        user: args.user,
        password: args.password,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        data: args.data,
        hold: args.hold.map(Duration::from_secs),
        close_timeout: Duration::from_secs(args.close_timeout),
    };
    match load::run(&config) {
        Ok(report) => {
            let data_ok = !config.data || report.data_replied == Some(report.established);
            if report.failed == 0 && report.lost == 0 && data_ok {
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
