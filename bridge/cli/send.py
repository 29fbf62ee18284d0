"""`sms-bridge send`: post a provider's documented sample callback, signed as the provider would, to a bridge."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from bridge.clock import SystemClock
from bridge.config import Settings
from bridge.errors import UsageError
from bridge.providers import build
from bridge.providers.base import InstanceSettings, Outgoing

EXIT_UNREACHABLE: Final = 3
REASON_HEADER: Final = "X-Bridge-Reason"


@dataclass(frozen=True, slots=True)
class Answer:
    """The bridge's reply: status, body and the reason it gave for a refusal, if any."""

    status: int
    body: bytes
    reason: str | None


def find_instance(settings: Settings, wanted: str) -> InstanceSettings:
    """The instance named `wanted`, or the first instance of kind `wanted`."""
    for instance in settings.providers:
        if instance.name == wanted:
            return instance
    for instance in settings.providers:
        if instance.kind == wanted:
            return instance
    names = ", ".join(p.name for p in settings.providers)
    raise UsageError(f"no instance or kind '{wanted}' in the configuration (instances: {names})")


def prepare(
    settings: Settings, instance: InstanceSettings, sample: str | None, base_url: str, body: bytes | None
) -> Outgoing:
    """The callback the provider would send to `base_url` + the instance's path: `sample` (default:
    the kind's first), or `body` in its place, signed with the instance's configured secrets."""
    provider = build(instance, SystemClock())
    samples = {s.name: s for s in provider.samples}
    name = sample or provider.samples[0].name
    if name not in samples:
        raise UsageError(f"{instance.kind} has no sample '{name}' (choose from: {', '.join(samples)})")
    if not _http_url(base_url):
        raise UsageError(f"--url must be an http(s) URL such as http://127.0.0.1:{settings.server.port}")
    url = callback_url(settings, instance, base_url)
    now = time.time()
    return provider.sign(url, body if body is not None else samples[name].body(now), name, now)


def callback_url(settings: Settings, instance: InstanceSettings, base_url: str) -> str:
    """`base_url` + the instance's path. A URL that already ends in the instance's path (the full callback URL)
    is taken as it is; one that ends in another instance's path is refused with one line saying that `--url`
    takes the bridge's base URL."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith(instance.path.rstrip("/")):
        return urlunsplit(parts._replace(path=path))
    for other in settings.providers:
        if other.path.rstrip("/") and path.endswith(other.path.rstrip("/")):
            base = urlunsplit(parts._replace(path=path.removesuffix(other.path.rstrip("/")), query="", fragment=""))
            raise UsageError(f"--url takes the bridge's base URL ({base}), not a callback URL: {base_url} is "
                             f"{other.name}'s; {instance.name}'s path {instance.path} is added to the base URL")
    return base_url.rstrip("/") + instance.path


def not_found_hint(request: Outgoing) -> str:
    """What to check when the bridge answered 404: the URL posted to, and how `--url` makes it."""
    return (f"hint: posted to {request.url.split('?')[0]}; --url takes the bridge's base URL (such as "
            "http://127.0.0.1:8080) and the instance's path is added to it")


def post(request: Outgoing, timeout: float = 15.0) -> Answer:
    """Send it; UsageError (exit 3) when the bridge cannot be reached."""
    data = request.body if request.method != "GET" else None
    req = urllib.request.Request(request.url, data=data, headers=dict(request.headers), method=request.method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return Answer(int(response.status), bytes(response.read()), response.headers.get(REASON_HEADER))
    except urllib.error.HTTPError as error:
        return Answer(int(error.code), bytes(error.read()), error.headers.get(REASON_HEADER))
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        why = getattr(error, "reason", error)
        raise UsageError(f"cannot reach {request.url.split('?')[0]}: {why}", EXIT_UNREACHABLE) from None


def _http_url(text: str) -> bool:
    """An http(s) URL with a host, and a port (if any) from 0 to 65535."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
