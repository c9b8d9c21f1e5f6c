#!/usr/bin/env bash
# bench/dns.sh — the DNS interface under load: SRV lookups of a service with 10 healthy
# instances while the catalog holds 1000 services.
#
# Usage (from anywhere): bench/dns.sh [seconds per run, default 15]
#
# Installs dnsperf with apt if missing, builds `praetor` and `praetor-bench` in release
# mode, starts one dev agent (in-memory server) on 127.0.11.1 (HTTP 8500, DNS 8600),
# registers 999 services of one instance each plus `web` with 10 instances on 10 nodes
# through /v1/catalog/register, checks that `web.service.consul SRV` answers 10 records,
# then measures:
#  1. dnsperf (EDNS0, at most 100 queries outstanding): queries per second and average
#     latency;
#  2. praetor-bench dns (EDNS0, closed loop, 16 queries in flight): queries per second
#     and p50/p99/p99.9 latency, each answer checked to hold 10 records.
# Prints a markdown section for BENCHMARKS.md to stdout and writes it, with the raw
# outputs, to bench/results/dns.md. The agent is stopped by PID whatever happens.
# Environment: PRAETOR_BIN / BENCH_BIN use those binaries; CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS="${1:-15}"
IP=127.0.11.1
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
log() { echo "bench/dns.sh: $*" >&2; }

if ! command -v dnsperf >/dev/null 2>&1 || ! command -v dig >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  log "installing dnsperf dnsutils"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dnsperf dnsutils
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${PRAETOR_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
  log "building praetor and praetor-bench (release)"
  cargo build --release -p praetor -p praetor-bench >&2
fi
PRAETOR_BIN="${PRAETOR_BIN:-$TARGET_DIR/release/praetor}"
BENCH_BIN="${BENCH_BIN:-$TARGET_DIR/release/praetor-bench}"

WORK="$(mktemp -d)"
AGENT_PID=""
cleanup() {
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$AGENT_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "starting a dev agent on $IP"
"$PRAETOR_BIN" agent -dev -node bench -bind "$IP" -client "$IP" -log-level warn \
  >"$RESULTS/dns-agent.log" 2>&1 &
AGENT_PID=$!
for i in $(seq 1 100); do
  if curl -sf "http://$IP:8500/v1/status/leader" | grep -q ':'; then break; fi
  [ "$i" -lt 100 ] || { log "the agent did not start"; exit 1; }
  sleep 0.2
done

log "registering 999 services and web x10"
for i in $(seq 1 999); do
  printf '{"Node":"host-%d","Address":"10.1.%d.%d","Service":{"Service":"svc-%d","Port":%d}}\n' \
    "$i" $((i / 250)) $((i % 250)) "$i" $((20000 + i))
done >"$WORK/services.jsonl"
for i in $(seq 0 9); do
  printf '{"Node":"web-%d","Address":"10.2.0.%d","Service":{"Service":"web","ID":"web","Port":%d}}\n' \
    "$i" $((i + 1)) $((8080 + i))
done >>"$WORK/services.jsonl"
# Eight registrations at a time.
xargs -d '\n' -P 8 -I{} curl -sf -o /dev/null -X PUT --data-raw {} "http://$IP:8500/v1/catalog/register" \
  <"$WORK/services.jsonl"
SERVICES=$(curl -sf "http://$IP:8500/v1/catalog/services" | grep -o '":\[' | wc -l)
ANSWERS=$(dig @"$IP" -p 8600 +short web.service.consul SRV | wc -l)
log "catalog: $SERVICES services; web.service.consul SRV: $ANSWERS records"
[ "$ANSWERS" -eq 10 ] || { log "expected 10 SRV records"; exit 1; }

echo "web.service.consul SRV" >"$WORK/queries.txt"
log "dnsperf for ${SECS}s"
DNSPERF_CMD="dnsperf -s $IP -p 8600 -d queries.txt -l $SECS -c 4 -T 2 -q 100 -e"
(cd "$WORK" && $DNSPERF_CMD) >"$RESULTS/dns-dnsperf.txt" 2>&1
log "praetor-bench dns for ${SECS}s"
BENCH_CMD="praetor-bench dns --server $IP:8600 --name web.service.consul --qtype SRV --concurrency 16 --duration-secs $SECS --expect-answers 10"
"$BENCH_BIN" dns --server "$IP:8600" --name web.service.consul --qtype SRV \
  --concurrency 16 --duration-secs "$SECS" --expect-answers 10 >"$RESULTS/dns-bench.json"

RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
field() { grep -o "\"$1\":[0-9.]*" "$RESULTS/dns-bench.json" | cut -d: -f2; }
DP_QPS=$(awk '/Queries per second/ {printf "%d", $4}' "$RESULTS/dns-dnsperf.txt")
DP_LAT=$(awk '/Average Latency/ {print $4 * 1000}' "$RESULTS/dns-dnsperf.txt")
DP_LOST=$(awk '/Queries lost/ {print $3}' "$RESULTS/dns-dnsperf.txt")
CPU="$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
{
  echo "## DNS"
  echo
  echo "\`web.service.consul SRV\` (10 healthy instances, 10 SRV records with 10 A records in the"
  echo "additional section) against one dev agent (\`praetor agent -dev\`, in-memory server, release"
  echo "build), while the catalog holds $SERVICES services. Run on $(date -u +%Y-%m-%d): $(nproc) cores"
  echo "($CPU), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; the load generator"
  echo "runs on the same cores, and the machine is shared with other builds, so these are lower"
  echo "bounds. Command: \`bench/dns.sh $SECS\`."
  echo
  echo "| tool | queries/s | p50 ms | p99 ms | p99.9 ms | notes |"
  echo "|---|---|---|---|---|---|"
  echo "| dnsperf 2.10 (\`$DNSPERF_CMD\`) | $DP_QPS | avg $DP_LAT | — | — | lost: $DP_LOST |"
  echo "| praetor-bench dns (16 in flight, closed loop) | $(field qps) | $(field p50_ms) | $(field p99_ms) | $(field p999_ms) | timeouts $(field timeouts), wrong answers $(field wrong_answers) |"
  echo
  echo "Agent RSS at the end: $((RSS_KB / 1024)) MiB. Answers come from a per-service copy of the"
  echo "health read kept current by a blocking query, so a lookup does not scan the catalog."
} | tee "$RESULTS/dns.md"
