#!/usr/bin/env bash
# fuzz.sh TARGET SECONDS — runs the libFuzzer target tests/fuzz/fuzz_TARGET.c
# for SECONDS (clang, ASan+UBSan, built in build-fuzz/ when needed) on a work
# corpus build-fuzz/corpus-TARGET seeded from tests/fuzz/corpus/TARGET, then
# prints libFuzzer's final stats: executions, coverage, corpus size.
#   scripts/fuzz.sh frame 60
#   STI_FUZZ_BUILD=DIR   another build directory
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $# -ne 2 || ! $1 =~ ^[a-z0-9_]+$ || ! $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS   (targets: $(cd "$root/tests/fuzz" &&
    ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' '))" >&2
  exit 2
fi
target=$1 seconds=$2
[[ -f $root/tests/fuzz/fuzz_$target.c ]] || { echo "fuzz.sh: no tests/fuzz/fuzz_$target.c" >&2; exit 2; }
dir=${STI_FUZZ_BUILD:-$root/build-fuzz}
command -v clang >/dev/null || { echo "fuzz.sh: apt-get install clang" >&2; exit 2; }

if [[ ! -f $dir/CMakeCache.txt ]]; then
  CC=clang cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTI_SANITIZE=ON -DSTI_FUZZ=ON >/dev/null
fi
grep -q '^STI_FUZZ:BOOL=ON' "$dir/CMakeCache.txt" ||
  { echo "fuzz.sh: $dir is not a -DSTI_FUZZ=ON build" >&2; exit 2; }
cmake --build "$dir" -j"$(nproc)" --target "fuzz_$target" >/dev/null

work=$dir/corpus-$target
seed=$root/tests/fuzz/corpus/$target
mkdir -p "$work"
[[ -d $seed ]] || seed=
log=$dir/fuzz-$target.log
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== fuzz_$target for ${seconds}s, corpus $work${seed:+ (seeds $seed)}"
rc=0
# New inputs go to the first directory (the work corpus); seeds stay untouched.
(cd "$dir" && "$dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=5 \
  -rss_limit_mb=1024 -print_final_stats=1 "$work" ${seed:+"$seed"}) >"$log" 2>&1 || rc=$?
last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
echo "last status: ${last:-none}"
grep -E '^stat::' "$log" || true
echo "corpus: $(find "$work" -type f | wc -l) files in $work; full log $log"
if [[ $rc -ne 0 ]]; then
  grep -E -A40 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|SUMMARY' "$log" | head -80
  echo "fuzz.sh: fuzz_$target failed (exit $rc); crash input saved in $dir" >&2
  exit "$rc"
fi
