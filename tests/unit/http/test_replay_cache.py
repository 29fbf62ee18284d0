"""The replay memory: reserve once, release on failure, expire, and never grow past its capacity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.http.replay_cache import DEFAULT_CAPACITY, ReplayCache


def test_a_key_is_reserved_once() -> None:
    cache = ReplayCache()
    assert cache.reserve("k", now=100.0, expires_at=160.0)
    assert not cache.reserve("k", now=101.0, expires_at=161.0)
    assert cache.reserve("other", now=101.0, expires_at=161.0)
    assert len(cache) == 2


def test_a_released_key_can_be_reserved_again() -> None:
    cache = ReplayCache()
    cache.reserve("k", now=100.0, expires_at=160.0)
    cache.release("k")
    assert len(cache) == 0
    assert cache.reserve("k", now=100.0, expires_at=160.0)


def test_releasing_an_unknown_key_is_harmless() -> None:
    cache = ReplayCache()
    cache.release("never-reserved")
    assert len(cache) == 0


def test_a_key_is_held_until_its_expiry_inclusive_then_free() -> None:
    cache = ReplayCache()
    cache.reserve("k", now=100.0, expires_at=160.0)
    assert not cache.reserve("k", now=160.0, expires_at=220.0)
    assert cache.reserve("k", now=160.001, expires_at=220.0)


def test_expired_keys_are_purged() -> None:
    cache = ReplayCache()
    for i in range(10):
        cache.reserve(f"k{i}", now=100.0, expires_at=110.0)
    cache.reserve("late", now=200.0, expires_at=260.0)
    assert len(cache) == 1


def test_when_full_the_oldest_key_is_evicted_and_counted() -> None:
    cache = ReplayCache(capacity=2)
    cache.reserve("a", now=0.0, expires_at=100.0)
    cache.reserve("b", now=0.0, expires_at=100.0)
    cache.reserve("c", now=0.0, expires_at=100.0)
    assert len(cache) == 2
    assert cache.evicted == 1
    assert not cache.reserve("b", now=1.0, expires_at=100.0)
    assert not cache.reserve("c", now=1.0, expires_at=100.0)
    assert cache.reserve("a", now=1.0, expires_at=100.0)  # evicted: protection lost, as documented


def test_reserving_an_expired_key_again_does_not_evict_a_live_one() -> None:
    cache = ReplayCache(capacity=2)
    cache.reserve("live", now=0.0, expires_at=100.0)
    cache.reserve("short", now=0.0, expires_at=10.0)  # expires first, but sits behind "live"
    assert cache.reserve("short", now=50.0, expires_at=110.0)
    assert cache.evicted == 0
    assert not cache.reserve("live", now=51.0, expires_at=151.0)


def test_default_capacity_is_large() -> None:
    assert DEFAULT_CAPACITY >= 10_000


_ops = st.lists(
    st.tuples(st.sampled_from(["reserve", "release"]), st.integers(0, 20), st.floats(0, 100), st.floats(0, 100)),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 8), ops=_ops)
def test_the_cache_never_holds_more_than_its_capacity_and_never_admits_a_held_key(
    capacity: int, ops: list[tuple[str, int, float, float]]
) -> None:
    cache = ReplayCache(capacity)
    model: dict[str, float] = {}  # what a perfect memory would hold
    now = 0.0
    for op, n, step, ttl in ops:
        key = f"k{n}"
        now += step
        if op == "release":
            cache.release(key)
            model.pop(key, None)
            continue
        held = key in model and model[key] >= now
        reserved = cache.reserve(key, now=now, expires_at=now + ttl)
        if held and reserved:
            assert cache.evicted > 0, "a held key was admitted twice without any eviction"
        if not reserved:
            assert held, "a free key was refused"
        else:
            model[key] = now + ttl
        assert len(cache) <= capacity
