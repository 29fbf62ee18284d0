"""Azure Event Grid delivery authentication: the query-string secret and the Microsoft Entra ID bearer
token (a JWT checked against configured or fetched JWKS), verified as pure functions.

Event Grid signs no payload (providers-3.md §4.3). A WebHook subscription authenticates its deliveries
either by a secret in one of the endpoint URL's query parameters ("Event Grid service includes all the
query parameters in every event delivery request") or by `Authorization: Bearer <JWT>` issued by Entra
ID to the Event Grid first-party application for the webhook's own Entra application. A token is
accepted when it is RS256-signed by a key of the instance's JWKS (picked by `kid`), its `iss` is one of
the configured issuers, its `aud` one of the configured audiences, `exp` (required) and `nbf` hold
against the injected clock with LEEWAY_SECONDS, and its `azp` (v2.0 tokens) or `appid` (v1.0) is one of
the configured client ids when any are configured. Entra tokens are reused across deliveries for their
lifetime (about an hour), so a token is neither a nonce nor a fresh signed time.

PyJWT is imported when an Entra ID instance is configured or built (`load_jwt`), as for Bird.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

import orjson

from bridge.errors import VerificationError
from bridge.providers.verification import matches_any

ALGORITHMS: Final = ("RS256",)  # what Entra ID signs access tokens with
LEEWAY_SECONDS: Final = 60.0
EVENT_GRID_APP_IDS: Final = (
    "4962773b-9cdb-44cf-a8bf-237846a00ab7",  # Azure Event Grid, Azure public cloud (Microsoft's setup script)
    "54316b56-3481-47f9-8f30-0300f5542a7b",  # Azure Event Grid, Azure Government
)
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_REQUIRED: Final = ("iss", "aud", "exp")
_OPTIONS: Final[dict[str, Any]] = {
    "require": list(_REQUIRED),
    "verify_exp": False,  # checked below against the injected clock
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,  # checked below, against every configured audience
    "verify_iss": False,
}
BEARER: Final = "bearer"
JWKS_REFRESH_SECONDS: Final = 3600.0
JWKS_MIN_INTERVAL_SECONDS: Final = 60.0  # a token naming an unknown kid refetches at most this often


def load_jwt() -> ModuleType:
    """PyJWT, imported on first use (a lookup in sys.modules after that)."""
    import jwt

    return jwt


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """One public key of a JWKS: its `kid` (None when the JWK names none) and the key object PyJWT verifies with."""

    kid: str | None
    key: Any


def jwks_keys(document: str | bytes | Mapping[str, Any]) -> tuple[VerifyingKey, ...]:
    """The RSA signing keys of a JWKS (`{"keys": [...]}`); ValueError naming the rule otherwise. Keys for
    another use (`use` other than `sig`) are skipped; a JWK with private members is refused outright."""
    if isinstance(document, str | bytes):
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError as exc:
            raise ValueError("JWKS must be JSON") from exc
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError('JWKS must be an object with a "keys" array')
    jwt = load_jwt()
    found: list[VerifyingKey] = []
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise ValueError("JWKS keys must be objects")
        if _PRIVATE_MEMBERS & jwk.keys():
            raise ValueError("JWKS must hold public keys only")
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(jwk, algorithm="RS256")
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise ValueError("JWKS holds an RSA key that cannot be read") from exc
        kid = jwk.get("kid")
        found.append(VerifyingKey(kid if isinstance(kid, str) else None, key.key))
    if not found:
        raise ValueError("JWKS holds no RSA signing key")
    return tuple(found)


class JwksCache:
    """The keys of a JWKS URL: fetched when older than `refresh_seconds`, or when a token names a `kid` they lack
    (at most once a JWKS_MIN_INTERVAL_SECONDS, so forged tokens cannot make the bridge fetch in a loop). A failed
    fetch keeps the keys already held; without any, the callback gets 503 (key_unavailable), so it is retried."""

    def __init__(self, url: str, refresh_seconds: float = JWKS_REFRESH_SECONDS) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.keys: tuple[VerifyingKey, ...] = ()
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    async def refresh(self, authorization: str | None, fetch: Callable[[str], Awaitable[bytes]], now: float) -> None:
        if bearer_token(authorization) is None:
            return  # verify() refuses it without any key
        kid = kid_of(authorization)
        fresh = self._fetched_at is not None and now - self._fetched_at < self.refresh_seconds
        if fresh and (kid is None or any(k.kid == kid for k in self.keys)):
            return
        if self._attempted_at is not None and now - self._attempted_at < JWKS_MIN_INTERVAL_SECONDS:
            if self.keys:
                return
            raise VerificationError("key_unavailable", "jwks_url: no JWKS fetched yet; retry later", status=503)
        self._attempted_at = now
        try:
            self.keys = jwks_keys(await fetch(self.url))
        except (VerificationError, ValueError) as exc:
            if self.keys:
                return
            raise VerificationError("key_unavailable", "jwks_url: no usable JWKS; retry later", status=503) from exc
        self._fetched_at = now


def kid_of(authorization: str | None) -> str | None:
    """The `kid` a bearer token names (unverified: only to choose or fetch a key), or None."""
    token = bearer_token(authorization)
    if token is None:
        return None
    jwt = load_jwt()
    try:
        header = jwt.get_unverified_header(token)
    except _undecodable(jwt):
        return None  # names no key: verify() refuses it
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == BEARER and token else None


def verify_bearer(authorization: str | None, keys: Sequence[VerifyingKey], *, issuers: Sequence[str],
                  audiences: Sequence[str], client_ids: Sequence[str], now: float) -> dict[str, Any]:
    """The claims of a valid Entra ID token in `authorization`; VerificationError naming the rule otherwise."""
    token = bearer_token(authorization)
    if token is None:
        raise VerificationError("missing_credentials", "header Authorization: Bearer token required")
    if not token.isascii():
        raise VerificationError("bad_signature", "header Authorization: not a valid JWT")
    jwt = load_jwt()
    try:
        header = jwt.get_unverified_header(token)
    except _undecodable(jwt) as exc:
        raise VerificationError("bad_signature", "header Authorization: not a valid JWT") from exc
    if header.get("alg") not in ALGORITHMS:
        raise VerificationError("unsupported_algorithm", "header Authorization: alg must be RS256")
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.kid is None or k.kid == kid]
    if not candidates:
        raise VerificationError("bad_signature", "header Authorization: signed by a key not in the JWKS")
    claims = _decode(jwt, token, candidates)
    _check_times(claims, now)
    if not matches_any(_texts([claims.get("iss")]), _texts(issuers)):
        raise VerificationError("bad_signature", "claim iss: not a configured issuer")
    audience = claims.get("aud")
    if not matches_any(_texts(audience if isinstance(audience, list) else [audience]), _texts(audiences)):
        raise VerificationError("bad_signature", "claim aud: not a configured audience")
    if client_ids and not matches_any(_texts([claims.get("azp"), claims.get("appid")]), _texts(client_ids)):
        raise VerificationError("bad_signature", "claim azp/appid: not a configured client id (Event Grid)", status=403)
    return claims


def _decode(jwt: ModuleType, token: str, candidates: Iterable[VerifyingKey]) -> dict[str, Any]:
    for candidate in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(token, candidate.key, algorithms=list(ALGORITHMS), options=_OPTIONS)
            return claims
        except jwt.InvalidSignatureError:
            continue  # another key (without a kid) may have signed it
        except jwt.InvalidAlgorithmError as exc:
            raise VerificationError("unsupported_algorithm", "header Authorization: alg must be RS256") from exc
        except jwt.MissingRequiredClaimError as exc:
            claim = exc.claim if exc.claim in _REQUIRED else "a claim"
            raise VerificationError("bad_signature", f"claim {claim}: required") from exc
        except _undecodable(jwt) as exc:
            raise VerificationError("bad_signature", "header Authorization: not a valid JWT") from exc
    raise VerificationError("bad_signature", "header Authorization: signature does not match the JWKS")


def _undecodable(jwt: ModuleType) -> tuple[type[Exception], ...]:
    """What PyJWT raises for a token it cannot read."""
    return (jwt.InvalidTokenError, ValueError, TypeError, KeyError, UnicodeError, binascii.Error)


def _check_times(claims: dict[str, Any], now: float) -> None:
    exp = _number(claims, "exp")
    if exp <= now - LEEWAY_SECONDS:
        raise VerificationError("stale_timestamp", "claim exp: the token has expired")
    if claims.get("nbf") is not None and _number(claims, "nbf") > now + LEEWAY_SECONDS:
        raise VerificationError("stale_timestamp", "claim nbf: the token is not yet valid")


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VerificationError("bad_signature", f"claim {name}: must be a number")
    return float(value)


def _texts(values: Iterable[Any]) -> list[bytes]:
    return [v.encode("utf-8", "surrogatepass") for v in values if isinstance(v, str)]


def check_query_secret(query: Sequence[tuple[str, str]], name: str, secrets: Sequence[bytes]) -> None:
    """Refuse a callback whose query parameter `name` is absent or is none of the instance's secrets (every
    value given against every secret, each in constant time: the time taken does not tell which matched)."""
    given = [value.encode("utf-8", "surrogatepass") for key, value in query if key == name]
    if not given:
        raise VerificationError("missing_credentials", f"query parameter {name}: required")
    if not matches_any(given, secrets):
        raise VerificationError("bad_token", f"query parameter {name}: does not match")
