//! The tools answer --help with their usage, on standard output, exit 0.

use std::process::Command;

#[test]
fn dave_flood_help_exits_0() {
    for args in [&["--help"][..], &["-h"], &["help"], &["run", "--help"]] {
        let o = Command::new(env!("CARGO_BIN_EXE_dave-flood"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("Usage: dave-flood run") && out.contains("Examples:"),
            "{out}"
        );
    }
    // No command is still bad usage.
    let o = Command::new(env!("CARGO_BIN_EXE_dave-flood"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn dave_bench_help_exits_0() {
    let o = Command::new(env!("CARGO_BIN_EXE_dave-bench"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("log "));
}
