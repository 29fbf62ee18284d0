"""Twilio's request signature as pure functions: `X-Twilio-Signature` and the `bodySHA256` of JSON bodies.

twilio-python `RequestValidator` (providers.md §4): base64 HMAC-SHA1, keyed with the account's auth
token, over the full URL Twilio called, then, for a form POST, every parameter name in code-point
order, each followed by each of its values in order, with no separators. A GET carries its
parameters in the (signed) URL. A JSON body is covered by the `bodySHA256` query parameter (hex
SHA-256 of the body) inside the signed URL. Like the SDK, the URL is tried without its port and
with the scheme's default port, since Twilio's back end is inconsistent about it.

Shared-key signatures (Twilio's Webhook Rules, public beta): a callback whose URL matches a rule is
signed the same way but keyed with the rule's shared key, and carries
`X-Twilio-Webhooks-Signature-Settings: key=<shared key id>,algorithm=<HMAC_SHA1|HMAC_SHA256>`.
twilio-python 9.13 `get_signature_algorithm` and `RequestValidator(token).validate(..., algorithm)`:
a missing or empty header (or one without `algorithm=`) means HMAC-SHA1; names are upper-cased;
any other name fails. The SDK leaves choosing the key to its caller: the bridge picks it by `key=`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlparse

from bridge.errors import VerificationError
from bridge.providers.verification import matches_any

SIGNATURE_HEADER: Final = "x-twilio-signature"
SETTINGS_HEADER: Final = "x-twilio-webhooks-signature-settings"
BODY_HASH_PARAM: Final = "bodySHA256"
HMAC_SHA1: Final = "HMAC_SHA1"
HMAC_SHA256: Final = "HMAC_SHA256"
# The digest of each algorithm, by name: hmac.digest's one-shot OpenSSL path takes a name.
ALGORITHMS: Final[Mapping[str, str]] = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}


@dataclass(frozen=True, slots=True)
class SignatureSettings:
    """What `X-Twilio-Webhooks-Signature-Settings` names: the shared key's id (None: the auth token signed)
    and the algorithm, upper-cased as the SDK does (HMAC_SHA1 when the header names none)."""

    key: str | None
    algorithm: str


def signature_settings(header: str | None) -> SignatureSettings:
    """twilio-python `get_signature_algorithm`, plus the `key=` it leaves to its caller: comma-separated
    `name=value` parts, names trimmed; the first non-empty `key` and `algorithm` count."""
    found: dict[str, str] = {}
    for part in (header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and value.strip():
            found.setdefault(name.strip(), value.strip())
    return SignatureSettings(found.get("key"), found.get("algorithm", HMAC_SHA1).upper())


def settings_header(key: str, algorithm: str = HMAC_SHA256) -> str:
    """The `X-Twilio-Webhooks-Signature-Settings` value Twilio sends with a shared-key signature."""
    return f"key={key},algorithm={algorithm}"


def signature(token: str, url: str, params: Iterable[tuple[str, str]] = (), algorithm: str = HMAC_SHA1) -> str:
    """twilio-python `compute_signature`: the URL, then each name (sorted) with each of its values (sorted),
    under HMAC with `algorithm` (a key of ALGORITHMS; KeyError otherwise)."""
    return _sign(token, url + signed_params(params), algorithm)


def signed_params(params: Iterable[tuple[str, str]]) -> str:
    """What the signature covers after the URL: each name (sorted) with each of its values (sorted)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    return "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))


def _sign(token: str, data: str, algorithm: str) -> str:
    key, message = token.encode("utf-8", "surrogatepass"), data.encode("utf-8", "surrogatepass")
    return base64.b64encode(hmac.digest(key, message, ALGORITHMS[algorithm])).decode("ascii")


@functools.lru_cache(maxsize=256)  # an instance's callbacks come to a few URLs; urlparse/geturl cost ~10 µs
def url_variants(url: str) -> tuple[str, ...]:
    """twilio-python `validate`: the URL without its port and with it (the scheme's default when absent).

    Unlike the SDK's `remove_port`, only the port is cut (its `netloc.split(':')[0]` also cuts
    `user:pass@` and IPv6 hosts). A URL whose port does not parse is tried only as given.
    """
    try:
        parts = urlparse(url)
        port = parts.port
        if port:
            return parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl(), parts.geturl()
        default = 443 if parts.scheme == "https" else 80
        return parts.geturl(), parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    except ValueError:
        return (url,)


def body_hash(body: bytes) -> str:
    """The `bodySHA256` of a JSON body: lower-case hex SHA-256."""
    return hashlib.sha256(body).hexdigest()


def signature_matches(
    given: str, url: str, params: Iterable[tuple[str, str]], tokens: Sequence[str], algorithm: str = HMAC_SHA1
) -> bool:
    """Whether `given` is the signature of this URL (in each of its port forms) and these parameters with
    one of the tokens (or shared keys) under `algorithm`; every candidate is compared, in constant time."""
    signed = tuple(params)
    unique = tuple(dict.fromkeys(signed))
    # A parameter repeated with the same value (`Digits=1&Digits=1`): twilio-python signs it once
    # (`sorted(set(values))`), a plain reading of Twilio's rule twice; both forms are accepted.
    forms = (signed,) if len(unique) == len(signed) else (signed, unique)
    texts = [signed_params(pairs) for pairs in forms]  # once, not once per URL form and token
    expected = (
        _sign(token, form + text, algorithm).encode("ascii")
        for form in url_variants(url) for token in tokens for text in texts
    )
    return matches_any((given.encode("latin-1", "replace"),), expected)


def body_hash_matches(given: str, body: bytes) -> bool:
    """Whether the `bodySHA256` query parameter is the body's hash (constant time)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), body_hash(body).encode("ascii"))


def secrets_for(
    header: str | None, tokens: tuple[str, ...], shared_keys: Mapping[str, str]
) -> tuple[tuple[str, ...], str]:
    """The secrets to try and the algorithm, as `X-Twilio-Webhooks-Signature-Settings` (`header`) names them:
    the auth tokens when it names no key (absent: HMAC-SHA1), else the one shared key with that id."""
    chosen = signature_settings(header)
    if chosen.algorithm not in ALGORITHMS:
        raise VerificationError(
            "unsupported_algorithm", "header X-Twilio-Webhooks-Signature-Settings: algorithm is not "
            f"{' or '.join(ALGORITHMS)}"
        )
    if chosen.key is None:
        return tokens, chosen.algorithm
    secret = shared_keys.get(chosen.key)
    if secret is None:
        raise VerificationError(
            "unknown_access_key", "header X-Twilio-Webhooks-Signature-Settings: key is not one of shared_keys"
        )
    return (secret,), chosen.algorithm
