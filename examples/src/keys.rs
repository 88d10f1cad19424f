//! `pptp-tool keys`: MS-CHAP responses and MPPE keys from given inputs,
//! computed with `ppp_core::auth::crypto` (RFC 2433, RFC 2759) and
//! `mppe::keys` (RFC 3079). Everything is printed in hex, so this is for
//! test inputs and debugging, never for production secrets.

use mppe::keys::{
    asymmetric_start_key, master_key, mschapv1_lm_start_key, mschapv1_start_key, KeySchedule,
    KeyStrength, Side, StartKey,
};
use ppp_core::auth::crypto;

/// Inputs of the computation.
#[derive(Clone, Debug, Default)]
pub struct KeyInputs {
    /// User name (MS-CHAPv2 ChallengeHash; a `DOMAIN\` prefix is stripped).
    pub username: String,
    /// Cleartext password.
    pub password: String,
    /// MS-CHAPv2 authenticator challenge (16 octets).
    pub auth_challenge: Option<[u8; 16]>,
    /// MS-CHAPv2 peer challenge (16 octets).
    pub peer_challenge: Option<[u8; 16]>,
    /// MS-CHAPv1 challenge (8 octets): compute MS-CHAPv1 values instead.
    pub v1_challenge: Option<[u8; 8]>,
}

/// One key strength's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrengthKeys {
    /// 40, 56 or 128.
    pub bits: u16,
    /// Server (authenticator) send start key, hex, as long as the strength
    /// uses (8 or 16 octets).
    pub server_send_start_key: String,
    /// Server receive start key.
    pub server_recv_start_key: String,
    /// Initial server send session key (RFC 3079 `GetNewKeyFromSHA` +
    /// reduction).
    pub server_send_session_key: String,
    /// Initial server receive session key.
    pub server_recv_session_key: String,
    /// MS-CHAPv1 only, 40/56-bit: RFC 3079 §2.1's LM-hash based session
    /// key (pppd/Linux use the NT-based start key instead, shown above).
    pub lm_session_key: Option<String>,
}

/// Everything computed, as hex strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// MS-CHAPv1 or MS-CHAPv2.
    pub version: u8,
    /// NtPasswordHash = MD4(UTF-16LE password).
    pub password_hash: String,
    /// HashNtPasswordHash.
    pub password_hash_hash: String,
    /// LM password hash (MS-CHAPv1 only).
    pub lm_password_hash: Option<String>,
    /// ChallengeHash (MS-CHAPv2 only).
    pub challenge_hash: Option<String>,
    /// NT-Response (24 octets).
    pub nt_response: String,
    /// LM-Response (MS-CHAPv1 only; the weak one, RFC 2433 §12).
    pub lm_response: Option<String>,
    /// `S=...` authenticator response (MS-CHAPv2 only).
    pub authenticator_response: Option<String>,
    /// MPPE master key (MS-CHAPv2) or start key (MS-CHAPv1), 16 octets.
    pub master_key: String,
    /// Keys at 40, 56 and 128 bits.
    pub strengths: Vec<StrengthKeys>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses a hex string of exactly `N` octets (spaces and colons allowed).
pub fn parse_hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    let v = parse_hex(s).map_err(|e| format!("{what}: {e}"))?;
    v.as_slice()
        .try_into()
        .map_err(|_| format!("{what}: {} octets given, {N} needed", v.len()))
}

/// Parses hex, ignoring whitespace, `:` and a leading `0x`.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':' && *b != b'-')
        .collect();
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|p| {
            let t = std::str::from_utf8(p).map_err(|e| e.to_string())?;
            u8::from_str_radix(t, 16).map_err(|_| format!("not hex: {t:?}"))
        })
        .collect()
}

fn strength_keys(
    bits: u16,
    strength: KeyStrength,
    send: &StartKey,
    recv: &StartKey,
) -> Result<StrengthKeys, String> {
    let n = strength.key_len();
    let s = KeySchedule::new(send, strength).map_err(|e| e.to_string())?;
    let r = KeySchedule::new(recv, strength).map_err(|e| e.to_string())?;
    Ok(StrengthKeys {
        bits,
        server_send_start_key: hex(&send.as_bytes()[..n]),
        server_recv_start_key: hex(&recv.as_bytes()[..n]),
        server_send_session_key: hex(s.current()),
        server_recv_session_key: hex(r.current()),
        lm_session_key: None,
    })
}

