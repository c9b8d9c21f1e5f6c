"""py-consul's sessions, KV locks and transactions against a Praetor agent,
as a Consul user's leader-election script uses them. Exits non-zero on the
first mismatch."""

import base64
import sys
import time

import consul

host, port = sys.argv[1].rsplit(":", 1)
c = consul.Consul(host=host, port=int(port))

# The agent's node appears in the catalog shortly after start.
deadline = time.time() + 10
while True:
    try:
        s1 = c.session.create(name="leader", ttl=15, lock_delay=0)
        break
    except consul.ConsulException:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
s2 = c.session.create(name="follower", behavior="delete", lock_delay=0)

index, info = c.session.info(s1)
assert info["Name"] == "leader" and info["TTL"] == "15s", info
assert info["Behavior"] == "release" and info["LockDelay"] == 0, info
index, sessions = c.session.list()
assert {s["ID"] for s in sessions} == {s1, s2}, sessions
index, on_node = c.session.node(info["Node"])
assert len(on_node) == 2, on_node
renewed = c.session.renew(s1)
assert renewed["ID"] == s1, renewed

# A lock: one holder, LockIndex and Session on the key.
assert c.kv.put("service/leader", "me", acquire=s1) is True
assert c.kv.put("service/leader", "you", acquire=s2) is False
index, item = c.kv.get("service/leader")
assert item["Session"] == s1 and item["LockIndex"] == 1, item
assert c.kv.put("service/leader", "bye", release=s1) is True
index, item = c.kv.get("service/leader")
assert "Session" not in item and item["Value"] == b"bye", item

# Behavior delete: destroying the session deletes its keys.
assert c.kv.put("service/ephemeral", "x", acquire=s2) is True
assert c.session.destroy(s2) is True
index, item = c.kv.get("service/ephemeral")
assert item is None, item

# A transaction fenced on holding the lock.
assert c.kv.put("service/leader", "me", acquire=s1) is True
b64 = lambda s: base64.b64encode(s.encode()).decode()
r = c.txn.put([
    {"KV": {"Verb": "check-session", "Key": "service/leader", "Session": s1}},
    {"KV": {"Verb": "set", "Key": "service/config", "Value": b64("v1")}},
])
assert r["Errors"] is None and len(r["Results"]) == 2, r
c.session.destroy(s1)
try:
    c.txn.put([
        {"KV": {"Verb": "check-session", "Key": "service/leader", "Session": s1}},
        {"KV": {"Verb": "set", "Key": "service/config", "Value": b64("v2")}},
    ])
    raise SystemExit("a fenced txn of a destroyed session was applied")
except consul.ConsulException as e:
    assert "409" in str(e) or "session" in str(e), e
index, item = c.kv.get("service/config")
assert item["Value"] == b"v1", item
print("all checks passed")
