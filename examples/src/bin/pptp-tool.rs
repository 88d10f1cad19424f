//! `pptp-tool`: debugging aid (decode PPTP/GRE/PPP bytes, compute MS-CHAP
//! responses and MPPE keys). Grows with the crates.
fn main() {
    eprintln!("pptp-tool: no subcommands yet");
    std::process::exit(2);
}