const STRENGTHS: [(u16, KeyStrength); 3] = [
    (40, KeyStrength::Bits40),
    (56, KeyStrength::Bits56),
    (128, KeyStrength::Bits128),
];

/// Computes the report.
pub fn compute(inputs: &KeyInputs) -> Result<KeyReport, String> {
    let pw = inputs.password.as_bytes();
    let password_hash = crypto::nt_password_hash(pw).map_err(|e| format!("password: {e}"))?;
    let hh = crypto::hash_nt_password_hash(&password_hash);
    let mut report = KeyReport {
        password_hash: hex(&password_hash),
        password_hash_hash: hex(&hh),
        ..KeyReport::default()
    };
    if let Some(challenge) = inputs.v1_challenge {
        report.version = 1;
        let lm = crypto::lm_password_hash(pw);
        report.lm_password_hash = Some(hex(&lm));
        report.nt_response = hex(&crypto::mschapv1_nt_response(&challenge, &password_hash));
        report.lm_response = Some(hex(&crypto::mschapv1_lm_response(&challenge, &lm)));
        // RFC 3079 §2.4: one start key for both directions.
        let start = mschapv1_start_key(&challenge, &hh);
        report.master_key = hex(start.as_bytes());
        let lm_start = mschapv1_lm_start_key(&lm);
        for (bits, strength) in STRENGTHS {
            let mut k = strength_keys(bits, strength, &start, &start)?;
            if strength != KeyStrength::Bits128 {
                let s = KeySchedule::new(&lm_start, strength).map_err(|e| e.to_string())?;
                k.lm_session_key = Some(hex(s.current()));
            }
            report.strengths.push(k);
        }
        return Ok(report);
    }
    let (Some(ac), Some(pc)) = (inputs.auth_challenge, inputs.peer_challenge) else {
        return Err(
            "MS-CHAPv2 needs --auth-challenge and --peer-challenge (or --v1 --challenge)".into(),
        );
    };
    report.version = 2;
    let user = inputs.username.as_bytes();
    report.challenge_hash = Some(hex(&crypto::challenge_hash(&pc, &ac, user)));
    let nt = crypto::generate_nt_response(&ac, &pc, user, &password_hash);
    report.nt_response = hex(&nt);
    let auth = crypto::generate_authenticator_response(&password_hash, &nt, &pc, &ac, user);
    report.authenticator_response = Some(format!("S={}", hex(&auth).to_uppercase()));
    let master = master_key(&hh, &nt);
    report.master_key = hex(master.as_bytes());
    let send = asymmetric_start_key(&master, Side::Server, true);
    let recv = asymmetric_start_key(&master, Side::Server, false);
    for (bits, strength) in STRENGTHS {
        report
            .strengths
            .push(strength_keys(bits, strength, &send, &recv)?);
    }
    Ok(report)
}

/// Renders the report as the tool prints it.
pub fn render(r: &KeyReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(s, "{k:<34} {v}");
    };
    line("MS-CHAP version", &r.version.to_string());
    line("NT password hash (MD4)", &r.password_hash);
    line("NT password hash hash", &r.password_hash_hash);
    if let Some(v) = &r.lm_password_hash {
        line("LM password hash", v);
    }
    if let Some(v) = &r.challenge_hash {
        line("ChallengeHash", v);
    }
    line("NT-Response", &r.nt_response);
    if let Some(v) = &r.lm_response {
        line("LM-Response (deprecated)", v);
    }
    if let Some(v) = &r.authenticator_response {
        line("Authenticator response", v);
    }
    line(
        if r.version == 2 {
            "MPPE master key"
        } else {
            "MPPE start key (both directions)"
        },
        &r.master_key,
    );
    for k in &r.strengths {
        line(
            &format!("MPPE-{} server send start key", k.bits),
            &k.server_send_start_key,
        );
        line(
            &format!("MPPE-{} server recv start key", k.bits),
            &k.server_recv_start_key,
        );
        line(
            &format!("MPPE-{} server send session key", k.bits),
            &k.server_send_session_key,
        );
        line(
            &format!("MPPE-{} server recv session key", k.bits),
            &k.server_recv_session_key,
        );
        if let Some(v) = &k.lm_session_key {
            line(&format!("MPPE-{} LM-based session key", k.bits), v);
        }
    }
    let _ = writeln!(
        s,
        "(server = authenticator; the client's send key is the server's receive key)"
    );
    s
}
