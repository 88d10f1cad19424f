//! Without root, `pptp-server` and `pptp-client` refuse to start and say
//! why (raw GRE socket and TUN device need CAP_NET_RAW/CAP_NET_ADMIN).

use std::process::Command;

/// Runs `bin args` as an unprivileged user: directly when the test itself
/// is not root, through `setpriv` (util-linux) when it is.
fn run_unprivileged(bin: &str, args: &[&str]) -> std::process::Output {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        Command::new(bin)
    };
    command
        .args(args)
        .output()
        .expect("run the binary (setpriv needed when root)")
}

#[test]
fn server_without_root_fails_clearly() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/pptp-server.toml");
    let out = run_unprivileged(env!("CARGO_BIN_EXE_pptp-server"), &["--config", config]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs root"), "{stderr}");
    assert!(stderr.contains("raw GRE socket"), "{stderr}");
}

#[test]
fn client_without_root_fails_clearly() {
    let out = run_unprivileged(
        env!("CARGO_BIN_EXE_pptp-client"),
        &[
            "--server",
            "192.0.2.1",
            "--user",
            "u",
            "--password",
            "p",
            "--retries",
            "0",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs root"), "{stderr}");
}

#[test]
fn server_rejects_a_bad_config_before_anything_else() {
    let dir = std::env::temp_dir().join(format!("pptp-server-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "local_address = \"10.0.0.1\"\nmppe = \"56\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pptp-server"))
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
    let _ = std::fs::remove_dir_all(&dir);
}
