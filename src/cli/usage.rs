//! The command line's options, the commands that take them, and the help
//! texts: `daved --help`, `daved help [COMMAND]`, `daved COMMAND --help`.

use dave_core::EPOCH_NS;
use getopts::Options;

const ABOUT: &str =
    "daved: a node and client of dave, an anonymous peer-to-peer key-value store on UDP.";

/// The usage lines of `daved --help`: a node, then a command.
pub(crate) const USAGE: &str = "\
Usage: daved [-l ADDR] [-e ADDR]... [-v] [--epoch NS | --rate RATE] [--cap N] [--status SECS] [--backup FILE] [--http ADDR [-k FILE]]
       daved [-e ADDR]... [-v] COMMAND [options] [ARGS]
       daved help [COMMAND]";

const OVERVIEW: &str = "\
Commands:
    (none)                 run a node until SIGINT or SIGTERM
    keygen                 make a signing key (default $XDG_CONFIG_HOME/dave/key or ~/.config/dave/key)
    pubkey                 print the public key of your key file
    set VALUE              write VALUE: proof of work on every core, sign, send, confirm
    get HASH               read the dat with this work hash and print its value
    get PUBKEY NAME        read the current value of a name
    setf FILE              write a file of any size (- for standard input) as a tree of dats; print its root
    getf HASH [-o FILE]    read a file by its root hash, verify every dat, write it (-o - for standard output)
    getf PUBKEY NAME       read a file by its root's name (finds the newest upload of the same content)
    status                 print a running local node's status (-p PORT, --json)
    help [COMMAND]         print this help, or one command's options and examples

`daved help COMMAND` (or `daved COMMAND --help`) shows one command's options
and examples; `daved help node` those of a node.

Names: `set` without --key names the value by the blake3 hash of the value,
printed as hex:<64 digits>. A NAME argument is taken as UTF-8 text, or as raw
bytes when written hex:<digits>.

Examples:
    daved                                  run a node on [::]:1618
    daved -l 127.0.0.1:1619 -e 127.0.0.1:1618
                                           run a second node that bootstraps from the first
    daved -e seed.example.org:1618         join a network through a node by its host name
    daved keygen                           make your key (once)
    daved -e 127.0.0.1:1618 set 'hello dave'
    daved -e 127.0.0.1:1618 set --key greeting -d 20 'hello dave'
    daved -e 127.0.0.1:1619 get 0000a4e8...             (a work hash that set printed)
    daved -e 127.0.0.1:1619 get 03a107bf... greeting    (a pubkey and a name)
    daved -e 127.0.0.1:1618 setf photo.jpg             (prints root, pubkey and name)
    daved -e 127.0.0.1:1619 getf 0000c1d2... -o copy.jpg
    daved --backup /var/lib/dave/backup    keep dats across restarts
    daved --rate 2MB                       cap the seed stream at about 2 MB/s
    daved status --json                    ask the local node on port 1618 how it is doing
    daved --http 127.0.0.1:8080            also serve the HTTP gateway and web page (open it in a browser)
    daved -v | grep /d/pr                  watch only pruning

Exit status: 0 success; 1 not found, timed out, refused, or a host name that
does not resolve (the message says what was tried); 2 bad usage; 130 Ctrl-C.";

/// One command: its name (empty for a node), usage line, what it does,
/// and examples.
pub(crate) struct Command {
    pub(crate) name: &'static str,
    usage: &'static str,
    about: &'static str,
    examples: &'static str,
}

