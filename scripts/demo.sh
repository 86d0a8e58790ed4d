#!/usr/bin/env bash
# demo.sh — the appliance's main job on its embedded default: a SoftHSM2
# token in a local state directory. Installs what is missing, builds,
# creates the token and a P-256 key on it, has a throwaway STI-CA issue a
# delegate-style chain for that key, starts stisignd, signs one call with
# `stisign sign`, stops the daemon and prints the Identity header value as
# the last line of stdout.
#   scripts/demo.sh [DIR]        (DIR defaults to ./demo-state)
# Leaves the trust anchor at DIR/ca/root.pem and the chain at DIR/chain.pem.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mkdir -p "${1:-$root/demo-state}" && cd "${1:-$root/demo-state}" && pwd)
build=${STI_BUILD:-$root/build}
scope="range:12025550100/100"
label=stisign-demo
key=demo-af

say() { echo "demo: $*" >&2; }

bash "$root/scripts/setup.sh"
say "building into $build"
bash "$root/scripts/build.sh" "$build"
stisign=$build/firmware/tools/stisign
stisignd=$build/firmware/daemon/stisignd

# The token lives inside DIR: SoftHSM2 reads its token directory from here.
mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF=$dir/softhsm2.conf

# Secrets: random, in root-only files, never on a command line. The console
# driver reads them and types them at the prompts, as an operator would.
umask 077
for f in so-pin pin admin-pass; do
  [[ -s $dir/$f ]] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$f"
done
mkdir -p "$dir/store"

# The appliance starts unprovisioned with its console on a pty; everything
# else is done at that console (scripts/console.py drives it).
cat >"$dir/stisignd.conf" <<CONF
socket = $dir/sign.sock
module = /usr/lib/softhsm/libsofthsm2.so
store_dir = $dir/store
pid_file = $dir/stisignd.pid
workers = 2
console = pty
console_path = $dir/console
CONF

"$stisignd" -c "$dir/stisignd.conf" 2>"$dir/stisignd.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 200); do
  [[ -S $dir/sign.sock && -L $dir/console ]] && break
  kill -0 $pid 2>/dev/null || { cat "$dir/stisignd.log" >&2; exit 1; }
  sleep 0.05
done
say "stisignd is up; console on $(readlink "$dir/console") (log: $dir/stisignd.log)"
say "provisioning at the console: token $label, key $key, CSR, chain for $scope, x5u"
python3 "$root/scripts/console.py" provision --console "$dir/console" --state "$dir" \
  --token "$label" --key "$key" --scope "$scope" \
  --x5u https://cr.example.com/stisign-demo/chain.pem --ca "$root/scripts/throwaway_ca.py"
say "trust anchor $dir/ca/root.pem, chain $dir/chain.pem"
identity=$("$stisign" sign --socket "$dir/sign.sock" --orig "+1 (202) 555-0123" \
  --dest "tel:+12025550199" --attest A)
kill -TERM $pid
wait $pid || true
trap - EXIT
say "signed; verify with: openssl verify -CAfile $dir/ca/root.pem -untrusted $dir/chain.pem $dir/chain.pem"
echo "$identity"
