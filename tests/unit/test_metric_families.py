"""The lock-free families against prometheus_client's own Counter and Histogram: the same recordings
give the same exposition, text and OpenMetrics, apart from the `_created` values."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from typing import Any

import prometheus_client
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from bridge.metric_families import CounterFamily, HistogramFamily, created_series
from bridge.metrics import LAG_BUCKETS, LATENCY_BUCKETS

COUNTER = "sms_bridge_test_callbacks"
HISTOGRAM = "sms_bridge_test_duration_seconds"
LABELS = ("provider", "account", "outcome")
LABEL_SETS = (
    ("tencent", "main", "accepted"),
    ("tencent", "main", "failed"),
    ("nxcloud", "b", "accepted"),
    ("twilio", 'quote " back \\ slash', "new\nline"),
)
BUCKETS = {"latency": LATENCY_BUCKETS, "lag": LAG_BUCKETS}
CREATED_LINE = re.compile(r"^(\w+_created(?:\{.*\})?) \S+$", flags=re.MULTILINE)


def amounts(bounds: tuple[float, ...]) -> st.SearchStrategy[float]:
    """Exact bucket bounds and their float neighbours, zero, values across and beyond the buckets,
    negative ones, infinities and NaN."""
    bound = st.sampled_from(bounds)
    return st.one_of(
        bound,
        bound.map(lambda b: math.nextafter(b, math.inf)),
        bound.map(lambda b: math.nextafter(b, -math.inf)),
        st.sampled_from((0.0, -0.0, math.inf, -math.inf, math.nan)),
        st.floats(min_value=-1.0, max_value=bounds[-1] * 4),
        st.floats(),
    )


# (label set, value; None: only open the series, as add_instance does)
Recording = tuple[int, float | None]


def recordings(bounds: tuple[float, ...]) -> st.SearchStrategy[list[Recording]]:
    value: st.SearchStrategy[float | None] = st.one_of(st.none(), amounts(bounds))
    return st.lists(st.tuples(st.integers(0, len(LABEL_SETS) - 1), value), max_size=60)


def record_theirs(registry: CollectorRegistry, bounds: tuple[float, ...], steps: list[Recording]) -> None:
    record(Counter(COUNTER, "Callbacks handled, by outcome.", LABELS, registry=registry),
           Histogram(HISTOGRAM, "Time from request to reply.", LABELS, buckets=bounds, registry=registry), steps)


def record_ours(registry: CollectorRegistry, bounds: tuple[float, ...], steps: list[Recording]) -> None:
    record(CounterFamily(COUNTER, "Callbacks handled, by outcome.", LABELS, registry),
           HistogramFamily(HISTOGRAM, "Time from request to reply.", LABELS, registry, buckets=bounds), steps)


def record(counter: Any, histogram: Any, steps: list[Recording]) -> None:
    """The same recordings into either kind of family (their children have the same methods)."""
    for index, amount in steps:
        labels = LABEL_SETS[index]
        counter_child, histogram_child = counter.labels(*labels), histogram.labels(*labels)
        if amount is not None:
            counter_child.inc()
            histogram_child.observe(amount)


def expositions(registry: CollectorRegistry) -> Iterator[str]:
    """Text, OpenMetrics, and both through a `name[]` filter, each with the `_created` values masked."""
    # one family per filter: a filtered registry collects its collectors in no fixed order
    counters = registry.restricted_registry([f"{COUNTER}_total"])
    histograms = registry.restricted_registry([f"{HISTOGRAM}_bucket", f"{HISTOGRAM}_created"])
    for source in (registry, counters, histograms):
        for render in (generate_latest, generate_openmetrics):
            yield CREATED_LINE.sub(r"\1 <created>", render(source).decode())


def both(bounds: tuple[float, ...], steps: list[Recording]) -> tuple[list[str], list[str]]:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    record_theirs(theirs, bounds, steps)
    record_ours(ours, bounds, steps)
    return list(expositions(theirs)), list(expositions(ours))


@pytest.mark.parametrize("bounds", BUCKETS.values(), ids=BUCKETS.keys())
@given(data=st.data())
def test_the_same_recordings_give_prometheus_clients_exposition(bounds: tuple[float, ...], data: st.DataObject) -> None:
    theirs, ours = both(bounds, data.draw(recordings(bounds)))
    assert ours == theirs


def test_every_bound_counts_in_its_own_bucket_and_the_exposition_shows_it() -> None:
    """A fixed sequence through each bucket edge, so a mismatch shows without hypothesis' shrinking."""
    steps: list[Recording] = [(i % 3, b) for i, b in enumerate(LATENCY_BUCKETS)] + [(3, None), (0, 0.0), (1, 99.0)]
    theirs, ours = both(LATENCY_BUCKETS, steps)
    assert ours == theirs
    text = ours[0]
    assert f'{HISTOGRAM}_bucket{{account="main",le="0.6",outcome="failed",provider="tencent"}} 3.0' in text
    assert f'{HISTOGRAM}_bucket{{account="main",le="+Inf",outcome="failed",provider="tencent"}} 9.0' in text
    assert f'{HISTOGRAM}_count{{account="b",outcome="accepted",provider="nxcloud"}} 8.0' in text
    assert text.count("_created{") == 2 * len(LABEL_SETS)


def test_created_is_when_the_series_was_opened() -> None:
    registry = CollectorRegistry()
    counter = CounterFamily(COUNTER, "help", ["provider"], registry)
    histogram = HistogramFamily(HISTOGRAM, "help", ["provider"], registry, buckets=LAG_BUCKETS)
    before = time.time()
    counter.labels("tencent")
    histogram.labels("tencent")
    after = time.time()
    for name in (f"{COUNTER}_created", f"{HISTOGRAM}_created"):
        created = registry.get_sample_value(name, {"provider": "tencent"})
        assert created is not None
        assert before <= created <= after


def test_created_series_follow_prometheus_clients_switch() -> None:
    steps: list[Recording] = [(0, 0.3), (1, None)]
    was_on = created_series()
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        theirs, ours = both(LATENCY_BUCKETS, steps)
    finally:
        if was_on:
            prometheus_client.enable_created_metrics()  # type: ignore[no-untyped-call]
    assert ours == theirs
    assert "_created" not in ours[0]


def test_a_family_is_registered_under_prometheus_clients_names() -> None:
    registry = CollectorRegistry()
    CounterFamily(COUNTER, "help", ["provider"], registry)
    HistogramFamily(HISTOGRAM, "help", ["provider"], registry, buckets=LAG_BUCKETS)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter(COUNTER, "help", ["provider"], registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Histogram(f"{HISTOGRAM}_count", "help", registry=registry)


def test_labels_need_one_value_per_label_name() -> None:
    family = CounterFamily(COUNTER, "help", ["provider", "account"], CollectorRegistry())
    with pytest.raises(ValueError, match="2 label values expected, got 1"):
        family.labels("tencent")


def test_a_family_without_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="needs label names"):
        CounterFamily(COUNTER, "help", [], CollectorRegistry())


def test_buckets_must_ascend() -> None:
    with pytest.raises(ValueError, match="ascending"):
        HistogramFamily(HISTOGRAM, "help", ["provider"], CollectorRegistry(), buckets=(1.0, 0.5))
