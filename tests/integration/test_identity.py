"""People and programs: Cognito sign-in with verified JWTs, members, the API key lifecycle."""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of

from agentlab.identity.tokens import cognito_issuer


def moto_signing_key() -> Any:
    """The private key moto's Cognito signs with: tokens forged with it have a valid signature, so each test below
    proves that one specific claim check (expiry, issuer, client, use) refuses them."""
    import moto.cognitoidp

    path = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(json.loads(gzip.decompress(path.read_bytes()))))


def forge(platform: Platform, sub: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": cognito_issuer("us-east-1", platform.user_pool_id),
        "sub": sub,
        "client_id": platform.client_id,
        "token_use": "access",
        "iat": now,
        "exp": now + 600,
        "cognito:groups": ["admin"],
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, moto_signing_key(), algorithm="RS256", headers={"kid": "dummy"})


@pytest.fixture
def viewer(platform: Platform, api: EventClient) -> dict[str, Any]:
    return platform.new_user(api, "Vera@Example.com", "viewer")


def sub_of(platform: Platform, email: str) -> str:
    tokens = platform.login(email)
    return str(jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"])


# sign-in --------------------------------------------------------------------------------------------------------
def test_a_person_signs_in_and_acts_with_the_role_of_their_group(
    platform: Platform, api: EventClient, org: Any
) -> None:
    platform.new_user(api, "olga@example.com", "operator")
    tokens = platform.login("olga@example.com")
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"] and tokens["expires_in"] > 0
    user = platform.api(tokens["access_token"])
    me = user.get("/v1/me").json()
    assert me["kind"] == "user" and me["email"] == "olga@example.com" and me["role"] == "operator"
    assert me["org_id"] == org[0] and "agents.write" in me["actions"] and "members.write" not in me["actions"]
    assert user.post("/v1/agents", {"name": "made-by-olga"}).status == 201
    error_of(user.get("/v1/members"), 403, "forbidden")


def test_wrong_passwords_and_unknown_people_get_the_same_answer(
    platform: Platform, api: EventClient, viewer: Any
) -> None:
    anonymous = platform.api()
    wrong = error_of(anonymous.post("/v1/auth/login", {"email": "vera@example.com", "password": "nope"}), 401)
    unknown = error_of(anonymous.post("/v1/auth/login", {"email": "who@example.com", "password": "nope"}), 401)
    assert wrong["code"] == unknown["code"] == "invalid_credentials"
    assert wrong["message"] == unknown["message"]


def test_a_refresh_gives_a_new_access_token_and_a_bad_one_is_refused(
    platform: Platform, api: EventClient, viewer: Any
) -> None:
    tokens = platform.login("vera@example.com")
    refreshed = platform.api().post("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status == 200, refreshed.text
    assert platform.api(refreshed.json()["access_token"]).get("/v1/me").json()["email"] == "vera@example.com"
    error_of(platform.api().post("/v1/auth/refresh", {"refresh_token": "not-a-token"}), 401, "invalid_refresh")


@pytest.mark.parametrize(
    ("label", "overrides", "message"),
    [
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ("wrong issuer", {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_someoneelse"}, "issued"),
        ("wrong client (audience)", {"client_id": "another-app-client"}, "another client"),
        ("id token instead of access", {"token_use": "id"}, "access token"),
        ("no expiry", {"exp": None}, "invalid token"),
    ],
)
def test_tokens_with_a_bad_claim_are_refused(
    platform: Platform, api: EventClient, viewer: Any, label: str, overrides: dict[str, Any], message: str
) -> None:
    sub = sub_of(platform, "vera@example.com")
    assert platform.api(forge(platform, sub)).get("/v1/me").status == 200  # the forgery itself is well made
    error = error_of(platform.api(forge(platform, sub, **overrides)).get("/v1/me"), 401)
    assert message in error["message"], label


def test_tampered_and_unsigned_tokens_are_refused(platform: Platform, api: EventClient, viewer: Any) -> None:
    token = platform.login("vera@example.com")["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["admin"]
    raised = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    error_of(platform.api(f"{header}.{raised}.{signature}").get("/v1/members"), 401, "unauthorized")
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    error_of(platform.api(unsigned).get("/v1/me"), 401, "unauthorized")
    other_key = jwt.encode(
        claims, "a-shared-secret-of-sufficient-length-32b", algorithm="HS256", headers={"kid": "dummy"}
    )
    error_of(platform.api(other_key).get("/v1/me"), 401, "unauthorized")
    error_of(platform.api("not.a.jwt").get("/v1/me"), 401, "unauthorized")


def test_a_token_of_someone_who_is_no_member_is_refused(platform: Platform, api: EventClient) -> None:
    error = error_of(platform.api(forge(platform, "5a3f1c2e-0000-4000-8000-000000000000")).get("/v1/me"), 401)
    assert "not a member" in error["message"]


def test_a_removed_member_is_locked_out_at_once_and_a_demotion_applies_at_once(
    platform: Platform, api: EventClient
) -> None:
    anna = platform.new_user(api, "anna@example.com", "operator")
    bert = platform.new_user(api, "bert@example.com", "operator")
    anna_api = platform.api(platform.login("anna@example.com")["access_token"])
    bert_api = platform.api(platform.login("bert@example.com")["access_token"])
    assert anna_api.post("/v1/agents", {"name": "before"}).status == 201

    assert api.request("PATCH", f"/v1/members/{anna['id']}", {"role": "viewer"}).json()["role"] == "viewer"
    error_of(anna_api.post("/v1/agents", {"name": "after-demotion"}), 403, "forbidden")
    assert anna_api.get("/v1/me").json()["role"] == "viewer"
    # Sign-in again puts them in the new group.
    assert platform.login("anna@example.com")["access_token"]

    assert api.delete(f"/v1/members/{bert['id']}").json() == {"id": bert["id"], "deleted": True}
    error_of(bert_api.get("/v1/me"), 401, "unauthorized")
    error_of(platform.api().post("/v1/auth/login", {"email": "bert@example.com", "password": bert["password"]}), 401)


def test_members_are_listed_without_secrets_and_an_address_belongs_to_one_org(
    platform: Platform, api: EventClient
) -> None:
    created = api.post("/v1/members", {"email": "gen@example.com", "role": "member"})
    assert created.status == 201 and len(created.json()["password"]) >= 12  # generated, shown once
    assert (
        platform.api()
        .post("/v1/auth/login", {"email": "gen@example.com", "password": created.json()["password"]})
        .status
        == 200
    )
    listed = api.get("/v1/members").json()["items"]
    assert [m["email"] for m in listed] == ["gen@example.com"]
    assert "password" not in listed[0] and "user_sub" not in listed[0]
    error_of(api.post("/v1/members", {"email": "GEN@example.com", "role": "viewer"}), 409, "member_exists")
    _, other_key = platform.new_org("globex")
    error_of(platform.api(other_key).post("/v1/members", {"email": "gen@example.com", "role": "viewer"}), 409)
    error_of(api.post("/v1/members", {"email": "weak@example.com", "role": "viewer", "password": "short"}), 422)
    error_of(api.post("/v1/members", {"email": "not-an-address", "role": "viewer"}), 422)
    error_of(api.post("/v1/members", {"email": "x@example.com", "role": "owner"}), 422)


# API keys -------------------------------------------------------------------------------------------------------
def test_the_api_key_lifecycle(platform: Platform, api: EventClient) -> None:
    created = api.post("/v1/api-keys", {"name": "ci", "role": "member"})
    assert created.status == 201
    key = created.json()
    assert key["key"].startswith("al_") and key["prefix"] == key["key"][:10] and key["role"] == "member"
    program = platform.api(key["key"])
    assert program.get("/v1/me").json()["kind"] == "api_key"

    listed = {k["id"]: k for k in api.get("/v1/api-keys").json()["items"]}
    assert "key" not in listed[key["id"]] and "key_hash" not in listed[key["id"]]
    assert listed[key["id"]]["last_used_at"] is not None  # the call above

    rotated = api.post(f"/v1/api-keys/{key['id']}/rotate").json()
    assert rotated["id"] == key["id"] and rotated["key"] != key["key"]
    error_of(program.get("/v1/me"), 401, "unauthorized")
    renewed = platform.api(rotated["key"])
    assert renewed.get("/v1/me").status == 200

    assert api.delete(f"/v1/api-keys/{key['id']}").json() == {"id": key["id"], "deleted": True}
    assert "revoked" in error_of(renewed.get("/v1/me"), 401)["message"]
    assert {k["id"]: k for k in api.get("/v1/api-keys").json()["items"]}[key["id"]]["revoked"] is True
    error_of(api.post(f"/v1/api-keys/{key['id']}/rotate"), 404, "not_found")


def test_an_expired_key_is_refused_and_expiry_must_be_in_the_future(platform: Platform, api: EventClient) -> None:
    error_of(api.post("/v1/api-keys", {"name": "past", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}), 422)
    error_of(api.post("/v1/api-keys", {"name": "naive", "role": "viewer", "expires_at": "2099-01-01T00:00:00"}), 422)
    soon = api.post("/v1/api-keys", {"name": "soon", "role": "viewer", "expires_at": "2099-01-01T00:00:00Z"}).json()
    # Time passes: the stored expiry (the TTL attribute, epoch seconds) moves into the past before DynamoDB reaps it.
    record = platform.orgs.find_api_key(soon["key"])
    assert record is not None
    platform.table.set_fields(f"APIKEY#{record.key_hash}", "META", {"expires_at": int(time.time()) - 5})
    assert "expired" in error_of(platform.api(soon["key"]).get("/v1/me"), 401)["message"]


def test_keys_of_another_org_cannot_be_seen_rotated_or_revoked(platform: Platform, api: EventClient) -> None:
    mine = api.post("/v1/api-keys", {"name": "mine", "role": "viewer"}).json()
    _, other_key = platform.new_org("globex")
    other = platform.api(other_key)
    assert mine["id"] not in {k["id"] for k in other.get("/v1/api-keys").json()["items"]}
    error_of(other.post(f"/v1/api-keys/{mine['id']}/rotate"), 404, "not_found")
    error_of(other.delete(f"/v1/api-keys/{mine['id']}"), 404, "not_found")
    assert platform.api(mine["key"]).get("/v1/me").status == 200


def test_sign_in_is_refused_clearly_when_no_pool_is_configured(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API handler reads its settings at its first request, which comes after this.
    monkeypatch.setitem(os.environ, "AGENTLAB_COGNITO_USER_POOL_ID", "")
    error = error_of(platform.api().post("/v1/auth/login", {"email": "a@example.com", "password": "x"}), 501)
    assert error["code"] == "not_configured" and "API keys" in error["message"]
