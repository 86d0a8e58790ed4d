#!/usr/bin/env bash
# bench.sh — throughput and latency of stisignd against the token's own
# ceiling, measured in one run on this machine.
#   scripts/bench.sh [SECONDS]     (default 5 s per measurement)
# Prints one table; its last line is "ratio to raw ceiling: X.XX" (the
# daemon's best throughput over the best raw PKCS#11 loop of this run).
# Also writes build/bench/results.txt and build/bench/latency.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-${BENCH_SECONDS:-5}}
runs=${BENCH_RUNS:-3}
build=${STI_BUILD:-$root/build}
out=$build/bench
bash "$root/scripts/setup.sh" --bench
bash "$root/scripts/build.sh" "$build"
mkdir -p "$out"
stisign=$build/firmware/tools/stisign
raw=$build/firmware/tools/stisign-rawbench
stisignd=$build/firmware/daemon/stisignd
ncpu=$(nproc)

state=$(mktemp -d "${TMPDIR:-/tmp}/stisign-bench.XXXXXX")
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [[ -n ${holder:-} ]] && kill "$holder" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT
mkdir -p "$state/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$state" >"$state/softhsm2.conf"
export SOFTHSM2_CONF=$state/softhsm2.conf
umask 077
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/pin"
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/so-pin"
scope="range:12025550100/100"
"$stisign" token init --label bench --so-pin-file "$state/so-pin" --pin-file "$state/pin" >/dev/null
"$stisign" key generate --token bench --pin-file "$state/pin" --label k0 >/dev/null
"$stisign" csr --token bench --pin-file "$state/pin" --key k0 --subject "C=US,O=bench,CN=SHAKEN B" \
  --scope "$scope" --out "$state/k0.csr"
python3 "$root/scripts/throwaway_ca.py" init "$state" --scope "$scope"
python3 "$root/scripts/throwaway_ca.py" issue "$state" --csr "$state/k0.csr" --scope "$scope" \
  --out "$state/chain.pem"

# Eight credentials for the start-up figure: eight keys, eight chains.
for i in 1 2 3 4 5 6 7; do
  "$stisign" key generate --token bench --pin-file "$state/pin" --label "k$i" >/dev/null
  "$stisign" csr --token bench --pin-file "$state/pin" --key "k$i" --subject "C=US,O=bench,CN=SHAKEN B$i" \
    --scope "$scope" --out "$state/k$i.csr"
  python3 "$root/scripts/throwaway_ca.py" issue "$state" --csr "$state/k$i.csr" --scope "$scope" \
    --out "$state/chain$i.pem"
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# Raw ceilings: the token signing in a loop, sessions and key handles kept.
rawbench() { # mode n -> median sigs/s over $runs runs
  for _ in $(seq "$runs"); do
    "$raw" --token bench --pin-file "$state/pin" --key k0 "--$1" "$2" --seconds "$secs" | field sigs_per_s
  done | median
}
raw1=$(rawbench threads 1)
rawT=$(rawbench threads "$ncpu")
rawP=$(rawbench procs "$ncpu")
ceiling=$(printf '%s\n%s\n' "$rawT" "$rawP" | sort -n | tail -1)

start_daemon() { # workers mode [ncreds]
  local extra=""
  for i in $(seq 1 $(( ${3:-1} - 1 ))); do
    extra+=$'\n'"[credential k$i]"$'\n'"key = k$i"$'\n'"chain = $state/chain$i.pem"$'\n'"x5u = https://cr.example.com/b$i.pem"
  done
  cat >"$state/stisignd.conf" <<CONF
socket = $state/sign.sock
token = bench
pin_file = $state/pin
workers = $1
worker_mode = $2
max_connections = 2000
log_level = warn
[credential k0]
key = k0
chain = $state/chain.pem
x5u = https://cr.example.com/bench.pem
$extra
CONF
  local t0 t1
  t0=$(date +%s%N)
  "$stisignd" -c "$state/stisignd.conf" 2>>"$state/stisignd.log" &
  pid=$!
  # Ready to sign = the first signature comes back.
  for _ in $(seq 3000); do
    "$stisign" sign --socket "$state/sign.sock" --orig 12025550100 --dest 12025550101 \
      --attest A >/dev/null 2>&1 && break
    sleep 0.002
  done
  t1=$(date +%s%N)
  startup_ms=$(( (t1 - t0) / 1000000 ))
}
stop_daemon() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
rss_kb() { # daemon + its workers
  local total=0 p
  for p in $pid $(pgrep -P "$pid" || true); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status")))
  done
  echo $total
}
# A run that saw errors or lost answers still prints its line (and exits 1):
# report it rather than abort the table.
bench() { "$stisign" bench --socket "$state/sign.sock" --seconds "$secs" "$@" || true; }

