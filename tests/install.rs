//! scripts/install.sh stages the binary and the unit with the right modes,
//! and the unit passes systemd's own checks where systemd-analyze exists.

use std::process::Command;

#[test]
fn install_stages_the_binary_and_a_hardened_unit() {
    let root = std::env::temp_dir().join(format!("dave-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install.sh");
    let out = Command::new("bash")
        .args([
            script,
            "--root",
            root.to_str().unwrap(),
            "--bin",
            env!("CARGO_BIN_EXE_daved"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("systemctl status dave") && text.contains("daved status"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("usr/local/bin/daved"), 0o755);
    assert_eq!(mode("etc/systemd/system/dave.service"), 0o644);
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/dave.service")).unwrap();
    for want in [
        "DynamicUser=yes",
        "StateDirectory=dave",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "MemoryMax=",
        "LogRateLimitBurst=",
        "--backup %S/dave/backup",
        "--rate",
    ] {
        assert!(unit.contains(want), "the unit lacks {want}");
    }
    // systemd's own exposure score, where the tool exists (it does not need a running systemd).
    match Command::new("systemd-analyze")
        .args([
            "security",
            "--offline=true",
            &format!("--root={}", root.display()),
            "dave.service",
        ])
        .output()
    {
        Ok(o) if o.status.success() => {
            let report = String::from_utf8_lossy(&o.stdout);
            let score: f64 = report
                .lines()
                .find_map(|l| l.split("exposure level for dave.service: ").nth(1))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no exposure score in:\n{report}"));
            assert!(
                score <= 2.0,
                "the unit's exposure score is {score} (was 1.3 when written)"
            );
        }
        _ => eprintln!("systemd-analyze is not available: exposure score not checked"),
    }
    let _ = std::fs::remove_dir_all(&root);
}
