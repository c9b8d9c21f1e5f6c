#!/usr/bin/env bash
# bench/run.sh — benchmark praetor against etcd on this machine and rewrite BENCHMARKS.md.
#
# Usage (from anywhere): bench/run.sh [--cluster-only | --health-only | --locks-only | --acl-only | --tls-only | --scale-only | --template-only | --federation-only] [praetor-bench flags, e.g. --duration-secs 2]
#
# With no flag it runs EVERY phase below (tls, acl, scale, template, federation, cluster, health, locks, bench/dns.sh,
# then the single servers) and writes the whole of BENCHMARKS.md from that one run: every section comes from
# a phase's JSON (or dns.sh's markdown) of this run, none is merged by hand, and each states the load
# average before and after its rows. It is sized to finish within 30 minutes on a 2-core machine
# (plus the build), with the scale phase at issue 17's sizes (SCALE_FULL_RUN below); the report lists
# each phase's wall-clock time. Estimated per phase on this 2-core VM (2026-12-04, shared with builds;
# each phase timed at --duration-secs 1, its closed-loop rows then scaled to 5 s, and the scale phase
# timed at a fifth of the catalog and the keys, scaled linearly): tls ~3.3 min, acl ~1.7, scale ~6–9,
# cluster ~0.8, health ~2.2–3.7, locks ~4.4 (2 trials), bench/dns.sh ~0.6, single servers ~1.5–2,
# federation ~1.5 (timed by its own run at 5 s a read loop): ~23–28 min in all, plus the build.
#
# Installs etcd, etcdctl and protoc with apt if missing and builds `praetor` and `praetor-bench` in
# release mode. Then four phases, each with data in a fresh temporary directory:
#  1. Cluster: `praetor-bench cluster` starts a three-server praetor cluster and a
#     three-member etcd cluster, each member on its own free loopback address in
#     127.0.10.0/24 with default ports, measures puts and leader-kill failover on both, and
#     stops them (it starts, kills and restarts the members itself; their PIDs also go to a
#     file, from which this script stops any it left behind). Member logs go to
#     bench/results/cluster/, results to bench/results/cluster.json.
#  2. Health (praetor only): `praetor-bench health` starts praetor agents itself, each on
#     its own free loopback address in 127.0.11.0/24 with default ports: a fresh single
#     server per registration row, one for the health-query and watcher-memory rows, then
#     three servers and two client agents for propagation; it stops each when done (PIDs go
#     to the same file). Agent logs go to bench/results/health/, results to
#     bench/results/health.json.
#  3. Locks: `praetor-bench locks` starts a three-server praetor cluster with two client
#     agents and a three-member etcd cluster on free loopback addresses in 127.0.12.0/24
#     with default ports, measures transactions and lock hand-over (`praetor lock`/`elect`
#     against `etcdctl lock`/`elect`, the holder's host killed with SIGKILL) on both, and
#     stops them (PIDs, contenders' too, go to the same file). Logs go to
#     bench/results/locks/, results to bench/results/locks.json.
#  4. Single server: one durable praetor server and one single-member etcd, both bound to
#     127.0.0.1 only, on free ports; the same workloads against both; both stopped by PID.
# Then BENCHMARKS.md is written at the repository root from all four phases, plus
# bench/results/{results.json,praetor.log,etcd.log}. Every wait has a deadline; the
# servers are stopped whatever happens.
#
# --cluster-only runs phase 1 alone and writes bench/results/cluster.md, --health-only
# runs phase 2 alone and writes bench/results/health.md, --locks-only runs phase 3 alone and
# writes bench/results/locks.md, instead of BENCHMARKS.md (for iterating on one phase).
#
# --acl-only runs a phase of its own, not part of the full run: `praetor-bench acl` starts two
# durable single praetor servers on free loopback addresses in 127.0.13.0/24 with default ports,
# one without ACLs and one with ACLs enforced (default deny, an application token with a handful
# of prefix rules), measures durable puts and default-consistency gets on both, interleaved round
# by round, and stops them (PIDs go to the same file). Logs go to bench/results/acl/, results to
# bench/results/acl.json and bench/results/acl.md (section 14 of BENCHMARKS.md is that file's
# section); BENCHMARKS.md is left as it was. Its own flags: --acl-clients, --acl-rounds, --acl-keys.
#
# --tls-only runs another phase of its own, not part of the full run: it makes an ECDSA P-256 CA,
# a server certificate (server.dc1.consul, localhost, 127.0.0.1) and a client certificate in the
# work directory, with `praetor tls ca create` / `praetor tls cert create -server` / `-client` when
# the praetor binary has that command, else with openssl; then `praetor-bench tls` starts one
# durable single praetor server with an HTTP and an HTTPS port (`tls.defaults`, verify_incoming)
# and one single-member etcd with a plain and an https:// client URL (--client-cert-auth), both
# on 127.0.0.1 with free ports and the same certificates, measures durable puts and gets at 16
# and 256 clients in the four modes (praetor HTTP, praetor HTTPS, etcd plain, etcd TLS),
# interleaved round by round, and stops them (PIDs go to the same file). Logs go to
# bench/results/tls/, results to bench/results/tls.json and bench/results/tls.md (section 15 of
# BENCHMARKS.md is that file's section); BENCHMARKS.md is left as it was. Its own flags:
# --tls-clients, --tls-rounds, --tls-keys.
#
# --scale-only runs the scale phase alone (issue 17): `praetor-bench scale` starts three praetor
# servers and five client agents on free loopback addresses in 127.0.14.0/24 with default ports,
# loads a catalog (10 000 nodes × 10 instances over 1 000 names, through /v1/catalog/register), measures load
# time, RSS, /v1/snapshot and a server's restart, 5 000 and then 500 open blocking health queries
# while single checks flip (latency to every watcher of the service, server CPU per change), and
# 5 000 registrations with TTL checks through one client agent; stops them; then three fresh
# praetor servers and three etcd members load 1 000 000 keys each (transactions of 64 puts) for
# load time, RSS, puts and gets at 16 clients, a 10 000-key prefix read, 1 000 watch streams, a
# snapshot and a restart; stops them (PIDs go to the same file). Logs go to bench/results/scale/,
# results to bench/results/scale.json and bench/results/scale.md. Its own size flags (defaults
# are the issue's): --nodes, --instances-per-node, --service-names, --scale-watchers (e.g.
# 5000,500), --watch-names, --hot-names, --scale-flips, --agent-services, --agent-clients,
# --kv-keys, --kv-clients, --kv-watchers, --load-concurrency, --catalog-load txn|register. E.g.
# a small run: bench/run.sh --scale-only --nodes 500 --scale-watchers 500,50 --agent-services 1000
# --kv-keys 20000 --kv-watchers 100 --duration-secs 2
#
# --template-only runs the template phase alone (issue 18): `praetor-bench template` starts one durable
# praetor server on a free loopback address in 127.0.15.0/24 with default ports, writes 1 000 keys
# (bench/tpl/k0000…), starts ONE `praetor template -config FILE` process with 100 template blocks (each
# rendering 10 of the keys) into a temporary directory, waits for every output, then times up to 200
# sequential writes of a new value to a random key until the output rendering it shows the value
# (polling the file every 1 ms, 10 s deadline each, 60 s for all); records the renderer's and the
# server's RSS and CPU; stops both (PIDs go to the same file). Under a minute. Logs go to
# bench/results/template/, results to bench/results/template.json and bench/results/template.md. Its own
# flags: --tpl-templates, --tpl-keys, --tpl-samples, --tpl-budget-secs, --tpl-deadline-secs, --tpl-poll-us.
#
# --federation-only runs the federation phase alone (issue 19): `praetor-bench federation` starts two datacenters,
# dc1 and dc2, of three durable praetor servers each, every server on a free loopback address in 127.0.16.0/24 with
# default ports (DNS on 8600), dc2's servers joining dc1's with -retry-join-wan; waits until
# /v1/catalog/datacenters lists both on a server of each; writes 100 keys in each datacenter; then closed-loop KV
# reads through one dc1 follower, local (`GET /v1/kv/<key>`) and cross-datacenter (`?dc=dc2`), default and
# `?stale`, at 1 and 16 clients, --duration-secs each; then registers `web` with a TTL check on one server agent
# of each datacenter, creates the prepared query `web-fo` with `Failover { NearestN: 1 }` in dc1, and times, over
# 5 trials, dc1's check failed → DNS (`web-fo.query.consul` at dc1's server) answers dc2's address, and passed
# again → dc1's; stops every server (PIDs go to the same file). About 1.5 minutes. Logs go to
# bench/results/federation/, results to bench/results/federation.json and bench/results/federation.md. Its own
# flags: --fed-servers, --fed-clients, --fed-keys, --fed-trials, --fed-poll-ms, --fed-deadline-secs,
# --fed-budget-secs.
#
# Environment: PRAETOR_BIN=path measures that praetor binary instead of building one (the report
# names the revision that binary reports); BENCH_FULL_SCALE_ARGS replaces the full run's scale
# sizes (see SCALE_FULL_RUN); CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMMAND="bench/run.sh${*:+ $*}"
[ -z "${BENCH_FULL_SCALE_ARGS:-}" ] || COMMAND="BENCH_FULL_SCALE_ARGS='$BENCH_FULL_SCALE_ARGS' $COMMAND"
DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
RESULTS="$ROOT/bench/results"
STARTUP_DEADLINE=60   # seconds for each server to become ready
STOP_DEADLINE=15      # seconds for each server to exit after SIGTERM
RUN_DEADLINE=900      # seconds for the whole single-server workload run
CLUSTER_DEADLINE=1200 # seconds for the whole cluster phase
HEALTH_DEADLINE=1200  # seconds for the whole health phase
LOCKS_DEADLINE=1500   # seconds for the whole locks phase
ACL_DEADLINE=1200     # seconds for the whole acl phase
TLS_DEADLINE=1800     # seconds for the whole tls phase
SCALE_DEADLINE=3600   # seconds for the whole scale phase
TEMPLATE_DEADLINE=300 # seconds for the whole template phase
FEDERATION_DEADLINE=300 # seconds for the whole federation phase
DNS_SECS=10           # seconds per DNS run in the full run
# The scale phase in the full run (no flag): issue 17's sizes, which are praetor-bench scale's defaults
# (10 000 nodes × 10 instances over 1 000 names, 5 000 and 500 watchers over 100 names, 5 000 agent
# services, 1 000 000 keys, 1 000 watch streams), with each watcher measurement bounded at 60 s.
# --scale-only uses the same unless given other sizes.
SCALE_FULL_RUN=(--watch-budget-secs 60)
# The tls phase runs 2 rounds instead of 4 in the full run, to stay within 30 minutes (its section says so).
TLS_FULL_RUN=(--tls-rounds 2)
# The locks phase runs 2 hand-over trials per row instead of 3 in the full run, for the same reason:
# a trial of `etcdctl elect` waits out etcd's 60 s lease (its section states the trials it ran).
LOCKS_FULL_RUN=(--lock-trials 2)
# BENCH_FULL_SCALE_ARGS (words) replaces SCALE_FULL_RUN, e.g. to check the full run's flow at small sizes:
#   BENCH_FULL_SCALE_ARGS="--nodes 200 --scale-watchers 100,10 --agent-services 200 --kv-keys 5000 --kv-watchers 20" \
#     bench/run.sh --duration-secs 1 --failover-trials 1 --lock-trials 1
# (flags given to run.sh itself go to every phase, so only the shared ones, such as --duration-secs, fit there).
if [ -n "${BENCH_FULL_SCALE_ARGS:-}" ]; then
  read -r -a SCALE_FULL_RUN <<<"$BENCH_FULL_SCALE_ARGS"
