"""Bird (MessageBird) request signatures: the legacy `MessageBird-Signature-JWT` and the HMAC of
`MessageBird-Signature` + `MessageBird-Request-Timestamp`, verified and made, as pure functions.

JWT (messagebird/python-rest-api `RequestValidator`): HS256/384/512 with the signing key; `iss`
must be `MessageBird`; `nbf` and `exp` are required and checked with 1 s of leeway against the
injected clock; `url_hash` = hex sha256 of the full URL (query included); `payload_hash` = hex
sha256 of the body, present exactly when there is a body.

HMAC (docs.bird.com "Verifying a webhook"): base64 of HMAC-SHA256(key, timestamp "\\n" URL "\\n"
sha256(body) as 32 raw bytes). The deprecated SDK form (`signed_request.py`) signs the sorted,
URL-encoded query in place of the URL.

An instance enables some of the schemes (`jwt`, `hmac`, `hmac_query`): `verify_request` tries each
enabled one whose headers are present, the first that verifies wins; `signed_headers` makes them
(the one impure step: a JWT gets a fresh random `jti`, as the SDKs give it).

PyJWT is imported when a Bird instance is built (`load_jwt`), not with the registry: it loads
cryptography's OpenSSL bindings (~20 MB of RSS) that bridges without Bird or Vonage need not pay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import uuid
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote_plus, urlsplit

from bridge.errors import VerificationError
from bridge.providers.verification import matches_any, signed_time

Scheme = Literal["jwt", "hmac", "hmac_query"]
JWT_HEADER: Final = "messagebird-signature-jwt"
SIGNATURE_HEADER: Final = "messagebird-signature"
TIMESTAMP_HEADER: Final = "messagebird-request-timestamp"
ISSUER: Final = "MessageBird"
JWT_ALGORITHMS: Final = ("HS256", "HS384", "HS512")
LEEWAY_SECONDS: Final = 1.0  # the SDK's `leeway=1`
JWT_LIFETIME_SECONDS: Final = 60  # exp - nbf in every SDK vector
_REQUIRED: Final = ("iss", "nbf", "exp")
_OPTIONS: Final[dict[str, Any]] = {
    "require": list(_REQUIRED),
    "verify_exp": False,  # checked below against the injected clock, as PyJWT would with leeway
    "verify_nbf": False,
    "verify_iat": False,  # the SDK's "verify_iat": False
}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_bytes(text: str) -> bytes:
    """Any str to bytes (UTF-8; lone surrogates kept), so that hashing is total."""
    return text.encode("utf-8", "surrogatepass")


def verify_jwt(token: str, url: str, body: bytes, keys: Sequence[bytes], now: float) -> tuple[float, str]:
    """(signed time, replay key) of a valid token for this URL and body; VerificationError otherwise.

    The signed time is `iat` when the token has one, else `nbf`; the replay key is `jti`, else the
    token's signature.
    """
    token = token.strip()
    if not token or not token.isascii():
        raise VerificationError("bad_signature", "header MessageBird-Signature-JWT: must be a JWT")
    claims = _decode(token, keys)
    nbf = _number(claims, "nbf")
    exp = _number(claims, "exp")
    if nbf > now + LEEWAY_SECONDS:
        raise VerificationError("stale_timestamp", "claim nbf: the token is not yet valid")
    if exp <= now - LEEWAY_SECONDS:
        raise VerificationError("stale_timestamp", "claim exp: the token has expired")
    url_hash = claims.get("url_hash")
    if not isinstance(url_hash, str):
        raise VerificationError("bad_signature", "claim url_hash: required")
    if not hmac.compare_digest(text_bytes(url_hash), sha256_hex(text_bytes(url)).encode("ascii")):
        raise VerificationError("bad_signature", "claim url_hash: does not match the URL")
    payload_hash = claims.get("payload_hash")
    if payload_hash is not None and not isinstance(payload_hash, str):
        raise VerificationError("bad_signature", "claim payload_hash: must be a string")
    if not body and payload_hash:
        raise VerificationError("bad_signature", "claim payload_hash: set but the body is empty")
    if body and not payload_hash:
        raise VerificationError("bad_signature", "claim payload_hash: not set but a body is present")
    if body and payload_hash and not hmac.compare_digest(text_bytes(payload_hash), sha256_hex(body).encode("ascii")):
        raise VerificationError("bad_signature", "claim payload_hash: does not match the body")
    signed_at = _number(claims, "iat") if claims.get("iat") is not None else nbf
    jti = claims.get("jti")
    replay = jti if isinstance(jti, str) and jti else token.rsplit(".", 1)[-1]
    return signed_at, f"jwt:{replay}"


def load_jwt() -> ModuleType:
    """PyJWT, imported on first use (a lookup in sys.modules after that)."""
    import jwt

    return jwt


def _decode(token: str, keys: Sequence[bytes]) -> dict[str, Any]:
    jwt = load_jwt()
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=list(JWT_ALGORITHMS), options=_OPTIONS, issuer=ISSUER
            )
            return claims
        except jwt.InvalidSignatureError:
            continue  # another key of the rotation may have signed it
        except jwt.InvalidAlgorithmError as exc:
            raise VerificationError("unsupported_algorithm", "header MessageBird-Signature-JWT: alg must be "
                                    "HS256, HS384 or HS512") from exc
        except jwt.MissingRequiredClaimError as exc:
            claim = exc.claim if exc.claim in _REQUIRED else "a claim"
            raise VerificationError("bad_signature", f"claim {claim}: required") from exc
        except jwt.InvalidIssuerError as exc:
            raise VerificationError("bad_signature", f"claim iss: must be {ISSUER}") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError, UnicodeError, binascii.Error) as exc:
            raise VerificationError("bad_signature", "header MessageBird-Signature-JWT: not a valid JWT") from exc
    raise VerificationError("bad_signature", "header MessageBird-Signature-JWT: signed with no configured key")


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise VerificationError("bad_signature", f"claim {name}: must be a number")
    return float(value)


def hmac_signature(key: bytes, timestamp: bytes, signed: bytes, body: bytes) -> bytes:
    """HMAC-SHA256(key, timestamp "\\n" signed "\\n" sha256(body) raw): `signed` is the URL (or the
    sorted query of the deprecated form)."""
    message = timestamp + b"\n" + signed + b"\n" + hashlib.sha256(body).digest()
    return hmac.new(key, message, hashlib.sha256).digest()


def sorted_query(pairs: Sequence[tuple[str, str]]) -> bytes:
    """The deprecated form's signed part: parameters sorted by name, URL-encoded as Python's urlencode does."""
    ordered = sorted(pairs, key=lambda pair: pair[0])
    return "&".join(
        f"{quote_plus(text_bytes(name))}={quote_plus(text_bytes(value))}" for name, value in ordered
    ).encode("ascii")


def verify_hmac(
    signature: str, timestamp: str, signed_parts: Sequence[bytes], body: bytes, keys: Sequence[bytes]
) -> tuple[float, str]:
    """(signed time, replay key) when `signature` is the HMAC of one of `signed_parts` with one of `keys`."""
    given = _base64(signature)
    if given is None or len(given) != hashlib.sha256().digest_size:
        raise VerificationError("bad_signature", "header MessageBird-Signature: must be base64 of 32 bytes")
    stamp = text_bytes(timestamp)
    if not matches_any((given,), (hmac_signature(key, stamp, part, body) for key in keys for part in signed_parts)):
        raise VerificationError("bad_signature", "header MessageBird-Signature: does not match")
    signed_at = signed_time(timestamp, "header MessageBird-Request-Timestamp: must be UNIX seconds")
    return float(signed_at), f"hmac:{given.hex()}"


def _base64(text: str) -> bytes | None:
    text = text.strip()
    if not text.isascii():
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def jwt_token(url: str, body: bytes, key: bytes, now: float, jti: str) -> str:
    """The `MessageBird-Signature-JWT` MessageBird would send for this URL and body at `now`."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "nbf": int(now),
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "jti": jti,
        "url_hash": sha256_hex(text_bytes(url)),
    }
    if body:
        claims["payload_hash"] = sha256_hex(body)
    encoded: str = load_jwt().encode(claims, key, algorithm="HS256")
    return encoded


