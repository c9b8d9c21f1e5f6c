#!/usr/bin/env bash
# Writes tests/golden/datadir-release.tar.gz: the data dir of a single
# server of the RELEASED build, holding every kind of replicated state, for
# `crates/testkit/tests/format/datadir.rs`, which starts the current build
# on it and reads every piece back through the HTTP API. Run it when
# cutting a release (docs/RELEASING.md), with that release's binary:
#
#   git worktree add /tmp/praetor-release <release-commit>
#   (cd /tmp/praetor-release && cargo build -p praetor)
#   RELEASE=<release-commit> scripts/golden-datadir.sh /tmp/praetor-release/target/debug/praetor
#
# The state (keep it in step with the test's expectations):
#   KV       golden/flags (Flags 42), golden/plain, golden/empty (no value),
#            golden/cas (written twice with ?cas), golden/gone (deleted),
#            golden/lock (held by session "golden-lock", LockIndex 1),
#            golden/txn/a and golden/txn/b (one transaction, Flags 7),
#            golden/delete-me (held by a delete-behaviour session that was
#            destroyed, so the key is gone and a lock-delay was left)
#   sessions golden-lock: node golden, serfHealth, lock-delay 15s, TTL 3600s,
#            behaviour release
#   catalog  node golden (the server itself, serfHealth passing);
#            node web-host 10.1.2.3 with tagged addresses and meta, service
#            web-1 (web, tags v1 primary, port 8080, meta, weights 5/2),
#            service db-1 (db, port 5432), a node check (disk, passing),
#            a service check (web-http on web-1, warning, notes, output);
#            node old-host deregistered again; service gone-1 deregistered
#   events   deploy (payload "v1", node filter gold.*, which the server matches) then, after the
#            snapshot, deploy (payload "v2")
#   Raft     a snapshot (raft_snapshot_threshold 32; golden/filler/N keys
#            written until it is taken) and, after it, log
#            entries: golden/after-snapshot (Flags 9), the second event and
#            an update of web-1's tags (v1 primary canary)
#
# The server runs on 127.0.0.251, outside the test harness's addresses, and
# is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/praetor}
out=${2:-tests/golden/datadir-release.tar.gz}
ip=127.0.0.251
api="http://$ip:8500"

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/data" "$work/config"
cat >"$work/config/golden.json" <<'EOF'
{ "raft_snapshot_threshold": 32 }
EOF

"$bin" agent -server -bootstrap-expect=1 -node=golden -data-dir="$work/data" \
  -config-file="$work/config/golden.json" -bind=$ip -client=$ip -dns-port=-1 \
  -log-level=info >"$work/agent.log" 2>&1 &
pid=$!

# Waits (at most 30 s) until `$1` succeeds.
wait_for() {
  for _ in $(seq 1 300); do
    if eval "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2
  tail -40 "$work/agent.log" >&2
  exit 1
}
c() { curl -sSf --max-time 10 "$@"; }
put() { c -X PUT "$api$1" ${2:+--data-binary "$2"}; echo; }

wait_for "c $api/v1/status/leader | grep -q 8300"
wait_for "c '$api/v1/catalog/node/golden' | grep -q golden"

