//! `pptp-demo`: a complete PPTP session between an in-process client and
//! server over an in-memory network with a simulated clock. Prints a
//! PIX-style debug transcript and a `show vpdn` table; `--pcap FILE` writes
//! the whole exchange for Wireshark/tshark. No root, no network.
//!
//! Exits 0 only if the session completed and every IP packet arrived
//! intact.

use std::process::ExitCode;

use clap::Parser;
use mppe::KeyStrength;
use ppp_core::auth::MsChapV1Keys;
use pptp_vpn::demo::{self, AuthChoice, DemoOptions};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "In-process PPTP client and server: one complete session, PIX-style transcript"
)]
struct Args {
    /// Authentication method: pap, chap, mschapv1, mschapv2.
    #[arg(long, default_value = "mschapv2")]
    auth: String,
    /// MPPE key strength: 40, 56, 128 or none. Default: 128 with MS-CHAP,
    /// none otherwise (MPPE keys come from MS-CHAP, RFC 3079).
    #[arg(long)]
    mppe: Option<String>,
    /// Stateful MPPE (key change every 256 packets; losses resynchronise
    /// through CCP Reset-Request). Default stateless.
    #[arg(long)]
    stateful: bool,
    /// With --stateful: the deployed (pppd/Linux) meaning of the MPPE A
    /// bit instead of RFC 3078's (it can desynchronise for good when a
    /// flushed packet is lost).
    #[arg(long)]
    deployed_flush: bool,
    /// MS-CHAPv1 with --mppe 40|56: the client takes the LM-hash based
    /// start key (RFC 3079 §2.1, as Windows) instead of the NT-based one
    /// (pppd). The server decides by --server-keys.
    #[arg(long)]
    lm_keys: bool,
    /// The server's MS-CHAPv1 40/56-bit start key: auto (from the
    /// client's first packet), nt or lm.
    #[arg(long, default_value = "auto")]
    server_keys: String,
    /// Let --loss hit LCP/IPCP/CCP Configure packets too (spared by
    /// default: each lost one costs a restart-timer round or a
    /// renegotiation, so the session takes longer).
    #[arg(long)]
    loss_negotiation: bool,
    /// Percent of GRE datagrams the simulated network drops (and the same
    /// percent it reorders). IP data, GRE acks and CCP Reset-Request/Ack
    /// are hit; negotiation packets (LCP/IPCP/CCP Configure-*, PAP, CHAP)
    /// are spared (a lost CHAP Success is unrecoverable, RFC 1994; a lost
    /// CCP Configure packet can make an MPPE-required link end, see
    /// demo.rs).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Seed of the random source (challenges, magic numbers, call IDs,
    /// losses).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Echo requests each side sends.
    #[arg(long, default_value_t = 3)]
    pings: u16,
    /// User name.
    #[arg(long, default_value = "cisco")]
    user: String,
    /// Password.
    #[arg(long, default_value = "cisco")]
    password: String,
    /// Password the server expects (default: the same as --password).
    #[arg(long)]
    server_password: Option<String>,
    /// Write the exchange (TCP control + GRE, synthesized IPv4) as pcap.
    #[arg(long)]
    pcap: Option<std::path::PathBuf>,
    /// Print only the summary and the show vpdn table.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let auth = match AuthChoice::parse(&args.auth) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pptp-demo: {e}");
            return ExitCode::from(2);
        }
    };
    let ms_chap = matches!(auth, AuthChoice::MsChapV1 | AuthChoice::MsChapV2);
    let mppe = match args.mppe.as_deref() {
        None if ms_chap => Some(KeyStrength::Bits128),
        None | Some("none") | Some("off") => None,
        Some("40") => Some(KeyStrength::Bits40),
        Some("56") => Some(KeyStrength::Bits56),
        Some("128") => Some(KeyStrength::Bits128),
        Some(other) => {
            eprintln!("pptp-demo: --mppe {other:?}: use 40, 56, 128 or none");
            return ExitCode::from(2);
        }
    };
    if mppe.is_some() && !ms_chap {
        eprintln!("pptp-demo: MPPE needs MS-CHAP key material (RFC 3079); use --auth mschapv1|mschapv2 or --mppe none");
        return ExitCode::from(2);
    }
    let Some(server_mschapv1_keys) = MsChapV1Keys::parse(&args.server_keys) else {
        eprintln!(
            "pptp-demo: --server-keys {:?}: use auto, nt or lm",
            args.server_keys
        );
        return ExitCode::from(2);
    };
    if !(0.0..100.0).contains(&args.loss) {
        eprintln!("pptp-demo: --loss must be in 0..100");
        return ExitCode::from(2);
    }
    let opts = DemoOptions {
        auth,
        mppe,
        stateful: args.stateful,
        loss_percent: args.loss,
        seed: args.seed,
        pings: args.pings,
        deployed_flush: args.deployed_flush,
        loss_negotiation: args.loss_negotiation,
        username: args.user,
        password: args.password,
        server_password: args.server_password,
        mschapv1_keys: if args.lm_keys {
            MsChapV1Keys::Lm
        } else {
            MsChapV1Keys::Nt
        },
        server_mschapv1_keys,
    };
    let pcap: Option<Box<dyn std::io::Write>> = match &args.pcap {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                eprintln!("pptp-demo: cannot create {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let echo: Option<Box<dyn std::io::Write>> = if args.quiet {
        None
    } else {
        Some(Box::new(std::io::stdout()))
    };
    let outcome = demo::run(&opts, echo, pcap);
    println!();
    println!("show vpdn (server, after the data exchange):");
    print!("{}", outcome.show_vpdn);
    println!();
    println!("layers run: {}", outcome.layers.join(" -> "));
    println!(
        "echo replies: client->server {}/{}, server->client {}/{}; IP packets delivered intact: client {}, server {}; damaged {}; CCP Reset-Requests {}",
        outcome.pings_ok.0,
        opts.pings,
        outcome.pings_ok.1,
        opts.pings,
        outcome.ip_delivered.0,
        outcome.ip_delivered.1,
        outcome.ip_damaged,
        outcome.reset_requests
    );
    if let Some(path) = &args.pcap {
        println!("pcap written to {}", path.display());
    }
    if outcome.completed {
        println!("RESULT: session completed");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "RESULT: session FAILED: {}",
            outcome.failure.as_deref().unwrap_or("did not complete")
        );
        ExitCode::FAILURE
    }
}
