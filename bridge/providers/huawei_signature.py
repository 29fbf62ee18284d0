"""Huawei Cloud's `SDK-HMAC-SHA256` push signature (APIG AK/SK), as pure functions: parse, canonicalise, sign.

The algorithm of the official signer (huaweicloud-sdk-python-v3 `huaweicloudsdkcore/signer/signer.py`;
providers-3.md §5.4):

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n
                       SignedHeaders \\n hex(sha256(body))
    StringToSign     = "SDK-HMAC-SHA256" \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(HMAC-SHA256(SK as UTF-8, StringToSign))

CanonicalURI: each path segment percent-encoded (`~` kept), always ending in `/`. CanonicalQueryString:
the parameters sorted, `k=v` percent-encoded, joined by `&`. CanonicalHeaders: `name:value.strip()`
per signed header (lower case, sorted), each line ending in a newline. An `X-Sdk-Content-Sha256`
header, when signed, stands in for the body hash. The Authorization header is
`SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b;c>, Signature=<hex>` (the space after each comma
is optional, as in Huawei's own verifier's pattern).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from calendar import timegm
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from time import gmtime, strftime, strptime
from typing import Final
from urllib.parse import quote

from bridge.errors import VerificationError

ALGORITHM: Final = "SDK-HMAC-SHA256"
DATE_HEADER: Final = "x-sdk-date"
CONTENT_SHA256_HEADER: Final = "x-sdk-content-sha256"
DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
PUSH_HEADERS: Final = ("connection", "content-length", "content-type", "host", DATE_HEADER)  # what Huawei signs

# Huawei's Java verifier: SDK-HMAC-SHA256\s+Access=([^,]+),\s?SignedHeaders=([^,]+),\s?Signature=(\w+)
_AUTHORIZATION: Final = re.compile(
    r"SDK-HMAC-SHA256\s+Access=([^,\s]+),\s?SignedHeaders=([^,\s]+),\s?Signature=([0-9A-Fa-f]{64})\s*"
)
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_DATE: Final = re.compile(r"[0-9]{8}T[0-9]{6}Z")


@dataclass(frozen=True, slots=True)
class Authorization:
    """A parsed `SDK-HMAC-SHA256` Authorization header."""

    access: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization:
    """The Access key, signed header names and hex signature; VerificationError when it is not this scheme."""
    text = value.strip()
    if not text:
        raise VerificationError("missing_credentials", "header Authorization: required")
    if not text.startswith(ALGORITHM):
        raise VerificationError("unsupported_algorithm", f"header Authorization: must be {ALGORITHM}")
    match = _AUTHORIZATION.fullmatch(text)
    if match is None:
        raise VerificationError("bad_signature", "header Authorization: must be Access=, SignedHeaders=, Signature=")
    access, names, signature = match.groups()
    signed = tuple(names.split(";"))
    if not all(_HEADER_NAME.fullmatch(name) for name in signed) or list(signed) != sorted(set(signed)):
        raise VerificationError("bad_signature", "header Authorization: SignedHeaders must be sorted lower-case names")
    return Authorization(access, signed, signature.lower())


def authorization(access: str, signed_headers: Iterable[str], signature: str) -> str:
    """The Authorization header value, as the SDK writes it (`, ` between parts)."""
    return f"{ALGORITHM} Access={access}, SignedHeaders={';'.join(signed_headers)}, Signature={signature}"


def sdk_date(now: float) -> str:
    """`now` (UNIX seconds) as X-Sdk-Date writes it: `20241212T070653Z`."""
    return strftime(DATE_FORMAT, gmtime(now))


def sdk_time(text: str) -> int:
    """An X-Sdk-Date as UNIX seconds; VerificationError (stale_timestamp) when it is not `yyyyMMddTHHmmssZ`."""
    if not _DATE.fullmatch(text):
        raise VerificationError("stale_timestamp", "header X-Sdk-Date: must be yyyyMMddTHHmmssZ")
    try:
        return timegm(strptime(text, DATE_FORMAT))
    except (ValueError, OverflowError) as exc:
        raise VerificationError("stale_timestamp", "header X-Sdk-Date: must be yyyyMMddTHHmmssZ") from exc


def _encode(text: str) -> str:
    return quote(text, safe="~", errors="surrogatepass")


def canonical_uri(path: str) -> str:
    """Each segment percent-encoded, ending in `/` (`/report` -> `/report/`)."""
    uri = "/".join(_encode(segment) for segment in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The query parameters, sorted, as `k=v` percent-encoded and joined by `&`."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params))


def canonical_request(method: str, path: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str],
                      signed_headers: Iterable[str], body: bytes) -> str:
    """The canonical request of the signer; `headers` has lower-case names and holds every signed one."""
    names = list(signed_headers)
    lines = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    body_hash = headers.get(CONTENT_SHA256_HEADER) if CONTENT_SHA256_HEADER in names else None
    return "\n".join([method.upper(), canonical_uri(path), canonical_query(query), lines, ";".join(names),
                      body_hash or hashlib.sha256(body).hexdigest()])


def string_to_sign(canonical: str, date: str) -> str:
    return f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode('utf-8', 'surrogatepass')).hexdigest()}"


def signature(secret_key: str, canonical: str, date: str) -> str:
    """hex(HMAC-SHA256(SK, StringToSign)), lower case."""
    message = string_to_sign(canonical, date).encode("utf-8", "surrogatepass")
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()
