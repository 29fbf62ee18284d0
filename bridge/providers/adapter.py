"""The typed seam the bridge calls a kind through: one configured instance, with no `Any` in sight.

A kind is a `Provider[S, V]`, generic in its settings and in what its verify() proves. The bridge
holds instances of every kind side by side, so it cannot name their S and V; a `Provider[Any, Any]`
would let `provider.parse(raw_callback)` type-check. `ProviderAdapter` hides the kind's own types
behind the base ones: parse(), accepted() and handshake() take a `Verified`, which only the
adapter's verify() (and restore(), for a dead letter verified when it was written) hand out, so
mypy refuses a call that parses an unverified `RawCallback` (tests/typing/ holds the proof).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from bridge.errors import CallbackError
from bridge.events import Status
from bridge.providers.base import (
    BodyKind,
    Fetch,
    Handshake,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import body_kind

S = TypeVar("S", bound=InstanceSettings)
V = TypeVar("V", bound=Verified)


class ProviderAdapter:
    """One provider instance as the endpoint, `redrive`, `send` and `dev` use it; the Provider contract
    holds unchanged (what each method may raise is said there). The kind's declarations are
    attributes: `kind`, `title`, `settings`, `methods`, `media_types`, `safe_headers`, `secret_params`, `statuses`,
    `samples`, and `prepares` (whether the kind fetches anything before verify())."""

    __slots__ = ("_provider", "kind", "media_types", "methods", "prepares", "safe_headers", "samples", "secret_params",
                 "settings", "statuses", "title")

    def __init__(self, provider: Provider[S, V]) -> None:
        self._provider: Provider[Any, Any] = provider
        self.kind: str = provider.kind
        self.title: str = provider.title
        self.settings: InstanceSettings = provider.settings
        self.methods: frozenset[str] = provider.methods
        self.media_types: Mapping[str, BodyKind] = provider.media_types
        self.safe_headers: frozenset[str] = provider.safe_headers
        self.secret_params: frozenset[str] = provider.secret_params()
        self.statuses: Mapping[str, Status] = provider.statuses
        self.samples: Sequence[Sample] = provider.samples
        # Whether the kind has a prepare() of its own: the others' callbacks skip awaiting the default no-op.
        self.prepares: bool = type(provider).prepare is not Provider.prepare

    def is_a(self, kind: type[object]) -> bool:
        """Whether the instance is of this provider class (the contract tests check the registry with it)."""
        return isinstance(self._provider, kind)

    def body_kind(self, headers: Mapping[str, str]) -> BodyKind | None:
        """How the callback's body is read, by its Content-Type among the kind's media types (None: not one)."""
        return body_kind(self.media_types, headers)

    def signs_time(self) -> bool:
        return self._provider.signs_time()

    async def prepare(self, callback: RawCallback, fetch: Fetch) -> None:
        await self._provider.prepare(callback, fetch)

    def verify(self, callback: RawCallback) -> Verified:
        verified: Verified = self._provider.verify(callback)
        return verified

    def restore(self, callback: RawCallback) -> Verified:
        restored: Verified = self._provider.restore(callback)
        return restored

    def parse(self, verified: Verified) -> Parsed:
        return self._provider.parse(verified)

    def handshake(self, verified: Verified) -> Handshake | None:
        return self._provider.handshake(verified)

    def accepted(self, verified: Verified) -> Reply:
        return self._provider.accepted(verified)

    def rejected(self, error: CallbackError) -> Reply:
        return self._provider.rejected(error)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        return self._provider.sign(url, body, sample, now)

    def __repr__(self) -> str:
        return f"<ProviderAdapter {self.kind} {self.settings.name}>"
