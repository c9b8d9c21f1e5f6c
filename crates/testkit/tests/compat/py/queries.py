"""py-consul's prepared queries (c.query) against a Praetor agent: create,
list, get, execute, explain, update and delete, and an instance going
critical leaving an OnlyPassing query's answer. Exits non-zero on the
first mismatch."""

import sys

import consul

host, port = sys.argv[1].rsplit(":", 1)
c = consul.Consul(host=host, port=int(port))


def register(node, sid, status):
    assert c.catalog.register(
        node,
        "127.0.0.9",
        service={"Service": "web", "ID": sid, "Port": 8080, "Tags": ["v1"]},
        check={"CheckID": sid + "-alive", "Name": "alive", "Status": status, "ServiceID": sid},
    ) is True


register("n1", "web-1", "passing")
register("n2", "web-2", "passing")

# py-consul sends every query as a name_prefix_match template.
q = c.query.create("web", name="web-q", onlypassing=True, tags=["v1"], ttl="10s")
qid = q["ID"]
assert len(qid) == 36, q

queries = c.query.list()
assert [x["ID"] for x in queries] == [qid], queries
got = c.query.get(qid)
assert got[0]["Name"] == "web-q" and got[0]["Service"]["OnlyPassing"] is True, got
assert got[0]["DNS"]["TTL"] == "10s" and got[0]["Template"]["Type"] == "name_prefix_match", got

res = c.query.execute("web-q")
assert res["Service"] == "web" and res["Datacenter"] == "dc1" and res["Failovers"] == 0, res
assert sorted(n["Service"]["ID"] for n in res["Nodes"]) == ["web-1", "web-2"], res
assert res["DNS"]["TTL"] == "10s", res
assert len(c.query.execute(qid, limit=1)["Nodes"]) == 1

# The template answers longer names too.
explained = c.query.explain("web-q-anything")
assert explained["Query"]["Service"]["Service"] == "web", explained

# An instance going critical leaves the answer.
register("n2", "web-2", "critical")
res = c.query.execute("web-q")
assert [n["Service"]["ID"] for n in res["Nodes"]] == ["web-1"], res

assert c.query.update(qid, "web", name="web-q2", tags=["v2"]) is True
got = c.query.get(qid)
assert got[0]["Name"] == "web-q2" and got[0]["Service"]["Tags"] == ["v2"], got
assert c.query.execute("web-q2")["Nodes"] == []

try:
    c.query.create("", name="broken")
    raise AssertionError("a query without a service was accepted")
except consul.ConsulException as e:
    assert "Must provide a Service name" in str(e), e

assert c.query.delete(qid) is True
assert c.query.get(qid) is None
assert c.query.list() == []
print("py-consul queries: all checks passed")
