"""Verify Cognito access tokens: RS256 signature against the pool's JWKS, issuer, client, expiry and token use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from agentlab.errors import Unauthorized

JwksFetcher = Callable[[str], dict[str, Any]]
_LEEWAY_S = 30
# An unknown key id triggers a refetch (the pool rotated its keys) at most this often.
_REFETCH_INTERVAL_S = 60.0


def fetch_jwks_over_http(url: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class TokenVerifier:
    """Thread-safe; keys are fetched once and cached for the life of the process."""

    def __init__(
        self, *, issuer: str, client_id: str, jwks_url: str, fetch: JwksFetcher = fetch_jwks_over_http
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks_url = jwks_url
        self._fetch = fetch
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _key(self, kid: str) -> Any:
        import jwt

        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            if kid not in self._keys and (not self._keys or time.monotonic() - self._fetched_at >= _REFETCH_INTERVAL_S):
                try:
                    document = self._fetch(self.jwks_url)
                    self._keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(document).keys if k.key_id}
                except Exception as exc:  # the key set is unreachable or malformed: nobody can be verified
                    raise Unauthorized("sign-in keys are unavailable; try again shortly") from exc
                finally:
                    self._fetched_at = time.monotonic()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("invalid token")
        return key

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or Unauthorized saying what is wrong (never why a signature failed in detail)."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise Unauthorized("invalid token")
        key = self._key(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired; refresh it or sign in again", code="token_expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("the token was not issued by this platform's user pool") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        if claims.get("token_use") != "access":
            raise Unauthorized("send the access token, not the " + str(claims.get("token_use")) + " token")
        if claims.get("client_id") != self.client_id:
            raise Unauthorized("the token was issued to another client")
        return claims
