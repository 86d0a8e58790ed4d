#!/usr/bin/env bash
# callgrind.sh — the daemon's own work per signature against the PKCS#11
# module's, counted in instructions (repeatable, unlike time).
#   scripts/callgrind.sh [N_SMALL N_LARGE]     (default 200 1200)
# Runs stisignd (one process worker) under callgrind twice, signing N_SMALL
# and N_LARGE calls; the difference removes start-up and shutdown. The
# module's share is everything inside C_SignInit/C_Sign (inclusive: SoftHSM2
# and the libcrypto it calls); the daemon's own share is every other
# instruction of the front (the I/O loop), of the worker process and of the
# parent (its health bookkeeping). valgrind cannot run seccomp filters:
# sandbox = off here; and the front keeps root (user = root) so that
# valgrind, which opened its profile as root, can write it at exit.
# Prints "callgrind: daemon_per_sig=X module_per_sig=Y ratio=Z".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n1=${1:-200}
n2=${2:-1200}
build=${STI_BUILD:-$root/build}
bash "$root/scripts/setup.sh" --bench
[[ -n ${CG_NO_BUILD:-} ]] || bash "$root/scripts/build.sh" "$build"
stisign=$build/firmware/tools/stisign
stisignd=$build/firmware/daemon/stisignd
state=$(mktemp -d "${TMPDIR:-/tmp}/stisign-cg.XXXXXX")
[[ -n ${CG_KEEP:-} ]] && echo "state kept in $state" >&2 || trap 'rm -rf "$state"' EXIT
mkdir -p "$state/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$state" >"$state/softhsm2.conf"
export SOFTHSM2_CONF=$state/softhsm2.conf
umask 077
echo 11223344 >"$state/pin"
echo 55667788 >"$state/so-pin"
scope="range:12025550100/100"
"$stisign" token init --label cg --so-pin-file "$state/so-pin" --pin-file "$state/pin" >/dev/null
"$stisign" key generate --token cg --pin-file "$state/pin" --label k0 >/dev/null
"$stisign" csr --token cg --pin-file "$state/pin" --key k0 --subject "C=US,O=cg,CN=SHAKEN CG" \
  --scope "$scope" --out "$state/k0.csr"
python3 "$root/scripts/throwaway_ca.py" init "$state" --scope "$scope"
python3 "$root/scripts/throwaway_ca.py" issue "$state" --csr "$state/k0.csr" --scope "$scope" \
  --out "$state/chain.pem"
cat >"$state/stisignd.conf" <<CONF
socket = $state/sign.sock
token = cg
pin_file = $state/pin
workers = 1
sandbox = off
user = root
start_timeout_ms = 120000
log_level = warn
[credential k0]
key = k0
chain = $state/chain.pem
x5u = https://cr.example.com/cg.pem
CONF

run() { # N -> "loop_total worker_total module"
  local n=$1 dir=$state/cg-$1
  mkdir -p "$dir"
  # The front writes its profile as the unprivileged user it runs as.
  chmod 0711 "$state"
  chmod 1777 "$dir"
  valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
    "$stisignd" -c "$state/stisignd.conf" 2>"$dir/valgrind.log" &
  local pid=$!
  for _ in $(seq 600); do
    "$stisign" health --socket "$state/sign.sock" >/dev/null 2>&1 && break
    sleep 0.1
  done
  python3 - "$state/sign.sock" "$n" <<'PY'
import socket, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
def field(t, v):
    return struct.pack(">BH", t, len(v)) + v
body = field(1, b"12025550100") + field(2, b"12025550101") + field(3, b"A")
s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(120)
buf, got = b"", 0
for start in range(0, n, 50):                 # 50 in flight at a time
    k = min(50, n - start)
    s.sendall(b"".join(struct.pack(">IBBHI", 12 + len(body), 1, 1, 0, start + i) + body for i in range(k)))
    want = got + k
    while got < want:
        while len(buf) >= 12 and len(buf) >= struct.unpack(">I", buf[:4])[0]:
            ln, _, _, st, _ = struct.unpack(">IBBHI", buf[:12])
            if st: sys.exit("sign failed: %d" % st)
            buf = buf[ln:]; got += 1
        if got < want:
            buf += s.recv(65536)
PY
  # The parent stops the front (it drains and exits; its worker follows
  # when its channel closes), waiting for each as valgrind writes its
  # profile.
  kill -TERM "$pid"
  wait "$pid" || true
  # One file per process; its "cmd:" line says which role it ran.
  local parent=$dir/cg.$pid loop worker
  loop=$(grep -l -- '^cmd:.* --front' "$dir"/cg.* | head -1)
  worker=$(grep -l -- '^cmd:.*--hsm-worker' "$dir"/cg.* | head -1)
  local lt wt pt mod
  total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'; }
  lt=$(total "$loop")
  wt=$(total "$worker")
  pt=$(total "$parent")
  mod=$(callgrind_annotate --inclusive=yes --threshold=100 "$worker" 2>/dev/null |
    awk '$2 ~ /:(C_Sign|C_SignInit) / || $0 ~ /[:]C_Sign(Init)? \[/ {gsub(",","",$1); s+=$1} END {print s+0}')
  echo "$lt $wt $mod $pt"
}
read -r l1 w1 m1 p1 < <(run "$n1")
read -r l2 w2 m2 p2 < <(run "$n2")
# The parent's share is its health bookkeeping: per tick, not per call
# (the longer run has more ticks under valgrind's slowness); it is counted.
awk -v n="$((n2 - n1))" -v l1="$l1" -v w1="$w1" -v m1="$m1" -v l2="$l2" -v w2="$w2" -v m2="$m2" \
  -v p1="$p1" -v p2="$p2" 'BEGIN {
  mod = (m2 - m1) / n
  own_loop = (l2 - l1) / n
  own_parent = (p2 - p1) / n
  own_worker = ((w2 - m2) - (w1 - m1)) / n
  own = own_loop + own_worker + own_parent
  printf "callgrind: loop_per_sig=%.0f worker_own_per_sig=%.0f parent_per_sig=%.0f daemon_per_sig=%.0f module_per_sig=%.0f ratio=%.4f\n", own_loop, own_worker, own_parent, own, mod, own / mod
}'
