"""A bounded memory of recently accepted signatures, so that a replayed callback is refused."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

DEFAULT_CAPACITY: Final = 100_000


class ReplayCache:
    """Keys with an expiry time, oldest first, never more than `capacity` of them.

    A key is reserved by the first callback that carries it and refused to any other until it
    expires or is released. When full, the oldest key is dropped (and counted in `evicted`),
    so memory stays bounded at the cost of replay protection for the oldest entries.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._capacity = capacity
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._expiry)

    def reserve(self, key: str, now: float, expires_at: float) -> bool:
        """Reserve `key` until `expires_at`; False if it is already held and unexpired."""
        self._purge(now)
        expiry = self._expiry
        held = expiry.get(key)
        if held is not None:
            if held >= now:
                return False
            del expiry[key]  # an expired entry is renewed at the end, and must not evict a live one
        while len(expiry) >= self._capacity:
            expiry.popitem(last=False)
            self.evicted += 1
        expiry[key] = expires_at
        return True

    def release(self, key: str) -> None:
        """Forget `key`, so that the same callback is accepted again (its first try failed)."""
        self._expiry.pop(key, None)

    def _purge(self, now: float) -> None:
        expiry = self._expiry
        while expiry:
            key, expires_at = next(iter(expiry.items()))
            if expires_at >= now:
                return
            del expiry[key]