/// Every command, the node first.
pub(crate) const COMMANDS: &[Command] = &[
    Command {
        name: "",
        usage: "daved [-l ADDR] [-e ADDR]... [-v] [--epoch NS | --rate RATE] [--cap N] [--status SECS] [--backup FILE] [--http ADDR [-k FILE]]",
        about: "Runs a node until SIGINT or SIGTERM: listens on UDP (default [::]:1618, dual-stack), \
joins the network through its edges (-e), keeps the heaviest dats, and logs on standard output.",
        examples: "    daved                                  a node on [::]:1618 (alone until others join it)
    daved -l 127.0.0.1:1619 -e 127.0.0.1:1618
                                           a second node that bootstraps from the first
    daved -e seed.example.org:1618         join a network through a node by its host name
    daved --backup /var/lib/dave/backup    keep dats across restarts
    daved --rate 2MB --status 60           cap the seed stream at about 2 MB/s; a status line a minute
    daved --http 127.0.0.1:8080            also serve the HTTP gateway and web page
    daved --http 127.0.0.1:8080 -k ~/.config/dave/key
                                           and let local programs write values signed with
                                           that key: curl --data-binary @v 'http://127.0.0.1:8080/v1/value?name=n'
    daved -v | grep /d/pr                  watch only pruning",
    },
    Command {
        name: "keygen",
        usage: "daved keygen [-k FILE] [--force]",
        about: "Makes a signing key (mode 0600) and prints its public key. Your names belong to it.",
        examples: "    daved keygen                           $XDG_CONFIG_HOME/dave/key, else ~/.config/dave/key
    daved keygen -k ./other.key            a second key in a file of your choice
    daved keygen --force                   replace your key (your old names stay with the old one)",
    },
    Command {
        name: "pubkey",
        usage: "daved pubkey [-k FILE]",
        about: "Prints the public key of your key file.",
        examples: "    daved pubkey
    daved pubkey -k ./other.key",
    },
    Command {
        name: "set",
        usage: "daved [-e ADDR]... set [-d BITS] [-k FILE] [--key NAME] [-t SECS] [-l ADDR] [--epoch NS] [-v] VALUE",
        about: "Writes VALUE as one dat: proof of work on every core (it says how long that should take \
first), signs it with your key, sends it to peers, and confirms by asking another peer for it back. \
Prints its work hash, your public key and its name. Larger values: setf.",
        examples: "    daved set 'hello dave'                 through the local node (127.0.0.1:1618)
    daved -e 127.0.0.1:1619 set 'hello dave'
    daved set --key greeting 'hello again' a name of your choosing (text, or hex:DIGITS)
    daved set -d 20 'heavier'              more work (each bit doubles it), kept longer
    daved set -- '-starts with a dash'",
    },
    Command {
        name: "get",
        usage: "daved [-e ADDR]... get [-t SECS] [-l ADDR] [--epoch NS] [-v] HASH | PUBKEY NAME",
        about: "Prints a value: the dat with work hash HASH, or the current value of name NAME of public \
key PUBKEY. Its bytes go to standard output exactly (plus a newline on a terminal).",
        examples: "    daved get 0000a4e8...                  a work hash that set printed
    daved -e 127.0.0.1:1620 get 03a107bf... greeting
    daved get 03a107bf... hex:9c1d...      a name set printed for a value without --key
    daved -t 10 get 0000a4e8... > value.bin",
    },
    Command {
        name: "setf",
        usage: "daved [-e ADDR]... setf [-d BITS] [-k FILE] [--name NAME] [-w N] [--json] [-t SECS] [-l ADDR] [--epoch NS] [-v] FILE",
        about: "Writes a file of any size (- for standard input) as a tree of dats, sends and confirms them, \
and prints its root's work hash, your public key and its name.",
        examples: "    daved setf photo.jpg
    daved -e 127.0.0.1:1619 setf --name notes.txt - < notes.txt
    daved setf --json big.iso > summary.json      progress on standard error, a summary on standard output",
    },
    Command {
        name: "getf",
        usage: "daved [-e ADDR]... getf [-o FILE] [-w N] [--json] [-t SECS] [-l ADDR] [--epoch NS] [-v] HASH | PUBKEY NAME",
        about: "Reads a file written with setf, by its root's work hash or by the name setf printed, \
verifies every dat, and writes it to a temporary name renamed into place when complete \
(by default the name it records, never replacing a file).",
        examples: "    daved getf 0000c1d2...                 writes the file under the name it records
    daved getf 0000c1d2... -o copy.jpg
    daved getf 03a107bf... hex:5e0f... -o - | less
    daved -e 127.0.0.1:1620 getf --json 0000c1d2... -o copy.jpg",
    },
    Command {
        name: "status",
        usage: "daved status [-p PORT] [--json]",
        about: "Prints a running local node's status: peers and recent clients, dats, rates and drops \
(asked over the control socket @dave/PORT).",
        examples: "    daved status                           the node on UDP port 1618
    daved status -p 1619
    daved status --json                    the same as JSON, with totals since start",
    },
    Command {
        name: "help",
        usage: "daved help [COMMAND]",
        about: "Prints the help, or one command's options and examples (COMMAND: node, keygen, pubkey, \
set, get, setf, getf, status, help).",
        examples: "    daved help
    daved help set                         the same as daved set --help",
    },
];

