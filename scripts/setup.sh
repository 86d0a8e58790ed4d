#!/usr/bin/env bash
# setup.sh — install what stisign needs to build, test and run its demo on
# Debian 12. As root it runs apt-get; otherwise it prints the one line to run.
#   scripts/setup.sh [--bench]    (--bench adds the benchmark's plotting tools)
set -euo pipefail

# The unprivileged user the front and the verifier run as
# (docs/architecture.md); a package would create it the same way.
if [[ $(id -u) -eq 0 ]] && ! getent passwd _stisign >/dev/null; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --user-group _stisign
fi

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev openssl libevent-dev libp11-dev libp11-kit-dev
      softhsm2 python3 procps libmbedtls-dev curl libseccomp-dev)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(gnuplot-nox valgrind)
fi

# Check the native architecture explicitly: a foreign -dev package (say
# libp11-dev:arm64 for a cross build) replaces the native one, and an
# unqualified query would still say "installed".
arch=$(dpkg --print-architecture)
missing=()
for p in "${pkgs[@]}"; do
  native=$(dpkg-query -W -f='${Status}' "$p:$arch" 2>/dev/null || true)
  any=$(dpkg-query -W -f='${Status}|${Architecture}' "$p" 2>/dev/null || true)
  if [[ $native != "install ok installed" && $any != "install ok installed|all" ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing packages; run as root:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
