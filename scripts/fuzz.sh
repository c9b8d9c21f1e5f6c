#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each, one after
# the other: the pre-release check of docs/RELEASING.md.
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 300        # 300 s per target
#   scripts/fuzz.sh 30 filter  # only the named targets
#
# Only a stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take the
# nightly flags cargo-fuzz passes. Installs cargo-fuzz when it is missing.
# New corpus entries go to fuzz/corpus/<target> (not committed); the
# committed seeds in fuzz/seeds/<target> and past crash inputs in
# fuzz/regressions/<target> are read as well. A crash stops the run, leaves
# its input in fuzz/artifacts/<target>/ and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing: cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

# No sanitizer: the code under test is safe Rust, and without ASan the
# targets run several times faster; debug assertions (overflow checks) on;
# 16 codegen units build much faster on small machines.
build_flags=(--sanitizer none --debug-assertions --codegen-units 16)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build "${build_flags[@]}"

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target" "regressions/$target"
  echo "=== $target: ${seconds}s" >&2
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory.
  cargo fuzz run "${build_flags[@]}" "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
# The config target's scratch files (one directory per fuzzing process).
rm -rf /dev/shm/praetor-fuzz-config-* "${TMPDIR:-/tmp}"/praetor-fuzz-config-*
echo "fuzzed ${#targets[@]} targets for ${seconds}s each: no crash" >&2
