"""py-consul's ACL API (policies, roles, tokens) against a Praetor agent with
ACLs enabled and default_policy "deny", as a Consul user's provisioning
script uses it; and KV through py-consul with the tokens it made.
Arguments: host:port and the management token. Exits non-zero on the first
mismatch."""

import sys
import time

import consul

host, port = sys.argv[1].rsplit(":", 1)
mgmt = sys.argv[2]
c = consul.Consul(host=host, port=int(port), token=mgmt)

# The leader creates the initial management token shortly after start.
deadline = time.time() + 30
while True:
    try:
        me = c.acl.token.read_self()
        break
    except consul.ConsulException:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
assert me["SecretID"] == mgmt, me
assert me["Policies"][0]["Name"] == "global-management", me

# Without a token, nothing: py-consul raises ACLPermissionDenied on 403.
anon = consul.Consul(host=host, port=int(port))
try:
    anon.acl.policy.list()
    raise AssertionError("anonymous listed policies")
except consul.ACLPermissionDenied:
    pass

# --- policies (py-consul sends JSON rules, lower-case "name"/"rules" keys)
rules = {"key_prefix": {"config/app/": {"policy": "read"}}}
p = c.acl.policy.create(name="app-config", description="the app's config", rules=rules)
pid = p["ID"]
assert p["Name"] == "app-config" and p["Description"] == "the app's config", p
got = c.acl.policy.read(pid)
assert got["Name"] == "app-config" and "config/app/" in got["Rules"], got
assert pid in {x["ID"] for x in c.acl.policy.list()}
p = c.acl.policy.update(pid, "app-config", description="reads config/app/", rules=rules)
assert p["ID"] == pid and p["Description"] == "reads config/app/", p
assert c.acl.policy.read(pid)["Description"] == "reads config/app/"

# --- roles
r = c.acl.role.create("app-role", description="the app", policies_id=[pid])
rid = r["ID"]
assert r["Name"] == "app-role" and r["Policies"][0]["ID"] == pid, r
got = c.acl.role.read(rid)
assert got["Policies"][0]["Name"] == "app-config", got
assert c.acl.role.read_by_name("app-role")["ID"] == rid
r = c.acl.role.update(rid, "app-role", description="the app, updated", policies_name=["app-config"])
assert r["ID"] == rid and r["Description"] == "the app, updated", r
assert r["Policies"][0]["ID"] == pid, r
assert rid in {x["ID"] for x in c.acl.role.list()}
assert rid in {x["ID"] for x in c.acl.role.list(policy=pid)}

# --- tokens
t = c.acl.token.create(description="app token", roles_id=[rid])
accessor, secret = t["AccessorID"], t["SecretID"]
assert t["Roles"][0]["Name"] == "app-role", t
got = c.acl.token.read(accessor)
assert got["SecretID"] == secret and got["Description"] == "app token", got
t = c.acl.token.update(accessor, description="app token v2", roles_id=[rid])
assert t["AccessorID"] == accessor and t["Description"] == "app token v2", t
assert t["SecretID"] == secret, t
listed = c.acl.token.list()
assert accessor in {x["AccessorID"] for x in listed}, listed
assert accessor in {x["AccessorID"] for x in c.acl.token.list(role=rid)}
assert c.acl.token.read_self(token=secret)["AccessorID"] == accessor
direct = c.acl.token.create(description="direct", policies_id=[pid])
assert direct["AccessorID"] in {x["AccessorID"] for x in c.acl.token.list(policy=pid)}
clone = c.acl.token.clone(accessor, description="clone of app")
assert clone["AccessorID"] != accessor and clone["SecretID"] != secret, clone
assert clone["Description"] == "clone of app" and clone["Roles"][0]["ID"] == rid, clone

# --- KV with the new tokens: allowed and denied as the policy says
assert c.kv.put("config/app/db", "pg://db") is True
assert c.kv.put("secret/x", "hunter2") is True
for tok in (secret, direct["SecretID"], clone["SecretID"]):
    app = consul.Consul(host=host, port=int(port), token=tok)
    index, item = app.kv.get("config/app/db")
    assert item["Value"] == b"pg://db", item
    for attempt in (
        lambda: app.kv.get("secret/x"),
        lambda: app.kv.put("config/app/db", "evil"),
        lambda: app.kv.delete("config/app/db"),
        lambda: app.acl.token.list(),
        lambda: app.acl.policy.create(name="mine", rules=rules),
    ):
        try:
            attempt()
            raise AssertionError("the app token was allowed something its policy does not give")
        except consul.ACLPermissionDenied:
            pass
    # A recursive read shows only the app's keys.
    index, items = app.kv.get("", recurse=True)
    assert [i["Key"] for i in items] == ["config/app/db"], items
index, item = c.kv.get("config/app/db")
assert item["Value"] == b"pg://db", item

# --- deletes: the token stops working
assert c.acl.token.delete(accessor) is True
assert accessor not in {x["AccessorID"] for x in c.acl.token.list()}
gone = consul.Consul(host=host, port=int(port), token=secret)
try:
    gone.kv.get("config/app/db")
    raise AssertionError("a deleted token still reads")
except consul.ACLPermissionDenied:
    pass
assert c.acl.token.delete(clone["AccessorID"]) is True
assert c.acl.token.delete(direct["AccessorID"]) is True
assert c.acl.role.delete(rid) is True
assert rid not in {x["ID"] for x in c.acl.role.list()}
assert c.acl.policy.delete(pid) is True
assert pid not in {x["ID"] for x in c.acl.policy.list()}

print("all checks passed")
