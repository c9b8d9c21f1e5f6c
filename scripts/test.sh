#!/usr/bin/env bash
# The whole test suite, on a fresh machine of this kind: installs what the
# tests need (idempotently), builds once, and runs every test in the
# default workspace members, after checking formatting and lints. CI
# (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI's disk is small: no incremental caches (a clean build gains nothing from
# them, and they doubled the target directory).
export CARGO_INCREMENTAL=0

# Debian packages the tests use; installed only when missing.
packages=()
need() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
need curl curl
# Cluster tests cut links between agents with packet filter rules (root only).
need iptables iptables
# The web UI's browser tests drive headless Chromium through chromedriver.
need chromium chromium
need chromedriver chromium-driver
# DNS interface tests ask real resolvers.
need dig dnsutils
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing: ${packages[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi

# Python's Consul client for the compatibility tests; installed only when missing.
if ! python3 -c "import consul" >/dev/null 2>&1; then
  echo "installing: py-consul (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check py-consul
fi

# The lints the workspace declares (await_holding_lock, the store's ban on
# clocks) hold only if something runs them: formatting and clippy first.
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings

# One build shared by every test binary (the process tests run target/debug/praetor).
cargo build --workspace --exclude praetor-bench --all-targets
# The process tests run this binary instead of building `-p praetor` again
# (a second feature set would rebuild, and store, many crates twice).
export PRAETOR_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/praetor"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
