#!/usr/bin/env bash
# cross-build.sh — build stisignd and the tools for an aarch64 board with
# Debian 12's cross compiler and arm64 libraries, then check the binary.
#   scripts/cross-build.sh [BUILD_DIR]        (default ./build-aarch64)
# As root it installs what is missing (dpkg multiarch + apt-get); otherwise
# it prints the commands to run. Needs Debian's archive (network).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(realpath -m "${1:-$root/build-aarch64}") # absolute: it ends up in include paths
# libssl-dev, libp11-kit-dev, libmbedtls-dev and libseccomp-dev are
# Multi-Arch: same and install beside the host's. libevent-dev and libp11-dev are not: installing
# their arm64 builds would REMOVE the host's (breaking native builds), so
# they are only downloaded and unpacked into DIR/sysroot-extra; their
# runtime libraries (Multi-Arch: same) are installed.
pkgs=(crossbuild-essential-arm64 libssl-dev:arm64 libp11-kit-dev:arm64 libmbedtls-dev:arm64
      libseccomp-dev:arm64 libseccomp2:arm64
      libevent-2.1-7:arm64 libevent-core-2.1-7:arm64 libevent-extra-2.1-7:arm64
      libevent-pthreads-2.1-7:arm64 libevent-openssl-2.1-7:arm64 libp11-3:arm64
      cmake pkg-config file)
unpack=(libevent-dev:arm64 libp11-dev:arm64)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages; run as root:" >&2
    echo "  dpkg --add-architecture arm64 && apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

extra=$dir/sysroot-extra
if [[ ! -f $extra/.done ]]; then
  rm -rf "$extra"
  mkdir -p "$extra/debs"
  (cd "$extra/debs" && apt-get download "${unpack[@]}" >/dev/null)
  for deb in "$extra"/debs/*.deb; do dpkg -x "$deb" "$extra"; done
  lib=$extra/usr/lib/aarch64-linux-gnu
  # .pc files point into the unpacked tree; .so links at the installed runtime.
  sed -i "s|^prefix=/usr\$|prefix=$extra/usr|" "$lib"/pkgconfig/*.pc
  for l in "$lib"/*.so; do
    [[ -L $l ]] && ln -sf "/usr/lib/aarch64-linux-gnu/$(readlink "$l")" "$l"
  done
  touch "$extra/.done"
fi
export STI_CROSS_EXTRA=$extra

cmake -S "$root" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" \
  -DSTI_CROSS_EXTRA="$extra" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBOARD=linux -DSTI_TESTS=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
bin=$dir/firmware/daemon/stisignd
what=$(file -b "$bin")
echo "stisignd: $what"
if [[ $what != *"ARM aarch64"* ]]; then
  echo "cross-build: $bin is not an aarch64 binary" >&2
  exit 1
fi