# --- KV
put "/v1/kv/golden/flags?flags=42" "forty-two"
put "/v1/kv/golden/plain" "plain value"
c -X PUT "$api/v1/kv/golden/empty"; echo
put "/v1/kv/golden/cas?cas=0" "first"
cas=$(c "$api/v1/kv/golden/cas" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ModifyIndex"])')
put "/v1/kv/golden/cas?cas=$cas" "second"
put "/v1/kv/golden/gone" "soon gone"
c -X DELETE "$api/v1/kv/golden/gone"; echo
put "/v1/txn" '[{"KV":{"Verb":"set","Key":"golden/txn/a","Value":"YQ==","Flags":7}},{"KV":{"Verb":"set","Key":"golden/txn/b","Value":"Yg==","Flags":7}}]'

# --- catalog
put "/v1/catalog/register" '{"Node":"web-host","Address":"10.1.2.3","Datacenter":"dc1","TaggedAddresses":{"lan":"10.1.2.3","wan":"198.51.100.3"},"NodeMeta":{"rack":"r1"},"Service":{"ID":"web-1","Service":"web","Tags":["v1","primary"],"Address":"10.1.2.4","Meta":{"version":"1"},"Port":8080,"Weights":{"Passing":5,"Warning":2}},"Checks":[{"CheckID":"disk","Name":"Disk","Status":"passing"},{"CheckID":"web-http","Name":"Web HTTP","Status":"warning","Notes":"slow","Output":"HTTP 200 in 900ms","ServiceID":"web-1"}]}'
put "/v1/catalog/register" '{"Node":"web-host","Address":"10.1.2.3","Service":{"ID":"db-1","Service":"db","Port":5432},"SkipNodeUpdate":true}'
put "/v1/catalog/register" '{"Node":"web-host","Address":"10.1.2.3","Service":{"ID":"gone-1","Service":"gone","Port":1},"SkipNodeUpdate":true}'
put "/v1/catalog/deregister" '{"Node":"web-host","ServiceID":"gone-1"}'
put "/v1/catalog/register" '{"Node":"old-host","Address":"10.9.9.9"}'
put "/v1/catalog/deregister" '{"Node":"old-host"}'

# --- sessions and locks
sid=$(c -X PUT "$api/v1/session/create" --data-binary '{"Name":"golden-lock","Node":"golden","LockDelay":"15s","TTL":"3600s","Behavior":"release"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')
put "/v1/kv/golden/lock?acquire=$sid" "held"
doomed=$(c -X PUT "$api/v1/session/create" --data-binary '{"Name":"golden-doomed","Node":"golden","Behavior":"delete"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])')
put "/v1/kv/golden/delete-me?acquire=$doomed" "deleted with its session"
put "/v1/session/destroy/$doomed"

# --- events
put "/v1/event/fire/deploy?node=gold.*" "v1"

# --- a snapshot holding all of the above (filler keys until the threshold
# is reached), then fewer entries than the threshold after it
for i in $(seq 1 40); do
  grep -q 'snapshot saved' "$work/agent.log" && break
  put "/v1/kv/golden/filler/$i" "filler $i"
done
wait_for "grep -q 'snapshot saved' '$work/agent.log'"
put "/v1/kv/golden/after-snapshot?flags=9" "written after the snapshot"
put "/v1/event/fire/deploy" "v2"
put "/v1/catalog/register" '{"Node":"web-host","Address":"10.1.2.3","Service":{"ID":"web-1","Service":"web","Tags":["v1","primary","canary"],"Address":"10.1.2.4","Meta":{"version":"1"},"Port":8080,"Weights":{"Passing":5,"Warning":2}},"SkipNodeUpdate":true}'

last=$(curl -sSf -D - -o /dev/null "$api/v1/kv/golden/after-snapshot" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-consul-index"{print $2}')
snap=$(grep 'snapshot saved' "$work/agent.log" | tail -1 | sed -n 's/.*index=Some(\([0-9]*\)).*/\1/p')
echo "last snapshot at index $snap; last write at $last; session $sid"
if [ -z "$snap" ] || [ -z "$last" ] || [ "$snap" -ge "$last" ]; then
  echo "expected log entries after the snapshot" >&2
  exit 1
fi

kill -TERM "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "agent did not stop" >&2; exit 1; fi
wait "$pid" || true
pid=""

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf - data \
  | gzip -9n >"$out"
version=$("$bin" --version)
release=${RELEASE:-unknown}
cat >"${out%.tar.gz}.txt" <<EOF
# Written by scripts/golden-datadir.sh; read by crates/testkit/tests/format/datadir.rs.
binary: $version
release: $release
snapshot_index: $snap
last_index: $last
session: $sid
EOF
ls -l "$out"
tar -tzvf "$out"
