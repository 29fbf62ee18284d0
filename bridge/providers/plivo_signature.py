"""Plivo's request signatures as pure functions: V2 (URL and nonce) and V3 (URL, sorted query and
parameters, nonce), made and matched against every Auth Token.

V2 (plivo-python `validate_signature`): base64 HMAC-SHA256, keyed with an Auth Token, over the URL
without query or fragment followed by the `X-Plivo-Signature-V2-Nonce`. V3 (plivo-python
`validate_v3_signature`): the same over `v3_base_url` and `.nonce`. Both raise ValueError or
UnicodeError for a URL or text they cannot sign: the caller refuses such a callback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qs, urlparse, urlunparse

from bridge.providers.base import Params
from bridge.providers.verification import matches_any


def _mac(token: str, message: str) -> str:
    digest = hmac.new(token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _base(url: str) -> str:
    parts = urlparse(url)
    return urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))


def signature_v2(url: str, nonce: str, token: str) -> str:
    """X-Plivo-Signature-V2: the URL's scheme, host and path, then the nonce (plivo-python)."""
    return _mac(token, _base(url) + nonce)


def v3_base_url(method: str, url: str, params: Params) -> str:
    """What V3 signs before `.nonce`, as plivo-python 4.63 builds it (construct_get_url/_post_url).

    The URL's query, sorted (`k=v&...`); for a POST with parameters a `?` even when the query is
    empty, a `.` after a non-empty query, then the sorted parameters as `kv` without separators.
    Repeated names keep every value, sorted. UTF-8 throughout (where the SDK mis-decodes a
    non-ASCII query it raises, so no signature of Plivo's can depend on that).
    """
    base = _base(url)
    query = parse_qs(urlparse(url).query, keep_blank_values=True)
    sorted_query = "&".join(f"{k}={v}" for k in sorted(query) for v in sorted(query[k]))
    grouped: dict[str, list[str]] = {}
    for name, value in (() if method == "GET" else params):
        grouped.setdefault(name, []).append(value)
    if not grouped:
        return base + ("?" + sorted_query if sorted_query else "")
    base += "?" + sorted_query + ("." if sorted_query else "")
    return base + "".join(f"{k}{v}" for k in sorted(grouped) for v in sorted(grouped[k]))


def signature_v3(method: str, url: str, params: Params, nonce: str, token: str) -> str:
    """One X-Plivo-Signature-V3 value (GET: the parameters are the URL's query)."""
    return _mac(token, v3_base_url(method, url, params) + "." + nonce)


def v2_matches(given: Sequence[str], url: str, nonce: str, tokens: Sequence[str]) -> bool:
    """Whether one given V2 (or Ma-V2) value signs this URL and nonce with one of the tokens."""
    return matches_any(_encoded(given), _encoded(signature_v2(url, nonce, token) for token in tokens))


def v3_matches(given: Sequence[str], method: str, url: str, params: Params, nonce: str, tokens: Sequence[str]) -> bool:
    """Whether one given V3 value signs this request and nonce with one of the tokens."""
    expected = (signature_v3(method, url, params, nonce, token) for token in tokens)
    return matches_any(_encoded(given), _encoded(expected))


def _encoded(signatures: Iterable[str]) -> list[bytes]:
    return [text.encode("utf-8", "surrogatepass") for text in signatures]
