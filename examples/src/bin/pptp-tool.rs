//! `pptp-tool`: debugging aid.
//!
//! * `pptp-tool decode HEX` — recognises a PPTP control message, an
//!   enhanced GRE packet (and the PPP frame inside), a PPP frame or async
//!   HDLC-framed PPP (RFC 1662, starting with `7e`), and
//!   prints it field by field, like the PIX's debug output.
//! * `pptp-tool pcap FILE [--password P | --nt-hash H] [--write-decrypted
//!   OUT.pcap]` — follows the PPTP sessions of a pcap/pcapng capture,
//!   derives the MPPE keys from its MS-CHAP exchange and decrypts every
//!   MPPE packet; exits 1 if some MPPE packet did not decrypt or the
//!   capture could not be read to its end.
//! * `pptp-tool decode --as ip|mppe|ppp|gre|pptp|hdlc HEX` — for bytes
//!   that do not say what they are; `decode` exits 1 on anything it
//!   could not decode.
//! * `pptp-tool keys --user U --password P --auth-challenge HEX
//!   --peer-challenge HEX` — NT hash, NT-Response, authenticator response
//!   and MPPE keys (MS-CHAPv2); `--v1 --challenge HEX` for MS-CHAPv1.
//! * `pptp-tool gre-rate receive` on one host and `pptp-tool gre-rate
//!   send --to ADDR` on the other (root): how many PPTP-sized GRE
//!   datagrams the raw-socket path between them carries with nothing but
//!   the hosts' batched system calls in the way, the ceiling a tunnel's
//!   GRE hop can reach (`scripts/throughput.sh` measures it beside every
//!   run).

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pptp_vpn::net::gre::GreSocket;
use pptp_vpn::net::gre_rate;
use pptp_vpn::{capture, decode, keys};
use zeroize::Zeroizing;

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
        /// What the bytes are, for bytes that do not say it themselves:
        /// ip (a bare IPv4 packet), mppe (MPPE header + encrypted data),
        /// ppp, gre, pptp or hdlc. Default: recognised from the bytes.
        #[arg(long = "as", value_name = "KIND", value_parser = parse_kind)]
        as_kind: Option<decode::Kind>,
    },
    /// Follow the PPTP sessions of a pcap/pcapng capture and decrypt their
    /// MPPE packets with the keys of the captured MS-CHAP exchange.
    Pcap {
        /// The capture (pcap or pcapng).
        file: std::path::PathBuf,
        /// The user's password.
        #[arg(long, conflicts_with = "nt_hash")]
        password: Option<String>,
        /// The user's NT password hash (16 octets hex), instead of the
        /// password (MS-CHAPv1 40/56-bit LM-based keys need the password).
        #[arg(long)]
        nt_hash: Option<String>,
        /// Write a pcap (raw IPv4) in which each MPPE packet that
        /// decrypted is replaced by its plaintext PPP frame.
        #[arg(long, value_name = "OUT.pcap")]
        write_decrypted: Option<std::path::PathBuf>,
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
    /// Measure what the raw GRE socket path carries between two hosts:
    /// PPTP data packets sent as fast as the kernel takes them, in the
    /// hosts' `sendmmsg`/`recvmmsg` batches, no PPP, MPPE or TUN (root).
    /// Start `receive` first. Prints one `GRE_RATE key=value ...` line.
    GreRate {
        #[command(subcommand)]
        role: GreRole,
    },
}

#[derive(Subcommand, Debug)]
enum GreRole {
    /// Send for SECS seconds.
    Send {
        /// The receiving host.
        #[arg(long)]
        to: std::net::Ipv4Addr,
        /// Seconds to send.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// GRE payload octets per packet (the PPP frame: 2 octets of
        /// protocol and the IP packet).
        #[arg(long, default_value_t = 1398)]
        payload: usize,
        /// Call ID the packets carry (the receiver counts only these).
        #[arg(long, default_value_t = 0x7e57)]
        call_id: u16,
        /// Send from this many threads at once, each with its own socket
        /// (the whole host's rate rather than one sender's).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Count what arrives for SECS seconds from the first packet (ends
    /// after a second of silence, or after WAIT seconds if none comes).
    Receive {
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        #[arg(long, default_value_t = 30.0)]
        wait: f64,
        #[arg(long, default_value_t = 0x7e57)]
        call_id: u16,
    },
}

fn seconds(name: &str, secs: f64) -> Result<std::time::Duration, String> {
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d <= std::time::Duration::from_secs(3600))
        .ok_or_else(|| format!("--{name} {secs}: give 0 to 3600 seconds"))
}

