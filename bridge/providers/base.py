"""The provider interface: what a provider kind declares, how it verifies, parses and replies."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, IPvAnyNetwork

from bridge.clock import Clock
from bridge.errors import CallbackError, ConfigError, MalformedCallbackError
from bridge.events import EventType, SmsEvent, Status
from bridge.immutable import immutable
from bridge.phones import Phone, check_region, phone

_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_PATH_PATTERN = r"^(/[A-Za-z0-9_.~-]+)+$"

BodyKind = Literal["json", "form"]
JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
DEFAULT_TOLERANCE_SECONDS: Final = 300.0
DEFAULT_REPLAY_CAPACITY: Final = 100_000


def check_zone(zone: str) -> str:
    """A settings validator: `zone` if it names an IANA time zone, else ValueError."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown IANA time zone") from exc
    return zone


def _check_source(source: str) -> str:
    if not source or re.search(r"[\s\x00-\x1f\x7f]", source):
        raise ValueError("must be a non-empty URI-reference without spaces or control characters")
    return source


def _check_public_url(url: AnyHttpUrl | None) -> AnyHttpUrl | None:
    if url is not None and (url.query or url.fragment):
        raise ValueError("must not carry a query or fragment (the callback's own query is appended)")
    return url


Zone = Annotated[str, AfterValidator(check_zone)]
"""An IANA time zone name (a kind that changes the default zone declares `timezone: Zone = ...`)."""


class StrictModel(BaseModel):
    """Immutable settings with unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceSettings(StrictModel):
    """What every provider instance (one configured account) has; each kind adds its own keys.

    `timestamp_tolerance_seconds` and `replay_cache_size` apply to kinds whose callbacks carry
    a signed time or a nonce: the endpoint enforces them for every such kind.
    """

    kind: str
    name: Annotated[str, Field(pattern=_NAME_PATTERN)]
    path: Annotated[str, Field(pattern=_PATH_PATTERN, max_length=200)]
    source: Annotated[str | None, AfterValidator(lambda s: s if s is None else _check_source(s))] = None
    timezone: Zone = "Asia/Shanghai"
    include_raw: bool = True
    allowed_networks: tuple[IPvAnyNetwork, ...] = ()
    public_url: Annotated[AnyHttpUrl | None, AfterValidator(_check_public_url)] = None
    default_region: Annotated[str | None, AfterValidator(lambda r: r if r is None else check_region(r))] = None
    reply_deadline_seconds: Annotated[float | None, Field(gt=0, le=300)] = None
    timestamp_tolerance_seconds: Annotated[float, Field(gt=0, le=86_400)] = DEFAULT_TOLERANCE_SECONDS
    replay_cache_size: Annotated[int, Field(ge=1, le=10_000_000)] = DEFAULT_REPLAY_CAPACITY

    @property
    def reply_deadline(self) -> float:
        """The effective reply deadline: the instance's own, else the server's, resolved once when the
        configuration loads (bridge.config.Settings)."""
        if self.reply_deadline_seconds is None:
            raise ConfigError([(f"providers.{self.name}.reply_deadline_seconds", "not resolved: load via Settings")])
        return self.reply_deadline_seconds

    @property
    def cloudevents_source(self) -> str:
        return self.source or f"/sms/{self.kind}/{self.name}"


Params = tuple[tuple[str, str], ...]


@immutable
class RawCallback:
    """One HTTP request as received: nothing in it is trusted yet.

    `headers` has lower-case names; repeated headers are joined with ", " (RFC 9110).
    `client` is the caller's address after the trusted-proxy rules, `url_token` the secret
    taken from the callback URL's last path segment or `token` query parameter, if any. `url`
    is the public URL the provider called (the instance's `public_url`, else rebuilt from the
    request, believing X-Forwarded-Proto/Host only from trusted proxies), with its query.
    `query` and `form` are the decoded query and form-body parameters, in order.
    """

    body: bytes
    headers: Mapping[str, str]
    client: str | None
    received_at: datetime
    url_token: str | None = None
    method: str = "POST"
    url: str = ""
    query: Params = ()
    form: Params = ()


@immutable
class Verified:
    """What verify() proved about a callback. Only a provider's verify() (or restore()) builds one.

    `signed_at` (UNIX seconds) is the time the provider signed, when its scheme signs one: the
    endpoint refuses it outside the instance's window. `replay_key` names this callback uniquely
    (a nonce or the signature): the endpoint refuses a second callback with the same key.
    Providers subclass it to carry what their parse() needs, as typed fields, declared `@immutable` as this
    class is (bridge/immutable.py; a frozen dataclass cannot subclass it: TypeError at import).
    """

    raw: RawCallback
    signed_at: float | None = None
    replay_key: str | None = None


@dataclass(frozen=True, slots=True)
class BadReport:
    """One report of a multi-report callback that could not be understood: dead-lettered alone.

    `report` is the report verbatim (a JSON value), `body` a callback body holding this report
    alone, for `redrive` to parse again: the callback's own envelope with only this report in its
    list (None: the report as a one-element JSON array, for a callback that is a bare array).
    `context` names the callback the report came from, where the report alone does not: the
    enclosing message or batch id, event type and time, as JSON values verbatim (empty where each
    report names its own message, as in a bare array of reports).
    """

    index: int
    report: Any
    error: MalformedCallbackError
    body: bytes | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


Parsed = Sequence[SmsEvent | BadReport]


@dataclass(frozen=True, slots=True)
class Reply:
    """Our HTTP answer, in the provider's own format."""

    status: int
    body: bytes
    media_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Handshake:
    """The answer to a verified control callback that carries no event (an SNS SubscriptionConfirmation,
    an Event Grid validation event or CloudEvents OPTIONS request): `reply` goes back, nothing is
    published. `confirm_url`, when given, is fetched (GET) by the bridge before it replies, as SNS
    asks; the kind has already checked that the URL is one its provider serves."""

    reply: Reply
    confirm_url: str | None = None


