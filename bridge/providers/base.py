"""The provider interface: raw callback in, verified callback, canonical events and replies out."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, ClassVar, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, IPvAnyNetwork

from bridge.errors import CallbackError
from bridge.events import SmsEvent

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_PATH_PATTERN = r"^(/[A-Za-z0-9_.~-]+)+$"


def _check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown IANA time zone") from exc
    return zone


def _check_source(source: str) -> str:
    if not source or re.search(r"[\s\x00-\x1f\x7f]", source):
        raise ValueError("must be a non-empty URI-reference without spaces or control characters")
    return source


class StrictModel(BaseModel):
    """Immutable settings with unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceSettings(StrictModel):
    """What every provider instance (one configured account) has."""

    kind: str
    name: Annotated[str, Field(pattern=_NAME_PATTERN)]
    path: Annotated[str, Field(pattern=_PATH_PATTERN, max_length=200)]
    source: Annotated[str | None, AfterValidator(lambda s: s if s is None else _check_source(s))] = None
    timezone: Annotated[str, AfterValidator(_check_zone)] = "Asia/Shanghai"
    include_raw: bool = True
    allowed_networks: tuple[IPvAnyNetwork, ...] = ()

    @property
    def cloudevents_source(self) -> str:
        return self.source or f"/sms/{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class RawCallback:
    """One HTTP request as received: nothing in it is trusted yet.

    `headers` has lower-case names; repeated headers are joined with ", " (RFC 9110).
    `client` is the caller's address after the trusted-proxy rules, `url_token` the secret
    taken from the callback URL's last path segment or `token` query parameter, if any.
    """

    body: bytes
    headers: Mapping[str, str]
    client: str | None
    received_at: datetime
    url_token: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedCallback:
    """A callback that verify() proved authentic. Only a provider's verify() builds one."""

    raw: RawCallback
    replay_key: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """Our HTTP answer, in the provider's own format."""

    status: int
    body: bytes
    media_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


class Provider(Protocol):
    """Turns one provider instance's callbacks into canonical events. Pure: no I/O.

    verify() raises VerificationError for anything it cannot prove authentic; parse() raises
    MalformedCallbackError for anything it cannot understand. Neither raises anything else,
    whatever the bytes. release() undoes the replay reservation verify() made, when the
    callback could not be stored, so that the provider's retry is not taken for a replay.
    """

    kind: ClassVar[str]
    settings: InstanceSettings

    def verify(self, callback: RawCallback) -> VerifiedCallback: ...

    def parse(self, callback: VerifiedCallback) -> Sequence[SmsEvent]: ...

    def release(self, callback: VerifiedCallback) -> None: ...

    def accepted(self) -> Reply: ...

    def rejected(self, error: CallbackError) -> Reply: ...


def client_allowed(client: str | None, networks: Sequence[IPNetwork]) -> bool:
    """True when no allowlist is set, or the client address lies in one of its networks."""
    if not networks:
        return True
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in networks)
