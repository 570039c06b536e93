"""Input files: a presigned POST, the bytes in S3, then completion sniffs the content and accepts or rejects it."""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform
from run_checks import error_of, table_items

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
MAX_UPLOAD_BYTES = 20 * 1_048_576


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")
    )


PNG = png_bytes()
CSV = b"day,visitors\nmon,120\ntue,98\nwed,143\n"
JSON = json.dumps({"threshold": 0.5, "labels": ["a", "b"]}).encode()
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(200)


def object_keys(platform: Platform) -> list[str]:
    listing = platform.clients.s3.list_objects_v2(Bucket=platform.settings.bucket_name)
    return [obj["Key"] for obj in listing.get("Contents", [])]


def object_exists(platform: Platform, key: str) -> bool:
    return key in object_keys(platform)


def announce(api: EventClient, name: str, content_type: str, size: int) -> dict[str, Any]:
    response = api.post("/v1/files", {"name": name, "content_type": content_type, "size": size})
    assert response.status == 201, response.text
    return response.json()


def upload(platform: Platform, created: dict[str, Any], data: bytes) -> str:
    """What a browser does with the presigned POST, done in-process: the object lands at the key the fields pin."""
    fields = created["upload"]["fields"]
    platform.clients.s3.put_object(
        Bucket=platform.settings.bucket_name, Key=fields["key"], Body=data, ContentType=fields["Content-Type"]
    )
    return str(fields["key"])


def ready_file(platform: Platform, api: EventClient, name: str, content_type: str, data: bytes) -> dict[str, Any]:
    created = announce(api, name, content_type, len(data))
    upload(platform, created, data)
    response = api.post(f"/v1/files/{created['file']['id']}/complete")
    assert response.status == 200, response.text
    return response.json()


def wait_until_ended(api: EventClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = api.get(f"/v1/runs/{run_id}").json()
        if run["status"] in {"succeeded", "failed", "cancelled", "budget_exceeded"}:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end")


@pytest.fixture
def agent(api: EventClient) -> str:
    response = api.post("/v1/agents", {"name": "scripted-agent", "models": {"reasoning": ["scripted"]}})
    assert response.status == 201, response.text
    return str(response.json()["id"])


# the presigned POST ---------------------------------------------------------------------------------------------
def test_a_file_is_announced_with_a_presigned_post_that_pins_key_type_and_size(
    platform: Platform, api: EventClient, org: tuple[str, str]
) -> None:
    created = announce(api, "visitors.csv", "text/csv", len(CSV))

    record, post = created["file"], created["upload"]
    assert record["status"] == "pending" and record["org_id"] == org[0] and record["size"] == len(CSV)
    assert post["url"].startswith("https://") and post["expires_in_s"] > 0
    key = f"orgs/{org[0]}/files/{record['id']}"
    assert post["fields"]["key"] == key and post["fields"]["Content-Type"] == "text/csv"
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in policy["conditions"]
    assert {"key": key} in policy["conditions"] and {"Content-Type": "text/csv"} in policy["conditions"]
    assert {"bucket": platform.settings.bucket_name} in policy["conditions"]
    assert api.get(f"/v1/files/{record['id']}").json() == record
    assert object_keys(platform) == []


# completion: accepted -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "declared", "data", "detected"),
    [
        ("chart.png", "image/png", PNG, "image/png"),
        ("photo.jpg", "image/jpeg", PNG, "image/png"),
        ("visitors.csv", "text/csv", CSV, "text/csv"),
        ("settings.json", "application/json", JSON, "application/json"),
        ("notes.txt", "text/plain", "Notizen für später\n".encode(), "text/plain"),
    ],
)
def test_accepted_content_becomes_ready(
    platform: Platform, api: EventClient, name: str, declared: str, data: bytes, detected: str
) -> None:
    created = announce(api, name, declared, len(data))
    key = upload(platform, created, data)

    response = api.post(f"/v1/files/{created['file']['id']}/complete")

    assert response.status == 200, response.text
    record = response.json()
    assert record["status"] == "ready" and record["content_type"] == detected and record["size"] == len(data)
    assert record["error"] is None
    assert api.get(f"/v1/files/{record['id']}").json() == record
    assert platform.clients.s3.get_object(Bucket=platform.settings.bucket_name, Key=key)["Body"].read() == data
    # completing again is harmless
    assert api.post(f"/v1/files/{record['id']}/complete").json() == record


# completion: rejected -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "declared", "data", "reason"),
    [
        ("report.png", "image/png", PDF, "contains a PDF document"),
        ("tool.txt", "text/plain", ELF, "contains an ELF executable"),
        ("data.csv", "text/csv", ELF, "contains an ELF executable"),
        ("empty.txt", "text/plain", b"", "the file is empty"),
        ("broken.json", "application/json", b'{"a": 1,', "is not valid JSON"),
        ("image.png", "image/png", CSV, "contains text, not an image"),
        ("ragged.csv", "text/csv", b"a,b,c\n1,2\n3,4,5,6\n", "consistent column structure"),
    ],
)
def test_unaccepted_content_is_rejected_and_deleted(
    platform: Platform, api: EventClient, name: str, declared: str, data: bytes, reason: str
) -> None:
    created = announce(api, name, declared, max(len(data), 1))
    key = upload(platform, created, data)
    assert object_exists(platform, key)

    response = api.post(f"/v1/files/{created['file']['id']}/complete")

    error = error_of(response, 422, "unsupported_file_type")
    assert error["message"].startswith(f"{name}: ") and reason in error["message"]
    assert not object_exists(platform, key)
    record = api.get(f"/v1/files/{created['file']['id']}").json()
    assert record["status"] == "rejected" and reason in record["error"] and record["size"] == len(data)
    # a rejected file stays rejected
    assert reason in error_of(api.post(f"/v1/files/{record['id']}/complete"), 409, "file_rejected")["message"]