fn parse_kind(name: &str) -> Result<decode::Kind, String> {
    decode::Kind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = decode::Kind::NAMES.iter().map(|(n, _)| *n).collect();
        format!("unknown kind {name:?}: use {}", names.join(", "))
    })
}

/// What a command printed, and whether it did all it was asked.
struct Outcome {
    text: String,
    /// Why the exit status is not 0, when it is not.
    failure: Option<String>,
}

impl From<String> for Outcome {
    fn from(text: String) -> Self {
        Outcome {
            text,
            failure: None,
        }
    }
}

fn run(args: Args) -> Result<Outcome, String> {
    match args.command {
        Command::Decode { hex, as_kind } => {
            let bytes = keys::parse_hex(&hex.join(""))?;
            let d = match as_kind {
                Some(kind) => decode::decode_as(kind, &bytes)?,
                None => decode::decode_auto(&bytes)?.1,
            };
            // Whatever decoded is printed; a part that did not (a
            // truncated frame inside a good GRE header) fails the run, so
            // that scripts do not take a partial decode for a whole one.
            let problems = d.all_problems();
            Ok(Outcome {
                text: d.multi_line(),
                failure: (!problems.is_empty()).then(|| problems.join("; ")),
            })
        }
        Command::Pcap {
            file,
            password,
            nt_hash,
            write_decrypted,
        } => pcap(file, password, nt_hash, write_decrypted),
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
            Ok(keys::render(&keys::compute(&inputs)?).into())
        }
        Command::GreRate { role } => {
            let line = match role {
                GreRole::Send {
                    to,
                    secs,
                    payload,
                    call_id,
                    threads,
                } => gre_rate::send_from_threads(
                    threads,
                    to,
                    call_id,
                    payload,
                    seconds("secs", secs)?,
                )?
                .line("sender"),
                GreRole::Receive {
                    secs,
                    wait,
                    call_id,
                } => gre_rate::receive(
                    &GreSocket::open().map_err(|e| e.to_string())?,
                    call_id,
                    seconds("secs", secs)?,
                    seconds("wait", wait)?,
                )
                .map_err(|e| e.to_string())?
                .line("receiver"),
            };
            Ok(format!("{line}\n").into())
        }
    }
}

fn pcap(
    file: std::path::PathBuf,
    password: Option<String>,
    nt_hash: Option<String>,
    write_decrypted: Option<std::path::PathBuf>,
) -> Result<Outcome, String> {
    let secret = capture::Secret {
        password: password.map(Zeroizing::new),
        nt_hash: match nt_hash {
            Some(h) => Some(Zeroizing::new(keys::parse_hex_array(&h, "--nt-hash")?)),
            None => None,
        },
    };
    let input = std::fs::File::open(&file)
        .map(std::io::BufReader::new)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let decrypted: Option<Box<dyn std::io::Write>> = match &write_decrypted {
        Some(path) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        ))),
        None => None,
    };
    // The transcript goes out as it is made: a long capture's would not
    // fit in memory.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let report = capture::analyse(input, secret, &mut stdout, decrypted)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    stdout.flush().map_err(|e| format!("stdout: {e}"))?;
    let text = match &write_decrypted {
        Some(path) => format!("decrypted capture written to {}\n", path.display()),
        None => String::new(),
    };
    let (all, decrypted) = (report.mppe_packets(), report.decrypted());
    let failure = if decrypted < all {
        Some(format!(
            "{} of {all} MPPE packets not decrypted",
            all - decrypted
        ))
    } else {
        report
            .read_error
            .as_ref()
            .map(|e| format!("capture not read to the end: {e}"))
    };
    Ok(Outcome { text, failure })
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(Outcome {
            text,
            failure: None,
        }) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Outcome {
            text,
            failure: Some(why),
        }) => {
            print!("{text}");
            eprintln!("pptp-tool: incomplete: {why}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pptp-tool: {e}");
            ExitCode::FAILURE
        }
    }
}
