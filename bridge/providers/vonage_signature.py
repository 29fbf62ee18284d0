"""Vonage's two signatures as pure functions: the SMS API `sig` over the sorted parameters, and the
Messages API's HS256 JWT with its `payload_hash` (verified and made).

`sig` (vonage-python-sdk `Client.signature`, vonage-java-sdk `RequestSigning`): every parameter but
`sig`, sorted by name, as `&name=value`, `&` and `=` inside values replaced by `_`, in UTF-8; "MD5
hash" is md5(string + secret), the HMAC methods HMAC(secret, string); lowercase hex. The Java SDK
leaves blank values out (and cleans names too): that form is accepted as well.

PyJWT is imported when a Vonage instance is built (`jws()`), not with the registry: it loads
cryptography's OpenSSL bindings (~20 MB of RSS) that bridges without Vonage or Bird need not pay.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import orjson

from bridge.providers.verification import matches_any
from bridge.providers.vonage_events import BLANK

if TYPE_CHECKING:
    from jwt import PyJWS

SIG: Final = "sig"
ISSUER: Final = "Vonage"

SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]


# --- the SMS API `sig` ---------------------------------------------------------------------------


def canonical(params: Mapping[str, str], *, java: bool = False) -> bytes:
    """The string Vonage signs: `&name=value` for every parameter but `sig`, sorted by name. With
    `java`, as the Java SDK builds it: blank values left out, names cleaned as well."""
    items = sorted((k, v) for k, v in params.items() if k != SIG and not (java and not v.strip(BLANK)))
    text = "".join(f"&{_clean(k) if java else k}={_clean(v)}" for k, v in items)
    return text.encode("utf-8", "surrogatepass")  # total: any str encodes; nothing unsigned can match


def _clean(text: str) -> str:
    return text.replace("&", "_").replace("=", "_")


def sms_signature(data: bytes, secret: str, method: SignatureMethod) -> str:
    """The `sig` of a canonical string, lowercase hex."""
    key = secret.encode("utf-8")
    if method == "md5hash":
        return hashlib.md5(data + key).hexdigest()  # noqa: S324  Vonage's "MD5 hash" method, chosen in its dashboard
    return hmac.new(key, data, method).hexdigest()


def sign_params(params: Mapping[str, str], secret: str, method: SignatureMethod) -> str:
    """The `sig` Vonage adds to these parameters (which already carry `timestamp`)."""
    return sms_signature(canonical(params), secret, method)


def sms_signature_matches(params: Mapping[str, str], given: str, secret: str, method: SignatureMethod) -> bool:
    """True when `given` signs `params` in the documented form or the Java SDK's (constant-time compares)."""
    forms = {canonical(params), canonical(params, java=True)}
    expected = (sms_signature(form, secret, method).encode("ascii") for form in forms)
    return matches_any((given.strip().lower().encode("utf-8", "replace"),), expected)


# --- the Messages API JWT ------------------------------------------------------------------------


@functools.cache
def jws() -> PyJWS:
    """PyJWT's JWS with HS256 only, and without PyJWT's key-length warning (Vonage lets an account
    choose a short secret); made on first use."""
    from jwt import PyJWS
    from jwt.algorithms import HMACAlgorithm

    class HS256(HMACAlgorithm):
        def __init__(self) -> None:
            super().__init__(HMACAlgorithm.SHA256)

        def check_key_length(self, key: bytes) -> str | None:
            return None

    made = PyJWS(algorithms=[])
    made.register_algorithm("HS256", HS256())
    return made


def jwt_claims(token: str, secret: str | None) -> dict[str, Any]:
    """The claims of an HS256 token signed with `secret` (any other `alg` is refused). With no
    secret the signature is NOT checked: only to read `api_key`. ValueError when neither works."""
    if not token.isascii():
        raise ValueError("token is not ASCII")
    from jwt import PyJWTError

    try:
        if secret is None:
            decoded = jws().decode_complete(token, options={"verify_signature": False})
        else:
            decoded = jws().decode_complete(token, key=secret.encode("utf-8"), algorithms=["HS256"])
        claims = orjson.loads(decoded["payload"])
    except (PyJWTError, orjson.JSONDecodeError) as exc:
        raise ValueError("not a JWT signed with this secret") from exc
    if not isinstance(claims, dict):
        raise ValueError("claims are not a JSON object")
    return claims


def encode_jwt(claims: Mapping[str, Any], secret: str) -> str:
    """An HS256 token over `claims`, compact JSON in their order, header `{"alg":"HS256","typ":"JWT"}`."""
    return jws().encode(orjson.dumps(dict(claims)), secret.encode("utf-8"), algorithm="HS256")


def payload_hash(body: bytes) -> str:
    """The `payload_hash` claim of a body: lowercase hex SHA-256."""
    return hashlib.sha256(body).hexdigest()