Fetch = Callable[[str], Awaitable[bytes]]
"""An HTTPS GET of a URL the kind has checked, its body or VerificationError: the only outbound I/O a kind
may ask for (signing certificates, JWKS, subscription confirmations), passed in by the endpoint."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A provider callback ready to send (`send`, `dev`, tests, benchmark): what the provider would post."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Sample:
    """A documented callback of a kind: `send`'s choices, the `dev` banner, the contract tests.

    `body(now)` gives the provider's documented sample with its times set to `now` (UNIX seconds).
    """

    name: str
    event_type: EventType
    description: str
    body: Callable[[float], bytes]


S = TypeVar("S", bound=InstanceSettings)
V = TypeVar("V", bound=Verified)


class Provider(Protocol[S, V]):
    """Turns one provider instance's callbacks into canonical events. Pure: no I/O, and time
    only from the injected clock.

    What every kind shares is declared here and enforced by the endpoint, never by the kind:
    `methods`, `media_types` (accepted content types and their body kind; the first is assumed
    when a callback has none), the source allowlist, the freshness window on `signed_at` (kinds
    with `timestamped` must set it) and the replay reservation of `replay_key`, the body limit.

    verify() raises VerificationError for anything it cannot prove authentic; restore() rebuilds
    the verified value of a dead letter (verified when it was written) or raises
    MalformedCallbackError; parse() returns events, and BadReport for each report of a
    multi-report callback it cannot understand, or raises MalformedCallbackError for a callback
    it cannot understand at all. None of them raises anything else, whatever the input.
    sign() is the inverse of verify(): the callback the provider would send (for `send`, tests
    and the benchmark).
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    settings_model: ClassVar[type[InstanceSettings]]
    methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset()
    timestamped: ClassVar[bool] = False
    statuses: ClassVar[Mapping[str, Status]]
    """The provider's status codes and the canonical Status of each (the README's status table), as
    parse() looks them up; empty for a kind whose status is not a code (Alibaba's boolean `success`)."""
    finality: ClassVar[Mapping[str, bool]]
    """For every code of `statuses`, whether it is the provider's last word on the message (the receipt's
    `final`): True when the provider sends no later status, False for an intermediate report ("sent to
    carrier"). A code outside `statuses` is not final unless the kind documents otherwise."""
    samples: ClassVar[Sequence[Sample]]
    dev_instance: ClassVar[Mapping[str, Any]]
    settings: S

    def __init__(self, settings: S, clock: Clock) -> None: ...

    def verify(self, callback: RawCallback) -> V: ...

    def restore(self, callback: RawCallback) -> V: ...

    def parse(self, verified: V) -> Parsed: ...

    def accepted(self, verified: V) -> Reply: ...

    def rejected(self, error: CallbackError) -> Reply: ...

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing: ...

    async def prepare(self, callback: RawCallback, fetch: Fetch) -> None:
        """Before verify(): fetch (and cache) key material that the callback names and that lives elsewhere
        (an SNS signing certificate, an Entra ID JWKS). The default needs nothing. May raise only
        VerificationError."""
        return None

    def handshake(self, verified: V) -> Handshake | None:
        """A verified control callback's answer (subscription confirmation or validation), or None for a
        callback that carries events (the default)."""
        return None

    def secret_params(self) -> frozenset[str]:
        """Query parameters of this instance's callbacks that carry a secret (besides `token`, the URL token
        of every kind): dead letters leave them out. The default: none."""
        return frozenset()

    def signs_time(self) -> bool:
        """Whether this instance's callbacks carry a signed time (then the endpoint requires one):
        the kind's `timestamped`, unless an instance's settings choose a scheme without one."""
        return self.timestamped

    def phone(self, number: str, *, country_code: str | None = None, international: bool = False) -> Phone:
        """A number in E.164 with its region when it is valid (see bridge.phones), else as given."""
        region = self.settings.default_region
        return phone(number, country_code=country_code, international=international, default_region=region)


__all__ = [
    "FORM",
    "JSON",
    "BadReport",
    "BodyKind",
    "Fetch",
    "Handshake",
    "InstanceSettings",
    "Outgoing",
    "Parsed",
    "Provider",
    "RawCallback",
    "Reply",
    "Sample",
    "StrictModel",
    "Verified",
    "Zone",
]
