//! Running `daved` processes beside the benchmark: finding the binary,
//! starting nodes on free loopback ports and reading their JSON status.

/// The daved binary built beside this one.
pub(crate) fn daved_path() -> std::path::PathBuf {
    let p = std::env::current_exe().unwrap().with_file_name("daved");
    if !p.exists() {
        eprintln!(
            "dave-bench: {} is missing: build it with `cargo build --release`",
            p.display()
        );
        std::process::exit(1);
    }
    p
}

/// A number after `"key":` inside the object that follows `"section":`.
pub(crate) fn json_num(json: &str, section: &str, key: &str) -> f64 {
    let at = json.find(&format!("\"{section}\":")).expect("section");
    let rest = &json[at..];
    let k = rest.find(&format!("\"{key}\":")).expect("key");
    let v = &rest[k + key.len() + 3..];
    let end = v.find([',', '}']).unwrap();
    v[..end].parse().unwrap()
}

/// A free loopback port (bound and released).
pub(crate) fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn spawn_daved(port: u16, edge: Option<u16>) -> std::process::Child {
    use std::process::{Command, Stdio};
    let mut c = Command::new(daved_path());
    c.args(["-l", &format!("127.0.0.1:{port}"), "--status", "0"]);
    if let Some(e) = edge {
        c.args(["-e", &format!("127.0.0.1:{e}")]);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub(crate) fn daved_json(port: u16) -> String {
    let out = std::process::Command::new(daved_path())
        .args(["status", "--json", "-p", &port.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
