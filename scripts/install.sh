#!/usr/bin/env bash
# Builds daved, installs it with its systemd unit and its options file
# (/etc/default/dave, kept if present), and says how to check it.
#
#   scripts/install.sh                 build, install to /usr/local, enable and start
#   scripts/install.sh --no-start      install only
#   scripts/install.sh --root DIR      stage everything under DIR (no systemctl, no sysctl)
#   scripts/install.sh --bin PATH      install this binary instead of building one
#   scripts/install.sh --no-sysctl     leave net.core.rmem_max alone
set -euo pipefail
cd "$(dirname "$0")/.."

root=""; bin=""; start=1; sysctl=1
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?--root needs a directory}; shift 2;;
    --bin) bin=${2:?--bin needs a path}; shift 2;;
    --no-start) start=0; shift;;
    --no-sysctl) sysctl=0; shift;;
    -h|--help) usage; exit 0;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2;;
  esac
done

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo scripts/install.sh), or stage with --root DIR" >&2
  exit 1
fi

if [ -z "$bin" ]; then
  if ! command -v cargo >/dev/null 2>&1; then
    echo "install.sh: cargo not found: install Rust (https://rustup.rs), or pass --bin PATH" >&2
    exit 1
  fi
  echo "building daved (release)..."
  cargo build --release --bin daved
  bin=target/release/daved
fi
[ -x "$bin" ] || { echo "install.sh: $bin is not an executable" >&2; exit 1; }

install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/default"
install -m 0755 "$bin" "$root/usr/local/bin/daved"
install -m 0644 scripts/dave.service "$root/etc/systemd/system/dave.service"
echo "installed $root/usr/local/bin/daved and $root/etc/systemd/system/dave.service"
# The operator's options: installed once, never replaced.
if [ -e "$root/etc/default/dave" ]; then
  echo "kept $root/etc/default/dave (your options)"
else
  install -m 0644 scripts/dave.env "$root/etc/default/dave"
  echo "installed $root/etc/default/dave (options: DAVE_EDGES, DAVED_OPTS)"
fi

# A larger socket receive buffer lets a busy node absorb bursts (the node
# asks for 4 MiB; without CAP_NET_ADMIN the kernel caps it at rmem_max).
if [ -z "$root" ] && [ "$sysctl" -eq 1 ]; then
  echo "net.core.rmem_max = 4194304" > /etc/sysctl.d/60-dave.conf
  sysctl -q -p /etc/sysctl.d/60-dave.conf || echo "install.sh: could not apply net.core.rmem_max (ignored)" >&2
fi

if [ -n "$root" ] || [ "$start" -eq 0 ]; then
  echo "not starting the service (staged or --no-start)"
elif [ "$(ps -p 1 -o comm= 2>/dev/null)" != "systemd" ]; then
  echo "systemd is not running here: start the node by hand with /usr/local/bin/daved"
else
  systemctl daemon-reload
  systemctl enable --now dave.service
fi

cat <<'MSG'

Check that the node is healthy:
  systemctl status dave                      # active (running)
  daved status                               # peers, dats, rates, drops (--json for scripts)
  journalctl -u dave | grep /d/st            # the periodic status line
  journalctl -u dave | grep /d/pr            # prunes that dropped dats
Add a bootstrap peer (then restart):
  sudo sed -i 's/^DAVE_EDGES="/&HOST:1618 /' /etc/default/dave && sudo systemctl restart dave
Other options (--http ADDR, ...): DAVED_OPTS in /etc/default/dave
Cap bandwidth:        a drop-in (systemctl edit dave) with an empty ExecStart= line, then
                      ExecStart=/usr/local/bin/daved --backup %S/dave/backup --rate 512KB --status 60 $DAVED_OPTS
MSG
