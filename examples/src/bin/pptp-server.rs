//! `pptp-server`: a PPTP server (RFC 2637's PAC) on Linux — TCP 1723, raw
//! GRE, one shared TUN device, MS-CHAPv2/v1, CHAP-MD5, PAP, MPPE 40/128.
//!
//! ```text
//! sudo pptp-server --config examples/pptp-server.toml          # run
//! sudo pptp-server --config examples/pptp-server.toml status   # show vpdn
//! sudo pptp-server --config examples/pptp-server.toml clear all|TUNNEL-ID|call CALL-ID
//! sudo kill -USR1 $(pidof pptp-server)                         # show vpdn on stdout
//! ```

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pptp_vpn::config::ServerConfig;
use pptp_vpn::server::Server;

#[derive(Parser)]
#[command(about = "PPTP server (RFC 2637) with PPP, MS-CHAP and MPPE; needs root")]
struct Args {
    /// TOML configuration file (see examples/pptp-server.toml).
    #[arg(short, long, default_value = "/etc/pptp-server.toml")]
    config: PathBuf,
    /// Talk to a running server instead: `status`, `clear all`,
    /// `clear TUNNEL-ID`, `clear call CALL-ID`, `shutdown`.
    command: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("pptp-server: {}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let config = match ServerConfig::from_toml(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pptp-server: {}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    if !args.command.is_empty() {
        return control(&config, &args.command.join(" "));
    }
    // One TCP socket per tunnel: lift the soft open-file limit.
    match pptp_vpn::host::raise_fd_limit() {
        Ok(n) if n < config.max_sessions as u64 + 64 => eprintln!(
            "pptp-server: warning: open-file limit {n} is below max_sessions {} + 64",
            config.max_sessions
        ),
        Ok(_) => {}
        Err(e) => eprintln!("pptp-server: warning: cannot raise the open-file limit: {e}"),
    }
    let servers = match pptp_vpn::server::build_workers(config) {
        Ok(s) => s,
        Err(e) => {
            pptp_vpn::server::flush_log();
            eprintln!("pptp-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Their start-up lines were logged on this thread.
    pptp_vpn::server::flush_log();
    // One thread per worker (`workers` in the configuration; one by
    // default); each runs until SIGINT/SIGTERM and its goodbyes are done.
    let threads: Vec<_> = servers
        .into_iter()
        .map(|mut server| std::thread::spawn(move || run(&mut server)))
        .collect();
    let mut code = ExitCode::SUCCESS;
    for thread in threads {
        if !matches!(thread.join(), Ok(true)) {
            code = ExitCode::FAILURE;
        }
    }
    code
}

/// Runs one worker; false when it stopped on an error.
fn run(server: &mut Server) -> bool {
    let result = server.run();
    pptp_vpn::server::flush_log();
    match result {
        Ok(()) => true,
        Err(e) => {
            eprintln!("pptp-server: {e}");
            false
        }
    }
}

fn control(config: &ServerConfig, command: &str) -> ExitCode {
    let mut stream = match UnixStream::connect(&config.control_socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "pptp-server: cannot reach the running server at {}: {e}",
                config.control_socket.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // A server too busy to answer (issue #14: at 20,500 connections
    // `status` hung) must not hang the operator's shell.
    let timeout = Some(std::time::Duration::from_secs(10));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let mut reply = String::new();
    if stream.write_all(command.as_bytes()).is_err() || stream.read_to_string(&mut reply).is_err() {
        eprintln!(
            "pptp-server: no answer from the running server (closed or timed out after 10 s)"
        );
        return ExitCode::FAILURE;
    }
    print!("{reply}");
    ExitCode::SUCCESS
}
