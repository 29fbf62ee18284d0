"""Outbound HTTPS GETs a kind asks for (signing certificates, JWKS, subscription confirmations): bounded in
time and size, HTTPS only, run off the event loop."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import Final
from urllib.parse import urlsplit

from bridge.errors import VerificationError

MAX_BYTES: Final = 256 * 1024
TIMEOUT_SECONDS: Final = 5.0


class HttpsFetcher:
    """`await fetcher(url)`: the body of an HTTPS GET, or VerificationError naming what went wrong (never the URL,
    which may carry a token). Redirects are not followed: a kind checked this URL's host, not another's."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS, max_bytes: int = MAX_BYTES,
                 context: ssl.SSLContext | None = None) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._context = context or ssl.create_default_context()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self._context), _NoRedirect()
        )

    async def __call__(self, url: str) -> bytes:
        if urlsplit(url).scheme != "https":
            raise VerificationError("key_unavailable", "outbound fetch: only https URLs are fetched", status=403)
        return await asyncio.to_thread(self._get, url)

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "sms-bridge"})  # noqa: S310 (https checked)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body: bytes = response.read(self._max_bytes + 1)
        except (OSError, ValueError) as exc:
            raise VerificationError(
                "key_unavailable", f"outbound fetch failed: {type(exc).__name__}", status=503
            ) from exc
        if len(body) > self._max_bytes:
            raise VerificationError(
                "key_unavailable", f"outbound fetch: body exceeds {self._max_bytes} bytes", status=503
            )
        return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
