//! `pptp-tool`: debugging aid.
//!
//! * `pptp-tool decode HEX` — recognises a PPTP control message, an
//!   enhanced GRE packet (and the PPP frame inside), a PPP frame or async
//!   HDLC-framed PPP (RFC 1662, starting with `7e`), and
//!   prints it field by field, like the PIX's debug output.
//! * `pptp-tool keys --user U --password P --auth-challenge HEX
//!   --peer-challenge HEX` — NT hash, NT-Response, authenticator response
//!   and MPPE keys (MS-CHAPv2); `--v1 --challenge HEX` for MS-CHAPv1.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pptp_vpn::{decode, keys};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Decode PPTP/GRE/PPP bytes; compute MS-CHAP responses and MPPE keys"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a PPTP control message, GRE packet, PPP frame or async HDLC
    /// (7e-framed) PPP given in hex.
    Decode {
        /// The bytes in hex (spaces and colons allowed; several arguments
        /// are joined).
        #[arg(required = true)]
        hex: Vec<String>,
    },
    /// Compute MS-CHAP responses and MPPE keys.
    Keys {
        /// User name (MS-CHAPv2).
        #[arg(long, default_value = "")]
        user: String,
        /// Password.
        #[arg(long)]
        password: String,
        /// MS-CHAPv2 authenticator challenge (16 octets hex).
        #[arg(long)]
        auth_challenge: Option<String>,
        /// MS-CHAPv2 peer challenge (16 octets hex).
        #[arg(long)]
        peer_challenge: Option<String>,
        /// MS-CHAPv1 instead of v2.
        #[arg(long)]
        v1: bool,
        /// MS-CHAPv1 challenge (8 octets hex).
        #[arg(long)]
        challenge: Option<String>,
    },
}

fn run(args: Args) -> Result<String, String> {
    match args.command {
        Command::Decode { hex } => {
            let bytes = keys::parse_hex(&hex.join(""))?;
            let (_, d) = decode::decode_auto(&bytes)?;
            Ok(d.multi_line())
        }
        Command::Keys {
            user,
            password,
            auth_challenge,
            peer_challenge,
            v1,
            challenge,
        } => {
            let mut inputs = keys::KeyInputs {
                username: user,
                password,
                ..Default::default()
            };
            if v1 {
                let c = challenge.ok_or("--v1 needs --challenge HEX (8 octets)")?;
                inputs.v1_challenge = Some(keys::parse_hex_array(&c, "--challenge")?);
            } else {
                let a = auth_challenge.ok_or("--auth-challenge HEX (16 octets) is required")?;
                let p = peer_challenge.ok_or("--peer-challenge HEX (16 octets) is required")?;
                inputs.auth_challenge = Some(keys::parse_hex_array(&a, "--auth-challenge")?);
                inputs.peer_challenge = Some(keys::parse_hex_array(&p, "--peer-challenge")?);
            }
            Ok(keys::render(&keys::compute(&inputs)?))
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pptp-tool: {e}");
            ExitCode::FAILURE
        }
    }
}
