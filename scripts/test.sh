#!/usr/bin/env bash
# test.sh — the whole test suite from a clean checkout: installs what is
# missing, builds, and runs ctest twice: a gcc build (-Werror) and a clang
# build with ASan+UBSan in which the libFuzzer targets also run briefly.
# In between, the aarch64 cross-build must compile and link
# (scripts/cross-build.sh: Debian's cross compiler and arm64 libraries).
#   scripts/test.sh            everything
#   STI_TEST_LABELS=unit scripts/test.sh   only tests with that ctest label
#   STI_CROSS=0 scripts/test.sh            without the cross-build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh

labels=()
if [[ -n "${STI_TEST_LABELS:-}" ]]; then
  labels=(-L "$STI_TEST_LABELS")
fi
jobs=$(nproc)

echo "== build (gcc, -Werror)"
bash scripts/build.sh build
echo "== ctest (gcc)"
(cd build && ctest --output-on-failure -j"$jobs" "${labels[@]}")

if [[ ${STI_CROSS:-1} != 0 ]]; then
  echo "== cross-build (aarch64, board linux)"
  bash scripts/cross-build.sh build-aarch64
fi

echo "== build (clang, ASan+UBSan, libFuzzer)"
CC=clang bash scripts/build.sh build-asan -DSTI_SANITIZE=ON -DSTI_FUZZ=ON \
  -DSTI_FUZZ_SECONDS="${STI_FUZZ_SECONDS:-10}"
echo "== ctest (ASan+UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
(cd build-asan && ctest --output-on-failure -j"$jobs" "${labels[@]}")
