"""py-consul against Praetor where Praetor used to answer otherwise than
Consul (issue 16, item 7): a catalog deregister for another datacenter,
unknown check and service IDs, ?filter= on the service list, and the txn
verb get-or-empty. Exits non-zero on the first mismatch."""

import base64
import sys

import consul

host, port = sys.argv[1].rsplit(":", 1)
c = consul.Consul(host=host, port=int(port))

assert c.catalog.register(
    "ext1", "10.0.0.5",
    service={"service": "db", "id": "db1", "tags": ["primary"], "meta": {"env": "prod"}},
) is True
assert c.catalog.register(
    "ext2", "10.0.0.6",
    service={"service": "cache", "id": "cache1", "meta": {"env": "dev"}},
) is True

# py-consul sends the datacenter in the body: another one must be refused
# ("No path to datacenter", 500, as Consul), and the node kept.
try:
    c.catalog.deregister("ext1", dc="dc2")
    raise SystemExit("a deregister for dc2 was answered as applied")
except consul.ConsulException as e:
    assert "No path to datacenter" in str(e), e
index, node = c.catalog.node("ext1")
assert node and node["Node"]["Node"] == "ext1", node

# Unknown IDs are 404, which py-consul answers with False (a 400 raised).
assert c.agent.check.ttl_pass("nope") is False
assert c.agent.check.deregister("nope") is False
assert c.agent.service.deregister("nope") is False
assert c.agent.service.maintenance("nope", True) is False

# ?filter= on the service list selects instances.
index, services = c.catalog.services(filter_expr='ServiceMeta.env == "prod"')
assert services == {"db": ["primary"]}, services

# get-or-empty reads a missing key without failing the transaction.
assert c.kv.put("cfg/a", "1") is True
r = c.txn.put([
    {"KV": {"Verb": "get-or-empty", "Key": "cfg/a"}},
    {"KV": {"Verb": "get-or-empty", "Key": "cfg/missing"}},
])
assert r["Errors"] is None, r
assert base64.b64decode(r["Results"][0]["KV"]["Value"]) == b"1", r
assert r["Results"][1]["KV"]["Value"] is None, r
print("all checks passed")
