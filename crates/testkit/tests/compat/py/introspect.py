"""py-consul's view of a Praetor agent's self-description: `agent.self()`
has every key Consul's has, and `Config.Version` is a Consul version a
version-checking client accepts (Praetor's own version beside it).
Exits non-zero on the first mismatch."""

import sys

import consul

host, port = sys.argv[1].rsplit(":", 1)
c = consul.Consul(host=host, port=int(port))

me = c.agent.self()
for key in ("Config", "DebugConfig", "Coord", "Member", "Stats", "Meta", "xDS"):
    assert key in me, (key, sorted(me))

# What clients that check the agent's version parse: MAJOR.MINOR.PATCH of
# a Consul release new enough for today's clients.
version = me["Config"]["Version"]
major, minor, patch = (int(p) for p in version.split("."))
assert (major, minor) >= (1, 10), version
assert me["Config"]["PraetorVersion"], me["Config"]
assert me["Stats"]["build"]["version"] == version, me["Stats"]["build"]

c.agent.service.register("web", service_id="web1", port=8080, check=consul.Check.ttl("30s"))
stats = c.agent.self()["Stats"]["agent"]
assert stats["services"] == "1" and stats["check_ttls"] == "1", stats
assert len(me["Coord"]["Vec"]) == 8, me["Coord"]

print("all checks passed")