fi

CLUSTER_ONLY=0
HEALTH_ONLY=0
LOCKS_ONLY=0
ACL_ONLY=0
TLS_ONLY=0
SCALE_ONLY=0
TEMPLATE_ONLY=0
FEDERATION_ONLY=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --cluster-only) CLUSTER_ONLY=1 ;;
    --health-only) HEALTH_ONLY=1 ;;
    --locks-only) LOCKS_ONLY=1 ;;
    --acl-only) ACL_ONLY=1 ;;
    --tls-only) TLS_ONLY=1 ;;
    --scale-only) SCALE_ONLY=1 ;;
    --template-only) TEMPLATE_ONLY=1 ;;
    --federation-only) FEDERATION_ONLY=1 ;;
    *) ARGS+=("$arg") ;;
  esac
done

log() { echo "bench/run.sh: $*" >&2; }
# Prints the flag-value pairs among its arguments whose flag ARGS does not give, one word a line: a
# full-run size yields to the same flag given to run.sh (clap refuses a flag given twice).
not_given() {
  while (($# >= 2)); do
    if [[ " ${ARGS[*]-} " != *" $1 "* && " ${ARGS[*]-} " != *" $1="* ]]; then printf '%s\n' "$1" "$2"; fi
    shift 2
  done
}
((CLUSTER_ONLY + HEALTH_ONLY + LOCKS_ONLY + ACL_ONLY + TLS_ONLY + SCALE_ONLY + TEMPLATE_ONLY + FEDERATION_ONLY > 1)) && { log "--cluster-only, --health-only, --locks-only, --acl-only, --tls-only, --scale-only, --template-only and --federation-only exclude each other"; exit 2; }
# The full run: every phase, and BENCHMARKS.md.
FULL=$((CLUSTER_ONLY + HEALTH_ONLY + LOCKS_ONLY + ACL_ONLY + TLS_ONLY + SCALE_ONLY + TEMPLATE_ONLY + FEDERATION_ONLY == 0))
RUN_STARTED=$SECONDS
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# --- tools ---------------------------------------------------------------------------
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# --- build ---------------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -n "${PRAETOR_BIN:-}" ]; then
  # A prebuilt praetor binary to measure instead of building crates/cli.
  PRAETOR="$PRAETOR_BIN"
  log "building praetor-bench (release); measuring $PRAETOR"
  cargo build --release -p praetor-bench
else
  PRAETOR="$TARGET_DIR/release/praetor"
  log "building praetor and praetor-bench (release)"
  cargo build --release -p praetor -p praetor-bench
fi
BENCH="$TARGET_DIR/release/praetor-bench"

# --- servers -------------------------------------------------------------------------
mkdir -p "$RESULTS"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/praetor-bench.XXXXXX")"
PIDS=()
CLUSTER_PIDS="$WORK/cluster.pids"  # appended to by `praetor-bench cluster`, `health` and `locks`
# Each phase's wall-clock seconds, one `name seconds` a line; the report lists them.
PHASE_TIMES="$WORK/phase-times"
PHASE_STARTED=$SECONDS
# Records phase $1's time and frees its data directories (its logs are in bench/results/): a full
# run would otherwise hold every phase's data, a million keys on six members among them, to the end.
phase_done() {
  if [ -d "$WORK/$1" ]; then rm -rf "${WORK:?}/$1"; fi
  echo "$1 $((SECONDS - PHASE_STARTED))" >>"$PHASE_TIMES"
  PHASE_STARTED=$SECONDS
}

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_DEADLINE * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still running ${STOP_DEADLINE}s after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
# Stops any member `praetor-bench cluster`, `health` or `locks` left running: a PID from the file
# counts only while that process's command line names this run's work directory.
stop_cluster_leftovers() {
  local pid
  [ -f "$CLUSTER_PIDS" ] || return 0
  while read -r pid; do
    [ -n "$pid" ] || continue
    [ -r "/proc/$pid/cmdline" ] || continue
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$WORK/"; then
      log "cluster member pid $pid was left running; stopping it"
      stop_pid "$pid"
    fi
  done <"$CLUSTER_PIDS"
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  stop_cluster_leftovers
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'log "failed (line $LINENO, exit $?)"' ERR

# Waits until `$2` (a command) succeeds, failing if pid $1 exits or the deadline passes.
wait_ready() {
  local pid="$1" what="$2" check="$3" end=$((SECONDS + STARTUP_DEADLINE))
  while ! eval "$check"; do
    kill -0 "$pid" 2>/dev/null || { log "$what exited during startup; see its log in $RESULTS"; return 1; }
    ((SECONDS < end)) || { log "$what not ready after ${STARTUP_DEADLINE}s"; return 1; }
    sleep 0.2
  done
}

# `sed -n 1p` reads to the end: `head -n1` could exit first and, under pipefail, fail the
# pipeline with the writer's SIGPIPE.
PRAETOR_VERSION="$("$PRAETOR" version 2>/dev/null | sed -n 1p || true)"
[ -n "$PRAETOR_VERSION" ] || PRAETOR_VERSION="$("$PRAETOR" --version 2>/dev/null | sed -n 1p || true)"
[ -n "$PRAETOR_VERSION" ] || PRAETOR_VERSION="praetor (no version output)"
# Which source the measured binary came from: a prebuilt one (PRAETOR_BIN) says so with the revision
# its own `praetor version` reports, not this worktree's commit.
REVISION="$("$PRAETOR" version 2>/dev/null | sed -n 's/^Revision \([0-9a-f]\{7\}\).*/\1/p' || true)"
if [ -n "${PRAETOR_BIN:-}" ]; then
  PRAETOR_VERSION="$PRAETOR_VERSION, the prebuilt binary given as PRAETOR_BIN, revision ${REVISION:-unknown} (as its version command reports)"
else
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  PRAETOR_VERSION="$PRAETOR_VERSION, built by this run from commit $COMMIT plus any uncommitted changes"
fi
ETCD_VERSION="$(etcd --version | sed -n 1p)"

# --- the tls phase (--tls-only): praetor and etcd, plain and TLS -------------------
# Makes the CA, server and client certificates in $1; sets CA_FILE, SERVER_CERT, SERVER_KEY,
# CLIENT_CERT and CLIENT_KEY, and CERTS_MADE_BY to how, as one line.
make_certs() {
  local dir="$1" role cn
  mkdir -p "$dir"
  if "$PRAETOR" tls --help >/dev/null 2>&1 &&
    (cd "$dir" && "$PRAETOR" tls ca create && "$PRAETOR" tls cert create -server &&
      "$PRAETOR" tls cert create -client) >"$dir/praetor-tls.log" 2>&1; then
    CA_FILE="$(ls "$dir"/*-agent-ca.pem 2>/dev/null | sed -n 1p)"
    SERVER_CERT="$(ls "$dir"/dc1-server-*-0.pem 2>/dev/null | sed -n 1p)"
    CLIENT_CERT="$(ls "$dir"/dc1-client-*-0.pem 2>/dev/null | sed -n 1p)"
    SERVER_KEY="${SERVER_CERT%.pem}-key.pem" CLIENT_KEY="${CLIENT_CERT%.pem}-key.pem"
    if [ -f "$CA_FILE" ] && [ -f "$SERVER_KEY" ] && [ -f "$CLIENT_KEY" ]; then
      CERTS_MADE_BY='`praetor tls ca create`, `praetor tls cert create -server`, `praetor tls cert create -client`'
      return 0
    fi
    log "praetor tls did not write the files expected (see $dir/praetor-tls.log); using openssl"
  fi
  command -v openssl >/dev/null 2>&1 || { log "neither praetor tls nor openssl is available"; return 1; }
  (
    # Inside `|| ...` set -e does not apply: every step is checked.
    cd "$dir" || exit 1
    openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem || exit 1
    openssl req -x509 -new -key ca-key.pem -sha256 -days 7 -subj "/CN=Praetor bench CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out ca.pem || exit 1
    for role in server client; do
      cn="$role.dc1.consul"
      openssl ecparam -name prime256v1 -genkey -noout -out "$role-key.pem" || exit 1
      openssl req -new -key "$role-key.pem" -subj "/CN=$cn" -out "$role.csr" || exit 1
      printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement" \
        "extendedKeyUsage=serverAuth,clientAuth" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" \
        "subjectAltName=DNS:$cn,DNS:localhost,IP:127.0.0.1" >"$role.ext" || exit 1
      openssl x509 -req -in "$role.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 7 -sha256 \
        -extfile "$role.ext" -out "$role.pem" || exit 1
    done
  ) >"$dir/openssl.log" 2>&1 || { log "openssl failed; see $dir/openssl.log"; cat "$dir/openssl.log" >&2; return 1; }
  CA_FILE="$dir/ca.pem" SERVER_CERT="$dir/server.pem" SERVER_KEY="$dir/server-key.pem"
  CLIENT_CERT="$dir/client.pem" CLIENT_KEY="$dir/client-key.pem"
  CERTS_MADE_BY="openssl ($(openssl version | awk '{print $1" "$2}')), \`praetor tls\` being absent from this build: \`openssl ecparam -name prime256v1\` keys, a self-signed CA, server and client certificates signed by it (SHA-256, 7 days; both with serverAuth and clientAuth, as Consul's)"
}

TLS_JSON="$RESULTS/tls.json"
if ((TLS_ONLY || FULL)); then
  rm -f "$TLS_JSON" "$RESULTS/tls.md"
  rm -rf "$RESULTS/tls"
  make_certs "$WORK/tls/certs"
  TLS_SIZES=()
  ((FULL)) && mapfile -t TLS_SIZES < <(not_given "${TLS_FULL_RUN[@]}")
  log "certificates: $CERTS_MADE_BY"
  log "tls phase: one praetor server (HTTP and HTTPS) and one etcd member (plain and TLS) on 127.0.0.1"
  # The same deadline and signal handling as the cluster phase.
  timeout --foreground --signal=TERM --kill-after=30 "$TLS_DEADLINE" "$BENCH" tls \
    --praetor-bin "$PRAETOR" --etcd-bin "$(command -v etcd)" --work "$WORK/tls" --logs "$RESULTS/tls" \
    --pidfile "$CLUSTER_PIDS" --praetor-version "$PRAETOR_VERSION" --etcd-version "$ETCD_VERSION" \
    --ca-file "$CA_FILE" --server-cert "$SERVER_CERT" --server-key "$SERVER_KEY" \
    --client-cert "$CLIENT_CERT" --client-key "$CLIENT_KEY" --certs-made-by "$CERTS_MADE_BY" \
    --command "$COMMAND" --date "$DATE" --json "$TLS_JSON" --out "$RESULTS/tls.md" \
    ${TLS_SIZES[@]+"${TLS_SIZES[@]}"} ${ARGS[@]+"${ARGS[@]}"} ||
    log "the tls phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done tls
  if ((TLS_ONLY)); then
    log "wrote $RESULTS/tls.md and $TLS_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- the acl phase (--acl-only): praetor with ACLs off and on -----------------------
ACL_JSON="$RESULTS/acl.json"
if ((ACL_ONLY || FULL)); then
  rm -f "$ACL_JSON" "$RESULTS/acl.md"
  rm -rf "$RESULTS/acl"
  log "acl phase: two single praetor servers, ACLs off and on, on 127.0.13.x"
  # The same deadline and signal handling as the cluster phase.
  timeout --foreground --signal=TERM --kill-after=30 "$ACL_DEADLINE" "$BENCH" acl \
    --praetor-bin "$PRAETOR" --work "$WORK/acl" --logs "$RESULTS/acl" --pidfile "$CLUSTER_PIDS" \
    --praetor-version "$PRAETOR_VERSION" --command "$COMMAND" --date "$DATE" --json "$ACL_JSON" \
    --out "$RESULTS/acl.md" ${ARGS[@]+"${ARGS[@]}"} ||
    log "the acl phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done acl
  if ((ACL_ONLY)); then
    log "wrote $RESULTS/acl.md and $ACL_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- the scale phase (--scale-only, and the full run) --------------------------------
SCALE_JSON="$RESULTS/scale.json"
if ((SCALE_ONLY || FULL)); then
  rm -f "$SCALE_JSON" "$RESULTS/scale.md"
  rm -rf "$RESULTS/scale"
  SCALE_SIZES=()
  ((FULL)) && mapfile -t SCALE_SIZES < <(not_given "${SCALE_FULL_RUN[@]}")
  log "scale phase: three praetor servers, five client agents, then three praetor servers and three etcd members on 127.0.14.x"
  log "after $((SECONDS - RUN_STARTED)) s of this run"
  # The same deadline and signal handling as the cluster phase.
  timeout --foreground --signal=TERM --kill-after=30 "$SCALE_DEADLINE" "$BENCH" scale \
    --praetor-bin "$PRAETOR" --etcd-bin "$(command -v etcd)" --work "$WORK/scale" --logs "$RESULTS/scale" \
    --pidfile "$CLUSTER_PIDS" --praetor-version "$PRAETOR_VERSION" --etcd-version "$ETCD_VERSION" \
    --command "$COMMAND" --date "$DATE" --json "$SCALE_JSON" --out "$RESULTS/scale.md" \
    ${SCALE_SIZES[@]+"${SCALE_SIZES[@]}"} ${ARGS[@]+"${ARGS[@]}"} ||
    log "the scale phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done scale
  if ((SCALE_ONLY)); then
    log "wrote $RESULTS/scale.md and $SCALE_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- the template phase (--template-only, and the full run): issue 18 -----------------
TEMPLATE_JSON="$RESULTS/template.json"
if ((TEMPLATE_ONLY || FULL)); then
  rm -f "$TEMPLATE_JSON" "$RESULTS/template.md"
  rm -rf "$RESULTS/template"
  log "template phase: one praetor server on 127.0.15.x and one \`praetor template\` with 100 templates"
  log "after $((SECONDS - RUN_STARTED)) s of this run"
  # The same deadline and signal handling as the cluster phase.
  timeout --foreground --signal=TERM --kill-after=30 "$TEMPLATE_DEADLINE" "$BENCH" template \
    --praetor-bin "$PRAETOR" --work "$WORK/template" --logs "$RESULTS/template" --pidfile "$CLUSTER_PIDS" \
    --praetor-version "$PRAETOR_VERSION" --command "$COMMAND" --date "$DATE" --json "$TEMPLATE_JSON" \
    --out "$RESULTS/template.md" ${ARGS[@]+"${ARGS[@]}"} ||
    log "the template phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done template
  if ((TEMPLATE_ONLY)); then
    log "wrote $RESULTS/template.md and $TEMPLATE_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- the federation phase (--federation-only, and the full run): issue 19 -------------
FEDERATION_JSON="$RESULTS/federation.json"
if ((FEDERATION_ONLY || FULL)); then
  rm -f "$FEDERATION_JSON" "$RESULTS/federation.md"
  rm -rf "$RESULTS/federation"
  log "federation phase: two datacenters of three praetor servers each on 127.0.16.x, federated over the WAN"
  log "after $((SECONDS - RUN_STARTED)) s of this run"
  # The same deadline and signal handling as the cluster phase.
  timeout --foreground --signal=TERM --kill-after=30 "$FEDERATION_DEADLINE" "$BENCH" federation \
    --praetor-bin "$PRAETOR" --work "$WORK/federation" --logs "$RESULTS/federation" --pidfile "$CLUSTER_PIDS" \
    --praetor-version "$PRAETOR_VERSION" --command "$COMMAND" --date "$DATE" --json "$FEDERATION_JSON" \
    --out "$RESULTS/federation.md" ${ARGS[@]+"${ARGS[@]}"} ||
    log "the federation phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done federation
  if ((FEDERATION_ONLY)); then
    log "wrote $RESULTS/federation.md and $FEDERATION_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- phase 1: three-member clusters --------------------------------------------------
CLUSTER_JSON="$RESULTS/cluster.json"
if ((!HEALTH_ONLY && !LOCKS_ONLY)); then
  rm -f "$CLUSTER_JSON" "$RESULTS/cluster.md"
  rm -rf "$RESULTS/cluster"
  CLUSTER_OUT=()
  ((CLUSTER_ONLY)) && CLUSTER_OUT=(--out "$RESULTS/cluster.md")
  log "cluster phase: three praetor servers and three etcd members on 127.0.10.x"
  # On the deadline `timeout` sends SIGTERM, on which praetor-bench stops its members (SIGKILL
  # 30 s later). --foreground keeps it in this script's process group, so that Ctrl-C reaches
  # praetor-bench (which then stops its members too) instead of waiting for the phase to end.
  timeout --foreground --signal=TERM --kill-after=30 "$CLUSTER_DEADLINE" "$BENCH" cluster \
    --praetor-bin "$PRAETOR" --etcd-bin "$(command -v etcd)" \
    --work "$WORK/cluster" --logs "$RESULTS/cluster" --pidfile "$CLUSTER_PIDS" \
    --praetor-version "$PRAETOR_VERSION" --etcd-version "$ETCD_VERSION" \
    --command "$COMMAND" --date "$DATE" --json "$CLUSTER_JSON" \
    ${CLUSTER_OUT[@]+"${CLUSTER_OUT[@]}"} ${ARGS[@]+"${ARGS[@]}"} ||
    log "the cluster phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done cluster
  if ((CLUSTER_ONLY)); then
    log "wrote $RESULTS/cluster.md and $CLUSTER_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- phase 2: service registry and health checking (praetor only) --------------------
HEALTH_JSON="$RESULTS/health.json"
if ((!LOCKS_ONLY)); then
  rm -f "$HEALTH_JSON" "$RESULTS/health.md"
  rm -rf "$RESULTS/health"
  HEALTH_OUT=()
  ((HEALTH_ONLY)) && HEALTH_OUT=(--out "$RESULTS/health.md")
  log "health phase: praetor agents on 127.0.11.x"
  # The same deadline and signal handling as the cluster phase.
  timeout --foreground --signal=TERM --kill-after=30 "$HEALTH_DEADLINE" "$BENCH" health \
    --praetor-bin "$PRAETOR" --work "$WORK/health" --logs "$RESULTS/health" --pidfile "$CLUSTER_PIDS" \
    --praetor-version "$PRAETOR_VERSION" --command "$COMMAND" --date "$DATE" --json "$HEALTH_JSON" \
    ${HEALTH_OUT[@]+"${HEALTH_OUT[@]}"} ${ARGS[@]+"${ARGS[@]}"} ||
    log "the health phase failed (exit $?); the report says what is missing"
  stop_cluster_leftovers
  phase_done health
  if ((HEALTH_ONLY)); then
    log "wrote $RESULTS/health.md and $HEALTH_JSON (BENCHMARKS.md unchanged)"
    exit 0
  fi
fi

# --- phase 3: locks and transactions, praetor and etcd -------------------------------
LOCKS_JSON="$RESULTS/locks.json"
rm -f "$LOCKS_JSON" "$RESULTS/locks.md"
rm -rf "$RESULTS/locks"
LOCKS_OUT=()
((LOCKS_ONLY)) && LOCKS_OUT=(--out "$RESULTS/locks.md")
LOCKS_SIZES=()
((FULL)) && mapfile -t LOCKS_SIZES < <(not_given "${LOCKS_FULL_RUN[@]}")
log "locks phase: three praetor servers, two client agents and three etcd members on 127.0.12.x"
# The same deadline and signal handling as the cluster phase.
timeout --foreground --signal=TERM --kill-after=30 "$LOCKS_DEADLINE" "$BENCH" locks \
  --praetor-bin "$PRAETOR" --etcd-bin "$(command -v etcd)" --etcdctl-bin "$(command -v etcdctl)" \
  --work "$WORK/locks" --logs "$RESULTS/locks" --pidfile "$CLUSTER_PIDS" \
  --praetor-version "$PRAETOR_VERSION" --etcd-version "$ETCD_VERSION" \
  --command "$COMMAND" --date "$DATE" --json "$LOCKS_JSON" \
  ${LOCKS_OUT[@]+"${LOCKS_OUT[@]}"} ${LOCKS_SIZES[@]+"${LOCKS_SIZES[@]}"} ${ARGS[@]+"${ARGS[@]}"} ||
  log "the locks phase failed (exit $?); the report says what is missing"
stop_cluster_leftovers
phase_done locks
if ((LOCKS_ONLY)); then
  log "wrote $RESULTS/locks.md and $LOCKS_JSON (BENCHMARKS.md unchanged)"
  exit 0
fi

# --- DNS (the full run): bench/dns.sh's section, with the load average around it -----
DNS_MD="$RESULTS/dns.md"
rm -f "$DNS_MD"
log "dns: bench/dns.sh $DNS_SECS (one dev agent on 127.0.11.1), after $((SECONDS - RUN_STARTED)) s of this run"
DNS_LOAD_BEFORE="$(loadavg)"
if PRAETOR_BIN="$PRAETOR" BENCH_BIN="$BENCH" timeout --foreground --signal=TERM --kill-after=30 300 \
  bench/dns.sh "$DNS_SECS" >/dev/null; then
  printf '\nLoad average (1, 5, 15 min) before bench/dns.sh: %s; after it: %s.\n' "$DNS_LOAD_BEFORE" "$(loadavg)" >>"$DNS_MD"
else
  log "bench/dns.sh failed (exit $?); the report says so"
  rm -f "$DNS_MD"
fi

phase_done bench/dns.sh
# --- phase 4: one server each --------------------------------------------------------
log "single servers, after $((SECONDS - RUN_STARTED)) s of this run"
mapfile -t PORTS < <("$BENCH" free-ports 5)
((${#PORTS[@]} == 5)) || { log "could not find 5 free ports"; exit 1; }
HTTP_PORT=${PORTS[0]} SERVER_PORT=${PORTS[1]} SERF_PORT=${PORTS[2]} ETCD_CLIENT_PORT=${PORTS[3]} ETCD_PEER_PORT=${PORTS[4]}

# The watcher rows hold a thousand connections from one address; Consul's
# default of 200 per client would refuse most of them.
echo 'limits { http_max_conns_per_client = 0 }' >"$WORK/praetor-limits.hcl"
PRAETOR_ARGS=(agent -config-file="$WORK/praetor-limits.hcl" -server -bootstrap-expect=1 -data-dir="$WORK/praetor" -bind=127.0.0.1 -client=127.0.0.1
  -http-port="$HTTP_PORT" -server-port="$SERVER_PORT" -serf-lan-port="$SERF_PORT" -dns-port=-1
  -node=bench -log-level=warn)
log "starting praetor: ${PRAETOR_ARGS[*]}"
"$PRAETOR" "${PRAETOR_ARGS[@]}" >"$RESULTS/praetor.log" 2>&1 &
PRAETOR_PID=$!
PIDS+=("$PRAETOR_PID")

ETCD_ARGS=(--name bench --data-dir "$WORK/etcd"
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT"
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
  --initial-cluster "bench=http://127.0.0.1:$ETCD_PEER_PORT" --logger zap --log-level warn)
log "starting etcd: ${ETCD_ARGS[*]}"
etcd "${ETCD_ARGS[@]}" >"$RESULTS/etcd.log" 2>&1 &
ETCD_PID=$!
PIDS+=("$ETCD_PID")

leader() { curl -sf --max-time 2 "http://127.0.0.1:$HTTP_PORT/v1/status/leader" 2>/dev/null | grep -q '[0-9]'; }
etcd_healthy() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
wait_ready "$PRAETOR_PID" praetor leader
wait_ready "$ETCD_PID" etcd etcd_healthy
log "both ready (praetor pid $PRAETOR_PID, etcd pid $ETCD_PID)"

# Data-directory paths are temporary; the report shows them as $TMP.
show() { local s="$*"; echo "${s//$WORK/\$TMP}"; }

# --- workloads -----------------------------------------------------------------------
timeout --foreground --signal=TERM "$RUN_DEADLINE" "$BENCH" run \
  --praetor-addr "127.0.0.1:$HTTP_PORT" --praetor-pid "$PRAETOR_PID" --praetor-data-dir "$WORK/praetor" \
  --praetor-version "$PRAETOR_VERSION" --praetor-cmd "$(show praetor "${PRAETOR_ARGS[@]}")" \
  --etcd-addr "127.0.0.1:$ETCD_CLIENT_PORT" --etcd-pid "$ETCD_PID" --etcd-data-dir "$WORK/etcd" \
  --etcd-version "$ETCD_VERSION" --etcd-cmd "$(show etcd "${ETCD_ARGS[@]}")" \
  --command "$COMMAND" --date "$DATE" --cluster-json "$CLUSTER_JSON" --health-json "$HEALTH_JSON" --locks-json "$LOCKS_JSON" \
  --acl-json "$ACL_JSON" --tls-json "$TLS_JSON" --scale-json "$SCALE_JSON" --template-json "$TEMPLATE_JSON" --federation-json "$FEDERATION_JSON" --dns-md "$DNS_MD" --phase-times "$PHASE_TIMES" \
  --out "$ROOT/BENCHMARKS.md" --json "$RESULTS/results.json" ${ARGS[@]+"${ARGS[@]}"}
log "wrote $ROOT/BENCHMARKS.md after $((SECONDS - RUN_STARTED)) s"