/// The command named `name` (`node` or empty for a node).
pub(crate) fn command(name: &str) -> Option<&'static Command> {
    let name = if name == "node" { "" } else { name };
    COMMANDS.iter().find(|c| c.name == name)
}

/// Options each command accepts (beyond -h, -v, -V).
pub(crate) fn allowed(cmd: &str) -> &'static [&'static str] {
    match cmd {
        "" => &[
            "l", "e", "epoch", "rate", "cap", "status", "backup", "http", "k",
        ],
        "status" => &["p", "json"],
        "keygen" => &["k", "force"],
        "pubkey" => &["k"],
        "set" => &["l", "e", "t", "d", "k", "key", "epoch"],
        "get" => &["l", "e", "t", "epoch"],
        "setf" => &["l", "e", "t", "d", "k", "name", "json", "window", "epoch"],
        "getf" => &["l", "e", "t", "o", "json", "window", "epoch"],
        _ => &[],
    }
}

enum Kind {
    Opt,
    Multi,
    Flag,
}

/// (short, long, description, hint, kind); the key `allowed` uses is the
/// short name if there is one (but `window`).
fn specs() -> Vec<(&'static str, &'static str, String, &'static str, Kind)> {
    use Kind::*;
    vec![
        ("l", "listen", "address to listen on (node: [::]:1618, client: [::]:0)".into(), "ADDR", Opt),
        (
            "e",
            "edge",
            "bootstrap peer: IP:PORT, [IPV6]:PORT, or HOST:PORT (a name is resolved at start, and by a node again when that address stays silent); repeat for more; a node also reads DAVE_EDGES from its environment (client default: 127.0.0.1:1618)".into(),
            "ADDR",
            Multi,
        ),
        ("v", "verbose", "log every event (debug level; a command: its node's lines, on standard error); RUST_LOG overrides".into(), "", Flag),
        ("", "epoch", format!("base period of the cycle in ns (default {EPOCH_NS})"), "NS", Opt),
        ("", "cap", "dats kept after each prune, DAT_CAP (default 100000)".into(), "N", Opt),
        ("", "status", "seconds between /d/st status lines, 0 for none (default 10)".into(), "SECS", Opt),
        (
            "",
            "http",
            "serve the HTTP gateway and web page on ADDR (off by default; keep it on loopback, e.g. 127.0.0.1:8080, unless you mean to share it)".into(),
            "ADDR",
            Opt,
        ),
        (
            "",
            "rate",
            "set EPOCH from a seed rate: dats per second (e.g. 1000), or bytes per second of full-size datagrams (e.g. 2MB, 512KB)".into(),
            "RATE",
            Opt,
        ),
        ("p", "port", "status: the UDP port of the local node to ask (default 1618)".into(), "PORT", Opt),
        (
            "",
            "json",
            "status, setf, getf: print JSON (setf and getf: progress lines on standard error, a summary on standard output; errors as JSON too)".into(),
            "",
            Flag,
        ),
        (
            "o",
            "output",
            "getf: write the file to FILE (- for standard output; default: the name it records, never replacing a file)".into(),
            "FILE",
            Opt,
        ),
        ("", "name", "setf: the file name to record (default: FILE's own name)".into(), "NAME", Opt),
        ("w", "window", "setf, getf: requests in flight at once (default 128)".into(), "N", Opt),
        (
            "",
            "backup",
            "keep dats in FILE across restarts (created if missing; peers go to FILE.peers)".into(),
            "FILE",
            Opt,
        ),
        ("t", "timeout", "client: seconds to wait for the network (default 5)".into(), "SECS", Opt),
        (
            "d",
            "difficulty",
            "set, setf: proof of work in leading zero bits, 8 to 64 (default 16; each bit doubles the work)".into(),
            "BITS",
            Opt,
        ),
        (
            "k",
            "keyfile",
            "key file (default $XDG_CONFIG_HOME/dave/key or ~/.config/dave/key; a node has none unless given one, with --http: the key POST /v1/value signs with)".into(),
            "FILE",
            Opt,
        ),
        ("", "key", "set: name the value NAME (text, or hex:<digits>) instead of its hash".into(), "NAME", Opt),
        ("", "force", "keygen: replace an existing key file".into(), "", Flag),
        ("h", "help", "print this help (with a command: that command's)".into(), "", Flag),
        ("V", "version", "print the version".into(), "", Flag),
    ]
}

