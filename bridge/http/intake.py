"""The callback on the wire: one instance's intake (a request in, its RawCallback out, in one call) and the
pieces it is made of (headers, body, the caller's address, the public URL, query and form); the reply."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from starlette.types import Receive, Scope, Send

from bridge.clock import Clock
from bridge.errors import RequestError
from bridge.http.guard import IPNetwork, in_networks
from bridge.http.lifecycle import Lifecycle
from bridge.http.settings import ServerSettings
from bridge.providers.base import BodyKind, InstanceSettings, Params, RawCallback, Reply
from bridge.providers.common import body_kind, url_params

_RUN_ID: Final = uuid.uuid4().hex[:12]  # request ids: this process's random prefix and a counter
_REQUEST_NUMBER: Final = itertools.count(1)


def request_id(given: str | None) -> str:
    """The caller's `X-Request-Id` (cut to 64 characters), else a new one unique to this process."""
    return given[:64] if given else f"{_RUN_ID}-{next(_REQUEST_NUMBER):x}"


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str | None:
    """The caller's address: the peer, or, when the peer is a trusted proxy, the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy."""
    if peer is None or not trusted or not forwarded_for or not in_networks(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not hop:
            return None
        if not in_networks(hop, trusted):
            return hop
    return hops[0] if hops else peer


def headers_of(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " (RFC 9110)."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw_headers}
    if len(headers) == len(raw_headers):
        return headers  # no name repeated: the usual case, in one pass
    headers = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def decode_params(text: bytes, what: str) -> Params:
    """`a=1&b=2` (URL-encoded, UTF-8) as ordered pairs; a 400 when it is not valid."""
    try:
        return url_params(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError("bad_request", f"{what} is not valid URL-encoded UTF-8", status=400) from exc


def public_url(
    *,
    configured: str | None,
    instance_path: str,
    path: str,
    query_string: bytes,
    scheme: str,
    host: str | None,
    headers: Mapping[str, str],
    from_trusted_proxy: bool,
) -> str:
    """The URL the provider called: the instance's `public_url` (with what the request path adds
    after the instance path), else scheme and host of the request, X-Forwarded-Proto and
    X-Forwarded-Host believed only from a trusted proxy. The query is appended as received."""
    query = "?" + query_string.decode("latin-1") if query_string else ""
    if configured is not None:
        return configured.rstrip("/") + path[len(instance_path):] + query
    if from_trusted_proxy:
        scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
        host = headers.get("x-forwarded-host", host or "").split(",")[0].strip() or host
    return f"{scheme}://{host or 'localhost'}{path}{query}"


def raw_callback(
    *,
    method: str,
    url: str,
    body: bytes,
    body_kind: BodyKind | None,
    headers: Mapping[str, str],
    client: str | None,
    received_at: datetime,
    token: str | None,
    query: Params,
) -> RawCallback:
    """The callback as providers see it; a form body is decoded here, once, for every kind."""
    form = decode_params(body, "form body") if body_kind == "form" and body else ()
    if token is None:
        token = next((v for k, v in query if k == "token"), None)
    return RawCallback(
        body=body, headers=headers, client=client, received_at=received_at, url_token=token,
        method=method, url=url, query=query, form=form,
    )


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The whole body, or RequestError: 413 beyond `limit` (declared or received), 400 on a disconnect."""
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise RequestError("body_too_large", f"body exceeds {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("bad_request", "client disconnected before the body ended", status=400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError("body_too_large", f"body exceeds {limit} bytes", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_reply(send: Send, reply: Reply, request_id: str) -> None:
    """The reply on the wire, with its length and the request id."""
    headers = [
        (b"content-type", reply.media_type.encode("latin-1")),
        (b"content-length", b"%d" % len(reply.body)),
        (b"x-request-id", request_id.encode("latin-1", "replace")),
    ]
    if reply.headers:
        headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items())
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


BODILESS: Final = frozenset({"GET", "OPTIONS"})  # methods whose callbacks carry no body to read as a kind


class Intake:
    """One instance's way in. read() refuses what cannot be taken in (method, draining, overload, media
    type, size, a broken body) with a RequestError, else returns the RawCallback its kind verifies."""

    def __init__(
        self,
        instance: InstanceSettings,
        *,
        methods: frozenset[str],
        media_types: Mapping[str, BodyKind],
        server: ServerSettings,
        lifecycle: Lifecycle,
        clock: Clock,
    ) -> None:
        self._methods = methods
        self._media_types = media_types
        self._allow = {"Allow": ", ".join(sorted(methods))}
        self._lifecycle = lifecycle
        self._max_in_flight = server.max_in_flight
        self._max_body_bytes = server.max_body_bytes
        self._trusted = server.trusted_proxies
        self._clock = clock
        self._path = instance.path
        self._public_url = None if instance.public_url is None else str(instance.public_url)

    async def read(self, scope: Scope, receive: Receive, headers: Mapping[str, str]) -> RawCallback:
        """The callback as its kind sees it, its body read whole (the caller bounds the time it may take)."""
        method: str = scope["method"]
        if method not in self._methods:
            raise RequestError("method_not_allowed", f"method must be {self._allow['Allow']}", status=405,
                               headers=self._allow)
        lifecycle = self._lifecycle
        if lifecycle.draining:
            raise RequestError("draining", "shutting down; retry later", status=503)
        if lifecycle.in_flight > self._max_in_flight:
            raise RequestError("overloaded", "too many callbacks in flight; retry later", status=503)
        body_kind = self._body_kind(headers) if method not in BODILESS else None
        body = await read_body(receive, headers, self._max_body_bytes)
        received_at = self._clock.now()
        peer = scope.get("client")
        peer_address = peer[0] if peer else None
        trusted = self._trusted
        client = client_address(peer_address, headers.get("x-forwarded-for"), trusted)
        query_string: bytes = scope.get("query_string", b"")
        return raw_callback(
            method=method,
            url=public_url(
                configured=self._public_url,
                instance_path=self._path,
                path=scope["path"],
                query_string=query_string,
                scheme=scope.get("scheme", "http"),
                host=headers.get("host"),
                headers=headers,
                from_trusted_proxy=bool(trusted) and client != peer_address,
            ),
            body=body,
            body_kind=body_kind,
            headers=headers,
            client=client,
            received_at=received_at,
            token=scope["path_params"].get("token") if "path_params" in scope else None,
            query=decode_params(query_string, "query string") if query_string else (),
        )

    def _body_kind(self, headers: Mapping[str, str]) -> BodyKind:
        """The body kind the instance's kind declares for the callback's media type; 415 otherwise."""
        declared = self._media_types
        kind = body_kind(declared, headers)
        if kind is None:
            raise RequestError(
                "unsupported_media_type", f"content type must be one of: {', '.join(declared)}", status=415
            )
        return kind
