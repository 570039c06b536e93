"""Server-side request forgery: user-supplied URLs reach only public https hosts (a fake resolver; no network)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from agentlab.errors import Unprocessable
from agentlab.netguard import check_public_https_url


def resolver(table: dict[str, list[str]]) -> Any:
    def resolve(host: str, port: int, proto: int = 0) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, proto, "", (a, port))
            for a in table[host]
        ]

    return resolve


DNS = resolver(
    {
        "github.com": ["140.82.112.3"],
        "metadata.attacker.example": ["169.254.169.254"],
        "rebind.attacker.example": ["140.82.112.4", "10.0.0.7"],
        "v6private.attacker.example": ["fd00::1"],
        "mapped.attacker.example": ["::ffff:127.0.0.1"],
        "v6public.example": ["2606:4700:4700::1111"],
    }
)


def test_a_public_https_url_passes_with_its_addresses() -> None:
    assert check_public_https_url("https://github.com/org/repo.git", resolve=DNS) == ["140.82.112.3"]
    assert check_public_https_url("https://v6public.example/x", resolve=DNS) == ["2606:4700:4700::1111"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://github.com/org/repo", "only https"),
        ("file:///etc/passwd", "only https"),
        ("gopher://github.com/", "only https"),
        ("https://user:pass@github.com/repo", "credentials"),
        ("https://github.com:8443/repo", "443"),
        ("https://github.com:abc/repo", "port"),
        ("https:///repo", "no host"),
        ("https://localhost/", "local name"),
        ("https://svc.internal/", "local name"),
        ("https://127.0.0.1/", "not a public address"),
        ("https://10.1.2.3/", "not a public address"),
        ("https://172.16.0.1/", "not a public address"),
        ("https://192.168.1.1/", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "not a public address"),
        ("https://[::1]/", "not a public address"),
        ("https://[fe80::1]/", "not a public address"),
        ("https://[::ffff:169.254.169.254]/", "not a public address"),
        ("https://0.0.0.0/", "not a public address"),
        ("https://2130706433/", "numeric"),
        ("https://0177.0.0.1/", "numeric"),
        ("https://0x7f.1/", "numeric"),
        ("https://metadata.attacker.example/", "169.254.169.254"),
        ("https://rebind.attacker.example/", "10.0.0.7"),
        ("https://v6private.attacker.example/", "fd00::1"),
        ("https://mapped.attacker.example/", "::ffff:127.0.0.1"),
        ("https://no-such-host.example/", "does not resolve"),
        ("https://github.com/" + "a" * 2_100, "2048"),
    ],
)
def test_hostile_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        check_public_https_url(url, resolve=DNS)
    assert refused.value.code == "url_not_allowed" and reason in refused.value.message
