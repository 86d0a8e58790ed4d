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

# PINs: random, in root-only files, never on a command line.
umask 077
for f in so-pin pin; do
  [[ -s $dir/$f ]] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$f"
done

if ! "$stisign" token list | grep -q "label=$label "; then
  say "initialising token $label"
  "$stisign" token init --label "$label" --so-pin-file "$dir/so-pin" --pin-file "$dir/pin" >&2
fi
if ! "$stisign" key list --token "$label" --pin-file "$dir/pin" | grep -q "^$key "; then
  say "generating P-256 key $key on the token"
  "$stisign" key generate --token "$label" --pin-file "$dir/pin" --label "$key" >&2
fi

say "CSR for $key with TNAuthList $scope, signed on the token"
"$stisign" csr --token "$label" --pin-file "$dir/pin" --key "$key" \
  --subject "C=US,O=stisign demo,CN=SHAKEN DEMO" --scope "$scope" --out "$dir/$key.csr"
python3 "$root/scripts/throwaway_ca.py" init "$dir" --scope "$scope"
python3 "$root/scripts/throwaway_ca.py" issue "$dir" --csr "$dir/$key.csr" --scope "$scope" \
  --out "$dir/chain.pem"
say "trust anchor $dir/ca/root.pem, chain $dir/chain.pem"

cat >"$dir/stisignd.conf" <<CONF
socket = $dir/sign.sock
module = /usr/lib/softhsm/libsofthsm2.so
token = $label
pin_file = $dir/pin
pid_file = $dir/stisignd.pid
workers = 2

[credential demo]
key = $key
chain = $dir/chain.pem
x5u = https://cr.example.com/stisign-demo/chain.pem
CONF

"$stisignd" -c "$dir/stisignd.conf" 2>"$dir/stisignd.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [[ -S $dir/sign.sock ]] && "$stisign" health --socket "$dir/sign.sock" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$dir/stisignd.log" >&2; exit 1; }
  sleep 0.1
done
say "stisignd is up (log: $dir/stisignd.log)"
identity=$("$stisign" sign --socket "$dir/sign.sock" --orig "+1 (202) 555-0123" \
  --dest "tel:+12025550199" --attest A)
kill -TERM $pid
wait $pid || true
trap - EXIT
say "signed; verify with: openssl verify -CAfile $dir/ca/root.pem -untrusted $dir/chain.pem $dir/chain.pem"
echo "$identity"