/// The options of `cmd` (all of them for `None`), with `-h` and `-v`; a
/// description's leading `set, setf: ` (the commands it is for) is dropped
/// when only one command is shown.
fn build(cmd: Option<&str>) -> Options {
    let mut o = Options::new();
    for (short, long, desc, hint, kind) in specs() {
        let key = if short.is_empty() || long == "window" {
            long
        } else {
            short
        };
        let desc = match cmd {
            None => desc,
            Some(c) => {
                let logs = ["", "set", "get", "setf", "getf"].contains(&c);
                if !(allowed(c).contains(&key) || key == "h" || key == "v" && logs) {
                    continue;
                }
                match desc.split_once(": ") {
                    Some((who, rest))
                        if who
                            .split(", ")
                            .all(|w| w == "client" || command(w).is_some()) =>
                    {
                        rest.to_string()
                    }
                    _ => desc,
                }
            }
        };
        match kind {
            Kind::Opt => o.optopt(short, long, &desc, hint),
            Kind::Multi => o.optmulti(short, long, &desc, hint),
            Kind::Flag => o.optflag(short, long, &desc),
        };
    }
    o
}

/// Every option, for parsing.
pub(crate) fn options() -> Options {
    build(None)
}

/// `daved --help` and `daved help`.
pub(crate) fn general() -> String {
    format!(
        "{}\n{OVERVIEW}",
        options().usage(&format!("{ABOUT}\n\n{USAGE}"))
    )
}

/// One command's help: usage, what it does, its options, examples.
pub(crate) fn of(c: &Command) -> String {
    let title = if c.name.is_empty() {
        "daved (no command): run a node".to_string()
    } else {
        format!("daved {}", c.name)
    };
    let brief = format!("{title}\n\nUsage: {}\n\n{}", c.usage, wrap(c.about, 78));
    format!(
        "{}\nExamples:\n{}\n\nExit status: 0 success; 1 not found, timed out, refused, or a host name that does\nnot resolve; 2 bad usage; 130 Ctrl-C.",
        build(Some(c.name)).usage(&brief),
        c.examples
    )
}

/// The usage line of a command, for usage errors.
pub(crate) fn line(cmd: &str) -> String {
    match command(cmd) {
        Some(c) if !cmd.is_empty() => format!(
            "Usage: {}\nTry `daved help {}` for its options and examples.",
            c.usage, c.name
        ),
        _ => format!("{USAGE}\nTry `daved --help` for commands and examples."),
    }
}

/// Wraps text at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for w in text.split_whitespace() {
        if col > 0 && col + 1 + w.len() > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(w);
        col += w.len();
    }
    out
}
