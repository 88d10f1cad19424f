//! The server's and client's TOML/CLI knobs reach the PPP link settings
//! (no root, no network: the lab-driven tests are in scripts/interop.sh).

use std::net::Ipv4Addr;

use ppp_core::auth::MsChapV1Keys;
use ppp_core::link::Role;
use ppp_core::wire::lcp::AuthMethod;
use pptp_vpn::client::{link_config as client_link, ClientConfig};
use pptp_vpn::config::{parse_auth_list, MppeMode, MppeSettings, MppeStrength, ServerConfig};

const CONFIG: &str = r#"
listen = "10.0.0.1:1723"
local_address = "10.99.0.1"
pool = { first = "10.99.0.10", last = "10.99.0.19" }
dns = ["10.0.0.53"]
wins = ["10.0.0.54", "10.0.0.55"]
auth = ["mschap-v2", "pap"]
mppe = "40"
mppe_required = true
mppe_mode = "prefer-stateful"
host_name = "pix"

[[users]]
name = "cisco"
password = "cisco"
"#;

#[test]
fn server_knobs_reach_the_link() {
    let config = ServerConfig::from_toml(CONFIG).unwrap();
    let link = pptp_vpn::server::link_config(&config);
    assert_eq!(link.role, Role::Server);
    assert_eq!(link.mschapv1_keys, MsChapV1Keys::Auto);
    let nt = ServerConfig::from_toml(&format!("mschapv1_keys = \"nt\"\n{CONFIG}")).unwrap();
    assert_eq!(
        pptp_vpn::server::link_config(&nt).mschapv1_keys,
        MsChapV1Keys::Nt
    );
    assert_eq!(
        link.lcp.auth_required.as_slice(),
        &[AuthMethod::MsChapV2, AuthMethod::Pap]
    );
    assert_eq!(link.ipcp.local_address, Some(Ipv4Addr::new(10, 99, 0, 1)));
    assert_eq!(link.ipcp.dns, [Some(Ipv4Addr::new(10, 0, 0, 53)), None]);
    assert_eq!(
        link.ipcp.nbns,
        [
            Some(Ipv4Addr::new(10, 0, 0, 54)),
            Some(Ipv4Addr::new(10, 0, 0, 55))
        ]
    );
    assert!(link.mppe.required);
    assert!(link.mppe.strengths.bits40);
    assert!(!link.mppe.strengths.bits128 && !link.mppe.strengths.bits56);
    assert_eq!(link.mppe.mode, mppe::ModePreference::PreferStateful);
    assert_eq!(link.authenticator.name.as_slice(), b"pix");
    assert_eq!(config.listen, "10.0.0.1:1723".parse().unwrap());
}

#[test]
fn mppe_auto_offers_40_and_128() {
    let settings = MppeSettings {
        strength: MppeStrength::Auto,
        required: false,
        mode: MppeMode::Stateless,
    };
    let policy = settings.policy();
    assert!(policy.strengths.bits40 && policy.strengths.bits128 && !policy.strengths.bits56);
    assert!(!policy.required);
    assert_eq!(policy.mode, mppe::ModePreference::StatelessOnly);
}

fn client(user: String, auth: Vec<AuthMethod>, mppe: MppeSettings) -> ClientConfig {
    ClientConfig {
        server: "10.0.0.2:1723".parse().unwrap(),
        user,
        password: "labpass".into(),
        new_password: None,
        auth,
        mppe,
        lm_keys: false,
        tun_name: "pptpc0".into(),
        routes: vec![],
        retries: 0,
        receive_window: pptp_core::endpoint::DEFAULT_RECEIVE_WINDOW,
        tun_offload: true,
    }
}

#[test]
fn client_knobs_reach_the_link() {
    let config = client(
        "labuser".into(),
        parse_auth_list(&["mschap-v2"]).unwrap(),
        MppeSettings {
            strength: MppeStrength::Bits128,
            required: true,
            mode: MppeMode::Stateful,
        },
    );
    let link = client_link(&config).unwrap();
    assert_eq!(link.role, Role::Client);
    assert_eq!(link.lcp.auth_allowed.as_slice(), &[AuthMethod::MsChapV2]);
    assert!(link.mppe.required && link.mppe.strengths.bits128 && !link.mppe.strengths.bits40);
    assert_eq!(link.mppe.mode, mppe::ModePreference::StatefulOnly);
    let creds = link.credentials.as_ref().unwrap();
    assert_eq!(creds.username.as_slice(), b"labuser");
    assert_eq!(link.mschapv1_keys, MsChapV1Keys::Nt);
    let lm = ClientConfig {
        lm_keys: true,
        ..config
    };
    assert_eq!(client_link(&lm).unwrap().mschapv1_keys, MsChapV1Keys::Lm);
}

#[test]
fn client_refuses_an_overlong_user_name() {
    let config = client(
        "x".repeat(300),
        vec![AuthMethod::Pap],
        MppeSettings {
            strength: MppeStrength::None,
            required: false,
            mode: MppeMode::Stateless,
        },
    );
    assert!(client_link(&config).unwrap_err().contains("credentials"));
}