table=$out/results.txt
{
  echo "stisign benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m), SoftHSM2 $(dpkg-query -W -f='${Version}' softhsm2)"
  echo "each figure: median of $runs runs of ${secs} s (daemon rows: one run)"
  echo
  printf '%-44s %12s\n' "raw CKM_ECDSA loop" "sigs/s"
  printf '%-44s %12s\n' "  1 thread" "$raw1"
  printf '%-44s %12s\n' "  $ncpu threads, one process" "$rawT"
  printf '%-44s %12s\n' "  $ncpu processes" "$rawP"
  echo
} | tee "$table"

best=0
for mode in process thread; do
  start_daemon "$ncpu" "$mode"
  printf '%-44s %12s %8s %8s\n' "stisignd, $ncpu $mode workers (conns x depth)" "sigs/s" "p50 us" "p99 us" | tee -a "$table"
  for cd in "1 1" "1 32" "4 32" "16 16" "64 4"; do
    set -- $cd
    line=$(bench --connections "$1" --pipeline "$2")
    r=$(echo "$line" | field sigs_per_s)
    printf '%-44s %12s %8s %8s\n' "  $1 x $2" "$r" "$(echo "$line" | field p50_us)" \
      "$(echo "$line" | field p99_us)" | tee -a "$table"
    if [[ $mode == process ]] && [[ $cd == "1 1" ]]; then unloaded_p50=$(echo "$line" | field p50_us); fi
    if awk "BEGIN {exit !($r > $best)}"; then best=$r; best_mode=$mode; fi
  done
  stop_daemon
done

# Open loop at fixed rates against the better shape: latency vs offered load.
start_daemon "$ncpu" "$best_mode"
echo | tee -a "$table"
printf '%-44s %12s %8s %8s %8s\n' "open loop, 16 conns, offered rate" "achieved" "p50 us" "p99 us" "p99.9" | tee -a "$table"
: >"$out/latency.dat"
for pct in 10 25 50 75 90; do
  rate=$(awk "BEGIN {printf \"%d\", $best * $pct / 100}")
  line=$(bench --connections 16 --rate "$rate")
  printf '%-44s %12s %8s %8s %8s\n' "  $pct% of max = $rate/s" "$(echo "$line" | field sigs_per_s)" \
    "$(echo "$line" | field p50_us)" "$(echo "$line" | field p99_us)" "$(echo "$line" | field p999_us)" \
    | tee -a "$table"
  echo "$rate $(echo "$line" | field p50_us) $(echo "$line" | field p99_us)" >>"$out/latency.dat"
done
stop_daemon
start_daemon "$ncpu" "$best_mode" 8
startup8_ms=$startup_ms
idle_rss=$(rss_kb)
python3 "$root/scripts/hold_connections.py" "$state/sign.sock" 1000 60 &
holder=$!
sleep 3
conn_rss=$(rss_kb)
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=
stop_daemon
{
  echo
  printf '%-44s %12s\n' "RSS daemon+workers, idle (KiB)" "$idle_rss"
  printf '%-44s %12s\n' "RSS with 1000 idle connections (KiB)" "$conn_rss"
  printf '%-44s %12s\n' "start to first signature (ms, 8 credentials)" "$startup8_ms"
  printf '%-44s %12s\n' "unloaded single request p50 (us)" "${unloaded_p50:-?}"
  printf '%-44s %12s\n' "best daemon shape" "$best_mode workers"
  echo
  printf 'ratio to raw ceiling: %.2f\n' "$(awk "BEGIN {print $best / $ceiling}")"
} | tee -a "$table"

if command -v gnuplot >/dev/null; then
  gnuplot <<GP 2>/dev/null || true
set terminal png size 800,500
set output "$out/latency.png"
set title "stisignd latency vs offered load ($ncpu cores, SoftHSM2)"
set xlabel "offered signatures/s"
set ylabel "latency (us, log scale)"
set key top left
set grid
set logscale y
plot "$out/latency.dat" using 1:2 with linespoints title "p50", \
     "$out/latency.dat" using 1:3 with linespoints title "p99"
GP
fi
