#!/usr/bin/env bash
# Side-by-side puts of two praetor builds on three-server clusters (the cluster
# phase of praetor-bench), interleaved A B A B so drift of a shared machine
# falls on both sides. Prints each row; raw JSON in $OUT (default /tmp/praetor-ab).
# Usage: bench/ab.sh OLD_PRAETOR_BIN NEW_PRAETOR_BIN [rounds, default 2]
# Needs etcd (the phase starts an etcd cluster too) and a release praetor-bench:
#   cargo build --release -p praetor-bench
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-2}
bench=target/release/praetor-bench
out=${OUT:-/tmp/praetor-ab}
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
  for side in old new; do
    bin=$old; [ "$side" = new ] && bin=$new
    work=$(mktemp -d "$out/$side-$round-XXXX")
    timeout --kill-after=30 400 "$bench" cluster --praetor-bin "$bin" --etcd-bin "$(command -v etcd)" \
      --work "$work/work" --logs "$work/logs" --pidfile "$work/pids" \
      --praetor-version "$side" --etcd-version "$(etcd --version | head -1)" \
      --command "bench/ab.sh" --date "$(date -u +%FT%TZ)" --json "$out/$side-$round.json" \
      --failover-trials 1 > "$work/out.log" 2>&1 || echo "round $round $side: exit $?"
    # Stop what the phase started, by PID, even if it was cut short.
    if [ -f "$work/pids" ]; then while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$work/pids"; fi
    python3 - "$out/$side-$round.json" "$side" "$round" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for row in d.get("puts", []):
    t = row.get("praetor", {}).get("Ok", {}).get("throughput")
    if t:
        print(f"{sys.argv[2]} round {sys.argv[3]}: {t['clients']:>3} clients {t['ops_per_sec']:8.0f} puts/s p99 {t['p99_ms']} ms")
PY
  done
done
