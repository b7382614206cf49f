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
    // The options file: installed once, read by the unit, and the line the
    // docs give adds a peer to it.
    assert_eq!(mode("etc/default/dave"), 0o644);
    let env = root.join("etc/default/dave");
    let text = std::fs::read_to_string(&env).unwrap();
    assert!(text.lines().any(|l| l == "DAVED_OPTS=\"\""), "{text}");
    assert!(text.lines().any(|l| l == "DAVE_EDGES=\"\""), "{text}");
    assert!(
        unit.contains("EnvironmentFile=-/etc/default/dave"),
        "{unit}"
    );
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("an ExecStart line");
    assert!(exec.ends_with(" $DAVED_OPTS"), "{exec}");
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md")).unwrap();
    let one_line = docs
        .lines()
        .find(|l| l.starts_with("sudo sed -i 's/^DAVE_EDGES=") && l.contains("/etc/default/dave"))
        .expect("docs/operating.md shows how to add a peer in one line");
    let expr = one_line.split('\'').nth(1).unwrap();
    for _ in 0..2 {
        let o = Command::new("sed")
            .args(["-i", expr])
            .arg(&env)
            .output()
            .unwrap();
        assert!(o.status.success());
    }
    // What systemd puts in daved's environment (daved splits it at spaces).
    let o = Command::new("bash")
        .args(["-c", ". \"$1\"; printf '%s' \"$DAVE_EDGES\"", "-"])
        .arg(&env)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "seed.example.org:1618 seed.example.org:1618 "
    );
    // Installing again keeps the operator's options.
    let edited = std::fs::read_to_string(&env).unwrap();
    let again = Command::new("bash")
        .args([
            script,
            "--root",
            root.to_str().unwrap(),
            "--bin",
            env!("CARGO_BIN_EXE_daved"),
        ])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("kept"));
    assert_eq!(std::fs::read_to_string(&env).unwrap(), edited);
    // The install message shows the same line.
    assert!(text_has_sed(&String::from_utf8_lossy(&out.stdout), expr));
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

/// Whether the install message shows the sed expression of the docs.
fn text_has_sed(text: &str, expr: &str) -> bool {
    text.lines()
        .any(|l| l.contains("sed -i") && l.contains(&expr.replace("seed.example.org", "HOST")))
}
