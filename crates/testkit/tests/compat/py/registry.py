"""py-consul (Python's Consul client) against a Praetor agent: KV, agent
services and TTL checks, catalog, health and events, as a Consul user's
script would use them. Exits non-zero on the first mismatch."""

import sys
import time

import consul

host, port = sys.argv[1].rsplit(":", 1)
c = consul.Consul(host=host, port=int(port))


def wait(what, cond, within=10.0):
    deadline = time.time() + within
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


# KV
assert c.kv.put("app/db", "pg://db:5432") is True
index, item = c.kv.get("app/db")
assert item["Value"] == b"pg://db:5432", item
index, items = c.kv.get("app/", recurse=True)
assert [i["Key"] for i in items] == ["app/db"], items
assert c.kv.put("app/db", "x", cas=1) is False

# Agent services with a TTL check, and the health endpoints
c.agent.service.register("web", service_id="web1", port=8080, tags=["v1"],
                         check=consul.Check.ttl("30s"))
assert "web1" in c.agent.services()
c.agent.check.ttl_pass("service:web1", notes="ok")
index, nodes = wait("web1 passing", lambda: (lambda r: r if r[1] else None)(c.health.service("web", passing=True)))
assert nodes[0]["Service"]["ID"] == "web1", nodes
assert nodes[0]["Service"]["Port"] == 8080
# A blocking query returns when the check fails.
c.agent.check.ttl_fail("service:web1", notes="down")
index2, nodes = c.health.service("web", passing=True, index=index, wait="10s")
deadline = time.time() + 10
while nodes and time.time() < deadline:
    index2, nodes = c.health.service("web", passing=True, index=index2, wait="10s")
assert nodes == [], nodes
index, checks = c.health.checks("web")
assert checks[0]["Status"] == "critical", checks

# Catalog
index, services = c.catalog.services()
assert services.get("web") == ["v1"], services
index, nodes = c.catalog.nodes()
assert len(nodes) >= 1, nodes
assert c.catalog.register("ext1", "10.0.0.9", service={"Service": "db", "Port": 5432}) is True
index, inst = c.catalog.service("db")
assert inst[0]["ServicePort"] == 5432 and inst[0]["Node"] == "ext1", inst
assert c.catalog.deregister("ext1") is True

# Events
ev = c.event.fire("deploy", body="v42")
index, events = c.event.list(name="deploy")
assert any(e["ID"] == ev["ID"] for e in events), events

# Status
assert c.status.leader() != ""
assert len(c.status.peers()) == 1

c.agent.service.deregister("web1")
assert "web1" not in c.agent.services()
print("py-consul: all checks passed")
