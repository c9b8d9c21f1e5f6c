"""py-consul over HTTPS with client certificates, as a Consul user's script
connects to an agent with verify_incoming on: KV and catalog calls work
with the CA and a client certificate, and are refused without the
certificate or with another CA.
Arguments: host:port, the CA file, the client certificate and its key, and
another CA's file. Exits non-zero on the first mismatch."""

import sys

import consul
import requests

host, port = sys.argv[1].rsplit(":", 1)
ca, cert, key, other_ca = sys.argv[2:6]

c = consul.Consul(host=host, port=int(port), scheme="https", verify=ca, cert=(cert, key))
assert c.kv.put("tls/py", "over-https") is True
index, item = c.kv.get("tls/py")
assert item["Value"] == b"over-https", item
assert c.catalog.nodes()[1], "the catalog over HTTPS"
leader = c.status.leader()
assert leader, leader

# Without a client certificate the handshake fails: nothing is answered.
try:
    consul.Consul(host=host, port=int(port), scheme="https", verify=ca).kv.get("tls/py")
    raise AssertionError("read without a client certificate")
except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
    pass

# Trusting another CA, the agent's certificate does not verify.
try:
    consul.Consul(
        host=host, port=int(port), scheme="https", verify=other_ca, cert=(cert, key)
    ).kv.get("tls/py")
    raise AssertionError("the agent verified under another CA")
except requests.exceptions.SSLError:
    pass

print("all checks passed")
