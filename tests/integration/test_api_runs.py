def test_probe(platform, api, org):
    import json

    r = api.post("/v1/agents", {"name": "s", "models": {"reasoning": ["scripted"]}})
    aid = r.json()["id"]

    def show(label, resp):
        print(label, resp.status, resp.text[:300], resp.headers.get("x-request-id"))

    show(
        "nan-json",
        api.post("/v1/runs", raw='{"agent_id":"%s","prompt":"x","env":{"A":{"type":"json","value":NaN}}}' % aid),
    )
    show(
        "bigint-float",
        api.post(
            "/v1/runs", raw='{"agent_id":"%s","prompt":"x","env":{"A":{"type":"float","value":%s}}}' % (aid, "9" * 400)
        ),
    )
    show("nonutf8", api.post("/v1/runs", raw=b"\xff\xfe\x00"))
    show("list", api.post("/v1/runs", []))
    show("string", api.post("/v1/runs", "x"))
    show("empty", api.post("/v1/runs"))
    show("textplain", api.post("/v1/runs", {"agent_id": aid, "prompt": "x"}, headers={"content-type": "text/plain"}))
    show("badcursor", api.get("/v1/runs", params={"cursor": "abc"}))
    import base64

    def cur(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    show("pk-only cursor", api.get("/v1/runs", params={"cursor": cur({"PK": f"ORG#{org[0]}"})}))
    show("agent-sk cursor", api.get("/v1/runs", params={"cursor": cur({"PK": f"ORG#{org[0]}", "SK": "AGENT#x"})}))
    show(
        "gsi cursor",
        api.get("/v1/runs", params={"agent_id": aid, "cursor": cur({"GSI1PK": f"ORG#{org[0]}#AGENT#{aid}"})}),
    )
    show("agents pk-only", api.get("/v1/agents", params={"cursor": cur({"PK": f"ORG#{org[0]}"})}))
    show("null name", api.put(f"/v1/agents/{aid}", {"name": None}))
    show("null models", api.put(f"/v1/agents/{aid}", {"models": None}))
    show("limit0", api.get("/v1/runs", params={"limit": 0}))
    show("limit abc", api.get("/v1/runs", params={"limit": "abc"}))
    show("status bogus", api.get("/v1/runs", params={"status": "bogus"}))
    show("bad id", api.get("/v1/runs/xyz"))
    show("steps after -1", api.get("/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/steps", params={"after": -1}))
    show("big", api.post("/v1/runs", {"agent_id": aid, "prompt": "x" * 1_100_000}))
    show("idem empty", api.post("/v1/runs", {"agent_id": aid, "prompt": "x"}, headers={"idempotency-key": " "}))
    show("put agent viewer-ish wrong", api.put(f"/v1/agents/{aid}", {"expected_version": 7}))
    show("rename", api.put(f"/v1/agents/{aid}", {"name": "Bad Name"}))
    show("nothing", api.get("/v1/nothing"))
    show("nothing noauth", platform.api().get("/v1/nothing"))
    show("options", platform.api().request("OPTIONS", "/v1/runs"))
    show("docs", platform.api().get("/v1/docs"))
    show("openapi", platform.api().get("/v1/openapi.json"))
    show("file", api.post("/v1/files", {"name": "a.png", "content_type": "image/png", "size": 10}))
    show("decision extra", api.post("/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/approve", {"bogus": 1}))
    assert False
