"""The checks every provider shares, enforced by the endpoint from what each kind declares:
source allowlist, freshness window and replay reservation."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from bridge.clock import Clock
from bridge.errors import VerificationError
from bridge.http.replay_cache import ReplayCache
from bridge.providers.base import InstanceSettings, Verified

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def in_networks(address: str | None, networks: Sequence[IPNetwork]) -> bool:
    """True when `address` is an IP address inside one of `networks`."""
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


class Guard:
    """One instance's shared checks. admit() runs before verify(), check() right after it."""

    def __init__(self, settings: InstanceSettings, clock: Clock, *, timestamped: bool) -> None:
        self._networks = settings.allowed_networks
        self._window = settings.timestamp_tolerance_seconds
        self._timestamped = timestamped
        self._clock = clock
        self.replays = ReplayCache(settings.replay_cache_size)

    def admit(self, client: str | None) -> None:
        """Refuse a caller outside `allowed_networks` (after the trusted-proxy rules), whatever it signed."""
        if self._networks and not in_networks(client, self._networks):
            raise VerificationError("source_not_allowed", "source address is not in allowed_networks", status=403)

    def check(self, verified: Verified) -> None:
        """Refuse a signed time outside the window and a replay key already accepted; the key is
        then reserved until the signed time leaves the window (release() gives it back)."""
        now = self._clock.time()
        signed_at = verified.signed_at
        if signed_at is None:
            if self._timestamped:  # a kind that declares a signed time must give one
                raise VerificationError("stale_timestamp", "callback carries no signed time")
        elif abs(now - signed_at) > self._window:
            raise VerificationError("stale_timestamp", "signed time is outside the accepted window")
        key = verified.replay_key
        if key is not None and not self.replays.reserve(key, now, (signed_at or now) + self._window):
            raise VerificationError("replay", "callback already accepted (replay)", status=403)

    def release(self, verified: Verified) -> None:
        """Forget the replay reservation of a callback that could not be stored, so its retry is accepted."""
        if verified.replay_key is not None:
            self.replays.release(verified.replay_key)