def test_an_upload_larger_than_the_cap_is_rejected(platform: Platform, api: EventClient) -> None:
    created = announce(api, "big.txt", "text/plain", 10)
    key = upload(platform, created, b"a" * (MAX_UPLOAD_BYTES + 1))

    error = error_of(api.post(f"/v1/files/{created['file']['id']}/complete"), 422, "unsupported_file_type")

    assert f"the limit is {MAX_UPLOAD_BYTES}" in error["message"]
    assert not object_exists(platform, key)
    assert api.get(f"/v1/files/{created['file']['id']}").json()["status"] == "rejected"


def test_a_declared_size_over_the_cap_is_refused_up_front(platform: Platform, api: EventClient) -> None:
    before = table_items(platform)
    response = api.post("/v1/files", {"name": "huge.csv", "content_type": "text/csv", "size": MAX_UPLOAD_BYTES + 1})
    # the cap is the documented maximum of `size`, so a larger size is refused like any value out of bounds
    assert str(MAX_UPLOAD_BYTES) in error_of(response, 422, "validation_error")["message"]
    assert table_items(platform) == before


def test_completing_before_uploading_is_a_conflict(platform: Platform, api: EventClient) -> None:
    created = announce(api, "later.csv", "text/csv", len(CSV))
    before = table_items(platform)

    error_of(api.post(f"/v1/files/{created['file']['id']}/complete"), 409, "upload_missing")

    assert table_items(platform) == before
    assert api.get(f"/v1/files/{created['file']['id']}").json()["status"] == "pending"
    upload(platform, created, CSV)
    assert api.post(f"/v1/files/{created['file']['id']}/complete").json()["status"] == "ready"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a.pdf", "content_type": "application/pdf", "size": 10},
        {"name": "a.exe", "content_type": "application/octet-stream", "size": 10},
        {"name": "../../etc/passwd", "content_type": "text/plain", "size": 10},
        {"name": "dir\\file.txt", "content_type": "text/plain", "size": 10},
        {"name": "line\nbreak.txt", "content_type": "text/plain", "size": 10},
        {"name": "", "content_type": "text/plain", "size": 10},
        {"name": "x" * 201, "content_type": "text/plain", "size": 10},
        {"name": "a.txt", "content_type": "text/plain", "size": 0},
        {"name": "a.txt", "content_type": "text/plain", "size": -5},
        {"name": "a.txt", "content_type": "text/plain", "size": "ten"},
        {"name": "a.txt", "content_type": "text/plain"},
        {"name": "a.txt", "content_type": "text/plain", "size": 10, "key": "orgs/other/files/x"},
    ],
)
def test_bad_file_announcements_are_refused_and_change_nothing(
    platform: Platform, api: EventClient, body: dict[str, Any]
) -> None:
    before = table_items(platform)
    error_of(api.post("/v1/files", body), 422, "validation_error")
    assert table_items(platform) == before


# files and runs -------------------------------------------------------------------------------------------------
def test_a_run_only_takes_ready_files(platform: Platform, api: EventClient, agent: str) -> None:
    ready = ready_file(platform, api, "visitors.csv", "text/csv", CSV)
    pending = announce(api, "pending.csv", "text/csv", len(CSV))["file"]
    rejected = announce(api, "fake.png", "image/png", len(PDF))
    upload(platform, rejected, PDF)
    assert api.post(f"/v1/files/{rejected['file']['id']}/complete").status == 422
    before = table_items(platform)

    for file_id, status in ((pending["id"], "pending"), (rejected["file"]["id"], "rejected")):
        response = api.post("/v1/runs", {"agent_id": agent, "prompt": "p", "file_ids": [ready["id"], file_id]})
        assert f"is {status}, not ready" in error_of(response, 422, "file_not_ready")["message"]
    error_of(api.post("/v1/runs", {"agent_id": agent, "prompt": "p", "file_ids": [UNKNOWN_ID]}), 404, "not_found")
    assert table_items(platform) == before

    response = api.post(
        "/v1/runs",
        {"agent_id": agent, "prompt": "p", "file_ids": [ready["id"]], "script": [{"tool": "finish", "answer": "ok"}]},
    )
    assert response.status == 201, response.text
    assert response.json()["file_ids"] == [ready["id"]]
    assert wait_until_ended(api, response.json()["id"])["status"] == "succeeded"


def test_another_orgs_files_are_not_found(platform: Platform, api: EventClient, agent: str) -> None:
    mine = ready_file(platform, api, "visitors.csv", "text/csv", CSV)
    pending = announce(api, "later.csv", "text/csv", len(CSV))
    upload(platform, pending, CSV)
    _, other_key = platform.new_org("other")
    other = platform.api(other_key)
    other_agent = other.post("/v1/agents", {"name": "theirs", "models": {"reasoning": ["scripted"]}}).json()["id"]
    before = table_items(platform)

    error_of(other.get(f"/v1/files/{mine['id']}"), 404, "not_found")
    error_of(other.post(f"/v1/files/{pending['file']['id']}/complete"), 404, "not_found")
    error_of(other.post("/v1/runs", {"agent_id": other_agent, "prompt": "p", "file_ids": [mine["id"]]}), 404)

    assert table_items(platform) == before
    assert api.get(f"/v1/files/{pending['file']['id']}").json()["status"] == "pending"


def test_unknown_files_are_not_found(api: EventClient) -> None:
    error_of(api.get(f"/v1/files/{UNKNOWN_ID}"), 404, "not_found")
    error_of(api.post(f"/v1/files/{UNKNOWN_ID}/complete"), 404, "not_found")
    error_of(api.get("/v1/files/not-an-id"), 422, "validation_error")