def hmac_headers(signed: bytes, body: bytes, key: bytes, now: float) -> dict[str, str]:
    """The `MessageBird-Signature` and `MessageBird-Request-Timestamp` headers Bird would send."""
    timestamp = str(int(now))
    signature = hmac_signature(key, timestamp.encode("ascii"), signed, body)
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"), TIMESTAMP_HEADER: timestamp}


def verify_request(headers: Mapping[str, str], url: str, query: Sequence[tuple[str, str]], body: bytes,
                   keys: Sequence[bytes], schemes: frozenset[str], now: float) -> tuple[float, str]:
    """(signed time, replay key) by the first enabled scheme whose headers are present and verify; else
    the first such scheme's refusal, or missing_credentials when no enabled scheme's headers are there."""
    errors: list[VerificationError] = []
    token = headers.get(JWT_HEADER)
    if token is not None and "jwt" in schemes:
        try:
            return verify_jwt(token, url, body, keys, now)
        except VerificationError as error:
            errors.append(error)
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    parts = [text_bytes(url)] if "hmac" in schemes else []
    if "hmac_query" in schemes:
        parts.append(sorted_query(query))
    if signature is not None and timestamp is not None and parts:
        try:
            return verify_hmac(signature, timestamp, parts, body, keys)
        except VerificationError as error:
            errors.append(error)
    if errors:
        raise errors[0]
    raise VerificationError("missing_credentials", "header MessageBird-Signature-JWT, or MessageBird-Signature "
                            "with MessageBird-Request-Timestamp: required")


def signed_headers(url: str, body: bytes, key: bytes, schemes: frozenset[str], now: float, *,
                   prefer_jwt: bool) -> dict[str, str]:
    """The signature headers Bird would send, by an enabled scheme: the JWT (with a fresh `jti`) when
    preferred or no HMAC scheme is enabled, else the HMAC over the URL, else over the sorted query."""
    if "jwt" in schemes and (prefer_jwt or not schemes & {"hmac", "hmac_query"}):
        return {JWT_HEADER: jwt_token(url, body, key, now, str(uuid.uuid4()))}
    if "hmac" in schemes:
        return hmac_headers(text_bytes(url), body, key, now)
    return hmac_headers(sorted_query(parse_qsl(urlsplit(url).query, keep_blank_values=True)), body, key, now)
